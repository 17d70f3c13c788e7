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
import copy
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from classifiers import semantic
from classifiers.data import Labelled, read_actionable_labels, text_key
from classifiers.metrics import (
    REVIEW_BUDGET,
    choose_review_margin,
    route,
    routing_table,
    threshold_table,
)
from classifiers.protocols import categories, labelled_categories, run_all
from classifiers.seed_brand import BRAND_EXAMPLES
from classifiers.semantic import StaticEncoder
from classifiers.splits import SEED
from classifiers.splits import relabelled as relabelled  # re-exported: bench/ reads it here
from classifiers.splits import split_shared as split_shared  # and patches this one here
from classifiers.store import REBUILD_SHIPPED, artifacts_dir, library_versions, save
from classifiers.train import fit_triage, seed_labelled

_HANDLE = re.compile(r"@\w+")


def without_handles(data: Labelled) -> Labelled:
    """The same rows with every @handle removed (see ``build``)."""
    out = Labelled()
    for t, y, c, g in zip(data.texts, data.labels, data.categories, data.groups, strict=True):
        out.add(_HANDLE.sub("", t), y, c, g)
    return out


def _held_out(model: Any, data: Labelled, threshold: float, key: str) -> dict[str, Any]:
    if key == "actionable":
        p = [s.actionable for s in model.score(data.texts)]
    else:
        p = model.hurtful(data.texts)
    row = threshold_table(data.labels, p, [threshold])[0]
    row["n"] = len(data)
    row["positives"] = int(sum(data.labels))
    return row


GENERAL_NEGATIVES = 3000


def general_negatives(general: Labelled, n: int = GENERAL_NEGATIVES) -> Labelled:
    """General tweets (TweetEval offensive train: politics, sport, insults, none addressed to
    a company's support) as not actionable, so that a rant at nobody is not read as a
    complaint. A fixed sample of ``n``, handles anonymised there already (``@user``)."""
    rng = np.random.default_rng(SEED)
    idx = sorted(rng.choice(len(general), size=min(n, len(general)), replace=False).tolist())
    out = Labelled()
    for i in idx:
        out.add(general.texts[i].replace("@user", ""), 0, "", "random_general")
    return out


def brand_labelled(column: int) -> Labelled:
    """The project's posts addressed to brands (``classifiers.seed_brand``), labelled by
    column (2 actionable, 3 hurtful)."""
    return seed_labelled(column, BRAND_EXAMPLES)


def semantic_encoder(out: Path, corpus: list[str]) -> StaticEncoder:
    """Distil MiniLM's per-piece vectors into ``out`` (beside the artifact) and open them."""
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = out / semantic.TOKENIZER_FILE
    if not tokenizer.is_file():
        shutil.copyfile(artifacts_dir() / semantic.TOKENIZER_FILE, tokenizer)
    np.save(out / semantic.TABLE_FILE, semantic.distill(tokenizer, corpus), allow_pickle=False)
    return StaticEncoder(out)


def evaluation(model: Any, parts: dict[str, Labelled], shared: Path) -> dict[str, Any]:
    """The independent evaluation set at the shipped operating point (see the card)."""
    op = model.operating_point
    comp, ibm, general = parts["complaints_test"], parts["ibm_test"], parts["general"]
    texts = comp.texts + ibm.texts + general.texts
    y = np.asarray(comp.labels + [1] * len(ibm) + [0] * len(general))
    source = np.asarray(["complaints"] * len(comp) + ["ibm"] * len(ibm)
                        + ["general"] * len(general))
    is_general = (source == "general") | np.asarray(
        [g.startswith("random") for g in comp.groups] + [False] * (len(ibm) + len(general)))
    scores = model.score(texts)
    pa = np.asarray([s.actionable for s in scores])
    ph = np.asarray([s.hurtful for s in scores])
    praise = np.asarray([s.category == "praise" for s in scores])
    verdicts = route(pa, ph, praise, op, float(op["review_margin"]))
    out: dict[str, Any] = {"all": routing_table(y, verdicts, is_general)}
    for name in ("complaints", "ibm", "general"):
        m = source == name
        out[name] = routing_table(y[m], verdicts[m], is_general[m])
    # the hardest negatives: posts addressed to a brand with nothing for support to do
    brand = (source == "complaints") & ~is_general & (y == 0)
    out["brand_directed_non_actionable"] = {
        "n": int(brand.sum()),
        "opened": round(float((verdicts[brand] == "open").mean()), 4),
        "reviewed": round(float((verdicts[brand] == "review").mean()), 4),
    }
    linear = copy.copy(model)
    linear.semantic = None
    pl = np.asarray([s.actionable for s in linear.score(texts)])
    for name, p in (("shipped", pa), ("linear_only", pl)):
        fpr, tpr, _ = roc_curve(y, p)
        out[f"ranking_{name}"] = {"roc_auc": round(float(roc_auc_score(y, p)), 4),
                                  "recall_at_5pct_false_alarms":
                                  round(float(np.interp(0.05, fpr, tpr)), 4)}
    # the hand-categorised rows are held-out rows scored above: their verdicts, by category
    cat_texts, gold, _ = labelled_categories(shared)
    labels = read_actionable_labels()
    verdict_of = dict(zip(texts, verdicts, strict=True))
    acted: dict[str, list[bool]] = {}
    for text, category in zip(cat_texts, gold, strict=True):
        if labels.get(text_key(text), 1) == 1:  # IBM rows have no key there: all actionable
            acted.setdefault(category, []).append(verdict_of[text] != "silent")
    out["recall_per_category"] = {
        c: {"n": len(hits), "recall": round(float(np.mean(hits)), 3)}
        for c, hits in sorted(acted.items())
    }
    return out


