"""Features for normalized posts: fast word and character n-grams, and a few lexicon scores.

Both transformers take the strings that ``classifiers.normalize`` makes (space-separated
tokens) and follow the scikit-learn estimator contract.

``SocialVectorizer`` is tf-idf over word n-grams plus character n-grams inside each word
(like ``TfidfVectorizer(analyzer="char_wb")``), but it caches, per distinct token, the
column indices of that token's character n-grams, so transforming a batch costs a few dict
look-ups per token instead of re-slicing every word: several times faster than two stock
vectorizers, which is what keeps the hurtful gate above 50k texts/s.

``LexiconFeatures`` adds dense columns: a VADER-style sentiment score computed from the
VADER lexicon (negation aware, via the ``_neg`` tokens), a profanity score (word weights
taken from alt-profanity-check's linear model when it is installed at fit time), the
sensitive-moment lexicon, and shape cues (question mark, exclamations, shouting, links,
addressed to a handle, length).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from classifiers.normalize import NEG_SUFFIX
from classifiers.sensitive import load_sensitive

_CACHE_LIMIT = 200_000


def _strip_neg(tok: str) -> str:
    return tok[: -len(NEG_SUFFIX)] if tok.endswith(NEG_SUFFIX) else tok


def char_grams(token: str, lo: int, hi: int) -> list[str]:
    """Character n-grams of one token padded with spaces (``char_wb`` style)."""
    padded = f" {_strip_neg(token)} "
    n_chars = len(padded)
    return [padded[i : i + n] for n in range(lo, hi + 1) for i in range(n_chars - n + 1)]


def _block(
    flat: list[int], ends: list[int], n_cols: int, idf: np.ndarray, sublinear: bool
) -> sp.csr_matrix:
    """CSR tf-idf rows, l2-normalized, from column ids (``ends``: cumulative row ends)."""
    n_rows = len(ends)
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    indptr[1:] = ends
    indices = np.asarray(flat, dtype=np.int32)
    data = np.ones(len(indices), dtype=np.float64)
    m = sp.csr_matrix((data, indices, indptr), shape=(n_rows, n_cols))
    m.sum_duplicates()
    if sublinear:
        np.log(m.data, out=m.data)
        m.data += 1.0
    m.data *= idf[m.indices]
    counts = np.diff(m.indptr)
    rows = np.repeat(np.arange(n_rows), counts)
    sq = np.bincount(rows, weights=m.data**2, minlength=n_rows)
    norms = np.sqrt(sq)
    norms[norms == 0] = 1.0
    m.data /= np.repeat(norms, counts)
    return m


class SocialVectorizer(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Tf-idf of word n-grams and in-word character n-grams, each block l2-normalized."""

    def __init__(
        self,
        word_ngram_range: tuple[int, int] = (1, 2),
        char_ngram_range: tuple[int, int] = (2, 5),
        min_df: int = 2,
        max_word_features: int | None = None,
        max_char_features: int | None = None,
        sublinear_tf: bool = True,
        char_weight: float = 1.0,
    ) -> None:
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.min_df = min_df
        self.max_word_features = max_word_features
        self.max_char_features = max_char_features
        self.sublinear_tf = sublinear_tf
        self.char_weight = char_weight

    # -- fitting -------------------------------------------------------------------------
    def _word_grams(self, toks: list[str]) -> list[str]:
        lo, hi = self.word_ngram_range
        grams = list(toks) if lo <= 1 <= hi else []
        for n in range(max(lo, 2), hi + 1):
            grams.extend(" ".join(toks[i : i + n]) for i in range(len(toks) - n + 1))
        return grams

    def _select(self, df: Counter[str], limit: int | None) -> dict[str, int]:
        kept = [(g, c) for g, c in df.items() if c >= self.min_df]
        if limit is not None and len(kept) > limit:
            kept.sort(key=lambda gc: (-gc[1], gc[0]))
            kept = kept[:limit]
        return {g: i for i, (g, _) in enumerate(sorted(kept))}

    def fit(self, X: Iterable[str], y: object = None) -> SocialVectorizer:  # noqa: N803
        docs = list(X)
        lo, hi = self.char_ngram_range
        df_word: Counter[str] = Counter()
        df_char: Counter[str] = Counter()
        token_grams: dict[str, list[str]] = {}
        for doc in docs:
            toks = doc.split()
            df_word.update(set(self._word_grams(toks)))
            chars: set[str] = set()
            for tok in set(toks):
                grams = token_grams.get(tok)
                if grams is None:
                    grams = token_grams[tok] = char_grams(tok, lo, hi)
                chars.update(grams)
            df_char.update(chars)
        self.vocabulary_word_ = self._select(df_word, self.max_word_features)
        self.vocabulary_char_ = self._select(df_char, self.max_char_features)
        n = len(docs)
        self.idf_word_ = self._idf(df_word, self.vocabulary_word_, n)
        self.idf_char_ = self._idf(df_char, self.vocabulary_char_, n)
        self.n_features_in_ = 1
        self._cache: dict[str, list[int]] = {}
        return self

    @staticmethod
    def _idf(df: Counter[str], vocab: dict[str, int], n: int) -> np.ndarray:
        idf = np.empty(len(vocab))
        for g, i in vocab.items():
            idf[i] = math.log((1 + n) / (1 + df[g])) + 1.0
        return idf

    # -- transforming --------------------------------------------------------------------
    def _char_ids(self, tok: str) -> list[int]:
        cache = self.__dict__.setdefault("_cache", {})
        ids = cache.get(tok)
        if ids is None:
            if len(cache) > _CACHE_LIMIT:
                cache.clear()
            vocab = self.vocabulary_char_
            lo, hi = self.char_ngram_range
            ids = cache[tok] = [vocab[g] for g in char_grams(tok, lo, hi) if g in vocab]
        return list(ids)

    def transform(self, X: Iterable[str]) -> sp.csr_matrix:  # noqa: N803
        check_is_fitted(self, "vocabulary_word_")
        vw = self.vocabulary_word_
        lo, hi = self.word_ngram_range
        cache = self.__dict__.setdefault("_cache", {})
        w_flat: list[int] = []
        c_flat: list[int] = []
        w_ends: list[int] = []
        c_ends: list[int] = []
        bigrams_only = lo <= 1 and hi == 2  # the common case, kept tight
        for doc in X:
            toks = doc.split()
            for tok in toks:
                ids = cache.get(tok)
                c_flat.extend(ids if ids is not None else self._char_ids(tok))
            if bigrams_only:
                w_flat.extend([vw[t] for t in toks if t in vw])
                w_flat.extend(
                    [vw[g] for g in map(" ".join, zip(toks, toks[1:], strict=False)) if g in vw]
                )
            else:
                w_flat.extend([vw[g] for g in self._word_grams(toks) if g in vw])
            w_ends.append(len(w_flat))
            c_ends.append(len(c_flat))
        words = _block(w_flat, w_ends, len(vw), self.idf_word_, self.sublinear_tf)
        chars = _block(
            c_flat, c_ends, len(self.vocabulary_char_), self.idf_char_, self.sublinear_tf
        )
        if self.char_weight != 1.0:
            chars.data *= self.char_weight
        return sp.hstack([words, chars], format="csr")

    @property
    def n_word_features_(self) -> int:
        return len(self.vocabulary_word_)

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        names = np.empty(len(self.vocabulary_word_) + len(self.vocabulary_char_), dtype=object)
        for g, i in self.vocabulary_word_.items():
            names[i] = "w:" + g
        off = len(self.vocabulary_word_)
        for g, i in self.vocabulary_char_.items():
            names[off + i] = "c:" + g
        return names

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        state.pop("_cache", None)
        return state


