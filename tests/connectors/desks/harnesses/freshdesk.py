"""Freshdesk through its fake."""

from __future__ import annotations

from pathlib import Path

from connectors.desks.freshdesk import Freshdesk, FreshdeskConfig
from connectors.testing import SeenComment

from ..fakes.freshdesk import BASE, FakeFreshdesk
from ._base import FAST, FakeHarness

STATUS = {"new": 2, "open": 2, "pending": 3, "solved": 4, "closed": 5}


class FreshdeskHarness(FakeHarness):
    key = "freshdesk"
    secret = "fd-apikey-0123456789"
    supports_link = False

    def __init__(self, tmp: Path) -> None:
        self.fd = FakeFreshdesk(self.secret)
        super().__init__(tmp, self.fd)

    def make_desk(self, *, bad_credentials: bool = False, **settings: object) -> Freshdesk:
        config = FreshdeskConfig(
            base_url=BASE, api_key="wrong-key-xyz" if bad_credentials else self.secret,
            state_path=self.state_path(), **{**FAST, **settings})
        return Freshdesk(config, transport=self.fd.transport())

    def set_status(self, ticket_id: str, status: str) -> None:
        self.fd.tickets[int(ticket_id)]["status"] = STATUS[status]

    def count_tickets(self) -> int:
        return len(self.fd.tickets)

    def comments(self, ticket_id: str) -> list[SeenComment]:
        return [SeenComment(not c["private"], c["body"])
                for c in self.fd.conversations[int(ticket_id)]]

    def linked(self, child_id: str, parent_id: str) -> bool:
        return False


HARNESS = FreshdeskHarness
