"""Fitting a ``SocialTriageModel``: from the shared data (``build``) or a company's file.

``fit_triage`` fits everything: the front end on all texts, then the calibrated actionable
and hurtful heads (C chosen for each by a 3-fold CV on its training rows) and the category
head, and chooses the operating points from out-of-fold predictions on the training data
only.

``train_on`` is what ``router train`` runs on a company's labelled history: it keeps the
shipped model's front end (vocabulary) and hurtful gate, and fits new actionable (and, with
a category column, category) heads and operating point on the company's rows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from classifiers.actionable import guess_category, make_classifier, make_features
from classifiers.data import Labelled
from classifiers.metrics import best_macro_f1_threshold, choose_threshold
from classifiers.model import LinearHead, SocialTriageModel, SoftmaxHead
from classifiers.seed_examples import SEED_EXAMPLES
from classifiers.semantic import SemanticHead, StaticEncoder, fit_head, logit
from classifiers.tokens import tokens

Progress = Callable[[str], None]
ACTIONABLE_C = 4.0  # for a company's own rows (``train_on``), where there may be few
C_GRID = (0.5, 1.0, 2.0, 4.0, 8.0)
CATEGORY_C = 4.0
SEMANTIC_C = 16.0  # chosen on the training rows' out-of-fold ranking (bench/study_semantic.py)


def _quiet(_: str) -> None:
    return None


def calibrated(C: float, folds: int = 3) -> CalibratedClassifierCV:  # noqa: N803
    """A logistic regression with a Platt (sigmoid) calibration fitted out of fold."""
    base = make_classifier(C)
    base.set_params(solver="liblinear")
    return CalibratedClassifierCV(base, method="sigmoid", cv=folds, ensemble=False)


def _used_columns(X: Any) -> np.ndarray:  # noqa: N803
    """Columns with any non-zero value: fitting on these alone is much faster (and equal)."""
    return np.unique(X.indices)


def oof_proba(X: Any, y: np.ndarray, C: float, folds: int = 5) -> np.ndarray:  # noqa: N803
    """Out-of-fold P(1) on the training data (for choosing thresholds, never the test set)."""
    cv = StratifiedKFold(folds, shuffle=True, random_state=0)
    Xc = X[:, _used_columns(X)]  # noqa: N806
    proba = cross_val_predict(calibrated(C), Xc, y, cv=cv, method="predict_proba")
    return np.asarray(proba[:, 1], dtype=np.float64)


def choose_c(X: Any, y: np.ndarray, grid: tuple[float, ...] = C_GRID, folds: int = 3) -> float:  # noqa: N803
    """The C with the best out-of-fold macro-F1 at 0.5 on these (training) rows."""
    cv = StratifiedKFold(folds, shuffle=True, random_state=1)
    Xc = X[:, _used_columns(X)]  # noqa: N806
    scores = []
    for C in grid:  # noqa: N806
        base = make_classifier(C)
        base.set_params(solver="liblinear")
        pred = cross_val_predict(base, Xc, y, cv=cv)
        scores.append(f1_score(y, pred, average="macro"))
    return float(grid[int(np.argmax(scores))])


def fit_binary(X: Any, y: np.ndarray, C: float, folds: int = 3) -> LinearHead:  # noqa: N803
    """A calibrated binary head over all of ``X``'s columns."""
    cols = _used_columns(X)
    head = LinearHead.from_estimator(calibrated(C, folds).fit(X[:, cols], y))
    coef = np.zeros(X.shape[1])
    coef[cols] = head.coef
    return LinearHead(coef, head.intercept, head.a, head.c)


def fit_semantic(
    encoder: StaticEncoder, texts: list[str], y: np.ndarray, linear_oof: np.ndarray,
    folds: int = 5,
) -> tuple[SemanticHead, np.ndarray]:
    """The semantic head and its stacking with the linear head; returns it and the stacked
    out-of-fold P(actionable) (same folds as ``oof_proba``)."""
    vectors = encoder.encode(texts)
    cv = StratifiedKFold(folds, shuffle=True, random_state=0)
    sem_oof = np.zeros(len(y))
    for train, test in cv.split(vectors, y):
        sem_oof[test] = fit_head(vectors[train], y[train], SEMANTIC_C).predict_proba(
            vectors[test])[:, 1]
    stack_x = np.c_[logit(linear_oof), logit(sem_oof)]
    stacker = LogisticRegression(max_iter=1000).fit(stack_x, y)
    head = fit_head(vectors, y, SEMANTIC_C)
    semantic = SemanticHead(
        head.coef_[0], float(head.intercept_[0]),
        (float(stacker.coef_[0][0]), float(stacker.coef_[0][1]), float(stacker.intercept_[0])),
    )
    return semantic, np.asarray(stacker.predict_proba(stack_x)[:, 1], dtype=np.float64)


