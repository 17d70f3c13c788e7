"""What the desk conformance suite needs from each desk: a ``Harness``.

To put a desk through ``test_conformance.py`` add one module to ``harnesses/`` that exposes
``HARNESS``: a callable taking a temporary directory and returning an object with the
methods below. Nothing else is registered anywhere: the suite imports every module in that
package.

Optional capabilities are plain attributes: ``supports_link`` (the fake records links and
``linked()`` reads them), ``internal_notes`` ("internal" if the desk keeps notes private,
"prefixed" if it posts them as visible comments with a clear prefix), and
``validates_subject`` (default True: the desk answers a ticket with an empty subject with a
validation error; set False for a desk that accepts one, and the test is skipped).

Bad credentials may be refused by ``setup()`` (a ``ConfigError``) or by the first verb (a
``FatalError`` with ``status_code == 401``); the secret must never show up either way.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from connectors.desks.base import Desk


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
        "comment" (the request that adds a comment); None matches any request.
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


def discover() -> dict[str, HarnessFactory]:
    """Every ``HARNESS`` in the ``harnesses`` package, by module name."""
    package = importlib.import_module(f"{__package__}.harnesses")
    found: dict[str, HarnessFactory] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        factory = getattr(module, "HARNESS", None)
        if factory is not None:
            found[info.name] = factory
    return found
