"""The actionable judgement: can the support team help with this post?

``make_pipeline`` is the stock scikit-learn pipeline used by the published-protocol
evaluations: token-additive word and character tf-idf plus lexicon columns
(``classifiers.tokens``) -> logistic regression. The shipped ``TriageModel`` uses the same
features but evaluates its heads from one per-token table (see ``classifiers.model``).

``guess_category`` is a small keyword rule used only to give the shared data (which has no
categories) weak category labels for training the category head.
"""

from __future__ import annotations

from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline

from classifiers.features import UsedColumns
from classifiers.tokens import TokenFeatures


def make_features(lexicon: bool = True, min_df: int = 2) -> TokenFeatures:
    """Word 1-2-gram and char_wb 2-5-gram tf-idf plus lexicon columns, token-additive."""
    return TokenFeatures(min_df=min_df, lexicon=lexicon)


def make_classifier(C: float = 4.0, class_weight: str | None = "balanced") -> LogisticRegression:  # noqa: N803
    """The linear head every judgement uses."""
    return LogisticRegression(C=C, class_weight=class_weight, max_iter=2000, random_state=0)


def make_pipeline(C: float = 4.0, lexicon: bool = True) -> Pipeline:  # noqa: N803
    """The full pipeline on raw posts (features -> used columns -> logistic regression)."""
    clf = make_classifier(C)
    clf.set_params(solver="liblinear")
    return Pipeline(
        [("features", make_features(lexicon)), ("used", UsedColumns()), ("clf", clf)]
    )


# (category, keywords): first match wins; keywords are normalized tokens or bigrams
_RULES: tuple[tuple[str, frozenset[str]], ...] = (
    ("outage", frozenset("outage down servers server offline 502 503 xbox_live".split())),
    (
        "account_access",
        frozenset(
            "login log_in password account hacked locked suspended banned verification "
            "sign_in signin 2fa username email".split()
        ),
    ),
    (
        "billing",
        frozenset("refund charged charge bill billing invoice payment paid subscription fee "
                  "price money credit".split()),
    ),
    (
        "order_delivery",
        frozenset("order delivery delivered package parcel shipping shipped tracking courier "
                  "arrived arrive flight booking return".split()),
    ),
    (
        "product_defect",
        frozenset("broken broke crash crashes crashing bug glitch error faulty defective "
                  "stopped update freezing freezes battery".split()),
    ),
    ("how_to", frozenset("how howto where way possible setup".split())),
    ("praise", frozenset("thanks thank love awesome great amazing best".split())),
)


def guess_category(tokens: list[str], actionable: int) -> str:
    """Weak category label from keywords (only for training data without categories)."""
    words = set(tokens)
    words.update(a + "_" + b for a, b in zip(tokens, tokens[1:], strict=False))
    for category, keys in _RULES:
        if category == "praise" and actionable:
            continue
        if category == "how_to" and "?" not in words:
            continue
        if not words.isdisjoint(keys):
            return category
    return "other"
