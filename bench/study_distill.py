"""Can the fine-tuned MiniLM teach the static semantic half, at no run-time cost? (issue #9)

A study, not a test. The teacher is the fine-tuned all-MiniLM-L6-v2 of
``bench/study_finetune.py actionable`` (trained only on ``classifiers.build.actionable_rows``;
its ONNX export from the ``speed`` part); the student keeps the shipped semantic half's
run-time shape exactly: tokenizer, per-piece table lookup, SIF-weighted mean, linear head.
Only numbers change, never the code path, so ``score()`` costs what it costs today.

The unlabeled pool: the build's actionable training rows, TweetEval offensive train and hate
train (``@user`` removed), deduplicated, less any text that is also in the evaluation set.
Nothing else: not TweetEval hate val (the evaluation set's general traffic), no test file,
and no IBM dialog beyond the training rows' first turns (the rest of an evaluation dialog
would tell the student about it).

Parts (each writes ``<out>/distill/<part, table name or build-variant>.json``):

- ``label``: the teacher (``model-fp32.onnx``, onnxruntime, 2 threads, max_len 64) scores
  the pool and the evaluation set.
- ``embed``: the teacher's mean-pooled last layer (torch fp32) for the training rows and a
  fixed sample of ``--embed-tweets`` tweets, for ``table --emb-weight``.
- ``table --name NAME``: variant (b), the per-piece table itself is learned (Model2Vec
  "tokenlearn" style): table = shipped table + D, D starts at zero with an L2 pull back (per
  piece in the batch); loss = BCE to the teacher's probabilities on the pool + ``--alpha`` x
  BCE to the training rows' labels (+ ``--emb-weight`` x cosine distance to the teacher's
  embedding through a learned 384x384 map), through the same weighted mean, normalisation
  and a linear head; SparseAdam, 2 threads, seed 0. ``--min-count N`` lets only pieces in at
  least N pool texts move, ``--tweets-only`` leaves the training rows out. The table is
  written as the build writes it (float16, row 0 the shipped SIF weights), so
  ``StaticEncoder`` reads it unchanged.
- ``build --variant NAME [--soft-head]``: the real ``classifiers.build.build`` on that
  table (``shipped``: the committed one), into ``<out>/distill/NAME/build*`` (its card is
  written there, never over ``classifiers/MODEL_CARD.md``); the card's evaluation figures
  are reported. ``--variant head``, or ``--soft-head`` with a table, is variant (a): the
  semantic head is fitted to the teacher's probabilities on the pool (soft labels: each
  row twice, weighted P and 1 - P) instead of the training rows' labels, then stacked as
  the build stacks (out-of-fold on the training rows: a fold's rows are left out of the
  pool its head is fitted on).

``label``, ``embed`` and ``table`` need onnxruntime / torch: run them with the venv of
``bench/study_finetune.py``. Run ``build`` with the project's own venv: without
alt-profanity-check (not in the torch venv) the build quietly fits other linear features
and a different model (actionable C 8 instead of 4, offensive val macro-F1 0.734), and the
script refuses. What was run (T=/work/venv-train/bin/python, P=.venv/bin/python,
O="--shared ../shared/data --out /work/ft-artifacts", all with PYTHONPATH=.):

    $T bench/study_distill.py label $O --teacher /work/ft-artifacts/actionable
    $P bench/study_distill.py build $O --variant shipped
    $P bench/study_distill.py build $O --variant head
    $T bench/study_distill.py table $O --name table --epochs 4 --reg 1.0 --alpha 1.0
    $T bench/study_distill.py table $O --name table-frequent --epochs 4 --reg 1.0 \\
        --alpha 0 --min-count 20
    $T bench/study_distill.py table $O --name table-tweets --epochs 4 --lr 0.01 --reg 1.0 \\
        --alpha 0 --tweets-only
    $T bench/study_distill.py table $O --name table-frequent-fast --epochs 4 --lr 0.01 \\
        --reg 1.0 --alpha 0 --min-count 20
    $T bench/study_distill.py embed $O --embed-tweets 6000
    $T bench/study_distill.py table $O --name table-embedding --epochs 4 --lr 0.001 \\
        --reg 1.0 --alpha 0 --min-count 20 --emb-weight 1.0
    $P bench/study_distill.py build $O --variant NAME           # each table above
    $P bench/study_distill.py build $O --variant table-frequent --soft-head
    $P bench/study_distill.py build $O --variant table-frequent-fast --soft-head

Nothing here reads IBM test or TweetEval test; the evaluation set is only scored.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score, roc_curve
from sklearn.model_selection import StratifiedKFold

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from classifiers import semantic  # noqa: E402
from classifiers.store import artifacts_dir  # noqa: E402

MAX_LEN = 64  # the teacher's training length (bench/study_finetune.py)
BATCH = 32
THREADS = 2
SEED = 0


def ranking(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    fpr, tpr, _ = roc_curve(y, p)
    return {"roc_auc": round(float(roc_auc_score(y, p)), 4),
            "recall_at_5pct_false_alarms": round(float(np.interp(0.05, fpr, tpr)), 4)}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def folder(args: argparse.Namespace) -> Path:
    out: Path = args.out / "distill"
    out.mkdir(parents=True, exist_ok=True)
    return out


def evaluation_set(parts: dict[str, Any]) -> tuple[list[str], np.ndarray]:
    """The texts and labels ``classifiers.build.evaluation`` scores (same order)."""
    comp, ibm, general = parts["complaints_test"], parts["ibm_test"], parts["general"]
    return (comp.texts + ibm.texts + general.texts,
            np.asarray(comp.labels + [1] * len(ibm) + [0] * len(general)))


def pool(shared: Path) -> tuple[list[str], np.ndarray, list[str]]:
    """The unlabeled pool: texts, the training rows' labels (-1 elsewhere), sources."""
    from classifiers.build import actionable_rows, split_shared  # noqa: PLC0415
    from classifiers.data import read_tweeteval  # noqa: PLC0415

    parts = split_shared(shared)
    rows = actionable_rows(parts)
    eval_texts, _ = evaluation_set(parts)
    unseen = {t.strip() for t in eval_texts} | {t.replace("@user", "").strip()
                                               for t in eval_texts}
    texts: list[str] = []
    labels: list[int] = []
    sources: list[str] = []
    seen: set[str] = set()

    def add(text: str, label: int, source: str) -> None:
        key = text.strip()
        if key and key not in seen and key not in unseen:
            seen.add(key)
            texts.append(text)
            labels.append(label)
            sources.append(source)

    for t, y in zip(rows.texts, rows.labels, strict=True):
        add(t, y, "training_rows")
    for subset in ("offensive", "hate"):
        for t in read_tweeteval(shared, subset, "train").texts:
            add(t.replace("@user", ""), -1, f"{subset}_train")
    return texts, np.asarray(labels), sources


