"""A base for harnesses built on a ``FakeVendor`` (shared plumbing only)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from connectors.testing import SeenRequest

from ..fakes.base import FakeVendor

FAST = {
    "max_attempts": 8,
    "backoff_initial": 0.01,
    "backoff_max": 2.0,
    "max_elapsed_seconds": 20.0,
    "settle_seconds": 0.5,
    "timeout_seconds": 5.0,
}


class FakeHarness:
    key = ""
    secret = ""
    supports_link = True
    internal_notes = "internal"

    def __init__(self, tmp: Path, fake: FakeVendor) -> None:
        self.tmp = tmp
        self.fake = fake

    def state_path(self) -> str:
        return str(self.tmp / f"{self.key}-state.sqlite")

    def fail_next(self, n: int, status: int, headers: Mapping[str, str] | None = None, *,
                  after_commit: bool = False, method: str | None = None) -> None:
        self.fake.fail_next(n, status, headers, after_commit=after_commit, method=method)

    def timeout_next(self, n: int = 1, *, after_commit: bool = False,
                     method: str | None = None) -> None:
        self.fake.timeout_next(n, after_commit=after_commit, method=method)

    def requests(self) -> list[SeenRequest]:
        return [SeenRequest(s.method, s.path, s.at, s.status) for s in self.fake.seen]

    def set_search_lag(self, seconds: float) -> None:
        self.fake.index_delay = seconds
