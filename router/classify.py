"""``router classify``: the triage decision without Kafka, for trying thresholds on history.

Reads mentions as JSON lines (the generic form) and writes one decision per line through the
same step as the triage agent (``router.triage_step.triage``), with the same memory (the
author's cases, duplicates and decided ids, the posts seen, every thread's case), so the
verdicts match what the stream would decide for the same input in the same order, a
mention given twice included.

Outage reports are counted by wave as the ``waves`` agent counts them
(``router.incidents.count_report``, in input order): each report's ``wave`` says its wave,
its number in it, and once the wave is an incident its problem ticket's case and the cases
this report makes incidents of it (at the report that reaches ``incident_min_reports``,
every report so far).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from typing import Any

from classifiers.api import TriageModel
from vocab.errors import BadInput
from vocab.records import Decision, Mention

from . import incidents
from .settings import Settings
from .tables import (
    MAX_DECIDED_PER_PARTITION,
    MAX_TEXTS_PER_PARTITION,
    Bounded,
    Memory,
    RecentPosts,
)
from .threads import ThreadIndex
from .triage_step import author_key, triage
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
        "model": d.model_version,
    }


class Waves:
    """The outage waves of a dry run, counted as the ``waves`` agent counts them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.states: dict[str, dict[str, Any]] = {}

    def wave(self, d: Decision) -> dict[str, Any] | None:
        """What the wave makes of ``d``: None for a decision that is no outage report."""
        if not incidents.is_report(d):
            return None
        key = incidents.wave_key(incidents.report_time(d), self.settings)
        counted = incidents.count_report(self.states.get(key, {}), d.mention.ref)
        state = counted.state
        if counted.new:
            state["pending"] = [*state.get("pending", []), d.case_key or d.mention.ref]
        incident = incidents.has_incident(counted.count, self.settings)
        joined = list(state.get("pending", [])) if incident else []
        if incident:
            state["pending"] = []
        self.states[key] = state
        return {"key": key, "report": counted.number,
                "problem": incidents.problem_case(key) if incident else None,
                "incidents": joined}


def classify_lines(lines: Iterable[bytes], settings: Settings, model: TriageModel,
                   *, batch: int = 500, model_version: str = "") -> Iterator[dict[str, Any]]:
    """One output object per input line, in order (bad lines get ``error``); each decision
    names ``model_version``, the model that scored it."""
    authors: dict[str, dict[str, Any]] = {}
    waves = Waves(settings)
    store: dict[str, dict[str, Any]] = {}
    posts = RecentPosts(store)  # type: ignore[arg-type]  # the agent's store, on a dict
    threads = ThreadIndex()  # the whole input's threads, as the topic would have them
    decided = Bounded({}, MAX_DECIDED_PER_PARTITION)  # type: ignore[arg-type]  # likewise
    texts = Bounded({}, MAX_TEXTS_PER_PARTITION)  # type: ignore[arg-type]
    memory = Memory(authors, posts, decided, texts, threads)  # type: ignore[arg-type]
    pending: list[tuple[int, Mention | str]] = []

    def flush() -> Iterator[dict[str, Any]]:
        good = [m for _, m in pending if isinstance(m, Mention)]
        scores = iter(model.score([m.text for m in good]) if good else [])
        for lineno, item in pending:
            if isinstance(item, str):
                yield {"line": lineno, "id": None, "verdict": None, "error": item}
                continue
            key = author_key(item)
            now = time.time()
            step = triage(item, next(scores), settings, author=authors.get(key, {}),
                          decided=decided, texts=texts, now=now, posts=posts,
                          threads=threads, model_version=model_version)
            if step.new:  # the same bookkeeping as the triage agent's
                memory.keep(step, now)
            out = decision_json(step.decision)
            out["wave"] = waves.wave(step.decision)
            yield out
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
