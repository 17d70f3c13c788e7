"""The conformance kit (``connectors.testing``) as a third party uses it, in its own repository.

Everything a plugin author writes is in this module and uses nothing of ``tests/``: a desk
(on ``SaasDesk``, as docs/desks.md suggests) whose "vendor" is an in-memory service, a
harness for it, and one line that makes the kit's pytest class. Then desks that break the
contract, each caught by the kit's case for it.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from connectors.desks.base import DONE_STATUSES, STATUSES, CommentBody, Ticket, TicketDraft
from connectors.desks.saas import SaasConfig, SaasDesk, requester_key
from connectors.errors import FatalError, RetriableError
from connectors.testing import (
    CASES,
    Case,
    Harness,
    SeenComment,
    SeenRequest,
    desk_test_class,
)

T = TypeVar("T")
log = logging.getLogger("my_package.memorydesk")


# --- the third party's desk --------------------------------------------------------------


@dataclass
class _Fault:
    status: int  # 0: a timeout
    headers: Mapping[str, str]
    after_commit: bool
    kind: str | None


class MemoryService:
    """The vendor of the toy desk: tickets and comments in dicts, a request log and faults.

    Every call checks the token, takes the first fault that matches it (before the call is
    carried out, or after: the answer is lost) and logs itself like a vendor's access log.
    """

    def __init__(self, token: str) -> None:
        self.token = token
        self.tickets: dict[str, dict[str, Any]] = {}
        self.notes: dict[str, list[tuple[bool, str, str]]] = {}  # public, text, key
        self.seen: list[SeenRequest] = []
        self.faults: list[_Fault] = []
        self._ids = itertools.count(1)

    async def call(self, token: str, method: str, path: str, kind: str | None,
                   do: Callable[[], T]) -> T:
        await asyncio.sleep(0)  # concurrent calls interleave, as over a network
        fault = next((f for f in self.faults if f.kind in (None, kind, method)), None)
        if token != self.token:
            self.seen.append(SeenRequest(method, path, time.monotonic(), 401))
            raise FatalError(f"memory: {method} {path} answered 401", status_code=401)
        if fault is not None:
            self.faults.remove(fault)
        self.seen.append(SeenRequest(method, path, time.monotonic(),
                                     fault.status if fault else 200))
        if fault is not None and not fault.after_commit:
            raise self._error(fault, method, path)
        result = do()
        if fault is not None:
            raise self._error(fault, method, path)
        return result

    @staticmethod
    def _error(fault: _Fault, method: str, path: str) -> Exception:
        if fault.status == 0:
            return RetriableError(f"memory: {method} {path} timed out")
        if fault.status == 429 or fault.status >= 500:
            after = fault.headers.get("Retry-After")
            return RetriableError(f"memory: {method} {path} answered {fault.status}",
                                  retry_after=float(after) if after else None,
                                  status_code=fault.status)
        return FatalError(f"memory: {method} {path} answered {fault.status}",
                          status_code=fault.status)

    def create(self, external_id: str, subject: str, requester: str) -> dict[str, Any]:
        if not subject.strip():
            raise FatalError("memory: POST /tickets answered 422: subject is required",
                             status_code=422)
        ticket = {"id": str(next(self._ids)), "external_id": external_id, "subject": subject,
                  "requester": requester, "status": "new"}
        self.tickets[ticket["id"]] = ticket
        self.notes[ticket["id"]] = []
        return ticket


class MemoryConfig(SaasConfig):
    """Settings of the in-memory desk (``ROUTER_MEMORY_*``)."""

    model_config = SettingsConfigDict(env_prefix="ROUTER_MEMORY_", frozen=True,
                                      extra="ignore")

    token: SecretStr = Field(SecretStr(""), description="Token of the in-memory service.")


class MemoryDesk(SaasDesk):
    """A desk kept in memory: the four hooks of ``SaasDesk``, ``status`` and a search."""

    key = "memory"
    title = "In-memory desk"
    Config = MemoryConfig
    statuses = {s: s for s in STATUSES}

    def __init__(self, config: MemoryConfig, service: MemoryService) -> None:
        super().__init__(config)
        self.service = service

    def check_config(self) -> None:
        self.require("token")

    async def _call(self, method: str, path: str, do: Callable[[], T], *,
                    kind: str | None = None) -> T:
        token = self.cfg.token.get_secret_value()
        return await self.service.call(token, method, path, kind, do)

    def ticket_url(self, ticket_id: str) -> str:
        return f"memory://tickets/{ticket_id}"

    def _ticket(self, raw: Mapping[str, Any]) -> Ticket:
        return Ticket(id=raw["id"], url=self.ticket_url(raw["id"]),
                      status=self.map_status(raw["status"]), external_id=raw["external_id"],
                      requester=raw["requester"], subject=raw["subject"])

    async def status(self, ticket_id: str) -> str:
        await self._ready()
        raw = await self._call("GET", f"/tickets/{ticket_id}",
                               lambda: self.service.tickets[ticket_id])
        return self.map_status(raw["status"])

    async def find_open_for_requester(self, handle: str, network: str) -> Ticket | None:
        await self._ready()
        who = requester_key(handle, network)
        mine = await self._call("GET", "/tickets", lambda: [
            t for t in self.service.tickets.values()
            if t["requester"] == who and self.map_status(t["status"]) not in DONE_STATUSES])
        return self._ticket(mine[-1]) if mine else None

    async def _lookup(self, external_id: str) -> Ticket | None:
        found = await self._call("GET", "/tickets", lambda: [
            t for t in self.service.tickets.values() if t["external_id"] == external_id])
        return self._ticket(found[0]) if found else None

    async def _create(self, draft: TicketDraft) -> Ticket:
        who = requester_key(draft.mention.author.handle, draft.mention.network)
        raw = await self._call("POST", "/tickets", lambda: self.service.create(
            draft.external_id, draft.subject, who), kind="create")
        return self._ticket(raw)

    async def _comment_exists(self, ticket_id: str, body: CommentBody, *, public: bool,
                              key: str) -> bool:
        notes = await self._call("GET", f"/tickets/{ticket_id}/comments",
                                 lambda: list(self.service.notes[ticket_id]))
        return any(k == key for _, _, k in notes)

    async def _post_comment(self, ticket_id: str, body: CommentBody, *, public: bool,
                            key: str) -> None:
        text = str(self.comment_body(body))
        await self._call("POST", f"/tickets/{ticket_id}/comments",
                         lambda: self.service.notes[ticket_id].append((public, text, key)),
                         kind="comment")


# --- the third party's harness -----------------------------------------------------------

FAST = {"max_attempts": 8, "backoff_initial": 0.01, "backoff_max": 2.0,
        "max_elapsed_seconds": 20.0, "settle_seconds": 0.5}


class MemoryHarness:
    """Drives a ``MemoryDesk`` and its service (``connectors.testing.Harness``)."""

    key = "memory"
    secret = "memory-token-0123456789"
    supports_link = False  # the kit then expects NotSupported from link()
    internal_notes = "internal"
    desk_class: type[MemoryDesk] = MemoryDesk

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.service = MemoryService(self.secret)

    def make_desk(self, *, bad_credentials: bool = False, **settings: object) -> MemoryDesk:
        config = MemoryConfig(
            token=SecretStr("wrong-token-xyz" if bad_credentials else self.secret),
            state_path=self.tmp / "memory-state.sqlite", **{**FAST, **settings})  # type: ignore[arg-type]
        return self.desk_class(config, self.service)

    def set_status(self, ticket_id: str, status: str) -> None:
        self.service.tickets[ticket_id]["status"] = status

    def fail_next(self, n: int, status: int, headers: Mapping[str, str] | None = None, *,
                  after_commit: bool = False, method: str | None = None) -> None:
        self.service.faults += [_Fault(status, dict(headers or {}), after_commit, method)
                                for _ in range(n)]

    def timeout_next(self, n: int = 1, *, after_commit: bool = False,
                     method: str | None = None) -> None:
        self.fail_next(n, 0, after_commit=after_commit, method=method)

    def count_tickets(self) -> int:
        return len(self.service.tickets)

    def comments(self, ticket_id: str) -> list[SeenComment]:
        return [SeenComment(public, text) for public, text, _ in self.service.notes[ticket_id]]

    def requests(self) -> list[SeenRequest]:
        return list(self.service.seen)

    def linked(self, child_id: str, parent_id: str) -> bool:
        return False

    def set_search_lag(self, seconds: float) -> None:
        """Nothing to do: the service's search reads what it writes."""


