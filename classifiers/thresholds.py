"""Operating points: which threshold applies to a category, and parsing threshold ranges.

The router's settings carry ``actionable_threshold`` (the default) and
``category_thresholds`` (per-category overrides, JSON); the model's card carries the
operating point chosen when it was built (``model.operating_point["actionable"]``). Ops
change either without retraining.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from classifiers.api import CATEGORIES


def actionable_threshold(
    category: str, default: float, overrides: Mapping[str, float] | None = None
) -> float:
    """The threshold for ``category``: its override if set, else ``default``."""
    if overrides:
        value = overrides.get(category)
        if value is not None:
            return _check(float(value), f"category_thresholds[{category!r}]")
    return _check(float(default), "actionable_threshold")


def check_overrides(overrides: Mapping[str, float]) -> dict[str, float]:
    """Validate per-category overrides; a bad key or value raises ValueError naming the fix."""
    out = {}
    for category, value in overrides.items():
        if category not in CATEGORIES:
            raise ValueError(
                f"unknown category {category!r} in category_thresholds; "
                f"use one of {', '.join(CATEGORIES)}"
            )
        out[category] = _check(float(value), f"category_thresholds[{category!r}]")
    return out


def _check(value: float, name: str) -> float:
    if not 0.0 <= value <= 1.0 or value != value:
        raise ValueError(f"{name} must be between 0 and 1, got {value}")
    return value


def parse_range(spec: str) -> list[float]:
    """``"0.1:0.9:0.05"`` -> [0.1, 0.15, ..., 0.9]; raises ValueError with the expected form."""
    try:
        lo, hi, step = (float(x) for x in spec.split(":"))
    except ValueError:
        raise ValueError(f"{spec!r} is not START:STOP:STEP, e.g. 0.1:0.9:0.05") from None
    if not (0.0 <= lo <= hi <= 1.0) or step <= 0:
        raise ValueError(f"{spec!r}: need 0 <= START <= STOP <= 1 and STEP > 0, e.g. 0.1:0.9:0.05")
    n = int(round((hi - lo) / step)) + 1
    return [round(float(v), 6) for v in np.linspace(lo, lo + step * (n - 1), n) if v <= hi + 1e-9]
