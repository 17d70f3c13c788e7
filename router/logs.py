"""How ``router worker`` logs: Faust's text lines, or JSON lines (``ROUTER_LOG_FORMAT``).

``text`` keeps what Faust and mode set up (colours only on a terminal). ``json`` writes one
JSON object per line to standard output: ``time`` (UTC, ISO 8601), ``level``, ``logger``,
``message``, and ``exception`` (the traceback) when there is one; no ANSI escapes. Secrets
are scrubbed before either format sees a record (``vocab.redact.scrub_logs``).

The worker hands ``worker_config`` to mode's ``Worker(logging_config=...)``, which applies
it when the worker starts; ``configure`` applies it at once, so that what is logged before
(topics, the model, the desk) is in the same format.
"""

from __future__ import annotations

import json
import logging
import logging.config
import re
from datetime import UTC, datetime
from typing import Any

#: ``router worker -l`` names (Faust's) and the levels they mean.
LEVELS = {"crit": logging.CRITICAL, "error": logging.ERROR, "warn": logging.WARNING,
          "info": logging.INFO, "debug": logging.DEBUG}

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")


def level_of(name: str) -> int:
    return LEVELS.get(name.lower(), logging.WARNING)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": _plain(record.getMessage()),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:  # set already when the secrets were scrubbed from it
            entry["exception"] = _plain(record.exc_text)
        if record.stack_info:
            entry["stack"] = _plain(self.formatStack(record.stack_info))
        # Escapes every control character, so a message never spans two lines.
        return json.dumps(entry, ensure_ascii=False, default=str)


def _plain(text: str) -> str:
    return _ANSI.sub("", text)


def worker_config(log_format: str, level: int) -> dict[str, Any] | None:
    """The ``logging.config.dictConfig`` for ``log_format`` (``None``: Faust's own)."""
    if log_format != "json":
        return None
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "json",
                                 "level": level, "stream": "ext://sys.stdout"}},
        "root": {"level": level, "handlers": ["default"]},
    }


def configure(log_format: str, level: int) -> None:
    """Log in ``log_format`` from now on (text: left to Faust, which sets it at start)."""
    config = worker_config(log_format, level)
    if config is not None:
        logging.config.dictConfig(config)
