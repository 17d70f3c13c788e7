"""Request Tracker 5 through its REST2 fake (the real RT runs in ``test_rt_real.py``).

RT accepts a ticket without a subject (there is no 4xx to provoke; the connector names the
author instead), hence ``validates_subject = False``. ``setup()`` reaches ``/REST/2.0/rt``
with the credentials, so bad ones are refused there, with a ``ConfigError`` (status 401).

RT's search reads the same database it writes, so ``set_search_lag`` has nothing to delay.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from connectors.desks.rt import RequestTracker, RTConfig
from connectors.testing import SeenComment

from ..fakes.rt import BASE, FakeRT
from ._base import FAST, FakeHarness

TO_RT = {"new": "new", "open": "open", "pending": "stalled", "solved": "resolved",
         "closed": "rejected"}


class RTHarness(FakeHarness):
    key = "rt"
    secret = "1-14-7f3c2a9be04d4c6f8e2b1a0d9c8b7a65"
    validates_subject = False

    def __init__(self, tmp: Path) -> None:
        self.rt = FakeRT(self.secret)
        super().__init__(tmp, self.rt)

    def make_desk(self, *, bad_credentials: bool = False, **settings: object) -> RequestTracker:
        known = set(RTConfig.model_fields)
        options = {k: v for k, v in {**FAST, **settings}.items() if k in known}
        config = RTConfig(url=BASE, queue="Social",
                          token="wrong-token-xyz" if bad_credentials else self.secret,
                          **options)
        return RequestTracker(config, httpx.AsyncClient(transport=self.rt.transport()))

    def set_status(self, ticket_id: str, status: str) -> None:
        ticket = self.rt.tickets[int(ticket_id)]
        self.rt._set_status(ticket, TO_RT[status])

    def count_tickets(self) -> int:
        """Tickets an RT user can find (RT keeps deleted ones but never shows them)."""
        return sum(1 for t in self.rt.tickets.values() if t["Status"] != "deleted")

    def comments(self, ticket_id: str) -> list[SeenComment]:
        return [SeenComment(kind == "Correspond", text)
                for kind, text in self.rt.messages(int(ticket_id))]

    def linked(self, child_id: str, parent_id: str) -> bool:
        return int(parent_id) in self.rt.tickets[int(child_id)]["parents"]

    def set_search_lag(self, seconds: float) -> None:
        """Nothing to do: RT's search is consistent with its writes."""


HARNESS = RTHarness
