"""What every support desk connector offers the router.

A desk connector is one file, one class with a ``key``, a ``Config`` (pydantic-settings, env
prefix ``ROUTER_<KEY>_``, secrets as ``SecretStr``) and these verbs:

- ``setup()``: check settings and reach the desk once (the constructor does no network);
- ``find_by_external_id(external_id)``: the ticket the router opened for a case, if any;
- ``find_open_for_requester(handle, network)``: an open ticket of that social customer;
- ``open(draft)``: a new ticket; **idempotent on ``draft.external_id``** (look up before
  create, or the desk's Idempotency-Key, plus a local record where search is eventually
  consistent) so a retry storm never opens a second ticket;
- ``comment(ticket_id, body, public=..., idempotency_key=...)``: a public reply or an
  internal note; idempotent on ``idempotency_key`` where the desk lets us check;
- ``status(ticket_id)``: one of ``STATUSES``;
- ``link(child_id, parent_id)``: child/incident to parent/problem, or ``NotSupported``;
- ``aclose()``.

Declared capabilities, each with a default that says what a desk without it does (the
router calls them, never probes with ``hasattr``):

- ``reopen(ticket_id)``: a new request joined a solved ticket; ``False`` where the desk
  reopens on its own (or cannot);
- ``public_view(ticket_id, key)``: what the customer's status page shows (public replies
  only), for desks whose ticket link is served by the router; ``NotSupported`` otherwise;
- ``pending_events(limit)`` / ``mark_sent(seqs)``: the outbox of a desk whose ticket
  changes happen in this process (``events == "local"``); empty elsewhere.

Errors are mapped at the boundary (``connectors.errors``); use ``connectors.http.HttpApi``.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from connectors.base import Connector, ConnectorConfig
from vocab.records import Mention

from .webhooks import MAX_AGE_SECONDS, MAX_BODY_BYTES, ReplayCache, Seen, WebhookRejected

# The router's normalized ticket statuses; each desk maps its own onto these.
STATUSES = ("new", "open", "pending", "solved", "closed")
DONE_STATUSES = frozenset({"solved", "closed"})

SOCIAL_TAG = "social"
#: What an agent puts on a social ticket the router should not have sent (not actionable, or
#: misrouted): the desk's own tag or label of that name, or its field set to that value (each
#: desk says which in its docstring; ``ROUTER_<KEY>_FEEDBACK_TAG`` names another).
FEEDBACK_TAG = "not-actionable"

DeskEvents = Literal["webhook", "poll", "local"]


@dataclass(frozen=True)
class Ticket:
    """A desk ticket as the router needs to know it."""

    id: str
    url: str
    status: str = "open"
    external_id: str | None = None
    requester: str | None = None
    subject: str = ""


@dataclass(frozen=True)
class TicketDraft:
    """Everything an agent needs on a social ticket, before the desk formats it.

    The router fills it in from a decision (``router.drafts.draft_for``: the subject, the
    tags, whether it is a problem ticket); a desk only formats and files it.
    """

    external_id: str
    subject: str
    mention: Mention
    verdict: str
    # P(actionable): the model's probability that support can help (not a confidence).
    confidence: float
    reasons: Sequence[str]
    category: str
    priority: str  # low | normal | high | urgent
    tags: Sequence[str] = (SOCIAL_TAG,)
    thread: Sequence[Mention] = ()
    problem: bool = False  # an incident's problem ticket
    hurtful: float = 0.0  # P(hurtful), the model's probability that the post is hurtful
    sensitive: bool = False  # a sensitive moment (death, disaster): no automatic reply
    language: str = "unknown"  # the post's language as the network gave it


@dataclass(frozen=True)
class PublicUpdate:
    """A public reply on a ticket, as the customer may read it."""

    body: str
    at: float | None = None


@dataclass(frozen=True)
class PublicView:
    """All a customer may see of a ticket: its number, status and public replies. No
    internal note, verdict, score or other customer's post is ever in it."""

    ticket_id: str
    status: str
    updated_at: float | None = None
    updates: Sequence[PublicUpdate] = ()


@dataclass(frozen=True)
class TicketChange:
    """A ticket's status as a poller saw it (for desks without webhooks)."""

    ticket_id: str
    status: str  # one of STATUSES
    url: str = ""
    external_id: str | None = None
    changed_at: str = ""
    # An agent's judgement of the router's ticket, read from the desk's tag or field
    # (``feedback_tag``): True marked not actionable / misrouted, False not marked, None
    # the payload does not say (a status-only event).
    not_actionable: bool | None = None


def marked(tags: Iterable[Any] | None, feedback_tag: str) -> bool | None:
    """Whether ``feedback_tag`` is among a ticket's ``tags`` (any case, surrounding spaces
    ignored); None when the desk did not send its tags."""
    if tags is None:
        return None
    wanted = feedback_tag.strip().casefold()
    return any(str(t).strip().casefold() == wanted for t in tags)


@dataclass(frozen=True)
class ChangePage:
    """Changes after a checkpoint, oldest first, and the checkpoint to resume after them.

    Resuming from ``checkpoint`` must give no gaps and no repeats, across restarts.
    """

    changes: Sequence[TicketChange]
    checkpoint: str | None


@dataclass(frozen=True)
class CommentBody:
    """A comment to add to a ticket: the mention that joined it, or a reply text."""

    text: str
    mention: Mention | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


