"""ServiceNow through its fake."""

from __future__ import annotations

from pathlib import Path

from connectors.desks.servicenow import ServiceNow, ServiceNowConfig
from connectors.testing import SeenComment

from ..fakes.servicenow import BASE, FakeServiceNow
from ._base import FAST, FakeHarness

STATE = {"new": "1", "open": "2", "pending": "3", "solved": "6", "closed": "7"}


class ServiceNowHarness(FakeHarness):
    key = "servicenow"
    secret = "snow-password-0123456789"

    def __init__(self, tmp: Path) -> None:
        self.sn = FakeServiceNow("router.integration", self.secret)
        super().__init__(tmp, self.sn)

    def make_desk(self, *, bad_credentials: bool = False, **settings: object) -> ServiceNow:
        config = ServiceNowConfig(
            instance_url=BASE, username="router.integration",
            password="wrong-password-xyz" if bad_credentials else self.secret,
            poll_lag_seconds=1, state_path=self.state_path(), **{**FAST, **settings})
        desk = ServiceNow(config, transport=self.sn.transport())
        desk.utcnow = lambda: self.sn.now  # type: ignore[method-assign]
        return desk

    def set_status(self, ticket_id: str, status: str) -> None:
        self.sn.set_state(ticket_id, STATE[status])

    def count_tickets(self) -> int:
        return len(self.sn.tables["incident"])

    def comments(self, ticket_id: str) -> list[SeenComment]:
        return [SeenComment(j["element"] == "comments", j["value"])
                for j in self.sn.journal(ticket_id)]

    def linked(self, child_id: str, parent_id: str) -> bool:
        return self.sn.tables["incident"][child_id].get("parent_incident") == parent_id


HARNESS = ServiceNowHarness
