"""Mentions in: pushed payloads, replayed files and pollers all come through here.

``to_message(network, raw)`` turns one payload into the ``(key, value)`` of a ``mentions``
message: the generic form passes as it is (the triage agent validates it and dead-letters
what is wrong, with the original bytes); a network's own payload is normalized by its
connector first, through the one guarded door (``connectors.social.compose.parse_payload``,
which the poller's ``normalize_payload`` shares), and one that cannot be is refused here with
the reason.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from connectors.errors import InvalidPayload
from connectors.social.compose import parse_payload
from vocab.errors import BadInput

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
        mention = parse_payload(network, raw, networks=networks)
    except InvalidPayload as exc:
        raise BadInput(str(exc)) from exc
    return f"{mention.network}:{mention.author.id}".encode(), mention.dumps()


async def ingest_payload(rt: Runtime, network: str, raw: bytes) -> dict[str, Any]:
    """Produce one pushed payload to ``mentions`` (or its dead-letter topic)."""
    try:
        key, value = to_message(network, raw)
    except BadInput as exc:
        await rt.dead_letter_record("mentions", "", raw, exc.reason)
        return {"accepted": False, "reason": exc.reason}
    await rt.topics.mentions.send(key=key, value=value)
    rt.count("ingest.accepted")
    return {"accepted": True}
