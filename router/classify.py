"""``router classify``: the triage decision without Kafka, for trying thresholds on history.

Reads mentions as JSON lines (the generic form) and writes one decision per line, keeping
the same per-author memory the triage agent keeps (threads, duplicates, outage window), so
the verdicts match what the stream would decide for the same input in the same order.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from typing import Any

from classifiers.api import TriageModel
from vocab.errors import BadInput
from vocab.records import Decision, Mention
from vocab.verdicts import Verdict

from . import incidents
from .agents.triage import author_key, context_for, counts_as_outage, remember
from .policy import decide
from .settings import Settings
from .validate import parse_mention


def decision_json(d: Decision) -> dict[str, Any]:
    m = d.mention
    return {
        "id": m.id,
        "network": m.network,
        "author": m.author.handle,
        "verdict": d.verdict,
        "scores": {k: d.scores.get(k) for k in ("actionable", "hurtful", "sensitive", "coverage")},
        "threshold": d.scores.get("threshold"),
        "hurtful": d.hurtful,
        "sensitive": d.sensitive,
        "category": d.category,
        "priority": d.priority,
        "case": d.case_key,
        "related": list(d.related),
        "reasons": list(d.reasons),
    }


def classify_lines(lines: Iterable[bytes], settings: Settings, model: TriageModel,
                   *, batch: int = 500) -> Iterator[dict[str, Any]]:
    """One output object per input line, in order (bad lines get ``error``)."""
    states: dict[str, dict[str, Any]] = {}
    wave: dict[str, dict[str, Any]] = {"state": {}}
    pending: list[tuple[int, Mention | str]] = []

    def flush() -> Iterator[dict[str, Any]]:
        good = [m for _, m in pending if isinstance(m, Mention)]
        scores = iter(model.score([m.text for m in good]) if good else [])
        for lineno, item in pending:
            if isinstance(item, str):
                yield {"line": lineno, "id": None, "verdict": None, "error": item}
                continue
            sc = next(scores)
            now = time.time()
            outage = incidents.window_state(wave["state"], now, settings)
            counted = counts_as_outage(item, sc, settings)
            if counted:
                outage = incidents.count_report(outage)
            key = author_key(item)
            state = states.get(key, {})
            d = decide(item, sc, settings, context_for(item, state, now, outage))
            states[key] = remember(state, item, d)
            if counted or d.verdict is Verdict.INCIDENT:
                outage = incidents.after_decision(outage, d)
            wave["state"] = outage
            yield decision_json(d)
        pending.clear()

    for lineno, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            pending.append((lineno, parse_mention(
                raw.rstrip(b"\r\n"), networks=settings.networks,
                max_text_bytes=settings.max_text_bytes,
                max_message_bytes=settings.max_message_bytes)))
        except BadInput as exc:
            pending.append((lineno, exc.reason))
        if len(pending) >= batch:
            yield from flush()
    yield from flush()


def dumps(obj: dict[str, Any]) -> str:
    return json.dumps(obj, ensure_ascii=False)
