"""Per-category thresholds from settings override the default without retraining."""

from __future__ import annotations

import pytest

from classifiers.thresholds import actionable_threshold, check_overrides, parse_range


def test_override_wins_for_its_category_only() -> None:
    overrides = {"praise": 0.95, "outage": 0.3}
    assert actionable_threshold("praise", 0.6, overrides) == 0.95
    assert actionable_threshold("outage", 0.6, overrides) == 0.3
    assert actionable_threshold("billing", 0.6, overrides) == 0.6
    assert actionable_threshold("billing", 0.6, None) == 0.6


def test_override_changes_the_decision_on_the_same_score(model) -> None:  # type: ignore[no-untyped-def]
    s = model.score(["@acmecorp my internet is down again since this morning"])[0]
    default = model.operating_point["actionable"]
    lenient = {s.category: max(0.0, s.actionable - 0.01)}
    strict = {s.category: min(1.0, s.actionable + 0.01)}
    assert s.actionable >= actionable_threshold(s.category, default, lenient)
    assert s.actionable < actionable_threshold(s.category, default, strict)


def test_bad_overrides_name_the_fix() -> None:
    with pytest.raises(ValueError, match="use one of"):
        check_overrides({"refunds": 0.5})
    with pytest.raises(ValueError, match="between 0 and 1"):
        check_overrides({"billing": 1.5})
    with pytest.raises(ValueError, match="between 0 and 1"):
        actionable_threshold("billing", -0.1)


def test_parse_range() -> None:
    assert parse_range("0.1:0.3:0.1") == [0.1, 0.2, 0.3]
    with pytest.raises(ValueError, match="START:STOP:STEP"):
        parse_range("0.1-0.9")
    with pytest.raises(ValueError, match="STEP > 0"):
        parse_range("0.1:0.9:0")