# -- the teacher's probabilities ------------------------------------------------------------
def label(args: argparse.Namespace) -> dict[str, Any]:
    import onnxruntime as ort  # noqa: PLC0415
    from tokenizers import Tokenizer  # noqa: PLC0415

    from classifiers.build import split_shared  # noqa: PLC0415

    tok = Tokenizer.from_file(str(args.teacher / "tokenizer.json"))
    tok.enable_truncation(MAX_LEN)
    tok.enable_padding()
    so = ort.SessionOptions()
    so.intra_op_num_threads = THREADS
    so.inter_op_num_threads = 1
    onnx = args.teacher / "model-fp32.onnx"
    sess = ort.InferenceSession(str(onnx), so, providers=["CPUExecutionProvider"])

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from study_finetune import onnx_logits  # noqa: PLC0415 - how the teacher's export is read

    def run(texts: list[str]) -> np.ndarray:
        return onnx_logits(sess, tok, texts, BATCH)

    texts, labels, sources = pool(args.shared)
    eval_texts, y = evaluation_set(split_shared(args.shared))
    start = time.perf_counter()
    teacher = run(texts)
    seconds = time.perf_counter() - start
    teacher_eval = run(eval_texts)
    out = folder(args)
    (out / "pool.json").write_text(json.dumps({"texts": texts, "labels": labels.tolist(),
                                               "sources": sources}), "utf-8")
    np.save(out / "teacher_pool.npy", teacher)
    np.save(out / "teacher_eval.npy", teacher_eval)
    known = labels >= 0
    return {"teacher": str(onnx), "teacher_sha256": sha256(onnx),
            "pool": {s: sources.count(s) for s in sorted(set(sources))},
            "pool_n": len(texts), "label_seconds": round(seconds, 1),
            "texts_per_s": round(len(texts) / seconds),
            "teacher_on_training_rows": ranking(labels[known], teacher[known]),
            "teacher_mean_p_on_tweets": round(float(teacher[~known].mean()), 4),
            "teacher_share_above_0.5_on_tweets": round(float((teacher[~known] > 0.5).mean()), 4),
            "teacher_on_evaluation": ranking(y, teacher_eval)}


