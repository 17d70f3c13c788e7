"""Mentions and decisions as JSON on the triage path: byte for byte what Faust writes.

Faust serialises a record by calling back into Python for every nested record and field
(``Mention.to_json_dict`` round-trips through it); measured on a loaded 2-core machine that
was ~20-90 µs per mention for the post and ~110 µs for the decision, twice and once per
mention, where the Faust agent that does nothing costs ~220 µs a message in all. Here each
record's own ``to_representation`` (one dict, metadata included) goes to the C JSON encoder
once. ``tests/router/test_triage_state.py`` holds both to Faust's own output.
"""

from __future__ import annotations

import json
from typing import Any

from vocab.records import Decision, Mention

COMPACT = (",", ":")  # Faust's separators (and, like it, ASCII only)


def json_bytes(obj: Any) -> bytes:
    """``obj`` as Faust's ``json`` codec writes it (compact, ASCII): a record's value, or a
    table's key or value in its changelog."""
    return json.dumps(obj, separators=COMPACT).encode()


def mention_json(m: Mention) -> dict[str, Any]:
    """``m.to_json_dict()``, without the JSON round trip (a new dict)."""
    data = dict(m.to_representation())
    data["author"] = m.author.to_representation()
    return data


def decision_bytes(d: Decision, post: dict[str, Any] | None = None) -> bytes:
    """``d.dumps()``; ``post`` is ``mention_json(d.mention)`` when the caller has it."""
    data = dict(d.to_representation())
    data["mention"] = mention_json(d.mention) if post is None else post
    return json_bytes(data)
