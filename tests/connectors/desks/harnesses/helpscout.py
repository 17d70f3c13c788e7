"""Help Scout through its fake."""

from __future__ import annotations

from pathlib import Path

from connectors.desks.helpscout import HelpScout, HelpScoutConfig
from connectors.testing import SeenComment

from ..fakes.helpscout import API, FakeHelpScout
from ._base import FAST, FakeHarness

STATUS = {"new": "active", "open": "active", "pending": "pending", "solved": "closed",
          "closed": "closed"}


class HelpScoutHarness(FakeHarness):
    key = "helpscout"
    secret = "hs-app-secret-0123456789"
    supports_link = False

    def __init__(self, tmp: Path) -> None:
        self.hs = FakeHelpScout("app-1", self.secret)
        super().__init__(tmp, self.hs)

    def make_desk(self, *, bad_credentials: bool = False, **settings: object) -> HelpScout:
        config = HelpScoutConfig(
            api_url=API, app_id="app-1", mailbox_id=42,
            app_secret="wrong-secret-xyz" if bad_credentials else self.secret,
            state_path=self.state_path(), **{**FAST, **settings})
        return HelpScout(config, transport=self.hs.transport())

    def set_status(self, ticket_id: str, status: str) -> None:
        self.hs.conversations[int(ticket_id)]["status"] = STATUS[status]

    def count_tickets(self) -> int:
        return len(self.hs.conversations)

    def comments(self, ticket_id: str) -> list[SeenComment]:
        return [SeenComment(t["type"] != "note", t["body"])
                for t in self.hs.conversations[int(ticket_id)]["threads"][2:]]

    def linked(self, child_id: str, parent_id: str) -> bool:
        return False


HARNESS = HelpScoutHarness
