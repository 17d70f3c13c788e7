"""Typed, versioned messages that travel between the router's topics.

Every record carries ``schema`` (an integer version). A consumer that meets a newer version
than it knows sends the message to the dead-letter topic instead of guessing.

``Mention`` is also the public input format in its generic JSON form::

    {"id": "1", "network": "generic", "text": "...", "author": {"id": "u1", "handle": "ann"},
     "created_at": "2026-11-23T10:00:00Z"}

plus the optional fields below.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any, Literal

import faust

from vocab.verdicts import Verdict

SCHEMA_VERSION = 1

#: What happened to a ticket: a mention was linked to it (or moved off it by an agent:
#: ``unlinked``), or its status changed.
TicketEventKind = Literal["linked", "unlinked", "status"]

# Faust writes each record's namespace on the wire ("__faust": {"ns": ...}); these records
# were published as ``router.records.*`` and keep that name wherever the module lives.
_NS = "router.records."


class Author(faust.Record, serializer="json", namespace=_NS + "Author"):
    """Who wrote a mention, as the network shows them."""

    id: str
    handle: str
    name: str = ""
    profile_url: str = ""
    followers: int = 0
    verified: bool = False


class Mention(faust.Record, serializer="json", namespace=_NS + "Mention"):
    """One post that names or addresses the company, normalized from any network."""

    id: str
    network: str
    text: str
    author: Author
    created_at: str
    url: str = ""
    in_reply_to: str | None = None
    conversation_id: str | None = None
    lang: str | None = None
    is_repost: bool = False
    is_quote: bool = False
    # Set by normalizers from the configured account lists.
    is_own_account: bool = False
    is_persona: bool = False
    is_employee: bool = False
    schema: int = SCHEMA_VERSION

    @property
    def ref(self) -> str:
        """Globally unique reference of this mention: ``network:id``."""
        return f"{self.network}:{self.id}"

    def to_json_dict(self) -> dict[str, Any]:
        """This mention as plain JSON data (what ``Mention.from_data`` reads back)."""
        return dict(json.loads(self.dumps()))

    @property
    def thread_key(self) -> str:
        """The conversation this mention belongs to (its own id when it starts one)."""
        return f"{self.network}:{self.conversation_id or self.in_reply_to or self.id}"


class Decision(faust.Record, serializer="json", namespace=_NS + "Decision"):
    """The one verdict a mention gets, with its scores and reasons."""

    mention: Mention
    verdict: Verdict
    scores: dict[str, float]
    reasons: list[str]
    category: str = "other"
    priority: str = "normal"
    hurtful: bool = False
    sensitive: bool = False
    # The case this mention opens or joins: a thread key, an author's case or an incident.
    case_key: str | None = None
    # An incident's first decision: earlier reports' cases, to link to the problem ticket.
    related: list[str] = []  # noqa: RUF012 - faust.Record copies defaults
    # The author's earlier posts in the same thread (Mention JSON), shown on a new ticket.
    thread: list[dict[str, Any]] = []  # noqa: RUF012
    decided_at: float = 0.0
    schema: int = SCHEMA_VERSION
    # Added after schema 1 was published; "" (unknown) in older decisions. The model that
    # scored the mention: its sha256 prefix, then its card's name and date.
    model_version: str = ""

    def __post_init__(self) -> None:
        # Read back from JSON the verdict is a plain string: make it the member (a name
        # that is no verdict raises here, so the message is dead-lettered, not guessed at).
        self.verdict = Verdict(self.verdict)


class TicketEvent(faust.Record, serializer="json", namespace=_NS + "TicketEvent"):
    """Something happened to a desk ticket: a mention was linked to it, or its status changed.

    ``kind`` is ``linked`` (written by the escalate agent after acting on the desk),
    ``unlinked`` (an agent moved the mention to another ticket: ``router desk move``) or
    ``status`` (written by desk webhooks, pollers and the embedded desk's CLI).
    """

    desk: str
    ticket_id: str
    kind: TicketEventKind
    status: str = ""
    ticket_url: str = ""
    # For kind == "linked": who to answer when the ticket is solved.
    mention: Mention | None = None
    reply_allowed: bool = True
    at: float = 0.0
    schema: int = SCHEMA_VERSION
    # Added after schema 1 was published (absent, the defaults, in older events).
    # kind == "linked": the verdict the router gave the mention.
    verdict: str = ""
    # kind == "status": an agent's judgement read from the desk (its feedback tag or field):
    # True marked not actionable / misrouted, False not marked, None the desk did not say.
    not_actionable: bool | None = None

    @property
    def ticket_key(self) -> str:
        return f"{self.desk}:{self.ticket_id}"


class Reply(faust.Record, serializer="json", namespace=_NS + "Reply"):
    """One public reply to one customer about one ticket; ``id`` makes it idempotent."""

    id: str
    network: str
    in_reply_to: str
    conversation_id: str | None
    author_handle: str
    text: str
    ticket_url: str
    ticket_key: str
    lang: str | None = None
    created_at: float = 0.0
    schema: int = SCHEMA_VERSION


# A dead letter must fit what Kafka accepts (1 MB by default) whatever it holds: originals up
# to this size are kept whole (every message the router could accept is), larger ones as
# their first bytes, their size and their SHA-256.
DEAD_LETTER_KEEP_BYTES = 256 * 1024
DEAD_LETTER_MAX_REASON = 2000
DEAD_LETTER_MAX_KEY = 1024


class DeadLetter(faust.Record, serializer="json", namespace=_NS + "DeadLetter"):
    """Input the router could not use, with the reason it was refused.

    ``original`` is the original bytes, base64-encoded: whole, or only the first
    ``DEAD_LETTER_KEEP_BYTES`` of them when ``truncated``; ``original_size`` and
    ``original_sha256`` always describe the whole original. Build one with ``DeadLetter.of``.
    """

    source_topic: str
    reason: str
    original: str  # the original bytes (or their first bytes when truncated), base64-encoded
    key: str | None = None
    partition: int | None = None
    offset: int | None = None
    at: float = 0.0
    schema: int = SCHEMA_VERSION
    # Added after schema 1 was published; absent (the defaults) in older dead letters.
    original_size: int | None = None
    original_sha256: str = ""
    truncated: bool = False

    @classmethod
    def of(cls, raw: bytes | None, reason: str, *, source_topic: str, key: str | None = None,
           partition: int | None = None, offset: int | None = None, at: float = 0.0,
           keep: int = DEAD_LETTER_KEEP_BYTES) -> DeadLetter:
        """A dead letter for ``raw`` that fits a Kafka message whatever ``raw`` is."""
        raw = raw or b""
        kept = raw[:keep]
        if len(reason) > DEAD_LETTER_MAX_REASON:
            reason = reason[:DEAD_LETTER_MAX_REASON] + "…"
        if key is not None and len(key) > DEAD_LETTER_MAX_KEY:
            key = key[:DEAD_LETTER_MAX_KEY]
        return cls(source_topic=source_topic, reason=reason,
                   original=base64.b64encode(kept).decode(), key=key, partition=partition,
                   offset=offset, at=at, original_size=len(raw),
                   original_sha256=hashlib.sha256(raw).hexdigest(),
                   truncated=len(kept) < len(raw))


class AuditItem(faust.Record, serializer="json", namespace=_NS + "AuditItem"):
    """A silent verdict sampled for a person to check: could support have helped after all?
    On the compacted ``audit`` topic, keyed by the mention's ref."""

    mention: Mention
    reasons: list[str]
    scores: dict[str, float]
    model_version: str = ""
    at: float = 0.0
    schema: int = SCHEMA_VERSION


class Label(faust.Record, serializer="json", namespace=_NS + "Label"):
    """A person's judgement of one mention: could support help (``actionable``)? On the
    compacted ``feedback`` topic keyed by the mention's ref, so a label is never lost and a
    relabel replaces it instead of counting twice."""

    mention_ref: str
    actionable: bool
    source: str  # where it was given: "audit", or a desk's feedback ("zendesk", ...)
    text: str = ""  # the mention's text, what a model trains on
    verdict: str = ""  # what the router had decided
    by: str = ""
    at: float = 0.0
    schema: int = SCHEMA_VERSION


class ConfigEntry(faust.Record, serializer="json", namespace=_NS + "ConfigEntry"):
    """A runtime setting on the compacted control topic (kill switch, thresholds...)."""

    name: str
    value: Any
    by: str = ""
    at: float = 0.0
    schema: int = SCHEMA_VERSION


class ShadowVerdict(faust.Record, serializer="json", namespace=_NS + "ShadowVerdict"):
    """What a candidate model (``router model shadow``) would have decided for a mention,
    beside what the live model did decide; recorded, never acted on. On the ``shadow``
    topic keyed by the mention's ref, so a redelivery replaces its record instead of
    counting twice in ``router model compare``."""

    mention_ref: str
    network: str
    text: str  # what the disagreements are read against
    live_verdict: str
    live_version: str
    live_actionable: float
    shadow_verdict: str
    shadow_version: str
    shadow_actionable: float
    at: float = 0.0
    schema: int = SCHEMA_VERSION
