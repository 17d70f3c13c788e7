"""Threshold tables and the choice of an operating point."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

import numpy as np
from sklearn.metrics import f1_score, precision_recall_fscore_support

Numbers: TypeAlias = Sequence[float] | Sequence[int] | np.ndarray

MAX_FPR = 0.05  # at most 5% of the noise becomes tickets (teams drop filters near 7%)


def threshold_table(y: Numbers, p: Numbers, thresholds: Numbers) -> list[dict[str, Any]]:
    """Precision, recall, F1, FPR and volume (share flagged) at each threshold.

    Where a ratio is undefined it is ``None`` (JSON ``null``, shown as "-"), scikit-learn's
    ``zero_division=np.nan``: precision when nothing is flagged (no flagged mention, so no
    evidence either way; 1.0 claimed a perfect filter, 0 would claim every flag wrong),
    recall when there is no actionable row. F1 is ``2tp / (2tp + fp + fn)``: 0 when
    nothing is flagged but something should have been.
    """
    yt = np.asarray(y, dtype=int)
    pp = np.asarray(p, dtype=float)
    rows = []
    for t in thresholds:
        pred = pp >= t
        precision, recall, f1, _ = precision_recall_fscore_support(
            yt, pred.astype(int), average="binary", pos_label=1, zero_division=np.nan
        )
        fp = int(np.sum(pred & (yt == 0)))
        neg = int(np.sum(yt == 0))
        rows.append(
            {
                "threshold": round(float(t), 4),
                "precision": _ratio(precision),
                "recall": _ratio(recall),
                "f1": _ratio(f1),
                "macro_f1": round(float(f1_score(yt, pred, average="macro", zero_division=0)), 4),
                "fpr": round(fp / neg, 4) if neg else 0.0,
                "volume": round(float(pred.mean()) if len(pred) else 0.0, 4),
                "flagged": int(pred.sum()),
            }
        )
    return rows


def _ratio(value: float) -> float | None:
    return None if np.isnan(value) else round(float(value), 4)


def fmt(value: float | None, spec: str = ".3f") -> str:
    """A table cell: the number, or "-" where it is undefined (see ``threshold_table``)."""
    return "-" if value is None else format(value, spec)


def choose_threshold(y: Numbers, p: Numbers, max_fpr: float = MAX_FPR) -> float:
    """The threshold with the best F1 among those whose false-positive rate <= ``max_fpr``."""
    grid = np.round(np.arange(0.05, 0.951, 0.01), 2)
    rows = threshold_table(y, p, grid)
    ok = [r for r in rows if r["fpr"] <= max_fpr] or rows[-1:]
    return float(max(ok, key=lambda r: (r["f1"] or 0.0, -r["threshold"]))["threshold"])


def best_macro_f1_threshold(y: Numbers, p: Numbers) -> float:
    """The threshold with the best macro-F1 (for gates judged by macro-F1)."""
    grid = np.round(np.arange(0.05, 0.951, 0.01), 2)
    rows = threshold_table(y, p, grid)
    return float(max(rows, key=lambda r: (r["macro_f1"], -abs(r["threshold"] - 0.5)))["threshold"])


REVIEW_BUDGET = 0.03  # at most 3% of general traffic goes to a person
# the band is chosen on the training rows' general posts to a stricter 2%: general traffic
# the model never saw (the evaluation's hate val) sends more to review than the rows it chose on
REVIEW_TARGET_ON_TRAINING = 0.02
MARGINS = tuple(round(m, 2) for m in np.arange(0.0, 0.201, 0.02))


def route(
    actionable: Numbers, hurtful: Numbers, praise: Numbers, op: dict[str, Any], margin: float
) -> np.ndarray:
    """The verdict the router's policy gives on the model's scores alone: "open", "review"
    or "silent" per post (``router.policy.decide`` without the author's history, threads
    or outage waves; a test keeps the two in step)."""
    pa = np.asarray(actionable, dtype=float)
    hurt = np.asarray(hurtful, dtype=float) >= float(op["hurtful"])
    act = pa >= float(op["actionable"])
    border = ~act & (pa >= float(op["actionable"]) - margin)
    review = (hurt & (act | border)) | (~hurt & border & ~np.asarray(praise, dtype=bool))
    return np.where(review, "review", np.where(act & ~hurt, "open", "silent"))


def choose_review_margin(
    actionable: Numbers, hurtful: Numbers, praise: Numbers, op: dict[str, Any],
    budget: float = REVIEW_TARGET_ON_TRAINING,
) -> float:
    """The widest borderline band that sends at most ``budget`` of these general posts to
    review (0 when even none does)."""
    best = 0.0
    for margin in MARGINS:
        verdicts = route(actionable, hurtful, praise, op, margin)
        if float(np.mean(verdicts == "review")) <= budget:
            best = margin
    return best


def routing_table(
    labels: Numbers, verdicts: np.ndarray, general: Numbers | None = None
) -> dict[str, Any]:
    """What ops would see: recall (actionable posts opened or sent to a person), false
    alarms (non-actionable posts opened or reviewed), the review share, and on general
    traffic the share acted on."""
    y = np.asarray(labels, dtype=int)
    acted = verdicts != "silent"
    pos, neg = y == 1, y == 0
    row: dict[str, Any] = {
        "n": int(len(y)),
        "positives": int(pos.sum()),
        "recall": round(float(acted[pos].mean()), 4) if pos.any() else None,
        "recall_ticket": round(float((verdicts[pos] == "open").mean()), 4) if pos.any() else None,
        "false_alarm": round(float(acted[neg].mean()), 4) if neg.any() else None,
        "review_share": round(float((verdicts == "review").mean()), 4) if len(y) else None,
    }
    if general is not None:
        g = np.asarray(general, dtype=bool)
        row["general_n"] = int(g.sum())
        review = verdicts[g] == "review"
        row["general_review"] = round(float(review.mean()), 4) if g.any() else None
        row["general_acted"] = round(float(acted[g].mean()), 4) if g.any() else None
    return row
