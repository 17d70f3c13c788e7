"""Rebuild the shipped model from the shared research data and write its card.

    python -m classifiers.build --shared ../shared/data [--protocols]

What it trains on (held-out parts are never seen in training or threshold choice):

- actionable: complaints-data.csv (80% split, stratified by label and domain; brand-domain
  non-complaints that ask a question are left out of training, since a support question is
  actionable although the corpus labels it "not a complaint"), the first customer turns of
  the IBM customer-care dev dialogs (80% split; all actionable), and the project's own
  examples (``classifiers.seed_examples``). Handles are removed from the actionable
  training rows: in the corpus 572 of the 603 posts that name no handle are
  non-complaints, so a missing handle alone would say "not actionable", while in
  production every mention names the company. Held-out rows keep their handles.
- hurtful: TweetEval offensive train plus the project's own examples;
- category: the project's own examples plus the actionable training rows with a keyword
  label; at scoring time a matching keyword rule decides first, the head otherwise.

Thresholds come from 5-fold out-of-fold predictions on the training rows. The held-out 20%
of complaints and of IBM dialogs, and TweetEval offensive val, give the card's held-out
figures. ``--protocols`` also runs the published-protocol evaluations (see
``classifiers.protocols``) and puts them on the card.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.model_selection import train_test_split

from classifiers.data import Labelled, read_complaints, read_ibm_first_turns, read_tweeteval
from classifiers.metrics import threshold_table
from classifiers.store import REBUILD_SHIPPED, artifacts_dir, library_versions, save
from classifiers.train import fit_triage, seed_labelled

SEED = 0
_HANDLE = re.compile(r"@\w+")


def _subset(data: Labelled, idx: Any) -> Labelled:
    out = Labelled()
    for i in idx:
        out.add(data.texts[i], data.labels[i], data.categories[i], data.groups[i])
    return out


def without_handles(data: Labelled) -> Labelled:
    """The same rows with every @handle removed (see ``build``)."""
    out = Labelled()
    for t, y, c, g in zip(data.texts, data.labels, data.categories, data.groups, strict=True):
        out.add(_HANDLE.sub("", t), y, c, g)
    return out


def _ambiguous(data: Labelled) -> list[int]:
    """Brand-domain non-complaints that ask a question: maybe actionable, labelled 0."""
    return [
        i
        for i, (t, y, g) in enumerate(zip(data.texts, data.labels, data.groups, strict=True))
        if y == 0 and "?" in t and not g.startswith("random")
    ]


def split_shared(shared: Path) -> dict[str, Labelled]:
    """The fixed train / held-out splits of the shared data."""
    comp = read_complaints(shared)
    strata = [f"{lab}-{grp}" for lab, grp in zip(comp.labels, comp.groups, strict=True)]
    c_train, c_test = train_test_split(
        np.arange(len(comp)), test_size=0.2, stratify=strata, random_state=SEED
    )
    ibm = read_ibm_first_turns(shared)
    i_train, i_test = train_test_split(np.arange(len(ibm)), test_size=0.2, random_state=SEED)
    train = _subset(comp, c_train)
    test = _subset(comp, c_test)
    ambiguous = _ambiguous(train)
    keep = sorted(set(range(len(train))) - set(ambiguous))
    return {
        "complaints_train": _subset(train, keep),
        "complaints_test": test,
        "complaints_test_unambiguous": _subset(
            test, sorted(set(range(len(test))) - set(_ambiguous(test)))
        ),
        "ibm_train": _subset(ibm, i_train),
        "ibm_test": _subset(ibm, i_test),
        "offensive_train": read_tweeteval(shared, "offensive", "train"),
        "offensive_val": read_tweeteval(shared, "offensive", "val"),
        "n_ambiguous_dropped": Labelled(texts=[""] * len(ambiguous)),
    }


def _held_out(model: Any, data: Labelled, threshold: float, key: str) -> dict[str, Any]:
    if key == "actionable":
        p = [s.actionable for s in model.score(data.texts)]
    else:
        p = model.hurtful(data.texts)
    row = threshold_table(data.labels, p, [threshold])[0]
    row["n"] = len(data)
    row["positives"] = int(sum(data.labels))
    return row


def build(shared: Path, out: Path, protocols: bool = False) -> dict[str, Any]:
    parts = split_shared(shared)
    actionable = Labelled().extend(parts["complaints_train"]).extend(parts["ibm_train"])
    actionable = without_handles(actionable.extend(seed_labelled(2)))
    hurtful = Labelled().extend(parts["offensive_train"]).extend(seed_labelled(3))
    card: dict[str, Any] = {}
    model = fit_triage(actionable, hurtful, card, progress=lambda s: print("..", s, flush=True))
    oof = card.pop("oof")
    op = model.operating_point
    held = Labelled().extend(parts["complaints_test"]).extend(parts["ibm_test"])
    card.update(
        {
            "name": "escalation-router default triage model",
            "rebuild": REBUILD_SHIPPED + (" --protocols" if protocols else ""),
            "versions": library_versions(),
            "training_rows": {
                "actionable": len(actionable),
                "actionable_positive": int(sum(actionable.labels)),
                "hurtful": len(hurtful),
                "hurtful_positive": int(sum(hurtful.labels)),
                "ambiguous_questions_dropped": len(parts["n_ambiguous_dropped"]),
            },
            "operating_point": op,
            "oof_training": {
                "actionable": threshold_table(actionable.labels, oof["actionable_proba"],
                                              [op["actionable"]])[0],
                "hurtful": threshold_table(hurtful.labels, oof["hurtful_proba"],
                                           [op["hurtful"]])[0],
            },
            "held_out": {
                "actionable_complaints_plus_ibm": _held_out(model, held, op["actionable"],
                                                            "actionable"),
                "actionable_complaints_only": _held_out(model, parts["complaints_test"],
                                                        op["actionable"], "actionable"),
                "actionable_complaints_without_brand_questions": _held_out(
                    model, parts["complaints_test_unambiguous"], op["actionable"], "actionable"
                ),
                "actionable_ibm_recall": _held_out(model, parts["ibm_test"], op["actionable"],
                                                   "actionable"),
                "hurtful_offensive_val": _held_out(model, parts["offensive_val"], op["hurtful"],
                                                   "hurtful"),
            },
        }
    )
    from classifiers.protocols import categories  # noqa: PLC0415

    cat = categories(shared, model)
    card["category"] = {
        who: {half: {k: cat[who][half][k] for k in ("n", "accuracy", "macro_f1")}
              for half in ("dev", "test")}
        for who in ("model", "keyword_rules")
    }
    if protocols:
        from classifiers.protocols import run_all  # noqa: PLC0415

        card["protocols"] = run_all(shared, model)
    model.card = card
    path = save(model, out / "triage.joblib", card)
    from classifiers.card import write_card  # noqa: PLC0415

    write_card(card, Path(__file__).with_name("MODEL_CARD.md"))
    print(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) and MODEL_CARD.md")
    return card


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, required=True, help="the shared data folder")
    parser.add_argument("--out", type=Path, default=artifacts_dir(), help="artifact folder")
    parser.add_argument("--protocols", action="store_true", help="also run the protocols")
    args = parser.parse_args(argv)
    if not (args.shared / "complaints" / "complaints-data.csv").is_file():
        parser.error(f"{args.shared} has no complaints/complaints-data.csv; pass --shared DIR")
    build(args.shared, args.out, args.protocols)
    return 0


if __name__ == "__main__":
    sys.exit(main())
