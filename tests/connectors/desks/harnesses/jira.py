"""Jira (plain issues, REST v3) through its fake."""

from __future__ import annotations

from pathlib import Path

from connectors.desks.jira import Jira, JiraConfig
from connectors.desks.render import adf_text
from connectors.testing import SeenComment

from ..fakes.jira import BASE, FakeJira
from ._base import FAST, FakeHarness


class JiraHarness(FakeHarness):
    key = "jira"
    secret = "atl-token-0123456789"
    mode = "jira"

    def __init__(self, tmp: Path) -> None:
        self.jira = FakeJira("bot@acme.example", self.secret)
        super().__init__(tmp, self.jira)

    def make_desk(self, *, bad_credentials: bool = False, **settings: object) -> Jira:
        config = JiraConfig(
            base_url=BASE, email="bot@acme.example", mode=self.mode, project_key="SUP",
            service_desk_id="1", request_type_id="10",
            api_token="wrong-token-xyz" if bad_credentials else self.secret,
            state_path=self.state_path(), **{**FAST, **settings})
        return Jira(config, transport=self.jira.transport())

    def set_status(self, ticket_id: str, status: str) -> None:
        self.jira.set_status(ticket_id, status)

    def count_tickets(self) -> int:
        return len(self.jira.issues)

    def comments(self, ticket_id: str) -> list[SeenComment]:
        return [SeenComment(bool(c["jsdPublic"]), adf_text(c["body"]))
                for c in self.jira.issues[ticket_id]["comments"]]

    def linked(self, child_id: str, parent_id: str) -> bool:
        return any(outward == parent_id and inward == child_id
                   for _, outward, inward in self.jira.links)


HARNESS = JiraHarness
