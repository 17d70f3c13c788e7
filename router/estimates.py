"""How right the router was, as far as people said: estimates from the feedback labels.

Every label (``vocab.records.Label``, the latest per mention on the compacted ``feedback``
topic) says what the router decided (``verdict``) and what a person answered
(``actionable``: could support help?). Desk labels come from tickets, so from verdicts that
acted; audit labels from a sample of the silences. The estimates are only as good as their
counts, which is why each carries its ``n``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from vocab.verdicts import Verdict

#: The verdicts that do something on the desk: a label on one tells whether it was right.
ACTED = frozenset(v.value for v in Verdict if v.acts)


@dataclass(frozen=True)
class Estimate:
    """A share estimated from labels: ``hits`` of ``n``."""

    hits: int
    n: int

    @property
    def value(self) -> float | None:
        return self.hits / self.n if self.n else None


@dataclass(frozen=True)
class Quality:
    precision: Estimate  # of the labelled acted-on verdicts, the share actionable
    recall: Estimate  # of the actionable labels, the share the router acted on
    by_source: dict[str, dict[str, int]]  # source -> {"yes": n, "no": n}
    unknown_verdict: int  # labels that do not say what the router decided (left out)


def quality(labels: Iterable[Mapping[str, Any]]) -> Quality:
    """Precision and recall from the latest label per mention. A label says what the
    router decided (``verdict``) and what the person answered (``actionable``)."""
    tp = acted = actionable = unknown = 0
    by_source: dict[str, Counter[str]] = defaultdict(Counter)
    for lab in labels:
        if "actionable" not in lab:
            continue
        yes = bool(lab["actionable"])
        by_source[str(lab.get("source") or "?")]["yes" if yes else "no"] += 1
        verdict = str(lab.get("verdict") or "")
        if not verdict:
            unknown += 1
            continue
        did = verdict in ACTED
        acted += did
        tp += did and yes
        actionable += yes
    return Quality(Estimate(tp, acted), Estimate(tp, actionable),
                   {s: {"yes": c["yes"], "no": c["no"]} for s, c in sorted(by_source.items())},
                   unknown)
