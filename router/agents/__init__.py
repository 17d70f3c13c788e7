"""The router's agents: one module each, thin loops around steps that are handed only what
they use (their tables, the topics they write, the desk or the model), never the whole
runtime; ``register(rt)`` in each module does the wiring."""

from __future__ import annotations

from typing import Any, Protocol

from faust.types import TopicT

from ..topics import Source


class Sink(Protocol):
    """What every step may do besides its own work (``router.runtime.Runtime`` is one)."""

    def count(self, name: str, n: int = 1, **labels: str) -> None: ...

    def decided(self, produced_at: float | None) -> None: ...

    async def emit(self, topic: TopicT, key: bytes, value: bytes) -> None: ...

    async def dead_letter(self, source: Source, event: Any, reason: str, *,
                          raw: bytes | None = None) -> None: ...

    async def dead_letter_record(self, source: Source, key: str, raw: bytes,
                                 reason: str) -> None: ...
