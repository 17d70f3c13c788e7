"""Secrets never leave: a desk that echoes our request in an error body gets none of it out.

Every desk in ``desks/harnesses`` is configured with a marker as each of its secrets (its
credential, its webhook secret, ...); the vendor fake then answers a 4xx that echoes the
request line, every header (Authorization included) and the body. The marker must show up
in no exception message (nor its causes) and no log record, as it is or base64-encoded.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from connectors.errors import ConnectorError
from connectors.http import HttpApi
from vocab.redact import scrub_logs

from .desks.drafts import draft
from .desks.harness import discover

MARKER = "MARKERs3cr3t0xC0FFEE"
ROOT = Path(__file__).resolve().parents[2]
HARNESSES = discover()


def leaked(text: str) -> list[str]:
    """The forms of the marker found in ``text``: as it is, or inside any base64 blob."""
    found = ["plain"] if MARKER in text else []
    for blob in re.findall(r"[A-Za-z0-9+/]{12,}=*", text):
        try:
            decoded = base64.b64decode(blob + "=" * (-len(blob) % 4)).decode("utf-8", "ignore")
        except ValueError:
            continue
        if MARKER in decoded:
            found.append(f"base64 {blob}")
    return found


def echo(status: int) -> Any:
    """A fault response that echoes the request, as a debugging proxy would."""
    def respond(fault: Any, request: httpx.Request) -> httpx.Response:
        body = request.content.decode("utf-8", "replace")
        auth = request.headers.get("authorization", "")
        text = (f"{request.method} {request.url} rejected; Authorization: {auth}; "
                f"headers={json.dumps(dict(request.headers))}; body={body}")
        return httpx.Response(status, json={"message": "Validation Failed", "error": text,
                                            "request": {"headers": dict(request.headers),
                                                        "body": body}})
    return respond


def chain(exc: BaseException | None) -> str:
    parts: list[str] = []
    while exc is not None and len(parts) < 10:
        parts += [type(exc).__name__, str(exc), repr(exc)]
        exc = exc.__cause__ or exc.__context__
    return "\n".join(parts)


def harness_with_markers(key: str, tmp: Path) -> tuple[Any, Any]:
    """The harness with MARKER as its credential and every other secret of the desk."""
    cls = HARNESSES[key]
    marked = type(f"Marked{cls.__name__}", (cls,), {"secret": MARKER})
    harness = marked(tmp)
    plain = harness.make_desk()
    extra = {name: SecretStr(MARKER) for name, value in plain.config
             if name in type(plain.config).model_fields
             and isinstance(getattr(plain.config, name), SecretStr | None)
             and "secret" in str(type(plain.config).model_fields[name].annotation).lower()
             and not (value.get_secret_value() if isinstance(value, SecretStr) else value)}
    return harness, harness.make_desk(**extra)


@pytest.mark.parametrize("key", sorted(HARNESSES))
@pytest.mark.parametrize("which", ["create", "first"])
async def test_an_echoed_request_leaks_no_secret(key: str, which: str, tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    harness, desk = harness_with_markers(key, tmp_path)
    fake = harness.fake
    fake._fault_response = echo(422)
    caplog.set_level(logging.DEBUG)
    error: BaseException | None = None
    try:
        if which == "first":  # the very first request: a token exchange, a credentials check
            fake.fail_next(1, 422, method=None)
        await desk.setup()
        if which == "create":
            fake.fail_next(1, 422, method="create")
        await desk.open(draft("case-echo"))
    except ConnectorError as exc:
        error = exc
    finally:
        await desk.aclose()
    echoed = [s for s in fake.seen if s.status == 422]
    assert echoed, "the fake never answered with the echo"
    sent = " ".join(f"{dict(s.headers)} {s.body.decode('utf-8', 'replace')}" for s in echoed)
    # Credentials the desk obtained at runtime (e.g. Help Scout's OAuth access token).
    tokens = {s.headers.get("authorization", "").partition(" ")[2] for s in echoed} - {""}
    assert leaked(sent) or tokens, "the echoed request carried no secret: it proves nothing"
    assert error is not None, "an echoed 422 must fail the verb"
    logs = "\n".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    for text in (chain(error), logs):
        assert not leaked(text), text
        assert not [t for t in tokens if t in text], text


@pytest.mark.slow
def test_a_password_in_the_kafka_bootstrap_is_never_printed(tmp_path: Path) -> None:
    """Commands that cannot reach Kafka name it without its password, in one line."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ROUTER_") and k != "KAFKA_BOOTSTRAP"}
    env.update(ROUTER_KAFKA_BOOTSTRAP=f"SASL_SSL://router:{MARKER}@127.0.0.1:1",
               ROUTER_DATA_DIR=str(tmp_path / "data"), PYTHONPATH=str(ROOT))
    commands = [["topics"], ["killswitch", "on"], ["replay", os.devnull]]
    procs = [subprocess.Popen(  # noqa: S603 - our own CLI, bounded below
        [sys.executable, "-m", "router", *args], env=env, cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for args in commands]
    for args, proc in zip(commands, procs, strict=True):
        out, _ = proc.communicate(timeout=120)
        assert proc.returncode != 0, (args, out)
        assert not leaked(out), (args, out)
        assert "SASL_SSL://***@127.0.0.1:1" in out, (args, out)
        assert "Traceback" not in out, (args, out)


def test_log_records_from_any_library_are_scrubbed(caplog: pytest.LogCaptureFixture) -> None:
    saved = logging.getLogRecordFactory()
    try:
        scrub_logs([MARKER])
        scrub_logs([MARKER])  # installed once, however often it is called
        caplog.set_level(logging.INFO)
        lib = logging.getLogger("aiokafka.conn")
        lib.info("Unable connect to %s", f"SASL_SSL://router:pw-{MARKER}@broker:9093")
        try:
            raise RuntimeError(f"upstream answered: token={MARKER}")
        except RuntimeError:
            lib.exception("send failed")
    finally:
        logging.setLogRecordFactory(saved)
    assert len(caplog.records) == 2
    text = "\n".join(caplog.text.splitlines() + [r.exc_text or "" for r in caplog.records])
    assert "broker:9093" in text and "send failed" in text
    assert not leaked(text), text


def test_a_connectors_secrets_are_scrubbed_from_the_workers_logs_once_it_is_built(
        caplog: pytest.LogCaptureFixture) -> None:
    """The worker scrubs its settings' secrets from every log line; a desk's or a network's
    token (its own ``ROUTER_<KEY>_*`` settings) was not among them, so a library logging a
    failed request with it (or a traceback quoting it) wrote it to the worker's log."""
    saved = logging.getLogRecordFactory()
    lib = logging.getLogger("httpx")
    try:
        scrub_logs([])  # what ``router worker`` installs first
        caplog.set_level(logging.INFO)
        lib.info("before: Authorization: Token %s", "MARKERnotyetknown")
        HttpApi(httpx.AsyncClient(), name="zendesk", secrets=[SecretStr(MARKER)])
        lib.info("upstream echoed %s in its answer", MARKER)
    finally:
        logging.setLogRecordFactory(saved)
    assert "upstream echoed" in caplog.text
    assert not leaked(caplog.text), caplog.text


class _EchoDesk(BaseHTTPRequestHandler):
    """GitHub's API as a misbehaving proxy would answer it: reads work, a create gets a 422
    that echoes the request line, every header and the body."""

    seen: list[bytes] = []  # noqa: RUF012 - one test at a time

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        return

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.seen.append(str(self.headers).encode())
        empty = b'{"total_count": 0, "items": []}' if self.path.startswith("/search") else b"[]"
        self._answer(200, empty)

    def do_POST(self) -> None:  # noqa: N802
        size = min(int(self.headers.get("Content-Length") or 0), 1 << 20)
        body = self.rfile.read(size)
        echo = json.dumps({"message": "Validation Failed: Authorization "
                           f"{self.headers.get('Authorization')} may not create issues",
                           "request": {
            "line": self.requestline, "headers": dict(self.headers.items()),
            "body": body.decode("utf-8", "replace")}}).encode()
        self.seen.append(echo)
        self._answer(422, echo)


@pytest.mark.kafka
@pytest.mark.slow
def test_a_worker_whose_desk_echoes_secrets_leaks_none(kafka_bootstrap: str,
                                                        tmp_path: Path) -> None:
    from tests.router.stream import RouterProcess, encode, key_of, mention

    server = ThreadingHTTPServer(("127.0.0.1", 0), _EchoDesk)
    _EchoDesk.seen = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    rp = RouterProcess(kafka_bootstrap, tmp_path / "worker", extra_env={
        "ROUTER_DESK": "github", "ROUTER_GITHUB_REPOSITORY": "acme/support",
        "ROUTER_GITHUB_API_URL": f"http://127.0.0.1:{server.server_address[1]}",
        "ROUTER_GITHUB_TOKEN": f"{MARKER}-github-token",
        "ROUTER_GITHUB_WEBHOOK_SECRET": f"{MARKER}-github-webhook",
        "ROUTER_INGEST_TOKEN": f"{MARKER}-ingest", "ROUTER_WEBHOOK_SECRET": f"{MARKER}-wh"})
    try:
        rp.create_topics()
        rp.start()
        request = mention("leak-1", "@acmesupport I was charged twice for my subscription "
                          "this month, order 4411. Please refund the duplicate charge.", "maria")
        rp.produce("mentions", [encode(request)], [key_of(request)])
        letters = rp.read("decisions-dlq", lambda r: len(r) >= 1, timeout=120)
    finally:
        rp.stop()
        server.shutdown()
        server.server_close()
    assert any(MARKER.encode() in s for s in _EchoDesk.seen), "the desk never got the token"
    assert any(b"422" in json.dumps(x).encode() for x in letters), letters
    assert not leaked(json.dumps(letters)), letters
    for path in sorted(p for p in rp.workdir.rglob("*") if p.is_file()):
        data = path.read_bytes().decode("utf-8", "replace")
        assert not leaked(data), (path, [line for line in data.splitlines()
                                         if leaked(line)][:3])
