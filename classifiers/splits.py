"""The fixed train / held-out splits of the shared research data.

``split_shared`` is what the shipped model is built on (``classifiers.build``) and what the
published-protocol evaluations read their held-out rows from (``classifiers.protocols``:
the hand-categorised rows in ``eval/categories.tsv`` are held-out rows of this split).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from classifiers.data import (
    Labelled,
    read_actionable_labels,
    read_complaints,
    read_ibm_first_turns,
    read_tweeteval,
    text_key,
)

SEED = 0


def _subset(data: Labelled, idx: Any) -> Labelled:
    out = Labelled()
    for i in idx:
        out.add(data.texts[i], data.labels[i], data.categories[i], data.groups[i])
    return out


def relabelled(data: Labelled, labels: dict[str, int]) -> Labelled:
    """The complaints rows with the project's actionable labels (``eval/actionable.tsv``)."""
    out = Labelled()
    for t, c, g in zip(data.texts, data.categories, data.groups, strict=True):
        out.add(t, labels[text_key(t)], c, g)
    return out


def split_shared(shared: Path) -> dict[str, Labelled]:
    """The fixed train / held-out splits of the shared data.

    The split is drawn on the corpus's own labels and domains (so the held-out rows are the
    ones the category labels in ``eval/categories.tsv`` were made for); every complaints row
    then carries the project's actionable label (``eval/actionable.tsv``).
    """
    comp = read_complaints(shared)
    strata = [f"{lab}-{grp}" for lab, grp in zip(comp.labels, comp.groups, strict=True)]
    c_train, c_test = train_test_split(
        np.arange(len(comp)), test_size=0.2, stratify=strata, random_state=SEED
    )
    comp = relabelled(comp, read_actionable_labels())
    ibm = read_ibm_first_turns(shared)
    i_train, i_test = train_test_split(np.arange(len(ibm)), test_size=0.2, random_state=SEED)
    return {
        "complaints_train": _subset(comp, c_train),
        "complaints_test": _subset(comp, c_test),
        "ibm_train": _subset(ibm, i_train),
        "ibm_test": _subset(ibm, i_test),
        "offensive_train": read_tweeteval(shared, "offensive", "train"),
        "offensive_val": read_tweeteval(shared, "offensive", "val"),
        # general tweets no head trains on (the hurtful gate learns from "offensive" only)
        "general": read_tweeteval(shared, "hate", "val"),
    }
