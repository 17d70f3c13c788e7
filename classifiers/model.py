"""The shipped ``TriageModel``: one feature pass, three linear heads, reasons for each score.

``SocialTriageModel`` holds a fitted front end (normalizer -> word/char tf-idf | lexicon
columns) and three heads on its output: actionable (binary), hurtful (binary) and category
(multinomial). The sensitive-moment signal is the lexicon rule in ``classifiers.sensitive``.
Every prediction carries reasons: the word features that pushed the actionable score in the
direction of the decision, the hurtful words, the sensitive terms, the sentiment and the
category. ``score`` and ``hurtful`` never raise: if a batch fails, each text is retried
alone, and a text that still fails gets the safe answer (hurtful 1.0, so nothing is posted
and a human looks).

Saving and loading live in ``classifiers.store``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from classifiers.api import CATEGORIES, Scores
from classifiers.features import LEXICON_COLUMNS
from classifiers.normalize import NEG_SUFFIX, normalize
from classifiers.sensitive import sensitive_score

log = logging.getLogger(__name__)

_MARKER_NAMES = {
    "xuser": "a @mention",
    "xurl": "a link",
    "xnum": "a long number",
    "xhashtag": "a hashtag",
    "xcaps": "shouting (caps)",
    "xelong": "an elongated word",
    "?": "a question mark",
    "!": "an exclamation mark",
}
_LEXICON_NAMES = {
    "sentiment": "overall sentiment",
    "positive": "positive words",
    "negative": "negative words",
    "profanity": "profanity",
    "profanity_count": "several profanities",
    "sensitive": "sensitive words",
    "question": "a question",
    "exclaim": "exclamations",
    "shout": "shouting (caps)",
    "link": "a link",
    "addressed": "addressed to an account",
    "length": "length",
}


def _token_label(tok: str) -> str:
    if tok in _MARKER_NAMES:
        return _MARKER_NAMES[tok]
    negated = tok.endswith(NEG_SUFFIX)
    if negated:
        tok = tok[: -len(NEG_SUFFIX)]
    if tok.startswith("emo_"):
        tok = "emoji " + tok[4:].replace("_", " ")
    return f"{tok} (negated)" if negated else tok


def feature_label(name: str) -> str:
    """Human-readable name of a front-end feature (``w:refund`` -> ``word 'refund'``)."""
    kind, _, value = name.partition(":")
    if kind == "x":
        return _LEXICON_NAMES.get(value, value)
    if kind == "c":
        return f"letters '{value.strip()}'"
    toks = value.split(" ")
    if len(toks) == 1:
        label = _token_label(toks[0])
        return label if toks[0] in _MARKER_NAMES else f"word '{label}'"
    return "words '" + " ".join(_token_label(t) for t in toks) + "'"


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

    def margin(self, X: sp.csr_matrix) -> np.ndarray:  # noqa: N803
        return np.asarray(X @ self.coef).ravel() + self.intercept

    def proba(self, X: sp.csr_matrix) -> np.ndarray:  # noqa: N803
        return _sigmoid(self.a * self.margin(X) + self.c)


class SoftmaxHead:
    """A fitted multinomial linear scorer: ``P = softmax(X @ coef.T + intercept)``."""

    def __init__(self, coef: np.ndarray, intercept: np.ndarray, classes: Sequence[str]):
        self.coef = np.asarray(coef, dtype=np.float64)
        self.intercept = np.asarray(intercept, dtype=np.float64)
        self.classes_ = np.asarray(classes, dtype=object)

    def predict_proba(self, X: sp.csr_matrix) -> np.ndarray:  # noqa: N803
        z = np.asarray(X @ self.coef.T) + self.intercept
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return np.asarray(e / e.sum(axis=1, keepdims=True))


class SocialTriageModel:
    """The project's ``TriageModel`` (see ``classifiers.api``)."""

    def __init__(
        self,
        front: Any,
        actionable: LinearHead,
        hurtful: LinearHead,
        category: Any,
        operating_point: dict[str, Any],
        card: dict[str, Any],
    ) -> None:
        self.front = front
        self.actionable_head = actionable
        self.hurtful_head = hurtful
        self.category_head = category
        self.operating_point = operating_point
        self.card = card
        names = front.named_steps["features"].get_feature_names_out()
        self._names = np.asarray([n.split("__", 1)[-1] for n in names], dtype=object)
        vec = front.named_steps["features"].transformer_list[0][1]
        self._n_word = len(vec.vocabulary_word_)
        self._n_ngram = self._n_word + len(vec.vocabulary_char_)

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
            docs = [normalize(t) for t in texts]
            X = self.front.named_steps["features"].transform(docs)  # noqa: N806
            return [float(v) for v in self.hurtful_head.proba(X)]
        except Exception:  # noqa: BLE001
            log.exception("hurtful gate failed on a batch; scoring texts one by one")
            return [self._hurtful_one_safely(t) for t in texts]

    @property
    def thresholds(self) -> dict[str, float]:
        """The card's chosen thresholds (actionable, hurtful, sensitive)."""
        return {k: float(v) for k, v in self.operating_point.items() if isinstance(v, float)}

    # -- internals --------------------------------------------------------------------------
    def _score_one_safely(self, text: object) -> Scores:
        try:
            return self._score([text])[0]  # type: ignore[list-item]
        except Exception as exc:  # noqa: BLE001
            log.exception("could not score one text")
            return Scores(
                0.5, 1.0, 0.0, "other", 0.0, (f"error: not scored ({type(exc).__name__})",)
            )

    def _hurtful_one_safely(self, text: object) -> float:
        try:
            X = self.front.named_steps["features"].transform([normalize(text)])  # noqa: N806
            return float(self.hurtful_head.proba(X)[0])
        except Exception:  # noqa: BLE001
            return 1.0

    def _features(self, docs: list[str]) -> tuple[sp.csr_matrix, np.ndarray]:
        """(full feature matrix, the dense lexicon columns) for normalized docs."""
        union = self.front.named_steps["features"]
        ngrams = union.transformer_list[0][1].transform(docs)
        lexicon = union.transformer_list[1][1].transform(docs)
        return sp.hstack([ngrams, sp.csr_matrix(lexicon)], format="csr"), lexicon

    def _score(self, texts: list[str]) -> list[Scores]:
        if not texts:
            return []
        docs = [normalize(t) for t in texts]
        X, lex = self._features(docs)  # noqa: N806
        p_act = self.actionable_head.proba(X)
        p_hurt = self.hurtful_head.proba(X)
        p_cat = self.category_head.predict_proba(X)
        classes = self.category_head.classes_
        best = p_cat.argmax(axis=1)
        act_contrib = X.multiply(self.actionable_head.coef).tocsr()
        hurt_words = X[:, : self._n_word].multiply(self.hurtful_head.coef[: self._n_word]).tocsr()
        threshold = float(self.operating_point.get("actionable", 0.5))
        hurt_threshold = float(self.operating_point.get("hurtful", 0.5))
        sens_col = LEXICON_COLUMNS.index("sensitive")
        out = []
        for i, doc in enumerate(docs):
            sens, terms = sensitive_score(doc.split()) if lex[i, sens_col] > 0 else (0.0, [])
            category = str(classes[best[i]])
            reasons = self._reasons(act_contrib, i, positive=p_act[i] >= threshold, limit=3)
            if p_hurt[i] >= hurt_threshold * 0.8:
                reasons += self._hurt_reasons(hurt_words, i)
            if terms:
                reasons.append("sensitive: " + ", ".join(f"'{t}'" for t, _ in terms[:2]))
            compound = float(lex[i, 0])
            if abs(compound) >= 0.3:
                mood = "negative" if compound < 0 else "positive"
                reasons.append(f"sentiment: {mood} ({compound:+.2f})")
            reasons.append(f"category: {category} ({p_cat[i, best[i]]:.2f})")
            out.append(
                Scores(
                    actionable=float(p_act[i]),
                    hurtful=float(p_hurt[i]),
                    sensitive=float(sens),
                    category=category if category in CATEGORIES else "other",
                    category_confidence=float(p_cat[i, best[i]]),
                    reasons=tuple(reasons),
                )
            )
        return out

    def _reasons(self, contrib: sp.csr_matrix, i: int, positive: bool, limit: int) -> list[str]:
        """Top word/lexicon features pushing the actionable margin the way it was decided."""
        lo, hi = contrib.indptr[i], contrib.indptr[i + 1]
        cols = contrib.indices[lo:hi]
        vals = contrib.data[lo:hi]
        keep = self._explainable()[cols]
        cols, vals = cols[keep], vals[keep]
        sign = 1.0 if positive else -1.0
        order = np.argsort(-sign * vals)[:limit]
        reasons = [
            f"{feature_label(self._names[cols[k]])} ({vals[k]:+.2f})"
            for k in order
            if sign * vals[k] > 0.01
        ]
        if not reasons:
            verdict = "support can help" if positive else "nothing for support"
            reasons = [f"no single strong word; letter patterns suggest {verdict}"]
        return reasons

    def _explainable(self) -> np.ndarray:
        """Columns worth naming as reasons: words (not only stop words) and lexicon columns."""
        mask = self.__dict__.get("_explainable_mask")
        if mask is None:
            mask = np.zeros(len(self._names), dtype=bool)
            for j in range(self._n_word):
                toks = str(self._names[j])[2:].split(" ")
                mask[j] = any(
                    t.removesuffix(NEG_SUFFIX) not in ENGLISH_STOP_WORDS and t != "xuser"
                    for t in toks
                )
            mask[self._n_ngram :] = True
            mask[self._n_ngram + LEXICON_COLUMNS.index("length")] = False
            self._explainable_mask = mask
        return mask

    def _hurt_reasons(self, contrib: sp.csr_matrix, i: int) -> list[str]:
        lo, hi = contrib.indptr[i], contrib.indptr[i + 1]
        cols, vals = contrib.indices[lo:hi], contrib.data[lo:hi]
        keep = self._explainable()[cols]
        cols, vals = cols[keep], vals[keep]
        order = [k for k in np.argsort(-vals)[:2] if vals[k] > 0.05]
        if not order:
            return ["hurtful: tone"]
        words = ", ".join("'" + _token_label(str(self._names[cols[k]])[2:]) + "'" for k in order)
        return [f"hurtful: {words}"]
