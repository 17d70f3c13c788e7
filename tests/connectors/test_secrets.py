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
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from connectors.errors import ConnectorError

from .desks.drafts import draft
from .desks.harness import discover

MARKER = "MARKERs3cr3t0xC0FFEE"
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