def fit_category(X: Any, texts: list[str], labels: list[int], categories: list[str]) -> SoftmaxHead:  # noqa: N803
    """Multinomial head on the rows with a category and, when some rows have none, the
    actionable ones of those with a weak keyword label (a non-actionable row without a
    category teaches nothing about which team handles a request)."""
    rows, cats = [], []
    for i, c in enumerate(categories):
        if c or labels[i]:
            rows.append(i)
            cats.append(c or guess_category(tokens(texts[i]), labels[i]))
    head = LogisticRegression(C=CATEGORY_C, max_iter=2000, random_state=0, class_weight="balanced")
    cols = _used_columns(X)
    head.fit(X[rows][:, cols], cats)
    coef = np.zeros((len(head.classes_), X.shape[1]))
    coef[:, cols] = head.coef_
    return SoftmaxHead(coef, head.intercept_, head.classes_)


def seed_labelled(column: int, rows: Sequence[tuple[str, str, int, int, int]] = SEED_EXAMPLES
                  ) -> Labelled:
    """The project's own examples, labelled by column (2 actionable, 3 hurtful)."""
    out = Labelled()
    for row in rows:
        out.add(row[0], int(row[column]), row[1], "seed")
    return out


def fit_triage(
    actionable: Labelled,
    hurtful: Labelled,
    card: dict[str, Any],
    progress: Progress = _quiet,
    max_fpr: float = 0.05,
    category_rules: bool = True,
    encoder: StaticEncoder | None = None,
) -> SocialTriageModel:
    """Fit the whole model; ``card`` receives the out-of-fold figures and thresholds."""
    progress("features")
    feats = make_features().fit(actionable.texts + hurtful.texts)
    Xa = feats.transform(actionable.texts)  # noqa: N806
    ya = np.asarray(actionable.labels)
    Xh = feats.transform(hurtful.texts)  # noqa: N806
    yh = np.asarray(hurtful.labels)
    progress("actionable: C by 3-fold CV")
    ca = choose_c(Xa, ya)
    progress(f"actionable: out-of-fold (C={ca})")
    pa = oof_proba(Xa, ya, ca)
    progress("actionable: fit")
    act = fit_binary(Xa, ya, ca)
    semantic = None
    if encoder is not None:
        progress("actionable: semantic head, stacked out-of-fold")
        semantic, pa = fit_semantic(encoder, actionable.texts, ya, pa)
    progress("hurtful: C by 3-fold CV")
    ch = choose_c(Xh, yh)
    progress(f"hurtful: out-of-fold (C={ch})")
    ph = oof_proba(Xh, yh, ch)
    progress("hurtful: fit")
    hurt = fit_binary(Xh, yh, ch)
    progress("category")
    cat = fit_category(Xa, actionable.texts, actionable.labels, actionable.categories)
    op = {
        "actionable": choose_threshold(ya, pa, max_fpr),
        "hurtful": best_macro_f1_threshold(yh, ph),
        "sensitive": 0.5,
        "max_fpr": max_fpr,
    }
    card["C"] = {"actionable": ca, "hurtful": ch, "category": CATEGORY_C}
    if semantic is not None:
        card["C"]["semantic"] = SEMANTIC_C
    card.setdefault("oof", {})["actionable_proba"] = pa
    card["oof"]["hurtful_proba"] = ph
    # most rows have only weak (keyword) category labels: the rules themselves go first
    return SocialTriageModel(feats, act, hurt, cat, op, {}, category_rules=category_rules,
                             semantic=semantic)


def train_on(
    data: Labelled,
    base: SocialTriageModel,
    progress: Progress = _quiet,
    max_fpr: float = 0.05,
) -> tuple[SocialTriageModel, np.ndarray]:
    """New actionable (and category) heads on a company's data; returns the model and OOF P."""
    progress("features")
    X = base.features.transform(data.texts)  # noqa: N806
    y = np.asarray(data.labels)
    folds = int(min(5, np.bincount(y).min()))
    progress("actionable: out-of-fold")
    p = oof_proba(X, y, ACTIONABLE_C, folds=max(folds, 2))
    progress("actionable: fit")
    act = fit_binary(X, y, ACTIONABLE_C, folds=max(min(folds, 3), 2))
    semantic = None
    if base.semantic is not None:
        progress("actionable: semantic head")
        semantic, p = fit_semantic(base.encoder(), data.texts, y, p, folds=max(folds, 2))
    category = base.category_head
    if any(data.categories):
        progress("category")
        category = fit_category(X, data.texts, data.labels, data.categories)
    op = dict(base.operating_point)
    op["actionable"] = choose_threshold(y, p, max_fpr)
    op["max_fpr"] = max_fpr
    # the company's own categories are theirs to define: no keyword rule overrides them
    rules = base.category_rules and not any(data.categories)
    model = SocialTriageModel(base.features, act, base.hurtful_head, category, op, {},
                              category_rules=rules, semantic=semantic)
    if semantic is not None:
        model.attach(base.__dict__["_folder"])
    return model, p
