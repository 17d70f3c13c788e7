"""The contract between the classifiers and the rest of the router.

The triage agent, ``router classify`` and the reply gate use only this: a ``TriageModel``
with ``score`` (both judgements for a batch of texts) and ``hurtful`` (the gate alone, fast).
``classifiers.load_default()`` returns the shipped model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

CATEGORIES = (
    "outage",
    "account_access",
    "billing",
    "order_delivery",
    "product_defect",
    "how_to",
    "feature_request",
    "praise",
    "other",
)


@dataclass(frozen=True)
class Scores:
    """Both judgements on one text, as probabilities, with the reasons behind them."""

    actionable: float  # P(the support team can help)
    hurtful: float  # P(abusive, hateful or harassing)
    sensitive: float  # P(a sensitive moment: death, disaster, tragedy)
    category: str  # one of CATEGORIES
    category_confidence: float = 0.0
    reasons: tuple[str, ...] = field(default_factory=tuple)  # top features, human-readable
    # share of the text's words the model learned from (1.0 when it has no words): below
    # about a half the model is reading a language or jargon it was not trained on
    coverage: float = 1.0


@runtime_checkable
class TriageModel(Protocol):
    """What the router needs from a classifier."""

    def score(self, texts: Sequence[str]) -> list[Scores]:
        """Score a batch; one ``Scores`` per text, in order. Never raises on odd text."""
        ...

    def hurtful(self, texts: Sequence[str]) -> list[float]:
        """P(hurtful) alone, for the reply gate; much cheaper than ``score``."""
        ...