class DeskConfig(ConnectorConfig):
    """Base of each desk's settings; subclasses set ``env_prefix = 'ROUTER_<KEY>_'``."""

    feedback_tag: str = Field(
        FEEDBACK_TAG, description="The tag (label, or field value where the desk has no tags) "
        "an agent puts on a social ticket the router should not have sent: its mentions are "
        "labelled 'support could not help' and get no reply.")

    @field_validator("feedback_tag")
    @classmethod
    def _a_feedback_tag(cls, value: str) -> str:
        """Every desk's (a subclass's own default too): an empty tag would turn agents'
        feedback off without a word, or match an empty item of a tag list."""
        value = value.strip()
        if not value:
            raise ValueError("the feedback tag is empty: name the tag (or field value) agents "
                             "mark a ticket not actionable with, or leave it unset")
        return value


class Desk(Connector):
    """A support desk the router opens, links and follows tickets in."""

    Config: ClassVar[type[ConnectorConfig]] = DeskConfig
    #: Body format the desk expects: "plain", "markdown", "html" or "adf".
    body_format: ClassVar[str] = "plain"
    #: How ticket changes come back: "webhook" (the router's ``/webhooks/<key>``), "poll"
    #: (``changes_since``) or "local" (made in this process; ``pending_events``).
    events: ClassVar[DeskEvents] = "webhook"

    @abc.abstractmethod
    async def find_by_external_id(self, external_id: str) -> Ticket | None:
        """The ticket opened for this external id, or None."""

    @abc.abstractmethod
    async def find_open_for_requester(self, handle: str, network: str) -> Ticket | None:
        """An open (not solved/closed) ticket whose requester is this social customer."""

    @abc.abstractmethod
    async def open(self, draft: TicketDraft) -> Ticket:
        """Open a ticket; a second call with the same external id returns the same ticket."""

    @abc.abstractmethod
    async def comment(self, ticket_id: str, body: CommentBody, *, public: bool,
                      idempotency_key: str) -> None:
        """Add a public reply (``public=True``) or an internal note."""

    @abc.abstractmethod
    async def status(self, ticket_id: str) -> str:
        """The ticket's status, one of ``STATUSES``."""

    async def link(self, child_id: str, parent_id: str) -> None:
        """Link a child/incident ticket to a parent/problem ticket."""
        from connectors.errors import NotSupported

        raise NotSupported(f"{self.key} has no ticket links")

    async def reopen(self, ticket_id: str) -> bool:
        """Reopen a solved or closed ticket a new request joined; True if this call did.

        The default does nothing: SaaS desks reopen a ticket themselves when the customer
        writes again, and the router says so with a ``status`` ticket event either way."""
        return False

    async def public_view(self, ticket_id: str, key: str) -> PublicView | None:
        """The customer's view of a ticket whose page ``key`` is right (None otherwise), for
        a desk whose ticket links are the router's own status pages."""
        from connectors.errors import NotSupported

        raise NotSupported(f"{self.key} serves its own ticket pages")

    async def pending_events(self, limit: int = 500) -> list[dict[str, Any]]:
        """Status changes made in this process whose ticket event Kafka does not have yet,
        oldest first: ``seq``, ``ticket_id``, ``status``, ``url`` (``events == "local"``)."""
        return []

    async def mark_sent(self, seqs: Sequence[int]) -> None:
        """These outbox events are in Kafka."""

    async def get(self, ticket_id: str) -> Ticket:
        """The ticket with its current status and URL."""
        status = await self.status(ticket_id)
        return Ticket(id=ticket_id, url=self.ticket_url(ticket_id), status=status)

    async def changes_since(self, checkpoint: str | None) -> ChangePage:
        """One page of status changes after ``checkpoint`` (desks with ``events == "poll"``)."""
        from connectors.errors import NotSupported

        raise NotSupported(f"{self.key} pushes changes by webhook; it is not polled")

    # --- inbound webhooks: a desk with ``events == "webhook"`` overrides both ---------------

    @classmethod
    def verify_webhook(cls, headers: Mapping[str, str], body: bytes, secret: str | bytes, *,
                       now: float, replay_cache: ReplayCache | None = None,
                       max_age: float = MAX_AGE_SECONDS,
                       max_bytes: int = MAX_BODY_BYTES) -> Seen | None:
        """Check one webhook delivery exactly as the desk documents its signature.

        Raises ``WebhookRejected`` (answered 401, no detail) when it is forged, stale (more
        than ``max_age`` seconds from ``now``), over ``max_bytes``, or already in
        ``replay_cache``; else returns what the cache now remembers of it (None without a
        cache, or for a desk that signs nothing to key it by), so the caller can persist
        it, or ``forget`` it if it cannot pass the delivery on. The helpers of
        ``connectors.desks.webhooks`` do the checks. By default a desk has no webhooks:
        every delivery is refused.
        """
        raise WebhookRejected(f"{getattr(cls, 'key', cls.__name__)} has no webhooks")

    @classmethod
    def parse_webhook(cls, payload: Mapping[str, Any], *,
                      feedback_tag: str = FEEDBACK_TAG) -> list[TicketChange]:
        """The ticket status changes in a verified delivery's JSON object (``[]`` for events
        that change no status), each status one of ``STATUSES``, read with the same status
        map as the desk's REST code. Where the payload lists the ticket's tags (labels),
        ``not_actionable`` says whether ``feedback_tag`` is among them (``marked``). By
        default a desk has no webhooks: NotSupported."""
        from connectors.errors import NotSupported

        raise NotSupported(f"{getattr(cls, 'key', cls.__name__)} has no webhooks")

    def ticket_url(self, ticket_id: str) -> str:
        """The link an agent (or customer) opens for this ticket."""
        return ticket_id

    @property
    def feedback_tag(self) -> str:
        """The tag (or field value) agents mark a ticket not actionable with (settings)."""
        return self.config.feedback_tag if isinstance(self.config, DeskConfig) else FEEDBACK_TAG
