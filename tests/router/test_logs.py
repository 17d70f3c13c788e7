"""``ROUTER_LOG_FORMAT=json``: one JSON object per line, what a log collector parses; a bad
value is the one-line settings error. (The worker's own JSON lines, decisions included,
are checked on the real broker in ``test_metrics.py``.)"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from router.logs import JsonFormatter, worker_config
from router.settings import load_settings
from vocab.errors import SettingsError
from vocab.redact import MASK

ROOT = Path(__file__).resolve().parents[2]
SECRET = "tok-json-logs-never-printed-5678"


def record(msg: str, *args: object, exc: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(exc), exc, exc.__traceback__) if exc is not None else None
    return logging.LogRecord("router.test", logging.WARNING, __file__, 1, msg, args,
                             exc_info)


def test_a_record_is_one_json_line_without_escapes() -> None:
    line = JsonFormatter().format(record("\x1b[31mred\x1b[0m %s\nsecond line", "arg"))
    assert "\n" not in line and "\x1b" not in line
    entry = json.loads(line)
    assert entry["message"] == "red arg\nsecond line"
    assert entry["level"] == "WARNING" and entry["logger"] == "router.test"
    assert entry["time"].endswith("Z") and "exception" not in entry


def test_the_exception_is_in_the_line() -> None:
    try:
        raise ValueError("the cause")
    except ValueError as exc:
        line = JsonFormatter().format(record("failed", exc=exc))
    entry = json.loads(line)
    assert entry["message"] == "failed"
    assert "Traceback" in entry["exception"] and "ValueError: the cause" in entry["exception"]


def test_the_worker_logging_setup_writes_json_lines_without_secrets(tmp_path: Path) -> None:
    """What ``router worker`` does, in a process of its own: scrub the settings' secrets,
    then hand the JSON config to mode's logging setup (as ``Worker(logging_config=...)``)."""
    script = textwrap.dedent("""
        import logging
        from mode.utils.logging import setup_logging
        from router.logs import configure, level_of, worker_config
        from router.settings import load_settings
        from vocab.redact import scrub_logs, secret_values

        settings = load_settings()
        scrub_logs(secret_values(settings))
        configure(settings.log_format, level_of("info"))
        logging.getLogger("early").warning("before the worker starts")
        setup_logging(loglevel="info",
                      logging_config=worker_config(settings.log_format, level_of("info")))
        log = logging.getLogger("router.check")
        log.info("token is %s", settings.ingest_token.get_secret_value())
        try:
            raise RuntimeError("refused with " + settings.ingest_token.get_secret_value())
        except RuntimeError:
            log.exception("desk call failed")
        log.debug("not at info")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,  # noqa: S603
                          timeout=60, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT),
                               "ROUTER_LOG_FORMAT": "json", "ROUTER_INGEST_TOKEN": SECRET})
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert "\x1b" not in done.stdout and SECRET not in done.stdout
    entries = [json.loads(line) for line in done.stdout.splitlines()]
    assert [(e["logger"], e["message"]) for e in entries] == [
        ("early", "before the worker starts"), ("router.check", f"token is {MASK}"),
        ("router.check", "desk call failed")]
    failed = entries[-1]
    assert failed["level"] == "ERROR" and "RuntimeError: refused with" in failed["exception"]


def test_text_keeps_fausts_own_logging() -> None:
    assert worker_config("text", logging.INFO) is None


@pytest.mark.parametrize("value", ["yaml", "JSON lines", ""])
def test_bad_log_format_is_one_settings_line(value: str, monkeypatch: pytest.MonkeyPatch
                                             ) -> None:
    monkeypatch.setenv("ROUTER_LOG_FORMAT", value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("bad setting ROUTER_LOG_FORMAT: ") and "\n" not in message
    assert "'text' or 'json'" in message


def test_worker_refuses_a_bad_log_format_before_anything_starts() -> None:
    done = subprocess.run([sys.executable, "-m", "router", "worker"], capture_output=True,  # noqa: S603
                          text=True, timeout=60, cwd=ROOT,
                          env={"PATH": "/usr/bin:/bin", "ROUTER_LOG_FORMAT": "xml",
                               "PYTHONPATH": str(ROOT)})
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert "ROUTER_LOG_FORMAT" in done.stderr and "Traceback" not in done.stderr


def test_a_decision_line_names_the_mention_not_its_text() -> None:
    from router.agents.triage import decision_line
    from vocab.records import Decision, Mention

    from .stream import mention

    m = Mention.from_data(mention("42", "my card number is 4111 and nothing works", "ann"))
    d = Decision(mention=m, verdict="open", scores={}, case_key="generic:42",
                 reasons=["support can help (0.97 >= 0.52)", "word 'card' (+1.0)"])
    line = decision_line(d)
    assert line == ("generic:42 verdict=open case=generic:42 "
                    "reason='support can help (0.97 >= 0.52)'")
    assert "4111" not in line


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_the_worker_builds_no_debug_record_below_its_level(tmp_path: Path, fmt: str) -> None:
    """Faust's worker set the root logger to DEBUG for its terminal spinner: at the default
    ``-l warn`` every send of every Kafka client built (and scrubbed) a debug record nobody
    saw, about a third of the worker's CPU under load. The worker's logging setup, as
    ``start_worker`` makes it, keeps the root at the level asked for."""
    script = textwrap.dedent("""
        import logging
        from router.lifecycle import RouterWorker
        from router.logs import level_of, worker_config
        from router.runtime import build
        from router.settings import load_settings
        from vocab.redact import scrub_logs

        settings = load_settings()
        scrub_logs()
        built = []
        base = logging.getLogRecordFactory()
        def counting(*args, **kwargs):
            record = base(*args, **kwargs)
            built.append(record.levelno)
            return record
        logging.setLogRecordFactory(counting)
        level = level_of("warn")
        rt = build(settings)
        worker = RouterWorker(rt.app, loglevel=level, quiet=True, redirect_stdouts=False,
                              override_logging=True,
                              logging_config=worker_config(settings.log_format, level))
        worker._setup_logging()
        for name in ("aiokafka.producer.producer", "faust.topics", "router.agents.triage"):
            logging.getLogger(name).debug("sent %s", name)
        logging.getLogger("router.check").warning("shown")
        print("DEBUG-RECORDS", sum(1 for n in built if n < logging.WARNING))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,  # noqa: S603
                          timeout=60, cwd=tmp_path,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT),
                               "ROUTER_LOG_FORMAT": fmt, "ROUTER_DATA_DIR": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert "DEBUG-RECORDS 0" in done.stdout
    assert "shown" in done.stdout + done.stderr
    assert "\x1b" not in done.stdout  # nor the spinner's terminal codes in the log lines
