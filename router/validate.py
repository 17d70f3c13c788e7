"""Raw bytes from the ``mentions`` topic -> a ``Mention``, or ``BadInput`` with the reason.

The generic JSON form is a strict pydantic model (``MentionIn``): a field of the wrong type
is refused rather than coerced, so that what reaches a ticket is what the customer wrote, and
what does not is in the dead-letter topic with a reason an operator can act on. Every problem
of a message is reported at once (``missing field: id; wrong type: is_repost must be true or
false, got string``). ``mention_schema()`` is the same model as a JSON Schema
(``router schema``, ``docs/mention.schema.json``).

Whatever one message does wrong (nested past any parser's depth, a number too large to read,
a null value) is that message's ``BadInput``, never an exception that takes its batch down.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError

from vocab.errors import BadInput
from vocab.records import SCHEMA_VERSION, Author, Mention

MAX_FOLLOWERS = 2**63 - 1
MAX_QUOTED = 60  # characters of a refused value quoted back in a reason

# An identifier: a string, or an integer as many networks' JSON gives ids (kept as its digits).
Ident = Annotated[StrictStr | StrictInt, Field(union_mode="left_to_right")]


class MentionAuthor(BaseModel):
    """Who wrote the mention, as the network shows them."""

    model_config = ConfigDict(strict=True, extra="ignore", title="Author")

    id: Ident = Field(description="The author's id on the network.")
    handle: Ident = Field(description="The author's handle; a leading '@' is dropped.")
    name: Ident | None = Field(None, description="Display name.")
    profile_url: StrictStr | None = Field(None, description="Link to the author's profile.")
    followers: StrictInt = Field(0, ge=0, le=MAX_FOLLOWERS, description="Follower count.")
    verified: StrictBool = Field(False, description="Whether the network verified the author.")


class MentionIn(BaseModel):
    """One post that names or addresses the company, in the router's generic JSON form.

    Unknown fields are ignored; a field of the wrong type is refused, never coerced.
    """

    model_config = ConfigDict(strict=True, extra="ignore", title="Mention",
                              populate_by_name=True)

    schema_version: StrictInt = Field(
        SCHEMA_VERSION, alias="schema", ge=0, le=SCHEMA_VERSION,
        description=f"Version of this format; this router reads <= {SCHEMA_VERSION}.")
    id: Ident = Field(description="The post's id on its network (not empty).")
    network: StrictStr = Field(description="A network the router accepts (ROUTER_NETWORKS), "
                               "e.g. 'generic', 'x', 'mastodon', 'bluesky', 'reddit'.")
    text: StrictStr = Field(description="What the customer wrote (at most "
                            "ROUTER_MAX_TEXT_BYTES bytes of UTF-8).")
    author: MentionAuthor
    created_at: StrictStr = Field(
        description="When it was posted: an ISO 8601 / RFC 3339 timestamp such as "
        "2026-11-23T10:00:00Z.", json_schema_extra={"format": "date-time"})
    url: StrictStr | None = Field(None, description="Link to the post.")
    in_reply_to: Ident | None = Field(None, description="Id of the post this one answers.")
    conversation_id: Ident | None = Field(None, description="Id of the thread's first post.")
    lang: StrictStr | None = Field(None, description="BCP 47 language tag, e.g. 'en'.")
    is_repost: StrictBool = Field(False, description="A repost/retweet: never a ticket.")
    is_quote: StrictBool = False
    is_own_account: StrictBool = False
    is_persona: StrictBool = False
    is_employee: StrictBool = False

    @field_validator("id")
    @classmethod
    def _not_empty(cls, value: str | int) -> str | int:
        if isinstance(value, str) and not value.strip():
            raise PydanticCustomError("empty", "empty field: id")
        return value

    @field_validator("network")
    @classmethod
    def _known_network(cls, value: str, info: ValidationInfo) -> str:
        known = (info.context or {}).get("networks")
        if known is not None and value not in known:
            raise PydanticCustomError(
                "network", "unknown network: {network} (accepted: {accepted})",
                {"network": _quote(value), "accepted": ", ".join(known)})
        return value

    @field_validator("text")
    @classmethod
    def _text_limits(cls, value: str, info: ValidationInfo) -> str:
        limit = (info.context or {}).get("max_text_bytes")
        size = len(value.encode("utf-8", "surrogatepass"))
        if limit is not None and size > limit:
            raise PydanticCustomError("too_long", "text too long: {size} bytes > {limit}",
                                      {"size": size, "limit": limit})
        if _mostly_control(value):
            raise PydanticCustomError("binary", "binary content: text is mostly control "
                                      "characters")
        return value

    @field_validator("created_at")
    @classmethod
    def _timestamp(cls, value: str) -> str:
        try:
            datetime.fromisoformat(value.strip())
        except ValueError:
            raise PydanticCustomError(
                "timestamp", "bad time: created_at must be an ISO 8601 timestamp such as "
                "2026-11-23T10:00:00Z, got {value}", {"value": _quote(value)}) from None
        return value

    def to_mention(self) -> Mention:
        """The ``Mention`` record the rest of the router reads."""
        a = self.author
        return Mention(
            id=str(self.id), network=self.network, text=self.text,
            author=Author(id=str(a.id), handle=str(a.handle).lstrip("@"),
                          name=_opt(a.name) or "", profile_url=a.profile_url or "",
                          followers=a.followers, verified=a.verified),
            created_at=self.created_at, url=self.url or "",
            in_reply_to=_opt(self.in_reply_to), conversation_id=_opt(self.conversation_id),
            lang=self.lang, is_repost=self.is_repost, is_quote=self.is_quote,
            is_own_account=self.is_own_account, is_persona=self.is_persona,
            is_employee=self.is_employee)


def parse_mention(raw: bytes | None, *, networks: Iterable[str], max_text_bytes: int,
                  max_message_bytes: int) -> Mention:
    """Validate one message of the generic JSON form; raise BadInput(reason) if unusable."""
    if raw is None:
        raise BadInput("empty message: a null value (a tombstone), not a mention")
    if len(raw) > max_message_bytes:
        raise BadInput(f"message too large: {len(raw)} bytes > {max_message_bytes}")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BadInput(f"invalid UTF-8 at byte {exc.start}") from None
    if b"\x00" in raw:
        raise BadInput("binary content: NUL byte in message")
    context = {"networks": list(networks), "max_text_bytes": max_text_bytes}
    try:
        return MentionIn.model_validate_json(raw, context=context).to_mention()
    except ValidationError as exc:
        raise BadInput(reason_of(exc)) from None
    except (ValueError, TypeError, RecursionError, OverflowError, MemoryError) as exc:
        raise BadInput(f"unreadable message: {type(exc).__name__}: "
                       f"{_quote(str(exc), 200)}") from None


def mention_schema() -> dict[str, Any]:
    """The generic input form as a JSON Schema (draft 2020-12)."""
    schema = MentionIn.model_json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


# --- readable reasons ----------------------------------------------------------------------
_EXPECTED = {"string_type": "a string", "int_type": "an integer", "bool_type": "true or false",
             "model_type": "an object", "model_attributes_type": "an object"}


def reason_of(exc: ValidationError) -> str:
    """Every problem of one message, in one line: ``missing field: id; wrong type: ...``."""
    errors = exc.errors(include_url=False)
    schema = [e for e in errors if e["loc"][:1] == ("schema",)]
    if schema:  # a newer format: its other fields may mean something else, say only this
        value = schema[0]["input"]
        return (f"unsupported schema version {_quote(value)} (this router reads "
                f"<= {SCHEMA_VERSION})")
    reasons: list[str] = []
    for e in errors:
        loc = tuple(str(p) for p in e["loc"])
        if len(loc) > 1 and loc[-1] in ("str", "int") and e["type"] in _EXPECTED:
            loc = loc[:-1]  # one member of an id's "string or integer": say it once
            what = "a string or an integer"
        else:
            what = _EXPECTED.get(e["type"], "")
        where = ".".join(loc)
        reason = _one(e, where, what)
        if reason not in reasons:
            reasons.append(reason)
    return "; ".join(reasons)


def _one(e: Any, where: str, what: str) -> str:
    kind, value = e["type"], e.get("input")
    if kind == "json_invalid":
        detail = str(e.get("ctx", {}).get("error", e["msg"]))
        if detail.startswith("recursion limit exceeded"):
            detail = "nested too deeply" + detail[len("recursion limit exceeded"):]
        elif detail.startswith("number out of range"):
            detail = "a number too large to read (integer over 4300 digits?)" \
                + detail[len("number out of range"):]
        return f"malformed JSON: {detail}"
    if kind == "missing" or (value is None and where in _REQUIRED):
        return f"missing field: {where}"
    if not where and kind in ("model_type", "model_attributes_type"):
        return f"wrong type: a mention must be a JSON object, got {_json_type(value)}"
    if where == "author.followers":
        return (f"wrong type: author.followers must be a non-negative integer, got "
                f"{_quote(value) if isinstance(value, int) else _json_type(value)}")
    if where == "created_at" and what:
        return (f"wrong type: created_at must be an ISO 8601 timestamp string such as "
                f"2026-11-23T10:00:00Z, got {_json_type(value)}")
    if what:
        return f"wrong type: {where} must be {what}, got {_json_type(value)}"
    if kind in ("empty", "network", "too_long", "binary", "timestamp"):
        return str(e["msg"])
    return f"{where}: {e['msg']}" if where else str(e["msg"])


_REQUIRED = frozenset({"id", "network", "text", "author", "created_at", "author.id",
                       "author.handle"})


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _quote(value: Any, limit: int = MAX_QUOTED) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value) if value.bit_length() < 200 else "a very large number"
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _opt(value: str | int | None) -> str | None:
    return None if value is None else str(value)


def _mostly_control(text: str) -> bool:
    if not text:
        return False
    sample = text[:4096]
    control = sum(1 for ch in sample
                  if unicodedata.category(ch) in ("Cc", "Cs", "Co") and ch not in "\n\r\t")
    return control * 2 > len(sample)
