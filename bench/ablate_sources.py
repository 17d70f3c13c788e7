"""What each training source is worth on the evaluation set. A study, not a test.

Rebuilds the shipped model (``classifiers.build.build``, into a temporary folder; the card
in the repository is left alone) once per variant, each leaving one source out or changed,
and prints the evaluation set's figures at each variant's own operating point:

- ``shipped``: everything;
- ``corpus_labels``: the complaints training rows with the corpus's complaint label instead
  of the project's actionable label (the evaluation keeps the project's labels);
- ``no_general_negatives``: without the 3,000 TweetEval general tweets as not actionable;
- ``no_own_examples``: without the project's first examples (``classifiers.seed_examples``);
- ``no_brand_examples``: without its posts addressed to brands (``classifiers.seed_brand``);
- ``no_ibm``: without the IBM first turns in training (they stay in the evaluation).

    pip install -e '.[train]'
    python bench/ablate_sources.py --shared ../shared/data [--variants shipped,no_ibm]

About two minutes per variant on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import classifiers.build as build_module  # noqa: E402
from classifiers.data import Labelled, read_complaints, text_key  # noqa: E402

VARIANTS = ("shipped", "corpus_labels", "no_general_negatives", "no_own_examples",
            "no_brand_examples", "no_ibm")


@contextmanager
def variant(name: str, shared: Path) -> Iterator[None]:
    patches: list[Any] = [mock.patch("classifiers.card.write_card", lambda card, path: path)]
    if name == "corpus_labels":  # training rows only: the evaluation keeps the project's labels
        texts = read_complaints(shared)
        corpus = {text_key(t): y for t, y in zip(texts.texts, texts.labels, strict=True)}
        real_split = build_module.split_shared

        def corpus_split(shared: Path) -> dict[str, Labelled]:
            parts = real_split(shared)
            parts["complaints_train"] = build_module.relabelled(parts["complaints_train"], corpus)
            return parts

        patches.append(mock.patch.object(build_module, "split_shared", corpus_split))
    elif name == "no_general_negatives":
        patches.append(mock.patch.object(build_module, "general_negatives",
                                         lambda general, n=0: Labelled()))
    elif name == "no_own_examples":
        patches.append(mock.patch.object(build_module, "seed_labelled",
                                         lambda column: Labelled()))
    elif name == "no_brand_examples":
        patches.append(mock.patch.object(build_module, "brand_labelled",
                                         lambda column: Labelled()))
    elif name == "no_ibm":
        real = build_module.split_shared

        def split(shared: Path) -> dict[str, Labelled]:
            parts = real(shared)
            parts["ibm_train"] = Labelled()
            return parts

        patches.append(mock.patch.object(build_module, "split_shared", split))
    for p in patches:
        p.start()
    try:
        yield
    finally:
        for p in reversed(patches):
            p.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, required=True)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    args = parser.parse_args(argv)
    for name in args.variants.split(","):
        with tempfile.TemporaryDirectory() as out, variant(name, args.shared):
            card = build_module.build(args.shared, Path(out))
        ev, op = card["evaluation"], card["operating_point"]
        every, general = ev["all"], ev["general"]
        print(f"{name:<22} threshold {op['actionable']:.2f} band {op['review_margin']:.2f}: "
              f"recall {every['recall']:.3f}, false alarms {every['false_alarm']:.3f} "
              f"(general {general['false_alarm']:.3f}), general review "
              f"{general['review_share']:.3f}, IBM recall {ev['ibm']['recall']:.3f}, ROC-AUC "
              f"{ev['ranking_shipped']['roc_auc']:.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