def load_pool(args: argparse.Namespace) -> tuple[list[str], np.ndarray, np.ndarray]:
    out = folder(args)
    data = json.loads((out / "pool.json").read_text("utf-8"))
    return data["texts"], np.asarray(data["labels"]), np.load(out / "teacher_pool.npy")


def embed(args: argparse.Namespace) -> dict[str, Any]:
    """The teacher's own meaning vector (its mean-pooled last layer, torch fp32) for the
    training rows and ``--embed-tweets`` of the pool's tweets (a fixed sample)."""
    import torch  # noqa: PLC0415
    from transformers import AutoTokenizer  # noqa: PLC0415

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import study_finetune  # noqa: PLC0415

    torch.set_num_threads(THREADS)
    texts, labels, _ = load_pool(args)
    rng = np.random.default_rng(SEED)
    tweets = np.flatnonzero(labels < 0)
    chosen = np.sort(np.r_[np.flatnonzero(labels >= 0),
                           rng.choice(tweets, size=min(args.embed_tweets, len(tweets)),
                                      replace=False)])
    model = study_finetune.load_tuned(args.teacher)
    tok = AutoTokenizer.from_pretrained(str(study_finetune.base_dir()))
    order = chosen[np.argsort([len(texts[i]) for i in chosen], kind="stable")]
    vectors = np.zeros((len(texts), 384), dtype=np.float32)
    start = time.perf_counter()
    with torch.no_grad():
        for b in range(0, len(order), 64):
            idx = order[b:b + 64]
            enc = tok([texts[i] for i in idx], truncation=True, max_length=MAX_LEN,
                      padding=True, return_tensors="pt")
            hidden = model.encoder(input_ids=enc["input_ids"],
                                   attention_mask=enc["attention_mask"],
                                   token_type_ids=torch.zeros_like(enc["input_ids"])
                                   ).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            vectors[idx] = ((hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)).numpy()
    seconds = time.perf_counter() - start
    np.save(folder(args) / "teacher_embedding.npy", vectors)
    np.save(folder(args) / "teacher_embedding_rows.npy", chosen)
    return {"rows": len(chosen), "seconds": round(seconds, 1),
            "texts_per_s": round(len(chosen) / seconds), "tweets": args.embed_tweets}


# -- (a) the semantic head on the teacher's probabilities -----------------------------------
def soft_head(vectors: np.ndarray, p: np.ndarray, C: float) -> LogisticRegression:  # noqa: N803
    """Logistic regression to soft targets: every row as a 1 weighted P and a 0 weighted 1-P."""
    x = np.vstack([vectors, vectors])
    y = np.r_[np.ones(len(p)), np.zeros(len(p))]
    return LogisticRegression(C=C, max_iter=3000).fit(x, y, sample_weight=np.r_[p, 1 - p])


def soft_fit_semantic(pool_texts: list[str], teacher: np.ndarray, C: float) -> Callable[..., Any]:  # noqa: N803
    """A stand-in for ``classifiers.train.fit_semantic``: the head learns the teacher's
    probabilities on the pool; the stacking learns from out-of-fold logits on the training
    rows (each fold's rows left out of the pool its head was fitted on)."""
    from classifiers.semantic import SemanticHead  # noqa: PLC0415
    from classifiers.train import logit  # noqa: PLC0415

    def fit(encoder: Any, texts: list[str], y: np.ndarray, linear_oof: np.ndarray,
            folds: int = 5) -> tuple[Any, np.ndarray]:
        vectors = encoder.encode(pool_texts)
        index = {t.strip(): i for i, t in enumerate(pool_texts)}
        where = np.asarray([index.get(t.strip(), -1) for t in texts])
        print(f"   soft head: {int((where >= 0).sum())} of {len(texts)} training rows in the "
              f"pool of {len(pool_texts)}", flush=True)
        rows = encoder.encode(texts)
        sem_oof = np.zeros(len(y))
        cv = StratifiedKFold(folds, shuffle=True, random_state=0)
        for k, (_, test) in enumerate(cv.split(rows, y)):
            keep = np.ones(len(pool_texts), dtype=bool)
            keep[where[test][where[test] >= 0]] = False
            sem_oof[test] = soft_head(vectors[keep], teacher[keep], C).predict_proba(
                rows[test])[:, 1]
            print(f"   soft head: fold {k + 1}/{folds}", flush=True)
        stack_x = np.c_[logit(linear_oof), logit(sem_oof)]
        stacker = LogisticRegression(max_iter=1000).fit(stack_x, y)
        fitted = soft_head(vectors, teacher, C)
        sem = SemanticHead(
            fitted.coef_[0], float(fitted.intercept_[0]),
            (float(stacker.coef_[0][0]), float(stacker.coef_[0][1]),
             float(stacker.intercept_[0])))
        return sem, np.asarray(stacker.predict_proba(stack_x)[:, 1], dtype=np.float64)

    return fit


