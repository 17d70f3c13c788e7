"""Keep secrets out of logs, exception messages and topics.

A desk or a proxy that echoes the request in an error body hands us our own credentials
back; this module takes them out again before any text leaves the process:

- ``mask_url(text)``: ``scheme://user:pass@host`` (and ``user:pass@host``) become
  ``scheme://***@host``, wherever they are in ``text``;
- ``secret_values(*models)``: every ``SecretStr`` value of pydantic models (a desk's or a
  network's config, the router's settings);
- ``request_credentials(request)``: what a request carried as credentials (the
  ``Authorization`` value, its token, a Basic pair decoded, api-key style headers);
- ``Redactor(secrets).scrub(text)``: ``text`` without any of those secrets (as they are,
  base64-, percent-, JSON- or HTML-encoded, or inside any base64 blob), without
  ``Basic``/``Bearer``/``token`` material or values of credential-named keys, and with
  credential URLs masked.

``scrub_logs(secrets)`` makes every log record of the process go through a ``Redactor``
(message and traceback text), for messages this code does not write itself (Kafka clients,
Faust). It is the one process-wide piece; everything else is pure string work.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import logging
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

import httpx
from pydantic import BaseModel, SecretStr

MASK = "***"
#: Shorter values are not masked as plain text (they would blank ordinary words).
MIN_SECRET_CHARS = 4
#: Texts longer than this are cut before scrubbing (every caller keeps far less).
MAX_SCRUB_CHARS = 65_536

_URL_USERINFO = re.compile(
    r"(?P<scheme>\b[A-Za-z][A-Za-z0-9_+.\-]*://)?(?P<userinfo>[^\s/@:'\"<>,;=]+:[^\s/@'\"<>,;]*)@"
    r"(?=[A-Za-z0-9\[])")
_AUTH_VALUE = re.compile(
    r"(?i)\b(?P<scheme>basic|bearer|token|digest|negotiate|sso-key|apikey)(?P<sep>\s+|=)"
    r"(?P<value>(?=[A-Za-z0-9._~+/=\-:]*\d)[A-Za-z0-9._~+/=\-:]{8,})")
_KEYS = (r"authorization|proxy-authorization|x-api-key|api[_-]?key|api[_-]?token|"
         r"(?:access|refresh|id|auth|session|private|csrf)[_-]?token|client[_-]?secret|"
         r"app[_-]?secret|app[_-]?password|secret|password|passwd|x-auth-token|"
         r"private-token|cookie|set-cookie|token")
_KEYED_VALUE = re.compile(
    r"(?i)(?P<key>[\"']?\b(?:" + _KEYS + r")\b[\"']?\s*[:=]\s*)"
    r"(?P<value>\"(?:[^\"\\]|\\.)*\"|'(?:[^'\\]|\\.)*'|[^\s\"',;&}\]]+(?:[ \t]+[^\s\"',;&}\]]+)?)")
_BASE64_BLOB = re.compile(r"[A-Za-z0-9+/_\-]{8,}={0,2}")
_CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "x-api-key", "api-key",
                       "private-token", "x-auth-token", "cookie")


def mask_url(text: str) -> str:
    """``text`` with the userinfo of every URL (``user:pass@``) replaced by ``***@``."""
    return _URL_USERINFO.sub(lambda m: f"{m['scheme'] or ''}{MASK}@", text)


def _plain(value: Any) -> str:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


def secret_values(*models: Any) -> list[str]:
    """The non-empty ``SecretStr`` values of these pydantic models (nested ones too)."""
    found: list[str] = []
    for model in models:
        if not isinstance(model, BaseModel):
            continue
        for name in type(model).model_fields:
            value = getattr(model, name, None)
            if isinstance(value, SecretStr) and value.get_secret_value():
                found.append(value.get_secret_value())
            elif isinstance(value, BaseModel):
                found.extend(secret_values(value))
    return found


def request_credentials(request: httpx.Request | None) -> list[str]:
    """The credential material one request carried in its headers."""
    if request is None:
        return []
    found: list[str] = []
    for name in _CREDENTIAL_HEADERS:
        value = request.headers.get(name, "").strip()
        if not value:
            continue
        found.append(value)
        scheme, _, token = value.partition(" ")
        token = token.strip()
        if token:
            found.append(token)
            if scheme.lower() == "basic":
                found.extend(_basic_parts(token))
    return found


def _basic_parts(token: str) -> list[str]:
    try:
        pair = base64.b64decode(token, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return []
    user, _, password = pair.partition(":")
    return [pair, password] if password else [pair]


def _variants(secret: str) -> set[str]:
    raw = secret.encode()
    return {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1],
            html.escape(secret), base64.b64encode(raw).decode().rstrip("="),
            base64.urlsafe_b64encode(raw).decode().rstrip("=")}


def _decoded(blob: str) -> str:
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            return decode(blob + "=" * (-len(blob) % 4)).decode("utf-8", "ignore")
        except (binascii.Error, ValueError):
            continue
    return ""


class Redactor:
    """Scrubs a fixed set of secrets (and any credential-looking material) from texts."""

    def __init__(self, secrets: Iterable[Any] = ()) -> None:
        self.secrets: set[str] = set()
        self.add(*secrets)

    def add(self, *secrets: Any) -> None:
        """Also scrub these values (``str``, ``SecretStr``, ``bytes`` or None)."""
        for secret in secrets:
            plain = _plain(secret).strip()
            if len(plain) >= MIN_SECRET_CHARS:
                self.secrets.add(plain)

    def scrub(self, text: str, *, extra: Iterable[Any] = ()) -> str:
        """``text`` with no secret of this redactor, nor of ``extra``, left in it."""
        secrets = set(self.secrets)
        for value in extra:
            plain = _plain(value).strip()
            if len(plain) >= MIN_SECRET_CHARS:
                secrets.add(plain)
        text = text[:MAX_SCRUB_CHARS]
        # Longest first, so a Basic pair goes before the password inside it.
        for variant in sorted({v for s in secrets for v in _variants(s)}, key=len,
                              reverse=True):
            if len(variant) >= MIN_SECRET_CHARS:
                text = text.replace(variant, MASK)
        if secrets:
            text = _BASE64_BLOB.sub(
                lambda m: MASK if any(s in _decoded(m[0]) for s in secrets) else m[0], text)
        text = _AUTH_VALUE.sub(lambda m: f"{m['scheme']}{m['sep']}{MASK}", text)
        text = _KEYED_VALUE.sub(lambda m: f"{m['key']}{_masked(m['value'])}", text)
        return mask_url(text)


def _masked(value: str) -> str:
    if value[:1] in "\"'" and value[-1:] == value[:1] and len(value) >= 2:
        return f"{value[0]}{MASK}{value[0]}"
    return MASK


def scrub(text: str, secrets: Iterable[Any] = ()) -> str:
    """``Redactor(secrets).scrub(text)``: for one-off texts."""
    return Redactor(secrets).scrub(text)


class _ScrubbingFactory:
    """A log record factory: the record's message and traceback go through a Redactor."""

    def __init__(self, base: Any) -> None:
        self.base = base
        self.redactor = Redactor()

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record: logging.LogRecord = self.base(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string is logging's to report
            return record
        clean = self.redactor.scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            clean = self.redactor.scrub(text)
            if clean != text:
                record.exc_text = clean
        return record


_install_lock = threading.Lock()


def scrub_logs(secrets: Iterable[Any] = ()) -> Redactor:
    """Scrub every log record of this process of ``secrets``, credentials and credential
    URLs from now on (installed once; later calls add secrets). Returns its Redactor."""
    with _install_lock:
        factory = logging.getLogRecordFactory()
        if not isinstance(factory, _ScrubbingFactory):
            factory = _ScrubbingFactory(factory)
            logging.setLogRecordFactory(factory)
        factory.redactor.add(*secrets)
        return factory.redactor
