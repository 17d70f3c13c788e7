"""Zendesk through its fake."""

from __future__ import annotations

from pathlib import Path

from connectors.desks.zendesk import Zendesk, ZendeskConfig
from connectors.testing import SeenComment

from ..fakes.zendesk import BASE, FakeZendesk
from ._base import FAST, FakeHarness

STATUS = {"new": "new", "open": "open", "pending": "pending", "solved": "solved",
          "closed": "closed"}


class ZendeskHarness(FakeHarness):
    key = "zendesk"
    secret = "zd-token-0123456789"

    def __init__(self, tmp: Path) -> None:
        self.zd = FakeZendesk("bot@acme.example", self.secret)
        super().__init__(tmp, self.zd)

    def make_desk(self, *, bad_credentials: bool = False, **settings: object) -> Zendesk:
        config = ZendeskConfig(
            base_url=BASE, email="bot@acme.example",
            api_token="wrong-token-xyz" if bad_credentials else self.secret,
            state_path=self.state_path(), **{**FAST, **settings})
        return Zendesk(config, transport=self.zd.transport())

    def set_status(self, ticket_id: str, status: str) -> None:
        self.zd.tickets[int(ticket_id)]["status"] = STATUS[status]

    def count_tickets(self) -> int:
        return len(self.zd.tickets)

    def comments(self, ticket_id: str) -> list[SeenComment]:
        return [SeenComment(public, text) for public, text in self.zd.comments(int(ticket_id))]

    def linked(self, child_id: str, parent_id: str) -> bool:
        child = self.zd.tickets[int(child_id)]
        return child.get("type") == "incident" and child.get("problem_id") == int(parent_id)


HARNESS = ZendeskHarness
