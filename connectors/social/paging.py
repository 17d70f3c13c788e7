"""Polling a newest-first feed (Bluesky notifications, the Reddit inbox) without gaps or
duplicates, across restarts.

These feeds page from the newest item towards older ones with a cursor and offer no
"since" filter we can trust (a Reddit anchor may be deleted; items may be indexed late). So
the checkpoint keeps:

- ``hw``: the newest item time delivered so far (the high-water mark);
- ``seen``: the ids delivered within ``overlap`` seconds below the mark, so items that show
  up late, or share a timestamp, are delivered once and only once;
- ``scan``: while catching up over several pages, the cursor of the next older page and
  the ``floor`` time under which everything was delivered before the catch-up began.

A poll reads one page: from the top when idle, from ``scan.cursor`` while catching up. Items
older than the floor end the catch-up; items already in ``seen`` are skipped. The very first
poll (no checkpoint) delivers the newest page and starts from there (no history backfill).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

MAX_SEEN = 2000


@dataclass(frozen=True)
class Item:
    """One feed entry: its stable id, its time (epoch seconds, None if unknown), payload."""

    id: str
    ts: float | None
    payload: Mapping[str, Any]


Fetch = Callable[[str | None], Awaitable[tuple[Sequence[Item], str | None]]]


def _prune(seen: dict[str, float], threshold: float | None) -> dict[str, float]:
    kept = {k: v for k, v in seen.items() if threshold is None or v >= threshold}
    if len(kept) > MAX_SEEN:
        kept = dict(sorted(kept.items(), key=lambda kv: kv[1])[-MAX_SEEN:])
    return kept


async def scan_newest_first(
    fetch: Fetch, state: Mapping[str, Any] | None, *, overlap: float
) -> tuple[list[Mapping[str, Any]], dict[str, Any], bool]:
    """One poll step: (payloads to deliver, the new state, whether more pages are ready)."""
    if state is None:
        items, _ = await fetch(None)
        stamps = [i.ts for i in items if i.ts is not None]
        top = max(stamps) if stamps else None
        first = {i.id: (i.ts if i.ts is not None else top or 0.0) for i in items}
        mark = None if top is None else top - overlap
        return [i.payload for i in items], {"v": 1, "hw": top, "seen": _prune(first, mark)}, False

    hw_raw = state.get("hw")
    hw: float | None = float(hw_raw) if isinstance(hw_raw, int | float) else None
    seen_raw = state.get("seen")
    seen: dict[str, float] = (
        {str(k): float(v) for k, v in seen_raw.items() if isinstance(v, int | float)}
        if isinstance(seen_raw, Mapping) else {}
    )
    scan = state.get("scan") if isinstance(state.get("scan"), Mapping) else None
    cursor = str(scan["cursor"]) if scan and scan.get("cursor") else None
    if scan and isinstance(scan.get("floor"), int | float):
        floor: float | None = float(scan["floor"])
    elif scan:
        floor = None
    else:
        floor = None if hw is None else hw - overlap

    items, next_cursor = await fetch(cursor)
    fresh: list[Item] = []
    reached = not items or not next_cursor
    for item in items:
        if item.ts is not None and floor is not None and item.ts < floor:
            reached = True
            continue
        if item.id in seen or any(f.id == item.id for f in fresh):
            continue
        fresh.append(item)
    times = [i.ts for i in fresh if i.ts is not None]
    if times:
        hw = max([*times, *([hw] if hw is not None else [])])
    for item in fresh:
        seen[item.id] = item.ts if item.ts is not None else (hw or 0.0)
    threshold = None if hw is None else hw - overlap
    if not reached and floor is not None and threshold is not None:
        threshold = min(threshold, floor)
    new_state: dict[str, Any] = {"v": 1, "hw": hw, "seen": _prune(seen, threshold)}
    if not reached:
        new_state["scan"] = {"cursor": next_cursor, "floor": floor}
    return [i.payload for i in fresh], new_state, not reached
