"""Zammad through its fake."""

from __future__ import annotations

from pathlib import Path

from connectors.desks.zammad import Zammad, ZammadConfig
from connectors.testing import SeenComment

from ..fakes.zammad import BASE, FakeZammad
from ._base import FAST, FakeHarness

STATE = {"new": "new", "open": "open", "pending": "pending reminder", "solved": "closed",
         "closed": "closed"}


class ZammadHarness(FakeHarness):
    key = "zammad"
    secret = "zammad-token-0123456789"

    def __init__(self, tmp: Path) -> None:
        self.zm = FakeZammad(self.secret)
        super().__init__(tmp, self.zm)

    def make_desk(self, *, bad_credentials: bool = False, **settings: object) -> Zammad:
        config = ZammadConfig(
            base_url=BASE, token="wrong-token-xyz" if bad_credentials else self.secret,
            state_path=self.state_path(), **{**FAST, **settings})
        return Zammad(config, transport=self.zm.transport())

    def set_status(self, ticket_id: str, status: str) -> None:
        self.zm.tickets[int(ticket_id)]["state"] = STATE[status]

    def count_tickets(self) -> int:
        return len(self.zm.tickets)

    def comments(self, ticket_id: str) -> list[SeenComment]:
        return [SeenComment(not a["internal"], a["body"])
                for a in self.zm.articles[int(ticket_id)][1:]]

    def linked(self, child_id: str, parent_id: str) -> bool:
        parent = self.zm.tickets[int(parent_id)]["number"]
        return any(link["link_type"] == "parent" and link["link_object_source_number"] == parent
                   and link["link_object_target_value"] == int(child_id)
                   for link in self.zm.links)


HARNESS = ZammadHarness
