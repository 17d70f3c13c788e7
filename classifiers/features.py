"""Helpers for the features: the lexicons and a column filter.

The features themselves are ``classifiers.tokens.TokenFeatures``. This module reads the
lexicons it adds (VADER word valences; profanity word weights taken from alt-profanity-check's
linear model when it is installed at fit time) and holds ``UsedColumns``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils import Tags
from sklearn.utils.validation import check_is_fitted, validate_data


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
