"""Shadowing a candidate model: what it would decide, beside what the live model decides.

``router model shadow PATH`` hands every worker a candidate (``router.live_model``); triage
scores each batch with it after the live decisions are out, decides with the same pure
step (``router.triage_step.triage``) against the same author and outage state the live
decision read, and writes the two verdicts side by side to the ``shadow`` topic
(``ShadowVerdict``, keyed by mention). Nothing else: no table written, no decision, no
ticket. The candidate's thresholds are its own card's where ops set none, and what ops set
at runtime applies to it too: exactly the settings it would decide with once promoted.

``compare`` reads those records (the latest per mention) into what ``router model
compare`` prints and the dashboard can show: agreement, the volume of each verdict, the
share each model would act on, and the mentions where they disagree.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from vocab.records import Decision, ShadowVerdict
from vocab.verdicts import Verdict

if TYPE_CHECKING:
    from .live_model import LiveModel
    from .settings import Settings

#: How much of a disagreeing mention's text ``compare`` keeps.
TEXT_CHARS = 200


def settings_for(own: Settings, overrides: Mapping[str, Any], candidate: LiveModel
                 ) -> Settings:
    """The settings ``candidate`` would decide with if it were promoted: the worker's own,
    the thresholds left unset from its card, what ops set at runtime on top (the order of
    ``Runtime.use`` then ``Runtime.policy_settings``)."""
    s = own.with_model_defaults(getattr(candidate.model, "operating_point", {}))
    return s.model_copy(update=dict(overrides)) if overrides else s


def record(live: Decision, shadow: Decision, at: float) -> ShadowVerdict:
    """The two verdicts on one mention, side by side."""
    m = live.mention
    return ShadowVerdict(
        mention_ref=m.ref, network=m.network, text=m.text,
        live_verdict=str(live.verdict), live_version=live.model_version,
        live_actionable=float(live.scores.get("actionable", 0.0)),
        shadow_verdict=str(shadow.verdict), shadow_version=shadow.model_version,
        shadow_actionable=float(shadow.scores.get("actionable", 0.0)), at=at)


def acts(verdict: str) -> bool:
    """Whether ``verdict`` would do something on the desk (an unknown one counts as acting:
    a verdict a newer router added is not silence)."""
    try:
        return Verdict(verdict).acts
    except ValueError:
        return True


def compare(records: Iterable[Mapping[str, Any]], *, since: float | None = None,
            shadow_version: str | None = None, limit: int = 10) -> dict[str, Any]:
    """The live and the shadow model's verdicts on the same mentions, compared (pure).

    ``records`` are ``ShadowVerdict`` dicts, one per mention (the latest). Only those of
    one candidate are compared: ``shadow_version``, or by default the newest record's (an
    earlier candidate's records are counted in ``other_candidates``, not mixed in). ``since``
    keeps the records written at or after it (epoch seconds). The disagreements come
    furthest apart first (by P(actionable)), at most ``limit``.
    """
    rows = [r for r in records if since is None or float(r.get("at", 0.0)) >= since]
    if shadow_version is None and rows:
        shadow_version = str(max(rows, key=lambda r: float(r.get("at", 0.0)))
                             .get("shadow_version", ""))
    ours = [r for r in rows if r.get("shadow_version") == shadow_version]
    n = len(ours)
    live = Counter(str(r.get("live_verdict")) for r in ours)
    shadow = Counter(str(r.get("shadow_verdict")) for r in ours)
    apart = [r for r in ours if r.get("live_verdict") != r.get("shadow_verdict")]
    apart.sort(key=lambda r: (-abs(float(r.get("shadow_actionable", 0.0))
                                   - float(r.get("live_actionable", 0.0))),
                              -float(r.get("at", 0.0))))
    order = [str(v) for v in Verdict] + sorted((set(live) | set(shadow)) - set(Verdict))
    return {
        "shadow_version": shadow_version,
        "live_versions": dict(Counter(str(r.get("live_version", "")) for r in ours)),
        "compared": n,
        "agreed": n - len(apart),
        "agreement": (n - len(apart)) / n if n else None,
        "volumes": {v: {"live": live[v], "shadow": shadow[v]} for v in order
                    if live[v] or shadow[v]},
        "acted": {"live": _acted(live, n), "shadow": _acted(shadow, n)},
        "disagreements": [
            {"ref": r.get("mention_ref"), "network": r.get("network"),
             "live": r.get("live_verdict"), "shadow": r.get("shadow_verdict"),
             "live_actionable": r.get("live_actionable"),
             "shadow_actionable": r.get("shadow_actionable"),
             "text": " ".join(str(r.get("text", "")).split())[:TEXT_CHARS]}
            for r in apart[:max(0, limit)]],
        "disagreed": len(apart),
        "other_candidates": len(rows) - n,
    }


def _acted(counts: Counter[str], n: int) -> float | None:
    """The share of the ``n`` mentions whose verdict acts (None: nothing compared)."""
    return sum(c for v, c in counts.items() if acts(v)) / n if n else None
