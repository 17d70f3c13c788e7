"""Raw bytes from the ``mentions`` topic -> a ``Mention``, or ``BadInput`` with the reason.

The checks are strict on purpose: a field of the wrong type is refused rather than coerced,
so that what reaches a ticket is what the customer wrote, and what does not is in the
dead-letter topic with a reason an operator can act on.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable
from typing import Any

from .errors import BadInput
from .records import SCHEMA_VERSION, Author, Mention

REQUIRED = ("id", "network", "text", "author", "created_at")
STR_FIELDS = ("url", "in_reply_to", "conversation_id", "lang")
BOOL_FIELDS = ("is_repost", "is_quote", "is_own_account", "is_persona", "is_employee")


def _str(obj: dict[str, Any], key: str, where: str, *, required: bool = True) -> str | None:
    value = obj.get(key)
    if value is None:
        if required:
            raise BadInput(f"missing field: {where}{key}")
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise BadInput(f"wrong type: {where}{key} must be a string, got {type(value).__name__}")
    return str(value)


def parse_mention(raw: bytes, *, networks: Iterable[str], max_text_bytes: int,
                  max_message_bytes: int) -> Mention:
    """Validate one message of the generic JSON form; raise BadInput(reason) if unusable."""
    if len(raw) > max_message_bytes:
        raise BadInput(f"message too large: {len(raw)} bytes > {max_message_bytes}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(f"invalid UTF-8 at byte {exc.start}") from None
    if "\x00" in text:
        raise BadInput("binary content: NUL byte in message")
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") \
            from None
    if not isinstance(obj, dict):
        raise BadInput(f"wrong type: a mention must be a JSON object, got {type(obj).__name__}")
    schema = obj.get("schema", SCHEMA_VERSION)
    if not isinstance(schema, int) or schema > SCHEMA_VERSION:
        raise BadInput(f"unsupported schema version {schema!r} (this router reads "
                       f"<= {SCHEMA_VERSION})")
    for key in REQUIRED:
        if key not in obj or obj[key] is None:
            raise BadInput(f"missing field: {key}")
    mid = _str(obj, "id", "")
    network = _str(obj, "network", "")
    assert mid is not None and network is not None
    if not mid.strip():
        raise BadInput("empty field: id")
    known = list(networks)
    if network not in known:
        raise BadInput(f"unknown network: {network!r} (accepted: {', '.join(known)})")
    body = obj["text"]
    if not isinstance(body, str):
        raise BadInput(f"wrong type: text must be a string, got {type(body).__name__}")
    size = len(body.encode("utf-8", "surrogatepass"))
    if size > max_text_bytes:
        raise BadInput(f"text too long: {size} bytes > {max_text_bytes}")
    if _mostly_control(body):
        raise BadInput("binary content: text is mostly control characters")
    created_at = _str(obj, "created_at", "")
    author = obj["author"]
    if not isinstance(author, dict):
        raise BadInput(f"wrong type: author must be an object, got {type(author).__name__}")
    author_id = _str(author, "id", "author.")
    handle = _str(author, "handle", "author.")
    assert author_id is not None and handle is not None
    followers = author.get("followers", 0)
    if isinstance(followers, bool) or not isinstance(followers, int) or followers < 0:
        raise BadInput("wrong type: author.followers must be a non-negative integer")
    verified = author.get("verified", False)
    if not isinstance(verified, bool):
        raise BadInput("wrong type: author.verified must be true or false")
    extra: dict[str, Any] = {}
    for key in STR_FIELDS:
        extra[key] = _str(obj, key, "", required=False)
    for key in BOOL_FIELDS:
        value = obj.get(key, False)
        if not isinstance(value, bool):
            raise BadInput(f"wrong type: {key} must be true or false")
        extra[key] = value
    return Mention(
        id=mid,
        network=network,
        text=body,
        author=Author(
            id=author_id,
            handle=handle.lstrip("@"),
            name=_str(author, "name", "author.", required=False) or "",
            profile_url=_str(author, "profile_url", "author.", required=False) or "",
            followers=followers,
            verified=verified,
        ),
        created_at=str(created_at),
        url=extra["url"] or "",
        in_reply_to=extra["in_reply_to"],
        conversation_id=extra["conversation_id"],
        lang=extra["lang"],
        is_repost=extra["is_repost"],
        is_quote=extra["is_quote"],
        is_own_account=extra["is_own_account"],
        is_persona=extra["is_persona"],
        is_employee=extra["is_employee"],
    )


def _mostly_control(text: str) -> bool:
    if not text:
        return False
    sample = text[:4096]
    control = sum(1 for ch in sample
                  if unicodedata.category(ch) in ("Cc", "Cs", "Co") and ch not in "\n\r\t")
    return control * 2 > len(sample)
