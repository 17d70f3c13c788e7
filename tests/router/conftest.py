"""Fixtures the router's step tests share."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from connectors.desks.embedded import EmbeddedConfig, EmbeddedDesk


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[EmbeddedDesk]:
    """A real embedded desk in a fresh SQLite file."""
    d = EmbeddedDesk(EmbeddedConfig(path=tmp_path / "desk.sqlite",
                                    url="http://127.0.0.1:1/desk/tickets/{id}"))
    asyncio.run(d.setup())
    yield d
