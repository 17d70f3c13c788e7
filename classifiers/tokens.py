"""Token-additive tf-idf features: word 1-2-grams, in-word character 2-5-grams, lexicon sums.

``TokenFeatures`` is the front end of every head. Its feature map is chosen so that a
linear model on it can be evaluated from a per-token table:

- each token occurrence contributes a word vector (its unigram's idf) and a character
  vector (the idf of each of its distinct ``char_wb`` n-grams); each adjacent pair in the
  vocabulary contributes its bigram's idf;
- each block (word, char) of a post is the sum of its occurrences' vectors divided by the
  square root of the sum of their squared norms (an l2 normalization that treats tokens as
  orthogonal), so ``w . x = sum(w . v_t) / sqrt(sum |v_t|^2)``;
- three lexicon columns (VADER valence, profanity weight from alt-profanity-check) are sums
  over tokens, squashed after summing.

So scoring a post costs one dict look-up per whitespace-separated chunk, then a few
vectorized operations per batch (bigrams are found by their two tokens' row ids, one
``searchsorted``) and one sparse matrix product (``TokenTable``), instead of building
n-gram strings for every post. ``transform`` builds the same features as a sparse matrix,
for fitting and for any scikit-learn use.

Tokens are lowercased words in any script (apostrophes dropped: ``can't`` -> ``cant``),
``!``, ``?``, ``#`` and emoji (``emo_<unicode name>``). A handle gives two tokens, the
handle itself and ``@user`` (a brand handle is a feature where it was seen; any other
handle is just ``@user``, which also forms the bigram with the next word); a link is
``xurl``; 4+ digit numbers are ``xnum``; letters repeated 3+ times are cut to two.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from functools import lru_cache
from itertools import chain

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted

from classifiers.normalize import MAX_CHARS

TOKEN = re.compile(
    r"@\w+|(?:https?://|www\.)\S+|[^\W_]+(?:['\u2019][^\W_]+)*|[!?#]"
    "|[\U0001f300-\U0001faff\u2600-\u27bf]"
)
_ELONG = re.compile(r"(\w)\1\1+")
_CACHE_LIMIT = 200_000
_KEY = 1 << 31  # bigram key: row(a) * _KEY + row(b)
LEXICON = ("valence_pos", "valence_neg", "profanity")
# dense columns made from the lexicon sums (see ``dense_columns``)
DENSE = ("sentiment", "positive", "negative", "profanity")


def safe_text(text: object) -> str:
    """Any input as a bounded ``str`` (``None`` -> ``""``, bytes decoded, cut to MAX_CHARS)."""
    if isinstance(text, str):
        return text[:MAX_CHARS]
    if text is None:
        return ""
    if isinstance(text, bytes):
        return text[: MAX_CHARS * 4].decode("utf-8", errors="replace")[:MAX_CHARS]
    return str(text)[:MAX_CHARS]


@lru_cache(maxsize=1 << 16)
def canonical(raw: str) -> tuple[str, ...]:
    """The token(s) one raw (lowercased) match stands for."""
    if len(raw) == 1 and not raw.isalnum() and raw not in "!?#":
        name = unicodedata.name(raw, "")
        return ("emo_" + re.sub(r"[^a-z]+", "_", name.lower()).strip("_"),) if name else ("emo",)
    if raw[0] == "@":
        return (raw, "@user") if len(raw) > 1 else ("@user",)
    if raw.startswith(("http", "www")) and len(raw) > 4:
        return ("xurl",)
    tok = raw.replace("'", "").replace("\u2019", "")
    if tok.isdigit() and len(tok) >= 4:
        return ("xnum",)
    return (_ELONG.sub(r"\1\1", tok),)


def tokens(text: object) -> list[str]:
    """The canonical token list of one post (the features' view of it)."""
    out: list[str] = []
    for raw in TOKEN.findall(safe_text(text).lower()):
        out.extend(canonical(raw))
    return out


def char_grams(token: str, lo: int, hi: int) -> set[str]:
    """Distinct character n-grams of one token padded with spaces (``char_wb`` style)."""
    padded = f" {token} "
    n = len(padded)
    return {padded[i : i + k] for k in range(lo, hi + 1) for i in range(n - k + 1)}


def dense_columns(sums: np.ndarray) -> np.ndarray:
    """Squash the lexicon sums (columns of ``LEXICON``) into the ``DENSE`` features."""
    pos, neg, prof = sums[:, 0], sums[:, 1], sums[:, 2]
    total = pos - neg
    return np.column_stack(
        [total / np.sqrt(total * total + 15.0), pos / (pos + 4.0), neg / (neg + 4.0),
         np.minimum(prof, 3.0) / 3.0]
    )


class TokenFeatures(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Word 1-2-gram and char_wb n-gram tf-idf plus lexicon columns, token-additive.

    Columns: word unigrams and bigrams, then char n-grams, then ``DENSE``.
    """

    def __init__(
        self,
        char_ngram_range: tuple[int, int] = (2, 5),
        min_df: int = 2,
        bigrams: bool = True,
        lexicon: bool = True,
    ) -> None:
        self.char_ngram_range = char_ngram_range
        self.min_df = min_df
        self.bigrams = bigrams
        self.lexicon = lexicon

    # -- fitting ---------------------------------------------------------------------------
    def fit(self, X: Iterable[object], y: object = None) -> TokenFeatures:  # noqa: N803
        docs = [tokens(t) for t in X]
        lo, hi = self.char_ngram_range
        df_word: Counter[str] = Counter()
        df_char: Counter[str] = Counter()
        grams: dict[str, set[str]] = {}
        for toks in docs:
            seen = set(toks)
            if self.bigrams:
                seen.update(a + " " + b for a, b in zip(toks, toks[1:], strict=False))
            df_word.update(seen)
            chars: set[str] = set()
            for tok in set(toks):
                g = grams.get(tok)
                if g is None:
                    g = grams[tok] = char_grams(tok, lo, hi)
                chars |= g
            df_char.update(chars)
        n = len(docs)
        words = sorted(g for g, c in df_word.items() if c >= self.min_df)
        chars_kept = sorted(g for g, c in df_char.items() if c >= self.min_df)
        self.vocabulary_ = {g: i for i, g in enumerate(words)}
        self.char_vocabulary_ = {g: i for i, g in enumerate(chars_kept)}
        self.idf_ = np.array([math.log((1 + n) / (1 + df_word[g])) + 1.0 for g in words])
        self.char_idf_ = np.array(
            [math.log((1 + n) / (1 + df_char[g])) + 1.0 for g in chars_kept]
        )
        self.lexicon_ = _lexicon() if self.lexicon else {}
        self.n_features_in_ = 1
        return self

    @property
    def n_word_(self) -> int:
        return len(self.vocabulary_)

    @property
    def n_char_(self) -> int:
        return len(self.char_vocabulary_)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        check_is_fitted(self, "vocabulary_")
        names = np.empty(self.n_word_ + self.n_char_ + len(DENSE), dtype=object)
        for g, i in self.vocabulary_.items():
            names[i] = "w:" + g
        for g, i in self.char_vocabulary_.items():
            names[self.n_word_ + i] = "c:" + g
        names[self.n_word_ + self.n_char_ :] = ["x:" + d for d in DENSE]
        return names

    def __sklearn_tags__(self) -> Tags:
        # posts in, one per row (a 1-D sequence of strings), like scikit-learn's own
        # text vectorizers; its estimator checks on 2-D numeric arrays do not apply
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        return tags

    # -- one token type's vectors ----------------------------------------------------------
    def type_vectors(self, tok: str) -> tuple[list[int], list[float], list[int], list[float]]:
        """(word cols, word vals, char cols, char vals) of one token type (unigram or bigram)."""
        wc: list[int] = []
        wv: list[float] = []
        j = self.vocabulary_.get(tok)
        if j is not None:
            wc.append(j)
            wv.append(float(self.idf_[j]))
        if " " in tok:  # a bigram has no char part of its own
            return wc, wv, [], []
        vocab = self.char_vocabulary_
        lo, hi = self.char_ngram_range
        cc = sorted([vocab[g] for g in char_grams(tok, lo, hi) if g in vocab])
        return wc, wv, cc, self.char_idf_[cc].tolist()

    def transform(self, X: Iterable[object]) -> sp.csr_matrix:  # noqa: N803
        """The feature matrix (word block | char block | dense), for fitting and inspection."""
        check_is_fitted(self, "vocabulary_")
        table = TokenTable(self, np.zeros((self.n_word_ + self.n_char_ + len(DENSE), 0)))
        counts = table.counts(X)
        counts.sum_duplicates()
        vecs = table.type_matrix()
        word = counts @ vecs[:, : self.n_word_]
        char = counts @ vecs[:, self.n_word_ :]
        stats = np.asarray(counts @ table.stats[: table.size])
        blocks = [
            sp.diags(_inv_sqrt(stats[:, 0])) @ word,
            sp.diags(_inv_sqrt(stats[:, 1])) @ char,
            sp.csr_matrix(dense_columns(stats[:, 2:])),
        ]
        return sp.hstack(blocks, format="csr")


def _inv_sqrt(sq: np.ndarray) -> np.ndarray:
    out = np.zeros_like(sq, dtype=np.float64)
    np.divide(1.0, np.sqrt(sq), out=out, where=sq > 0)
    return out


def _lexicon() -> dict[str, tuple[float, float, float]]:
    from classifiers.features import profanity_weights, vader_lexicon  # noqa: PLC0415

    table: dict[str, list[float]] = {}
    for word, valence in vader_lexicon().items():
        if " " not in word:
            row = table.setdefault(word.replace("'", ""), [0.0, 0.0, 0.0])
            row[0 if valence > 0 else 1] = abs(valence)
    for word, weight in profanity_weights().items():
        table.setdefault(word, [0.0, 0.0, 0.0])[2] = weight
    return {w: (v[0], v[1], v[2]) for w, v in table.items()}


class _Chunks(dict[str, tuple[int, ...]]):
    """The chunk cache: a miss computes the chunk's ids."""

    def __init__(self, compute: Callable[[str], tuple[int, ...]]) -> None:
        super().__init__()
        self.compute = compute

    def __missing__(self, chunk: str) -> tuple[int, ...]:
        return self.compute(chunk)


class TokenTable:
    """Per token type: its statistics and its dot products with linear heads, in one array.

    Row ``i`` of ``stats`` is type ``i``: ``[|word|^2, |char|^2, pos, neg, profanity,
    head dots...]`` where the head dots are ``(word . w_k, char . w_k)`` for each column
    ``k`` of ``coef`` (shape: n_features x n_heads). Types are added on first sight and
    dropped (back to the fitted vocabulary) when more than ``_CACHE_LIMIT`` accumulate.
    """

    N_STATS = 5

    def __init__(
        self, features: TokenFeatures, coef: np.ndarray, extra_pairs: Iterable[str] = ()
    ) -> None:
        self.features = features
        # two-word phrases to find besides the vocabulary's bigrams (keyword rules): they get
        # a type of their own with no feature vector, so they change no margin
        self.extra_pairs = tuple(p for p in extra_pairs if p not in features.vocabulary_)
        nw, nc = features.n_word_, features.n_char_
        self.coef_word = np.ascontiguousarray(coef[:nw])
        self.coef_char = np.ascontiguousarray(coef[nw : nw + nc])
        self.n_heads = coef.shape[1]
        self.width = self.N_STATS + 2 * self.n_heads
        self._reset()

    def _reset(self) -> None:
        self.ids: dict[str, int] = {}  # token type -> row
        self.raw = _Chunks(self._chunk)  # whitespace chunk -> type ids
        self.names: list[str] = []
        self.vectors: list[tuple[list[int], list[float], list[int], list[float]]] = []
        self.stats = np.zeros((1024, self.width))
        self.size = 0
        # every word of a vocabulary bigram is a vocabulary word: give them all rows now,
        # so that a bigram is looked up by its two rows' ids (vectorized, see ``counts``)
        words = [g for g in self.features.vocabulary_ if " " not in g]
        for g in words:
            self._type(g)
        keys, ids = [], []
        for g in chain(self.features.vocabulary_, self.extra_pairs):
            if " " in g:
                a, b = g.split(" ")
                keys.append(self._type(a) * _KEY + self._type(b))
                ids.append(self._type(g))
        order = np.argsort(np.asarray(keys, dtype=np.int64))
        self.pair_keys = np.asarray(keys, dtype=np.int64)[order]
        self.pair_ids = np.asarray(ids, dtype=np.int64)[order]

    def _type(self, tok: str) -> int:
        i = self.ids.get(tok)
        if i is not None:
            return i
        wc, wv, cc, cv = vec = self.features.type_vectors(tok)
        i = self.size
        if i == len(self.stats):
            self.stats = np.concatenate([self.stats, np.zeros_like(self.stats)])
        row = self.stats[i]
        lex = self.features.lexicon_.get(tok)
        if lex is not None:
            row[2:5] = lex
        if wc:
            row[0] = wv[0] * wv[0]
            row[5::2] = wv[0] * self.coef_word[wc[0]]
        if cc:
            v = np.asarray(cv)
            row[1] = v @ v
            row[6::2] = v @ self.coef_char[cc]
        self.ids[tok] = i
        self.names.append(tok)
        self.vectors.append(vec)
        self.size += 1
        return i

    def _chunk(self, chunk: str) -> tuple[int, ...]:
        """One whitespace-separated chunk -> its tokens' type ids (cached)."""
        hit = self.raw[chunk] = tuple(
            self._type(t) for raw in TOKEN.findall(chunk) for t in canonical(raw)
        )
        return hit

    def counts(self, texts: Iterable[object]) -> sp.csr_matrix:
        """Posts x token types (occurrence counts, duplicates not summed), adding new types."""
        return self.counts_of(self.flat_ids(texts))

    def flat_ids(self, texts: Iterable[object]) -> np.ndarray:
        """The posts' token type ids in order, each post followed by -1, adding new types."""
        if len(self.raw) > _CACHE_LIMIT:
            self._reset()
        lookup = self.raw.__getitem__  # a miss calls ``_chunk`` (``_Chunks.__missing__``)
        flat: list[int] = []
        for text in texts:
            if type(text) is not str or len(text) > MAX_CHARS:
                text = safe_text(text)
            flat += chain.from_iterable(map(lookup, text.lower().split()))
            flat.append(-1)  # end of a post: no bigram across posts
        return np.asarray(flat, dtype=np.int64)

    def counts_of(self, ids: np.ndarray) -> sp.csr_matrix:
        """``counts`` from the ``flat_ids`` of the same posts."""
        end = ids < 0
        n = int(end.sum())
        row_of: np.ndarray = np.cumsum(end) - end
        rows: np.ndarray = row_of[~end]
        cols: np.ndarray = ids[~end]
        if self.features.bigrams and len(self.pair_keys) and len(ids) > 1:
            a, b = ids[:-1], ids[1:]
            ok = (a >= 0) & (b >= 0)
            keys = a[ok] * _KEY + b[ok]
            at = np.minimum(np.searchsorted(self.pair_keys, keys), len(self.pair_keys) - 1)
            hit = self.pair_keys[at] == keys
            rows = np.concatenate([rows, row_of[:-1][ok][hit]])
            cols = np.concatenate([cols, self.pair_ids[at[hit]]])
        order = np.argsort(rows, kind="stable")
        indptr = np.searchsorted(rows[order], np.arange(n + 1))
        return sp.csr_matrix(
            (np.ones(len(cols)), cols[order], indptr), shape=(n, max(self.size, 1))
        )

    def type_matrix(self) -> sp.csr_matrix:
        """Token types x features (word | char), the rows ``transform`` sums."""
        nw = self.features.n_word_
        rows, cols, vals = [], [], []
        for i, (wc, wv, cc, cv) in enumerate(self.vectors):
            rows.extend([i] * (len(wc) + len(cc)))
            cols.extend(wc)
            cols.extend(c + nw for c in cc)
            vals.extend(wv)
            vals.extend(cv)
        shape = (max(self.size, 1), nw + self.features.n_char_)
        return sp.csr_matrix((vals, (rows, cols)), shape=shape)

    def margins(self, counts: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        """(raw linear margins per head without dense terms or intercepts, lexicon sums)."""
        z = np.asarray(counts @ self.stats[: counts.shape[1]])
        inv_w = _inv_sqrt(z[:, 0])
        inv_c = _inv_sqrt(z[:, 1])
        m = z[:, 5::2] * inv_w[:, None] + z[:, 6::2] * inv_c[:, None]
        return m, z[:, :5]

    def pushes(self, counts: sp.csr_matrix, head: int, z: np.ndarray) -> np.ndarray:
        """Each (post, type) non-zero's push on head ``head``'s margin (aligned with data)."""
        rows = np.repeat(np.arange(counts.shape[0]), np.diff(counts.indptr))
        cols = counts.indices
        inv_w = _inv_sqrt(z[:, 0])[rows]
        inv_c = _inv_sqrt(z[:, 1])[rows]
        st = self.stats[cols]
        return np.asarray(counts.data * (st[:, 5 + 2 * head] * inv_w + st[:, 6 + 2 * head] * inv_c))
