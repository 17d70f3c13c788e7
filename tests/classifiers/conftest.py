"""Fixtures for the classifier tests: the shipped model and small generated data."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

import classifiers
from classifiers.model import SocialTriageModel
from classifiers.seed_examples import SEED_EXAMPLES


@pytest.fixture(scope="session")
def model() -> SocialTriageModel:
    return classifiers.load_default()


def labelled_rows(copies: int = 2, seed: int = 0) -> list[dict[str, str]]:
    """The project's own examples, lightly varied, as text/label/category rows."""
    rng = random.Random(seed)
    tails = ["", " pls", " !!", " today", " 🙏", " asap", " again", " #help"]
    rows = []
    for _ in range(copies):
        for text, category, actionable, _hurtful, _sensitive in SEED_EXAMPLES:
            rows.append(
                {"text": text + rng.choice(tails), "label": str(actionable), "category": category}
            )
    rng.shuffle(rows)
    return rows


@pytest.fixture
def small_csv(tmp_path: Path) -> Path:
    path = tmp_path / "history.csv"
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["text", "label", "category"])
        writer.writeheader()
        writer.writerows(labelled_rows())
    return path
