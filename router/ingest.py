"""Mentions in: pushed payloads, replayed files and pollers all come through here.

``to_message(network, raw)`` turns one payload into the ``(key, value)`` of a ``mentions``
message: the generic form passes as it is (the triage agent validates it and dead-letters
what is wrong, with the original bytes); a network's own payload is normalized by its
connector first, and one that cannot be is refused here with the reason.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from connectors.errors import InvalidPayload
from connectors.registry import network_class
from vocab.errors import BadInput, SettingsError

if TYPE_CHECKING:
    from .runtime import Runtime


def _generic_key(raw: bytes) -> bytes:
    """Key by author when the payload says who; else an empty key (still delivered)."""
    try:
        obj = json.loads(raw)
        return f"{obj['network']}:{obj['author']['id']}".encode()
    except (ValueError, KeyError, TypeError, UnicodeDecodeError, RecursionError):
        return b""


def to_message(network: str, raw: bytes, *, networks: Any = None) -> tuple[bytes, bytes]:
    """``(key, value)`` for the mentions topic; raises BadInput for an unusable payload."""
    if network == "generic":
        return _generic_key(raw), raw
    try:
        cls = network_class(network)
    except SettingsError as exc:
        raise BadInput(f"unknown network: {network!r}") from exc
    try:
        payload = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BadInput(f"invalid UTF-8 at byte {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise BadInput(f"malformed JSON: {exc.msg}") from None
    except ValueError as exc:  # e.g. an integer over 4,300 digits
        raise BadInput(f"malformed JSON: {str(exc)[:120]}") from None
    except RecursionError:
        raise BadInput("malformed JSON: nested too deep") from None
    if not isinstance(payload, dict):
        raise BadInput("wrong type: a payload must be a JSON object")
    connector = (networks or {}).get(network) or cls()
    try:
        mention = connector.normalize(payload)
    except InvalidPayload as exc:
        raise BadInput(str(exc)) from exc
    except RecursionError:
        raise BadInput("wrong shape: nested too deep") from None
    return f"{mention.network}:{mention.author.id}".encode(), mention.dumps()


async def ingest_payload(rt: Runtime, network: str, raw: bytes) -> dict[str, Any]:
    """Produce one pushed payload to ``mentions`` (or its dead-letter topic)."""
    try:
        key, value = to_message(network, raw)
    except BadInput as exc:
        await rt.dead_letter_record("mentions", "", raw, exc.reason)
        return {"accepted": False, "reason": exc.reason}
    await rt.topics["mentions"].send(key=key, value=value)
    rt.count("ingest.accepted")
    return {"accepted": True}
