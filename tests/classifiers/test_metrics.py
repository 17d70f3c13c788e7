"""The threshold table says "undefined" where a ratio is, instead of a perfect score."""

from __future__ import annotations

import json
import math

import numpy as np
from sklearn.metrics import precision_score, recall_score

from classifiers.card import _row
from classifiers.metrics import choose_threshold, fmt, threshold_table

Y = [1, 1, 1, 0, 0, 0, 0, 0]
P = [0.9, 0.6, 0.3, 0.7, 0.2, 0.1, 0.1, 0.05]


def test_nothing_flagged_has_no_precision_not_a_perfect_one() -> None:
    row = threshold_table(Y, P, [0.95])[0]
    assert row["flagged"] == 0
    assert row["precision"] is None  # was 1.0: a filter that flags nothing looked perfect
    assert row["recall"] == 0.0 and row["f1"] == 0.0
    assert math.isnan(precision_score(Y, [0] * len(Y), zero_division=np.nan))  # same rule
    assert json.loads(json.dumps(row))["precision"] is None  # valid JSON: null, not NaN
    assert "precision -," in _row(row) and fmt(row["precision"]) == "-"


def test_defined_ratios_match_scikit_learn() -> None:
    for t in (0.25, 0.5, 0.65):
        row = threshold_table(Y, P, [t])[0]
        pred = [int(p >= t) for p in P]
        assert row["precision"] == round(precision_score(Y, pred), 4)
        assert row["recall"] == round(recall_score(Y, pred), 4)


def test_no_actionable_rows_has_no_recall() -> None:
    row = threshold_table([0, 0, 0], [0.9, 0.1, 0.2], [0.5])[0]
    assert row["recall"] is None and row["precision"] == 0.0 and row["fpr"] == round(1 / 3, 4)


def test_choosing_a_threshold_still_works_where_high_ones_flag_nothing() -> None:
    t = choose_threshold(Y, P, max_fpr=0.25)
    assert 0.05 <= t <= 0.95
    assert threshold_table(Y, P, [t])[0]["flagged"] > 0
