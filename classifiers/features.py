"""Helpers for the features: the lexicons and a column filter.

The features themselves are ``classifiers.tokens.TokenFeatures``. This module reads the
lexicons it adds (VADER word valences; profanity word weights taken from alt-profanity-check's
linear model, required when a model is fitted) and holds ``UsedColumns``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted, validate_data

from vocab.errors import ModelError


def profanity_weights(min_weight: float = 1.0) -> dict[str, float]:
    """Word -> weight in (0, 1] from alt-profanity-check's model.

    Only training reads it (a fitted model keeps the weights it was fitted with). Missing,
    it is refused rather than skipped: a model trained without it is another model (the
    shipped build chose other settings and its hurtful gate fell from 0.766 to 0.734)."""
    try:
        from profanity_check import profanity_check as pc  # noqa: PLC0415
    except Exception as exc:  # noqa: BLE001 - any import failure means "absent"
        raise ModelError(
            f"training needs alt-profanity-check for its profanity lexicon ({exc}); "
            "install it with: pip install 'escalation-router[profanity]'") from exc
    coef = np.mean([c.estimator.coef_[0] for c in pc.model.calibrated_classifiers_], axis=0)
    names = pc.vectorizer.get_feature_names_out()
    top = float(coef.max())
    return {str(names[i]): float(coef[i] / top) for i in np.flatnonzero(coef >= min_weight)}


def vader_lexicon() -> dict[str, float]:
    """VADER's word valences (-4..4)."""
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer  # noqa: PLC0415

    return dict(SentimentIntensityAnalyzer().lexicon)


class UsedColumns(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Keep only the columns that are non-zero somewhere in the training matrix.

    The vocabulary is fitted on more text than one head sees; liblinear's cost grows with
    the column count, so dropping never-seen columns makes fitting many times faster
    without changing the fitted model.
    """

    def fit(self, X: sp.spmatrix, y: object = None) -> UsedColumns:  # noqa: N803
        # validate_data sets n_features_in_ and refuses 1-D, empty or complex input
        X = validate_data(self, X, accept_sparse=True, ensure_all_finite=False)  # noqa: N806
        self.columns_ = np.unique(sp.csr_matrix(X).indices)
        return self

    def transform(self, X: sp.spmatrix) -> sp.csr_matrix:  # noqa: N803
        check_is_fitted(self, "columns_")
        # reset=False: a matrix with another column count than the fitted one is refused
        X = validate_data(self, X, accept_sparse=True, ensure_all_finite=False, reset=False)  # noqa: N806
        return sp.csr_matrix(X)[:, self.columns_]

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True  # it is made for the featurizers' sparse output
        tags.input_tags.allow_nan = True  # values pass through untouched, NaN included
        return tags
