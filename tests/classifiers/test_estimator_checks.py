"""scikit-learn's estimator checks on the project's own estimators.

The ``BaseEstimator`` subclasses in ``classifiers``: ``features.UsedColumns`` (a column
filter on numeric matrices), and two text featurizers that take posts, one per row:
``normalize.SocialNormalizer`` and ``tokens.TokenFeatures``.

- ``UsedColumns`` takes 2-D numeric (sparse) input and passes every check.
- The text featurizers declare ``input_tags.string`` and ``two_d_array=False`` (as
  scikit-learn's own vectorizers do), so ``parametrize_with_checks`` runs only the clone
  check on them. The checks that need no data are run on them directly below, and the
  data ones (fit returns self, params untouched by fit, NotFittedError, pickling, ...) are
  written out here on posts.
- ``TokenFeatures`` reads anything as text (``tokens.safe_text`` never fails), so it is also
  run through every check as ``_TokenFeaturesOnRows``, the same class with the 2-D tag on:
  each row of a numeric array is read as one post. The checks about what 2-D numeric input
  means are expected to fail there, each with its reason; any other failure is a real one.
"""

from __future__ import annotations

import pickle
import warnings
from collections.abc import Callable
from typing import Any

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.base import BaseEstimator, clone
from sklearn.exceptions import NotFittedError, SkipTestWarning
from sklearn.utils import Tags, get_tags
from sklearn.utils import estimator_checks as ec
from sklearn.utils.estimator_checks import parametrize_with_checks

from classifiers.features import UsedColumns
from classifiers.normalize import SocialNormalizer
from classifiers.tokens import TokenFeatures

POSTS = [
    "@AcmeCorp I can't log in, password reset never arrives!!",
    "my order never arrived 😡 #fail http://t.co/x 123456",
    "sooooo happy with the new app, thanks @acmecorp",
    "you are useless idiots",
    "is there a way to export my invoices? the billing page is blank",
    "@acme the app crashes every time I open it",
    "",
]


class _TokenFeaturesOnRows(TokenFeatures):
    """``TokenFeatures`` with scikit-learn's default input tags (2-D arrays), so that its
    numeric checks run: each row of an array is read as one post (``str`` of the row)."""

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.string = False
        tags.input_tags.two_d_array = True
        return tags


_ONE_POST_PER_ROW = "one post per row: n_features_in_ is 1 whatever the array's width"
_ANY_OBJECT_IS_TEXT = "any input is read as text (tokens.safe_text never fails by design)"
ROWS_EXPECTED_FAILURES = {
    "check_n_features_in": _ONE_POST_PER_ROW,
    "check_n_features_in_after_fitting": _ONE_POST_PER_ROW,
    "check_transformer_general": _ONE_POST_PER_ROW + ", so another width is not refused",
    "check_fit2d_predict1d": "a 1-D sequence is what it takes: one post per item",
    "check_fit1d": "a 1-D sequence is what it takes: one post per item",
    "check_complex_data": _ANY_OBJECT_IS_TEXT + ": a complex number too",
    "check_dtype_object": _ANY_OBJECT_IS_TEXT + ": an object row too",
    "check_estimators_nan_inf": _ANY_OBJECT_IS_TEXT + ": NaN is the word 'nan'",
    "check_estimator_sparse_tag": _ANY_OBJECT_IS_TEXT + ": a sparse row too",
    "check_estimator_sparse_array": _ANY_OBJECT_IS_TEXT + ": a sparse row too",
    "check_estimator_sparse_matrix": _ANY_OBJECT_IS_TEXT + ": a sparse row too",
    "check_transformer_data_not_an_array": "it iterates its input (posts); the check's "
    "array stand-in is not iterable",
    "check_estimators_empty_data_messages": "no posts (or rows of width 0, read as the "
    "text '[]') fit an empty vocabulary: only the lexicon columns, no error; callers check "
    "their row counts",
}


def expected_failures(estimator: BaseEstimator) -> dict[str, str]:
    if isinstance(estimator, _TokenFeaturesOnRows):
        return ROWS_EXPECTED_FAILURES
    return {}


ESTIMATORS = [
    UsedColumns(),
    SocialNormalizer(),
    TokenFeatures(min_df=1, lexicon=False),
    _TokenFeaturesOnRows(min_df=1, lexicon=False),
]


with warnings.catch_warnings():
    # the text featurizers' tags make scikit-learn warn, at collection, that it skips its
    # 2-D checks on them (the suite turns warnings into errors); that is the point
    warnings.simplefilter("ignore", SkipTestWarning)
    _SKLEARN_CHECKS = parametrize_with_checks(
        ESTIMATORS, expected_failed_checks=expected_failures, xfail_strict=True
    )


@_SKLEARN_CHECKS  # type: ignore[untyped-decorator]
def test_sklearn_estimator_checks(estimator: BaseEstimator, check: Callable[..., None]) -> None:
    check(estimator)


# -- the text featurizers, on posts --------------------------------------------------------

