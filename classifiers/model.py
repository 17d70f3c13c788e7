"""The shipped ``TriageModel``: one token table, three linear heads, reasons for each score.

``SocialTriageModel`` holds a fitted ``classifiers.tokens.TokenFeatures`` front end and three
linear heads on its columns: actionable (binary), hurtful (binary) and category
(multinomial). Because the features are token-additive, every head is evaluated from one
per-token table (``TokenTable``): a batch costs a dict look-up per token and pair, one
sparse product and a few vector operations. ``hurtful`` (the reply gate) skips everything
else. The sensitive-moment signal is the lexicon rule in ``classifiers.sensitive``.

Every ``score`` carries reasons: the words that pushed the actionable margin the way it was
decided (each word's push is its share of the margin: word and letter n-grams together),
the words behind a hurtful score, sensitive terms, the sentiment and the category.
``score`` and ``hurtful`` never raise: if a batch fails, each text is retried alone, and a
text that still fails gets the safe answer (hurtful 1.0, so nothing is posted and a human
looks).

Saving and loading live in ``classifiers.store``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, NamedTuple
from unicodedata import east_asian_width

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from classifiers.actionable import RULES
from classifiers.api import CATEGORIES, Scores
from classifiers.semantic import SemanticHead, StaticEncoder, logit, phrase
from classifiers.sensitive import load_sensitive, sensitive_score
from classifiers.tokens import DENSE, TokenFeatures, TokenTable, dense_columns, tokens

log = logging.getLogger(__name__)

_MARKERS = {
    "@user": "a @mention",
    "xurl": "a link",
    "xnum": "a long number",
    "#": "a hashtag",
    "?": "a question mark",
    "!": "an exclamation mark",
}
_QUIET = frozenset(ENGLISH_STOP_WORDS) | {"@user"}


def feature_label(name: str) -> str:
    """Human-readable name of a token type (``refund`` -> ``word 'refund'``)."""
    if name in _MARKERS:
        return _MARKERS[name]
    return f"words '{name}'" if " " in name else f"word '{name}'"


def _explainable(name: str) -> bool:
    """Worth naming as a reason: not only stop words or the generic @mention."""
    return any(t not in _QUIET for t in name.split(" "))


# Coverage (``Scores.coverage``): the share of a post's words the model learned from, by
# letters. Handles, links, numbers, emoji and hashtag words do not count; a word counts at
# most 10 narrow letters, a wide (CJK) letter two; a post with fewer than 12 letters of words
# counts as fully covered (one unknown name, "Mossad", is not a language the model cannot
# read). Below about a half the model is reading a language or jargon it was not trained on.
COVERAGE_MIN_LETTERS = 12
COVERAGE_MAX_PER_WORD = 10


def _letters(name: str) -> int:
    """How much one token type weighs in coverage (0: not a word)."""
    if " " in name or not _is_word(name):
        return 0
    wide = sum(1 for c in name if east_asian_width(c) in "WF")
    return min(len(name) - wide, COVERAGE_MAX_PER_WORD) + 2 * wide


def _is_word(name: str) -> bool:
    return not (name[0] in "@!?#" or name in ("xurl", "xnum") or name.startswith("emo_")
                or name.isdigit())


@lru_cache(maxsize=1)
def _sensitive_first_words() -> frozenset[str]:
    return frozenset(t.split()[0] for t in load_sensitive())


@lru_cache(maxsize=1)
def _first_rule() -> dict[str, int]:
    """Keyword (a bigram with a space) -> index of the first rule in RULES naming it."""
    first: dict[str, int] = {}
    for rank, (_, keys) in reversed(list(enumerate(RULES))):
        first.update({k.replace("_", " "): rank for k in keys})
    return first


class TypeInfo(NamedTuple):
    """Per token type of a table (aligned with its rows), grown as types are added."""

    explain: np.ndarray  # worth naming as a reason
    sens: np.ndarray  # the first word of a sensitive term
    rank: np.ndarray  # index in RULES of the first keyword rule naming it (len(RULES): none)
    letters: np.ndarray  # its weight in coverage (0: not a word)
    known: np.ndarray  # letters if the model learned the word, else 0
    names: list[str]  # the table's names list it was built for


RULE_INDEX = {category: i for i, (category, _) in enumerate(RULES)}


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0))), dtype=np.float64)


class LinearHead:
    """A fitted binary linear scorer: ``P = sigmoid(a * (X @ coef + b) + c)``.

    ``a, c`` are a Platt calibration of the raw margin (1, 0 when uncalibrated).
    """

    def __init__(self, coef: np.ndarray, intercept: float, a: float = 1.0, c: float = 0.0):
        self.coef = np.asarray(coef, dtype=np.float64).ravel()
        self.intercept = float(intercept)
        self.a = float(a)
        self.c = float(c)

    @classmethod
    def from_estimator(cls, est: Any) -> LinearHead:
        """From a fitted LogisticRegression, or a CalibratedClassifierCV(ensemble=False)."""
        if hasattr(est, "calibrated_classifiers_"):
            cal = est.calibrated_classifiers_[0]
            base = cal.estimator
            sig = cal.calibrators[0]
            # sklearn's _SigmoidCalibration: P = 1 / (1 + exp(a_ * f + b_))
            return cls(base.coef_[0], base.intercept_[0], -float(sig.a_), -float(sig.b_))
        return cls(est.coef_[0], est.intercept_[0])

    def proba_from_margin(self, margin: np.ndarray) -> np.ndarray:
        return _sigmoid(self.a * (margin + self.intercept) + self.c)

    def proba(self, X: Any) -> np.ndarray:  # noqa: N803
        return self.proba_from_margin(np.asarray(X @ self.coef).ravel())


class SoftmaxHead:
    """A fitted multinomial linear scorer: ``P = softmax(X @ coef.T + intercept)``."""

    def __init__(self, coef: np.ndarray, intercept: np.ndarray, classes: Sequence[str]):
        self.coef = np.asarray(coef, dtype=np.float64)
        self.intercept = np.asarray(intercept, dtype=np.float64)
        self.classes_ = np.asarray(classes, dtype=object)

    def proba_from_margin(self, z: np.ndarray) -> np.ndarray:
        z = z + self.intercept
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return np.asarray(e / e.sum(axis=1, keepdims=True))

    def predict_proba(self, X: Any) -> np.ndarray:  # noqa: N803
        return self.proba_from_margin(np.asarray(X @ self.coef.T))


class SocialTriageModel:
    """The project's ``TriageModel`` (see ``classifiers.api``)."""

    def __init__(
        self,
        features: TokenFeatures,
        actionable: LinearHead,
        hurtful: LinearHead,
        category: SoftmaxHead,
        operating_point: dict[str, Any],
        card: dict[str, Any],
        category_rules: bool = False,
        semantic: SemanticHead | None = None,
    ) -> None:
        self.features = features
        self.actionable_head = actionable
        self.hurtful_head = hurtful
        self.category_head = category
        self.operating_point = operating_point
        self.card = card
        # a matching keyword rule (``classifiers.actionable.RULES``) decides the category
        # before the head: on for the shipped model, off for a company's own categories
        self.category_rules = category_rules
        # the MiniLM half of the actionable judgement (``classifiers.semantic``); its files
        # sit beside the artifact and are attached by ``classifiers.store.load``
        self.semantic = semantic

    # -- the TriageModel protocol -----------------------------------------------------------
    def score(self, texts: Sequence[str]) -> list[Scores]:
        """Both judgements for a batch, with reasons; never raises."""
        try:
            return self._score(list(texts))
        except Exception:  # noqa: BLE001 - the contract: never raise on odd text
            log.exception("batch scoring failed; scoring texts one by one")
            return [self._score_one_safely(t) for t in texts]

    def hurtful(self, texts: Sequence[str]) -> list[float]:
        """P(hurtful) alone; a text that cannot be scored gets 1.0 (never posted)."""
        try:
            return [float(p) for p in self._hurtful(texts)]
        except Exception:  # noqa: BLE001
            log.exception("hurtful gate failed on a batch; scoring texts one by one")
            return [self._hurtful_one_safely(t) for t in texts]

    @property
    def thresholds(self) -> dict[str, float]:
        """The card's chosen thresholds (actionable, hurtful, sensitive)."""
        return {k: float(v) for k, v in self.operating_point.items() if isinstance(v, float)}

    # -- internals --------------------------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        # every "_" attribute is a cache rebuilt on first use; keeping one would freeze what it
        # was built from (the sensitive lexicon, the keyword rules) into the artifact
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        # artifacts saved before caches were left out may still carry some: drop them
        self.category_rules = False  # artifacts from before the flag
        self.semantic = None  # artifacts from before the semantic half
        self.__dict__.update({k: v for k, v in state.items() if not k.startswith("_")})

    def attach(self, folder: Path) -> None:
        """Load the semantic half's files from ``folder`` (checked by the caller)."""
        if self.semantic is not None:
            self._encoder = StaticEncoder(folder)
            self._folder = folder

    def encoder(self) -> StaticEncoder:
        enc: StaticEncoder | None = self.__dict__.get("_encoder")
        if enc is None:
            raise RuntimeError("the semantic half was not attached (load it with "
                               "classifiers.store.load)")
        return enc

    def _score_one_safely(self, text: object) -> Scores:
        try:
            return self._score([text])[0]
        except Exception as exc:  # noqa: BLE001
            log.exception("could not score one text")
            return Scores(
                0.5, 1.0, 0.0, "other", 0.0, (f"error: not scored ({type(exc).__name__})",)
            )

    def _hurtful_one_safely(self, text: object) -> float:
        try:
            return float(self._hurtful([text])[0])
        except Exception:  # noqa: BLE001
            return 1.0

    def table(self) -> TokenTable:
        """The per-token table of all heads (built on first use, not saved)."""
        table = self.__dict__.get("_table")
        if table is None:
            n = self.features.n_word_ + self.features.n_char_
            coef = np.column_stack(
                [self.actionable_head.coef[:n], self.hurtful_head.coef[:n],
                 self.category_head.coef[:, :n].T]
            )
            pairs = (
                [k.replace("_", " ") for _, keys in RULES for k in keys if "_" in k]
                if self.category_rules else []
            )
            table = self._table = TokenTable(self.features, coef, pairs)
            self._dense = np.column_stack(
                [self.actionable_head.coef[n:], self.hurtful_head.coef[n:],
                 self.category_head.coef[:, n:].T]
            )
        return table

    def _margins(
        self, texts: Sequence[object]
    ) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray]:
        table = self.table()
        ids = table.flat_ids(texts)
        counts = table.counts_of(ids)
        counts.sum_duplicates()  # one reason per word, however often it occurs
        m, z = table.margins(counts)
        dense = dense_columns(z[:, 2:5])
        return counts, m + dense @ self._dense, z, ids

    def _hurtful(self, texts: Sequence[object]) -> np.ndarray:
        table = self.table()
        counts = table.counts(texts)
        m, z = table.margins(counts)
        margin = m[:, 1] + dense_columns(z[:, 2:5]) @ self._dense[:, 1]
        return self.hurtful_head.proba_from_margin(margin)

    def _types(self, table: TokenTable) -> TypeInfo:
        """What the model knows of each token type of ``table``, grown with it."""
        info: TypeInfo | None = self.__dict__.get("_info")
        if info is None or info.names is not table.names or info.explain.size > table.size:
            none, empty = np.zeros(0, dtype=bool), np.zeros(0, dtype=np.int64)
            info = TypeInfo(none, none, empty, empty, empty, table.names)
        if info.explain.size < table.size:
            sens_words, first_rule = _sensitive_first_words(), _first_rule()
            vocab = self.features.vocabulary_
            new = table.names[info.explain.size : table.size]
            letters = [_letters(n) for n in new]
            added = (
                [_explainable(n) for n in new],
                [n in sens_words for n in new],
                [first_rule.get(n, len(RULES)) for n in new],
                letters,
                [k if n in vocab else 0 for n, k in zip(new, letters, strict=True)],
            )
            explain, sens, rank, weight, known = (
                np.concatenate([old, np.asarray(a, dtype=old.dtype)])
                for old, a in zip(info[:5], added, strict=True)
            )
            info = self._info = TypeInfo(explain, sens, rank, weight, known, table.names)
        return info

    def _rule_categories(
        self, counts: Any, table: TokenTable, actionable: np.ndarray
    ) -> list[tuple[str, str] | None]:
        """Per post: (category, keyword) of the first keyword rule that matches, or None."""
        ranks = self._types(table).rank
        n = counts.shape[0]
        rows = np.repeat(np.arange(n), np.diff(counts.indptr))
        cols = counts.indices
        r = ranks[cols]
        how, praise = RULE_INDEX["how_to"], RULE_INDEX["praise"]
        question = table.ids.get("?", -1)
        has_q = np.zeros(n, bool)
        has_q[rows[cols == question]] = True
        usable = (r < len(RULES)) & ((r != how) | has_q[rows]) & ((r != praise) | ~actionable[rows])
        best = np.full(n, len(RULES))
        np.minimum.at(best, rows[usable], r[usable])
        out: list[tuple[str, str] | None] = [None] * n
        for i in np.flatnonzero(best < len(RULES)).tolist():
            rank = int(best[i])
            own = cols[counts.indptr[i] : counts.indptr[i + 1]]
            words = [table.names[c] for c in own[ranks[own] == rank]]
            out[i] = (RULES[rank][0], min(words))
        return out

    def coverage(self, texts: Sequence[object]) -> np.ndarray:
        """Per text: the share of its words the model learned from (see COVERAGE_*)."""
        table = self.table()
        return self._coverage(table, table.flat_ids(texts))

    def _coverage(self, table: TokenTable, ids: np.ndarray) -> np.ndarray:
        info = self._types(table)
        end = ids < 0
        row_of: np.ndarray = np.cumsum(end) - end
        hash_id = table.ids.get("#", -2)
        after_hash = np.zeros(len(ids), dtype=bool)
        after_hash[1:] = ids[:-1] == hash_id
        word = ~end & ~after_hash
        rows: np.ndarray = row_of[word]
        kinds = ids[word]
        n = int(end.sum())
        total = np.bincount(rows, weights=info.letters[kinds], minlength=n)
        known = np.bincount(rows, weights=info.known[kinds], minlength=n)
        out = np.ones(n)
        np.divide(known, total, out=out, where=total >= COVERAGE_MIN_LETTERS)
        return out

    def _score(self, texts: list[object]) -> list[Scores]:
        if not texts:
            return []
        counts, margins, z, ids = self._margins(texts)
        table = self.table()
        p_act = self.actionable_head.proba_from_margin(margins[:, 0])
        p_sem: np.ndarray | None = None
        if self.semantic is not None:
            sem_logit = self.semantic.logit(self.encoder().encode(texts))
            p_sem = _sigmoid(sem_logit)
            p_act = _sigmoid(self.semantic.combine(logit(p_act), sem_logit))
        p_hurt = self.hurtful_head.proba_from_margin(margins[:, 1])
        p_cat = self.category_head.proba_from_margin(margins[:, 2:])
        classes = self.category_head.classes_
        best = p_cat.argmax(axis=1)
        threshold = float(self.operating_point.get("actionable", 0.5))
        hurt_threshold = float(self.operating_point.get("hurtful", 0.5))
        info = self._types(table)
        explain, sens_flag = info.explain, info.sens
        ruled = (
            self._rule_categories(counts, table, p_act >= threshold)
            if self.category_rules else [None] * len(texts)
        )
        names = table.names
        coverage = self._coverage(table, ids)
        n = len(texts)
        rows = np.repeat(np.arange(n), np.diff(counts.indptr))
        cols = counts.indices
        # actionable reasons: words pushing the margin the way it was decided, strongest first
        sign = np.where(p_act >= threshold, 1.0, -1.0)
        push = table.pushes(counts, 0, z) * sign[rows]
        keep = explain[cols] & (push > 0.01)
        order = np.lexsort((-push[keep], rows[keep]))
        a_rows, a_cols, a_push = rows[keep][order], cols[keep][order], push[keep][order]
        a_ptr = np.searchsorted(a_rows, np.arange(n + 1))
        # hurtful reasons only where the gate is close to firing
        near = p_hurt >= hurt_threshold * 0.8
        h_ptr = np.zeros(n + 1, dtype=np.int64)
        h_cols = np.zeros(0, dtype=np.int64)
        if near.any():
            hp = table.pushes(counts, 1, z)
            hk = near[rows] & explain[cols] & (hp > 0.05)
            ho = np.lexsort((-hp[hk], rows[hk]))
            h_cols = cols[hk][ho]
            h_ptr = np.searchsorted(rows[hk][ho], np.arange(n + 1))
        sens_rows = set(rows[sens_flag[cols]].tolist()) if sens_flag.any() else set()
        compound = dense_columns(z[:, 2:5])[:, DENSE.index("sentiment")]
        out = []
        for i in range(n):
            rule = ruled[i]
            category = rule[0] if rule else str(classes[best[i]])
            lo, hi = a_ptr[i], min(a_ptr[i + 1], a_ptr[i] + 3)
            if hi > lo:
                reasons = [
                    f"{feature_label(names[a_cols[k]])} ({sign[i] * a_push[k]:+.2f})"
                    for k in range(lo, hi)
                ]
            else:
                verdict = "support can help" if sign[i] > 0 else "nothing for support"
                reasons = [f"no single strong word; letter patterns suggest {verdict}"]
            if p_sem is not None:
                reasons.append(phrase(float(p_sem[i]), sign[i] > 0))
            if near[i]:
                hlo, hhi = h_ptr[i], min(h_ptr[i + 1], h_ptr[i] + 2)
                words = ", ".join(
                    "'" + table.names[h_cols[k]] + "'" for k in range(hlo, hhi)
                )
                reasons.append(f"hurtful: {words}" if words else "hurtful: tone")
            sens = 0.0
            if i in sens_rows:
                sens, terms = sensitive_score(tokens(texts[i]))
                if terms:
                    reasons.append("sensitive: " + ", ".join(f"'{t}'" for t, _ in terms[:2]))
            if abs(compound[i]) >= 0.3:
                mood = "negative" if compound[i] < 0 else "positive"
                reasons.append(f"sentiment: {mood} ({compound[i]:+.2f})")
            if rule:
                confidence = 1.0
                reasons.append(f"category: {category} (word '{rule[1]}')")
            else:
                confidence = float(p_cat[i, best[i]])
                reasons.append(f"category: {category} ({confidence:.2f})")
            out.append(
                Scores(
                    actionable=float(p_act[i]),
                    hurtful=float(p_hurt[i]),
                    sensitive=float(sens),
                    category=category if category in CATEGORIES else "other",
                    category_confidence=confidence,
                    reasons=tuple(reasons),
                    coverage=float(coverage[i]),
                )
            )
        return out
