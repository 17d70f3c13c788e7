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
  percent-, JSON- or HTML-encoded, or base64-encoded alone or inside any blob), without
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
_CREDENTIAL_HEADERS = ("authorization", "proxy-authorization", "x-api-key", "api-key",
                       "private-token", "x-auth-token", "cookie")


#: Cheap substring checks that decide whether the regexes above need to run at all.
_AUTH_HINTS = ("basic", "bearer", "token", "digest", "negotiate", "sso-key", "apikey")
_KEY_HINTS = ("auth", "key", "token", "secret", "pass", "cookie")


def mask_url(text: str) -> str:
    """``text`` with the userinfo of every URL (``user:pass@``) replaced by ``***@``."""
    if "@" not in text:
        return text
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
    found = {secret, quote(secret, safe=""), quote_plus(secret), json.dumps(secret)[1:-1],
             html.escape(secret)}
    for core in _base64_cores(secret.encode()):
        found |= {core, core.replace("+", "-").replace("/", "_")}
    return found


def _base64_cores(raw: bytes) -> list[str]:
    """What base64 of any text holding ``raw`` must contain, at each of the three byte
    alignments: the characters that encode ``raw``'s bits alone. So ``email/token:SECRET``
    encoded as a Basic credential (or inside any other blob) loses its secret part."""
    cores = []
    for k in range(3):
        encoded = base64.b64encode(b"\0" * k + raw).decode()
        first = -(-8 * k // 6)  # ceil: the first character with no bit of the prefix
        last = (8 * (k + len(raw)) - 6) // 6  # the last one with no bit of what follows
        if last - first + 1 >= MIN_SECRET_CHARS:
            cores.append(encoded[first:last + 1])
    return cores


class Redactor:
    """Scrubs a fixed set of secrets (and any credential-looking material) from texts."""

    def __init__(self, secrets: Iterable[Any] = ()) -> None:
        self.secrets: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None
        self.add(*secrets)

    def add(self, *secrets: Any) -> None:
        """Also scrub these values (``str``, ``SecretStr``, ``bytes`` or None)."""
        more = self.secrets | _usable(secrets)
        if more != self.secrets:
            self.secrets, self._pattern = more, _alternation(more)

    def scrub(self, text: str, *, extra: Iterable[Any] = ()) -> str:
        """``text`` with no secret of this redactor, nor of ``extra``, left in it."""
        secrets, pattern = self.secrets, self._pattern
        added = _usable(extra) - secrets
        if added:
            secrets = secrets | added
            pattern = _alternation(secrets)
        text = text[:MAX_SCRUB_CHARS]
        if pattern is not None:
            text = pattern.sub(MASK, text)
        lower = text.lower()
        if any(hint in lower for hint in _AUTH_HINTS):
            text = _AUTH_VALUE.sub(lambda m: f"{m['scheme']}{m['sep']}{MASK}", text)
        if any(hint in lower for hint in _KEY_HINTS):
            text = _KEYED_VALUE.sub(lambda m: f"{m['key']}{_masked(m['value'])}", text)
        return mask_url(text)


def _usable(values: Iterable[Any]) -> frozenset[str]:
    plain = (_plain(v).strip() for v in values)
    return frozenset(p for p in plain if len(p) >= MIN_SECRET_CHARS)


def _alternation(secrets: Iterable[str]) -> re.Pattern[str] | None:
    """One regex for every encoding of every secret, longest first (so a Basic pair goes
    before the password inside it)."""
    variants = {v for s in secrets for v in _variants(s) if len(v) >= MIN_SECRET_CHARS}
    if not variants:
        return None
    return re.compile("|".join(re.escape(v) for v in sorted(variants, key=len, reverse=True)))


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


def also_scrub_logs(*secrets: Any) -> None:
    """If this process scrubs its logs (``scrub_logs``, as ``router worker`` does), scrub
    these secrets too: a desk's or a network's, known only once its connector is built."""
    factory = logging.getLogRecordFactory()
    if isinstance(factory, _ScrubbingFactory):
        factory.redactor.add(*secrets)


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
