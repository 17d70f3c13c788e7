"""The desk conformance kit: the contract every desk keeps, runnable from any repository.

A desk installed through the ``escalation_router.desks`` entry point is checked in its own
repository, with its own fake of the vendor (or a real server), in one test module::

    # tests/test_mydesk_conformance.py of my_package
    from connectors.testing import desk_test_class
    from .harness import MyDeskHarness       # implements connectors.testing.Harness

    TestMyDeskConformance = desk_test_class(MyDeskHarness)

pytest then collects one ``test_<case>`` per case of ``CASES``: open is idempotent on the
external id (also through a retry storm and across a restart), find by external id, find
an open ticket of a requester, public and internal comments idempotent on their key (also
when the answer to a post is lost), statuses mapped onto ``STATUSES``, links or
``NotSupported``, and errors mapped at the boundary (bad credentials fatal and secret-free,
``Retry-After`` honoured, timeouts retried, validation errors fatal).

Needs: **pytest**, but only ``desk_test_class`` imports it (it is not a runtime dependency
of the router). No pytest-asyncio is needed: each generated test runs its case in a fresh
event loop of its own. The cases are plain coroutines, ``await case.check(harness)``, that
fail with ``AssertionError``; a case that does not apply to a desk raises ``NotApplicable``
(pytest reports it skipped).

A ``Harness`` drives one desk and whatever it talks to. It is a callable (usually the
class) taking a temporary directory and returning an object with the methods of
``Harness`` below. Optional capabilities are plain attributes: ``supports_link`` (the
harness records links and ``linked()`` reads them), ``internal_notes`` ("internal" if the
desk keeps notes private, "prefixed" if it posts them as visible comments with a clear
prefix), and ``validates_subject`` (default True: the desk answers a ticket with an empty
subject with a validation error; set False for a desk that accepts one, and the case is
skipped).

Bad credentials may be refused by ``setup()`` (a ``ConfigError``) or by the first verb (a
``FatalError`` with ``status_code == 401``); the secret must never show up either way. The
bad secret the harness configures must start with ``wrong-``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar, runtime_checkable

from connectors.desks.base import STATUSES, CommentBody, Desk, TicketDraft
from connectors.errors import ConfigError, FatalError, NotSupported, RetriableError
from vocab.records import Author, Mention

__all__ = [
    "CASES",
    "Case",
    "Harness",
    "HarnessFactory",
    "NotApplicable",
    "SeenComment",
    "SeenRequest",
    "desk_test_class",
    "draft",
    "mention",
    "ready_desk",
]

E = TypeVar("E", bound=BaseException)


# --- what a harness offers ------------------------------------------------------------------


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    at: float  # time.monotonic() when the fake saw it
    status: int


@dataclass(frozen=True)
class SeenComment:
    public: bool
    text: str


@runtime_checkable
class Harness(Protocol):
    key: str
    #: The credential the desk is configured with (must never show up in an error or log).
    secret: str
    supports_link: bool
    internal_notes: str

    def make_desk(self, *, bad_credentials: bool = False, **settings: object) -> Desk:
        """A desk talking to this fake (not set up yet), tiny backoffs, ``settings`` on top.

        Every desk a harness makes shares one local state file (a restarted worker).
        """

    def set_status(self, ticket_id: str, status: str) -> None:
        """Change a ticket's status in the fake, in the router's terms (e.g. "solved")."""

    def fail_next(self, n: int, status: int, headers: Mapping[str, str] | None = None, *,
                  after_commit: bool = False, method: str | None = None) -> None:
        """The next ``n`` matching requests fail with ``status`` (and the vendor's body).

        ``method`` is an HTTP method, or "create" (the request that creates a ticket) or
        "comment" (the request that adds a comment); None matches any request. With
        ``after_commit`` the request is carried out first and its answer lost.
        """

    def timeout_next(self, n: int = 1, *, after_commit: bool = False,
                     method: str | None = None) -> None:
        """The next ``n`` matching requests time out."""

    def count_tickets(self) -> int:
        """How many tickets the fake holds."""

    def comments(self, ticket_id: str) -> list[SeenComment]:
        """The comments on a ticket (without the opening description)."""

    def requests(self) -> list[SeenRequest]:
        """Every request the fake saw, in order."""

    def linked(self, child_id: str, parent_id: str) -> bool:
        """Whether the fake holds a child -> parent link."""

    def set_search_lag(self, seconds: float) -> None:
        """Delay before new tickets appear in the vendor's search (0 if consistent)."""


HarnessFactory = Callable[[Path], Harness]


class NotApplicable(Exception):
    """This case does not apply to this desk (a declared capability says so)."""


# --- what the cases open tickets with --------------------------------------------------------


def mention(text: str = "My order #123 never arrived, can you help?", *, id: str = "1",
            handle: str = "ann", network: str = "mastodon") -> Mention:
    """A social mention as the cases use it (author "Ann Example")."""
    return Mention(
        id=id, network=network, text=text,
        author=Author(id=f"u-{handle}", handle=handle, name="Ann Example",
                      profile_url=f"https://social.example/@{handle}", followers=1234),
        created_at="2026-11-23T10:00:00Z", url=f"https://social.example/@{handle}/{id}")


def draft(external_id: str = "case-1", *, subject: str | None = None, text: str | None = None,
          handle: str = "ann", problem: bool = False) -> TicketDraft:
    """A ticket draft for ``external_id`` by ``handle`` on mastodon."""
    m = mention(text or "My order #123 never arrived, can you help?", id=external_id,
                handle=handle)
    return TicketDraft(
        external_id=external_id,
        subject=f"@{handle} on mastodon: order never arrived" if subject is None else subject,
        mention=m, verdict="incident" if problem else "open", confidence=0.87,
        reasons=["mentions an order number", "asks for help"], category="delivery",
        priority="high", tags=["social", "social-mastodon", "verdict-open"],
        thread=[mention("Anyone else?", id="0", handle="bob")], problem=problem)


# --- helpers of the cases -------------------------------------------------------------------


@contextlib.asynccontextmanager
async def ready_desk(harness: Harness) -> AsyncIterator[Desk]:
    """A desk of ``harness``, set up, closed afterwards."""
    desk = harness.make_desk()
    await desk.setup()
    try:
        yield desk
    finally:
        await desk.aclose()


class _Raised(Generic[E]):
    value: E


@contextlib.contextmanager
def _raises(kind: type[E]) -> Iterator[_Raised[E]]:
    """Like ``pytest.raises``, without pytest: AssertionError when nothing is raised."""
    raised: _Raised[E] = _Raised()
    try:
        yield raised
    except kind as exc:
        raised.value = exc
        return
    raise AssertionError(f"DID NOT RAISE {kind.__name__}")


class _Logs(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@contextlib.contextmanager
def _capture_logs() -> Iterator[_Logs]:
    """Every log record, DEBUG and up, while the block runs (like pytest's caplog)."""
    root = logging.getLogger()
    handler, level = _Logs(), root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


# --- the cases ------------------------------------------------------------------------------


async def check_lifecycle(harness: Harness) -> None:
    """open, find_by_external_id, open again (same ticket), find_open_for_requester."""
    async with ready_desk(harness) as desk:
        d = draft("case-life")
        ticket = await desk.open(d)
        assert ticket.id
        assert harness.count_tickets() == 1

        found = await desk.find_by_external_id("case-life")
        assert found is not None and found.id == ticket.id
        assert await desk.find_by_external_id("case-unknown") is None

        assert (await desk.open(d)).id == ticket.id
        assert harness.count_tickets() == 1

        mine = await desk.find_open_for_requester("ann", "mastodon")
        assert mine is not None and mine.id == ticket.id
        assert await desk.find_open_for_requester("nobody", "mastodon") is None

        assert await desk.status(ticket.id) in ("new", "open")


async def check_comments_public_internal_and_idempotent(harness: Harness) -> None:
    """A public reply and an internal note; the reply sent twice with one key is one."""
    async with ready_desk(harness) as desk:
        ticket = await desk.open(draft("case-comments"))
        reply = CommentBody(text="We are on it, sorry for the wait.")
        note = CommentBody(text="", mention=mention("Still waiting!", id="2"))
        await desk.comment(ticket.id, reply, public=True, idempotency_key="k-reply")
        await desk.comment(ticket.id, note, public=False, idempotency_key="k-note")
        await desk.comment(ticket.id, reply, public=True, idempotency_key="k-reply")
        comments = harness.comments(ticket.id)
        assert len(comments) == 2, comments
        assert comments[0].public is True and "We are on it" in comments[0].text
        assert "Still waiting" in comments[1].text
        if harness.internal_notes == "internal":
            assert comments[1].public is False
        else:
            assert comments[1].text.lower().lstrip("*_ ").startswith("internal note")


async def check_comment_not_duplicated_when_answer_is_lost(harness: Harness) -> None:
    """A comment posted whose answer was lost (503 after commit) is not posted again."""
    async with ready_desk(harness) as desk:
        ticket = await desk.open(draft("case-lost-comment"))
        harness.fail_next(1, 503, after_commit=True, method="comment")
        await desk.comment(ticket.id, CommentBody(text="Fixed now."), public=True,
                           idempotency_key="k-lost")
        assert len(harness.comments(ticket.id)) == 1


async def check_status_follows_the_desk(harness: Harness) -> None:
    """The desk's statuses map onto STATUSES; a solved ticket is no longer 'open'."""
    async with ready_desk(harness) as desk:
        ticket = await desk.open(draft("case-status"))
        harness.set_status(ticket.id, "pending")
        assert await desk.status(ticket.id) == "pending"
        harness.set_status(ticket.id, "solved")
        assert await desk.status(ticket.id) in ("solved", "closed")
        got = await desk.get(ticket.id)
        assert got.status in STATUSES and got.id == ticket.id and got.url
        assert await desk.find_open_for_requester("ann", "mastodon") is None


async def check_retry_storm_never_creates_a_second_ticket(harness: Harness) -> None:
    """429s, lost answers to creates, timeouts, 5xx and concurrent opens: one ticket."""
    async with ready_desk(harness) as desk:
        harness.set_search_lag(0.2)
        harness.fail_next(2, 429, {"Retry-After": "0"})
        harness.fail_next(1, 503, after_commit=True, method="create")
        harness.timeout_next(1, after_commit=True, method="create")
        harness.fail_next(2, 503)
        d = draft("case-storm")
        tickets = await asyncio.gather(*(desk.open(d) for _ in range(4)))
        for _ in range(2):
            tickets.append(await desk.open(d))
        assert len({t.id for t in tickets}) == 1
        assert harness.count_tickets() == 1


async def check_retry_storm_across_restarts(harness: Harness) -> None:
    """A second desk instance (a restarted worker, same state file) does not duplicate."""
    harness.set_search_lag(0.2)
    first = harness.make_desk(max_attempts=1)
    await first.setup()
    harness.fail_next(1, 503, after_commit=True, method="create")
    with _raises(RetriableError):  # the create went through; its answer was lost
        await first.open(draft("case-restart"))
    await first.aclose()
    second = harness.make_desk()
    await second.setup()
    try:
        ticket = await second.open(draft("case-restart"))
    finally:
        await second.aclose()
    assert ticket.id
    assert harness.count_tickets() == 1


async def check_bad_credentials_are_fatal_and_secret_free(harness: Harness) -> None:
    """Refused credentials: FatalError (401) or ConfigError, no secret in it or the logs."""
    with _capture_logs() as logs:
        bad = harness.make_desk(bad_credentials=True)
        try:
            with _raises(FatalError) as info:
                await bad.setup()  # a desk may check the credentials here already
                await bad.open(draft("case-401"))
        finally:
            await bad.aclose()
    assert info.value.status_code == 401 or isinstance(info.value, ConfigError)
    shown = f"{info.value} {info.value!r} {logs.text}"
    assert harness.secret not in shown
    assert "wrong-" not in shown  # the bad secret every harness uses starts with "wrong-"
    assert harness.count_tickets() == 0


async def check_retry_after_is_honoured(harness: Harness) -> None:
    """After a 429 with Retry-After: 1 the same request comes again a second later."""
    async with ready_desk(harness) as desk:
        harness.fail_next(1, 429, {"Retry-After": "1"})
        await desk.open(draft("case-429"))
        seen = harness.requests()
        first = next(i for i, r in enumerate(seen) if r.status == 429)
        again = next(r for r in seen[first + 1:]
                     if (r.method, r.path) == (seen[first].method, seen[first].path))
        assert again.at - seen[first].at >= 0.95
        assert harness.count_tickets() == 1


async def check_validation_error_is_fatal(harness: Harness) -> None:
    """A ticket the desk refuses (empty subject) is a FatalError with its 4xx; no ticket."""
    if not getattr(harness, "validates_subject", True):
        raise NotApplicable("this desk accepts a ticket without a subject")
    async with ready_desk(harness) as desk:
        with _raises(FatalError) as info:
            await desk.open(draft("case-invalid", subject=""))
        assert info.value.status_code is not None and 400 <= info.value.status_code < 500
        assert harness.count_tickets() == 0
        assert (await desk.open(draft("case-invalid"))).id
        assert harness.count_tickets() == 1


async def check_timeout_is_retried(harness: Harness) -> None:
    """Timeouts are retried; one ticket."""
    async with ready_desk(harness) as desk:
        harness.timeout_next(2)
        assert (await desk.open(draft("case-timeout"))).id
        assert harness.count_tickets() == 1


async def check_link_or_not_supported(harness: Harness) -> None:
    """link(child, parent) links them, or raises NotSupported if the desk has no links."""
    async with ready_desk(harness) as desk:
        parent = await desk.open(draft("case-problem", problem=True))
        child = await desk.open(draft("case-child", handle="carol"))
        if not harness.supports_link:
            with _raises(NotSupported):
                await desk.link(child.id, parent.id)
            return
        await desk.link(child.id, parent.id)
        assert harness.linked(child.id, parent.id)


@dataclass(frozen=True)
class Case:
    """One conformance check: ``await case.check(harness)`` passes or raises."""

    name: str
    check: Callable[[Harness], Coroutine[Any, Any, None]]

    @property
    def doc(self) -> str:
        return (self.check.__doc__ or "").strip()

    def run(self, harness: Harness) -> None:
        """Run the check in an event loop of its own (not the caller's, if any)."""
        with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
            runner.run(self.check(harness))


#: Every case of the contract, in the order they are reported.
CASES: tuple[Case, ...] = tuple(
    Case(fn.__name__.removeprefix("check_"), fn) for fn in (
        check_lifecycle,
        check_comments_public_internal_and_idempotent,
        check_comment_not_duplicated_when_answer_is_lost,
        check_status_follows_the_desk,
        check_retry_storm_never_creates_a_second_ticket,
        check_retry_storm_across_restarts,
        check_bad_credentials_are_fatal_and_secret_free,
        check_retry_after_is_honoured,
        check_validation_error_is_fatal,
        check_timeout_is_retried,
        check_link_or_not_supported,
    ))


# --- the pytest class factory ---------------------------------------------------------------


def desk_test_class(harness: HarnessFactory | Mapping[str, HarnessFactory], *,
                    cases: Iterable[Case] = CASES) -> type[Any]:
    """A pytest test class with one ``test_<name>`` per case, each on a fresh harness.

    ``harness`` is one harness factory, or several by name (the tests are then
    parametrized by those names). Bind the class to a module-level name starting with
    ``Test`` so pytest collects it; subclass it to add tests of your own (the ``harness``
    fixture is available to them).
    """
    import pytest  # the kit needs pytest only here: it is not a runtime dependency

    factories: dict[str, HarnessFactory] = (
        dict(sorted(harness.items())) if isinstance(harness, Mapping) else {"": harness})

    def make(key: str, tmp_path: Path) -> Harness:
        made = factories[key](tmp_path)
        assert isinstance(made, Harness), f"{made!r} lacks methods of connectors.testing.Harness"
        return made

    def harness_fixture(self: object, request: pytest.FixtureRequest,
                        tmp_path: Path) -> Harness:
        return make(str(getattr(request, "param", "")), tmp_path)

    def test_of(case: Case) -> Callable[[object, Harness], None]:
        def test(self: object, harness: Harness) -> None:
            try:
                case.run(harness)
            except NotApplicable as exc:
                pytest.skip(str(exc))

        test.__name__ = test.__qualname__ = f"test_{case.name}"
        test.__doc__ = case.doc
        return test

    namespace: dict[str, Any] = {
        "__doc__": "The desk conformance cases of connectors.testing.",
        "harness": pytest.fixture(
            harness_fixture, name="harness",
            params=list(factories) if isinstance(harness, Mapping) else None),
    }
    for case in cases:
        namespace[f"test_{case.name}"] = test_of(case)
    return type("DeskConformance", (), namespace)