# -- (b) the per-piece table learned from the teacher ---------------------------------------
def table(args: argparse.Namespace) -> dict[str, Any]:
    import torch  # noqa: PLC0415
    from torch import nn  # noqa: PLC0415
    from torch.nn import functional as F  # noqa: N812, PLC0415

    torch.set_num_threads(THREADS)
    torch.manual_seed(SEED)
    rng = np.random.default_rng(SEED)
    texts, labels, teacher = load_pool(args)
    enc = semantic.StaticEncoder(artifacts_dir())
    stored = np.load(artifacts_dir() / semantic.TABLE_FILE, allow_pickle=False)
    clipped = [semantic._HANDLE.sub(" ", t[:semantic.MAX_CHARS]) for t in texts]
    ids = [np.asarray(e.ids, dtype=np.int64)
           for e in enc.tokenizer.encode_batch(clipped, add_special_tokens=False)]
    base = torch.from_numpy(enc.table)  # (vocab, dims), float32
    weights = torch.from_numpy(enc.weights)
    # only pieces in at least ``--min-count`` pool texts may move: a rarer piece mostly
    # names one training row, and moving it would learn that row's label, not a meaning
    counts = np.zeros(base.shape[0], dtype=np.int64)
    for row in ids:
        counts[np.unique(row)] += 1
    movable = counts >= args.min_count
    pad = base.shape[0]  # the row every frozen piece looks up in D: zero, never trained
    delta_ids = [np.where(movable[row], row, pad) for row in ids]
    delta = nn.Embedding(base.shape[0] + 1, base.shape[1], sparse=True, padding_idx=pad)
    nn.init.zeros_(delta.weight)
    # the head starts where least squares on the shipped vectors puts the teacher's logits
    target = np.log(np.clip(teacher, 1e-4, 1 - 1e-4) / (1 - np.clip(teacher, 1e-4, 1 - 1e-4)))
    x0 = np.c_[enc.encode(texts), np.ones(len(texts))]
    sol = np.linalg.lstsq(x0, target, rcond=None)[0]
    lin = nn.Linear(base.shape[1], 1)
    with torch.no_grad():
        lin.weight.copy_(torch.from_numpy(sol[:-1][None, :].astype(np.float32)))
        lin.bias.fill_(float(sol[-1]))
    # --emb-weight: also the teacher's meaning vector, through a learned 384x384 map (the
    # fine-tuned space is not the static one), cosine loss
    proj = nn.Linear(base.shape[1], base.shape[1])
    has_emb = torch.zeros(len(texts), dtype=torch.bool)
    emb = torch.zeros((len(texts), base.shape[1]))
    if args.emb_weight > 0:
        rows = np.load(folder(args) / "teacher_embedding_rows.npy")
        has_emb[torch.from_numpy(rows)] = True
        emb = F.normalize(torch.from_numpy(np.load(folder(args) / "teacher_embedding.npy")),
                          dim=1)
    opt_table = torch.optim.SparseAdam(list(delta.parameters()), lr=args.lr)
    opt_head = torch.optim.Adam([*lin.parameters(), *proj.parameters()], lr=1e-3)
    soft = torch.from_numpy(teacher.astype(np.float32))
    hard = torch.from_numpy(np.clip(labels, 0, 1).astype(np.float32))
    known = torch.from_numpy(labels >= 0)

    def forward(idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        flat = torch.from_numpy(np.concatenate([ids[i] for i in idx]))
        moved = torch.from_numpy(np.concatenate([delta_ids[i] for i in idx]))
        offsets = torch.from_numpy(np.r_[0, np.cumsum([len(ids[i]) for i in idx])[:-1]])
        w = weights[flat]
        v = F.embedding_bag(flat, base, offsets, mode="sum", per_sample_weights=w)
        v = v + F.embedding_bag(moved, delta.weight, offsets, mode="sum", per_sample_weights=w,
                                sparse=True, padding_idx=pad)
        v = v / v.norm(dim=1, keepdim=True).clamp(min=1e-8)
        forward.vectors = v  # type: ignore[attr-defined]
        return lin(v).squeeze(-1), moved

    # --tweets-only: the training rows stay out, so the build's out-of-fold figures on them
    # are not read through a table that has already learned them
    usable = np.asarray([i for i in range(len(texts))
                         if len(ids[i]) and not (args.tweets_only and labels[i] >= 0)])
    bce = nn.BCEWithLogitsLoss(reduction="none")
    start = time.perf_counter()
    history = []
    for epoch in range(args.epochs):
        total = 0.0
        order = rng.permutation(usable)
        for b in range(0, len(order), args.batch):
            idx = order[b:b + args.batch]
            out, flat = forward(idx)
            t = torch.from_numpy(idx)
            loss = bce(out, soft[t]).mean()
            k = known[t]
            if args.alpha > 0 and bool(k.any()):
                loss = loss + args.alpha * bce(out[k], hard[t][k]).mean()
            e = has_emb[t]
            if args.emb_weight > 0 and bool(e.any()):
                mapped = F.normalize(proj(forward.vectors[e]), dim=1)  # type: ignore[attr-defined]
                loss = loss + args.emb_weight * (1 - (mapped * emb[t][e]).sum(1)).mean()
            pieces = torch.unique(flat)
            pieces = pieces[pieces != pad]
            loss = loss + args.reg * F.embedding(pieces, delta.weight, sparse=True).pow(2).sum(
                1).mean()
            opt_table.zero_grad()
            opt_head.zero_grad()
            loss.backward()
            opt_table.step()
            opt_head.step()
            total += loss.item() * len(idx)
        history.append(round(total / len(order), 4))
        print(f"   table: epoch {epoch + 1} loss {history[-1]} "
              f"{time.perf_counter() - start:.0f}s", flush=True)
    learned = (base + delta.weight.detach()[:pad]).numpy()
    changed = np.linalg.norm(delta.weight.detach().numpy()[:pad], axis=1)
    out_dir = folder(args) / args.name
    out_dir.mkdir(parents=True, exist_ok=True)
    student = np.vstack([stored[:1], learned.T]).astype(np.float16)
    path = out_dir / semantic.TABLE_FILE
    np.save(path, student, allow_pickle=False)
    return {"variant": args.name, "epochs": args.epochs, "lr": args.lr, "reg": args.reg,
            "alpha": args.alpha, "batch": args.batch, "min_count": args.min_count, "seed": SEED,
            "tweets_only": args.tweets_only, "rows_trained_on": len(usable),
            "emb_weight": args.emb_weight,
            "pieces_movable": int(movable.sum()),
            "train_seconds": round(time.perf_counter() - start, 1), "loss": history,
            "pieces_changed": int((changed > 1e-6).sum()),
            "mean_change_of_changed_piece": round(float(changed[changed > 1e-6].mean()), 4),
            "mean_norm_of_shipped_piece": round(float(np.linalg.norm(enc.table, axis=1).mean()), 4),
            "table": str(path), "table_sha256": sha256(path)}


# -- the real build on a variant ------------------------------------------------------------
def build_variant(args: argparse.Namespace) -> dict[str, Any]:
    from classifiers import build, card, train  # noqa: PLC0415
    from classifiers.build import split_shared  # noqa: PLC0415

    try:
        import profanity_check  # noqa: F401, PLC0415
    except ImportError:
        # the build would quietly fit other features without it (classifiers.features)
        sys.exit("alt-profanity-check is missing: run the build part with the project's venv "
                 "(.venv/bin/python), not the torch venv")
    name = args.variant
    source = artifacts_dir() / semantic.TABLE_FILE
    if name not in ("shipped", "head"):
        source = folder(args) / name / semantic.TABLE_FILE
    soft = name == "head" or args.soft_head
    out = folder(args) / name / ("build-soft-head" if args.soft_head else "build")

    def encoder(where: Path, corpus: list[str]) -> semantic.StaticEncoder:
        where.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(artifacts_dir() / semantic.TOKENIZER_FILE, where / semantic.TOKENIZER_FILE)
        shutil.copyfile(source, where / semantic.TABLE_FILE)
        return semantic.StaticEncoder(where)

    build.semantic_encoder = encoder  # type: ignore[assignment]
    write_card = card.write_card
    card.write_card = lambda c, path: write_card(c, out / "MODEL_CARD.md")  # type: ignore[assignment]
    if soft:
        texts, _, teacher = load_pool(args)
        train.fit_semantic = soft_fit_semantic(texts, teacher, args.C)  # type: ignore[assignment]
    start = time.perf_counter()
    result = build.build(args.shared, out)
    seconds = time.perf_counter() - start
    ev = result["evaluation"]
    model_scores = None
    try:
        from classifiers.store import load  # noqa: PLC0415

        model = load(out / "triage.joblib")
        texts, y = evaluation_set(split_shared(args.shared))
        model_scores = np.asarray([s.actionable for s in model.score(texts)])
        np.save(out / "eval_scores.npy", model_scores)
    except Exception as exc:  # noqa: BLE001 - the figures below come from the card anyway
        print(f"   could not rescore: {exc}", flush=True)
    summary = {"variant": name, "table_sha256": sha256(source), "soft_head": soft,
               "build_seconds": round(seconds, 1),
               "operating_point": result["operating_point"],
               "ranking": ev["ranking_shipped"], "ranking_linear_only": ev["ranking_linear_only"],
               "recall": ev["all"]["recall"], "recall_ticket": ev["all"]["recall_ticket"],
               "false_alarm_all": ev["all"]["false_alarm"],
               "false_alarm_general": ev["general"]["false_alarm"],
               "general_review_share": ev["general"]["review_share"],
               "ibm_recall": ev["ibm"]["recall"],
               "brand_directed_non_actionable": ev["brand_directed_non_actionable"],
               "hurtful_offensive_val": result["held_out"]["hurtful_offensive_val"],
               "oof_training_actionable": result["oof_training"]["actionable"]}
    teacher_eval = folder(args) / "teacher_eval.npy"
    if model_scores is not None and teacher_eval.is_file():
        texts, y = evaluation_set(split_shared(args.shared))
        summary["average_with_teacher"] = ranking(y, (model_scores + np.load(teacher_eval)) / 2)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["label", "embed", "table", "build"])
    parser.add_argument("--shared", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="results folder")
    parser.add_argument("--teacher", type=Path, default=Path("/work/ft-artifacts/actionable"))
    parser.add_argument("--variant", default="shipped", help="build: shipped, head or a table")
    parser.add_argument("--soft-head", action="store_true", help="build: also the soft head")
    parser.add_argument("--name", default="table", help="table: the variant's name")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--reg", type=float, default=1.0)
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--min-count", type=int, default=1, help="table: texts a piece must be "
                        "in to move")
    parser.add_argument("--tweets-only", action="store_true",
                        help="table: learn from the pool's tweets only, not the training rows")
    parser.add_argument("--emb-weight", type=float, default=0.0,
                        help="table: weight of the teacher's meaning vector (run embed first)")
    parser.add_argument("--embed-tweets", type=int, default=6000, help="embed: tweets to embed")
    parser.add_argument("--C", type=float, default=16.0, help="the soft head's C")
    args = parser.parse_args(argv)
    fn = {"label": label, "embed": embed, "table": table,
          "build": build_variant}[args.part]
    result = fn(args)
    result["command"] = " ".join(["python bench/study_distill.py", *sys.argv[1:]])
    result["load_average_after"] = [round(v, 2) for v in os.getloadavg()]
    if args.part == "build":
        name = "build-" + args.variant + ("-soft-head" if args.soft_head else "")
    else:
        name = args.name if args.part == "table" else args.part
    out = folder(args) / f"{name}.json"
    out.write_text(json.dumps(result, indent=2) + "\n", "utf-8")
    print(json.dumps(result, indent=1), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