def actionable_rows(parts: dict[str, Labelled]) -> Labelled:
    """The rows the shipped model's actionable heads train on (``router train --shared``
    starts from them too): the training splits, the project's examples, handles removed,
    and general tweets as not actionable."""
    actionable = Labelled().extend(parts["complaints_train"]).extend(parts["ibm_train"])
    actionable = without_handles(actionable.extend(seed_labelled(2)).extend(brand_labelled(2)))
    return actionable.extend(general_negatives(parts["offensive_train"]))


def build(shared: Path, out: Path, protocols: bool = False) -> dict[str, Any]:
    parts = split_shared(shared)
    actionable = actionable_rows(parts)
    hurtful = Labelled().extend(parts["offensive_train"]).extend(seed_labelled(3))
    hurtful.extend(brand_labelled(3))
    print(".. semantic: MiniLM per-piece vectors", flush=True)
    encoder = semantic_encoder(out, actionable.texts + hurtful.texts)
    card: dict[str, Any] = {}
    model = fit_triage(actionable, hurtful, card, progress=lambda s: print("..", s, flush=True),
                       encoder=encoder)
    model.attach(out)
    oof = card.pop("oof")
    op = model.operating_point
    # the review band: as wide as the budget allows on the general posts among the training
    # rows (out-of-fold actionable scores; the hurtful gate never trained on them)
    general = [i for i, g in enumerate(actionable.groups) if g.startswith("random")]
    gen_scores = model.score([actionable.texts[i] for i in general])
    op["review_margin"] = choose_review_margin(
        oof["actionable_proba"][general], [s.hurtful for s in gen_scores],
        [s.category == "praise" for s in gen_scores], op)
    op["review_budget"] = REVIEW_BUDGET
    held = Labelled().extend(parts["complaints_test"]).extend(parts["ibm_test"])
    card.update(
        {
            "name": "escalation-router default triage model",
            "rebuild": REBUILD_SHIPPED + (" --protocols" if protocols else ""),
            "versions": library_versions(),
            "semantic": {**semantic.SOURCE, "runtime": "static per-piece vectors (tokenizers "
                         "+ numpy); files and sha256 in the sidecar's semantic_files"},
            "training_rows": {
                "actionable": len(actionable),
                "actionable_positive": int(sum(actionable.labels)),
                "hurtful": len(hurtful),
                "hurtful_positive": int(sum(hurtful.labels)),
            },
            "labels": "complaints rows: the project's actionable labels (eval/actionable.tsv, "
                      "two passes, Cohen's kappa 0.964, 62 of 3,449 settled by a third "
                      "reading); IBM first turns: 1",
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
                "actionable_ibm_recall": _held_out(model, parts["ibm_test"], op["actionable"],
                                                   "actionable"),
                "hurtful_offensive_val": _held_out(model, parts["offensive_val"], op["hurtful"],
                                                   "hurtful"),
            },
            "evaluation": evaluation(model, parts, shared),
        }
    )
    cat = categories(shared, model)
    card["category"] = {
        who: {half: {k: cat[who][half][k] for k in ("n", "accuracy", "macro_f1")}
              for half in ("dev", "test")}
        for who in ("model", "keyword_rules")
    }
    if protocols:
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