# The one line a third party writes to put its desk through every case of the kit.
TestMemoryDeskConformance = desk_test_class(MemoryHarness)


# --- desks that break the contract, and the kit's case that catches each ---------------


class ForgetfulDesk(MemoryDesk):
    """Opens a new ticket on every call: ``open`` is not idempotent on the external id."""

    async def open(self, draft: TicketDraft) -> Ticket:
        await self._ready()
        return await self._create(draft)


class LeakyDesk(MemoryDesk):
    """Logs the start of its token, as a debugging aid: a secret in the logs."""

    async def setup(self) -> None:
        log.debug("memory: signing in with %s...", self.cfg.token.get_secret_value()[:6])
        await super().setup()


class ForgetfulHarness(MemoryHarness):
    desk_class = ForgetfulDesk


class LeakyHarness(MemoryHarness):
    desk_class = LeakyDesk


def case(name: str) -> Case:
    return next(c for c in CASES if c.name == name)


def test_the_kit_has_every_case_of_the_contract() -> None:
    assert [c.name for c in CASES] == [
        "lifecycle", "comments_public_internal_and_idempotent",
        "comment_not_duplicated_when_answer_is_lost", "status_follows_the_desk",
        "retry_storm_never_creates_a_second_ticket", "retry_storm_across_restarts",
        "bad_credentials_are_fatal_and_secret_free", "retry_after_is_honoured",
        "validation_error_is_fatal", "timeout_is_retried", "link_or_not_supported"]
    assert all(c.doc for c in CASES)
    assert isinstance(MemoryHarness(Path(".")), Harness)
    generated = [name for name in vars(TestMemoryDeskConformance) if name.startswith("test_")]
    assert generated == [f"test_{c.name}" for c in CASES]


@pytest.mark.parametrize(("harness", "broken"), [
    (ForgetfulHarness, "lifecycle"),
    (LeakyHarness, "bad_credentials_are_fatal_and_secret_free"),
])
def test_the_kit_catches_a_broken_desk(harness: type[MemoryHarness], broken: str,
                                       tmp_path: Path) -> None:
    with pytest.raises(AssertionError):
        case(broken).run(harness(tmp_path / "broken"))
    case(broken).run(MemoryHarness(tmp_path / "sound"))  # the same case passes a sound desk