def profanity_weights(min_weight: float = 1.0) -> dict[str, float]:
    """Word -> weight in (0, 1] from alt-profanity-check's model, or {} if not installed."""
    try:
        from profanity_check import profanity_check as pc  # noqa: PLC0415
    except Exception:  # noqa: BLE001 - optional dependency, any import failure means "absent"
        return {}
    coef = np.mean([c.estimator.coef_[0] for c in pc.model.calibrated_classifiers_], axis=0)
    names = pc.vectorizer.get_feature_names_out()
    top = float(coef.max())
    return {str(names[i]): float(coef[i] / top) for i in np.flatnonzero(coef >= min_weight)}


def vader_lexicon() -> dict[str, float]:
    """VADER's word valences (-4..4)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer  # noqa: PLC0415

    return dict(SentimentIntensityAnalyzer().lexicon)


LEXICON_COLUMNS = (
    "sentiment",
    "positive",
    "negative",
    "profanity",
    "profanity_count",
    "sensitive",
    "question",
    "exclaim",
    "shout",
    "link",
    "addressed",
    "length",
)


class LexiconFeatures(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Dense lexicon and shape columns (see ``LEXICON_COLUMNS``); ``use_profanity`` may be off."""

    def __init__(self, use_profanity: bool = True) -> None:
        self.use_profanity = use_profanity

    def fit(self, X: object = None, y: object = None) -> LexiconFeatures:  # noqa: N803
        table: dict[str, list[float]] = {}
        for word, valence in vader_lexicon().items():
            if " " not in word:
                table.setdefault(word, [0.0, 0.0, 0.0])[0] = valence
        if self.use_profanity:
            for word, weight in profanity_weights().items():
                table.setdefault(word, [0.0, 0.0, 0.0])[1] = weight
        for word, weight in load_sensitive().items():
            if " " not in word:
                table.setdefault(word, [0.0, 0.0, 0.0])[2] = weight
        self.table_ = {w: (v[0], v[1], v[2]) for w, v in table.items()}
        self.phrases_ = {p: w for p, w in load_sensitive().items() if " " in p}
        self.phrase_heads_ = frozenset(p.split()[0] for p in self.phrases_)
        self.n_features_in_ = 1
        return self

    def lookup(self, tok: str) -> tuple[float, float, float, bool]:
        """(valence, profanity, sensitive, negated) for one normalized token."""
        negated = tok.endswith(NEG_SUFFIX)
        hit = self.table_.get(_strip_neg(tok) if negated else tok)
        if hit is None:
            return 0.0, 0.0, 0.0, negated
        return hit[0], hit[1], hit[2], negated

    def transform(self, X: Iterable[str]) -> np.ndarray:  # noqa: N803
        check_is_fitted(self, "table_")
        rows = []
        table = self.table_
        phrases = self.phrases_
        for doc in X:
            toks = doc.split()
            pos = neg = prof = n_prof = sens = 0.0
            for tok in toks:
                hit = table.get(tok)
                if hit is None and tok.endswith(NEG_SUFFIX):
                    base = table.get(tok[: -len(NEG_SUFFIX)])
                    hit = (-0.74 * base[0], base[1], base[2]) if base else None
                if hit is None:
                    continue
                if hit[0] > 0:
                    pos += hit[0]
                else:
                    neg -= hit[0]
                if hit[1] > 0:
                    n_prof += 1
                    prof = max(prof, hit[1])
                sens = max(sens, hit[2])
            if phrases and len(toks) > 1 and not self.phrase_heads_.isdisjoint(toks):
                bare = " ".join(_strip_neg(t) for t in toks)
                for phrase, w in phrases.items():
                    if w > sens and phrase in bare:
                        sens = w
            total = pos - neg
            rows.append(
                (
                    total / math.sqrt(total * total + 15.0),
                    pos / (pos + 4.0),
                    neg / (neg + 4.0),
                    prof,
                    min(n_prof, 3.0) / 3.0,
                    sens,
                    1.0 if "?" in toks else 0.0,
                    min(toks.count("!"), 3) / 3.0,
                    min(toks.count("xcaps"), 3) / 3.0,
                    1.0 if "xurl" in toks else 0.0,
                    1.0 if toks[:1] == ["xuser"] else 0.0,
                    min(len(toks), 60) / 60.0,
                )
            )
        return np.asarray(rows, dtype=np.float64).reshape(-1, len(LEXICON_COLUMNS))

    def get_feature_names_out(self, input_features: object = None) -> np.ndarray:
        return np.asarray(["x:" + c for c in LEXICON_COLUMNS], dtype=object)


class UsedColumns(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Keep only the columns that are non-zero somewhere in the training matrix.

    The vocabulary is fitted on more text than one head sees; liblinear's cost grows with
    the column count, so dropping never-seen columns makes fitting many times faster
    without changing the fitted model.
    """

    def fit(self, X: sp.spmatrix, y: object = None) -> UsedColumns:  # noqa: N803
        self.columns_ = np.unique(sp.csr_matrix(X).indices)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X: sp.spmatrix) -> sp.csr_matrix:  # noqa: N803
        check_is_fitted(self, "columns_")
        return sp.csr_matrix(X)[:, self.columns_]