TEXT_FEATURIZERS = [
    SocialNormalizer(),
    TokenFeatures(min_df=1, lexicon=False),
    TokenFeatures(char_ngram_range=(3, 4), min_df=2, bigrams=False, lexicon=True),
]
_IDS = [repr(e) for e in TEXT_FEATURIZERS]

# scikit-learn's checks that use no data (the data ones are written out below)
DATA_FREE_CHECKS = [
    ec.check_estimator_cloneable,
    ec.check_estimator_repr,
    ec.check_no_attributes_set_in_init,
    ec.check_get_params_invariance,
    ec.check_set_params,
    ec.check_parameters_default_constructible,
    ec.check_do_not_raise_errors_in_init_or_set_params,
    ec.check_mixin_order,
    ec.check_valid_tag_types,
    ec.check_estimator_tags_renamed,
]


@pytest.mark.parametrize("check", DATA_FREE_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("estimator", TEXT_FEATURIZERS, ids=_IDS)
def test_text_featurizer_data_free_checks(estimator: BaseEstimator,
                                          check: Callable[..., None]) -> None:
    check(type(estimator).__name__, estimator)


def _dense(out: Any) -> Any:
    """A transform's output in a form ``==`` compares (list of strings or a dense array)."""
    return out.toarray() if sp.issparse(out) else out


@pytest.mark.parametrize("estimator", TEXT_FEATURIZERS, ids=_IDS)
def test_text_featurizer_tags(estimator: BaseEstimator) -> None:
    tags = get_tags(estimator)
    assert tags.input_tags.string and not tags.input_tags.two_d_array


@pytest.mark.parametrize("estimator", TEXT_FEATURIZERS, ids=_IDS)
def test_text_featurizer_params_round_trip(estimator: BaseEstimator) -> None:
    params = estimator.get_params()
    copy = clone(estimator)
    assert copy is not estimator and copy.get_params() == params
    assert estimator.set_params(**params) is estimator and estimator.get_params() == params
    fitted = clone(estimator).fit(POSTS)
    assert fitted.get_params() == params
    unfitted = clone(fitted)  # a clone has the params and none of the fitted state
    assert unfitted.get_params() == params
    assert not [k for k in vars(unfitted) if k.endswith("_")]


@pytest.mark.parametrize("estimator", TEXT_FEATURIZERS, ids=_IDS)
def test_text_featurizer_fit_returns_self_and_keeps_params(estimator: BaseEstimator) -> None:
    est = clone(estimator)
    before = joblib.hash(est.get_params())
    public_before = {k: v for k, v in vars(est).items() if not k.startswith("_")}
    assert not hasattr(est, "n_features_in_")
    assert est.fit(POSTS, [1, 1, 0, 0, 1, 1, 0]) is est
    assert joblib.hash(est.get_params()) == before
    # fit adds only fitted attributes (trailing underscore) and changes no parameter
    added = {k for k in vars(est) if not k.startswith("_")} - set(public_before)
    assert all(k.endswith("_") for k in added), added
    assert joblib.hash({k: vars(est)[k] for k in public_before}) == joblib.hash(public_before)
    assert est.n_features_in_ == 1  # one column of posts


def test_token_features_not_fitted() -> None:
    est = TokenFeatures(min_df=1, lexicon=False)
    with pytest.raises(NotFittedError):
        est.transform(POSTS)
    with pytest.raises(NotFittedError):
        est.get_feature_names_out()


def test_social_normalizer_needs_no_fit() -> None:
    est = SocialNormalizer()
    assert not get_tags(est).requires_fit
    assert est.transform(POSTS) == clone(est).fit(POSTS).transform(POSTS)


@pytest.mark.parametrize("estimator", TEXT_FEATURIZERS, ids=_IDS)
def test_text_featurizer_fit_is_deterministic_and_row_wise(estimator: BaseEstimator) -> None:
    a = clone(estimator).fit(POSTS)
    b = clone(estimator).fit(POSTS).fit(POSTS[:2]).fit(POSTS)  # refit: nothing left over
    full = _dense(a.transform(POSTS))
    assert np.array_equal(full, _dense(b.transform(POSTS)))
    assert np.array_equal(full, _dense(clone(estimator).fit_transform(POSTS)))
    # each row depends on its post alone: a subset or another order gives the same rows
    order = [3, 0, 6, 2]
    part = _dense(a.transform([POSTS[i] for i in order]))
    expected = [full[i] for i in order] if isinstance(full, list) else full[order]
    assert np.array_equal(part, expected)
    # a pickled fitted featurizer transforms the same
    restored = pickle.loads(pickle.dumps(a))  # noqa: S301 - our own bytes
    assert np.array_equal(full, _dense(restored.transform(POSTS)))


def test_token_features_names_match_columns() -> None:
    est = TokenFeatures(min_df=1, lexicon=False).fit(POSTS)
    names = est.get_feature_names_out()
    assert len(names) == est.transform(POSTS[:1]).shape[1] == len(set(names))
