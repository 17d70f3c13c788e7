"""The actionable judgement: can the support team help with this post?

``make_pipeline`` is the stock scikit-learn pipeline used by the published-protocol
evaluations: token-additive word and character tf-idf plus lexicon columns
(``classifiers.tokens``) -> logistic regression. The shipped ``TriageModel`` uses the same
features but evaluates its heads from one per-token table (see ``classifiers.model``).

``RULES`` / ``guess_category`` are keyword rules for the category: they give the shared
data (which has no categories) weak labels for training the category head, and the shipped
model lets a matching rule decide before its head (a company's own categories, from
``router train``, are left to its head alone).
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


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# (category, keywords): first match wins; keywords are canonical tokens (``classifiers.tokens``:
# lowercase, apostrophes dropped) or two of them joined by "_". how_to needs a "?" in the
# post, praise a post that is not actionable. Written from the category guidelines in
# classifiers/eval/README.md and checked on the dev half of the labelled rows only.
RULES: tuple[tuple[str, frozenset[str]], ...] = (
    ("outage", _words(
        "outage outages outtage offline servers 502 503 xbox_live is_down you_down "
        "down_again down_for down_rn getting_down service_down site_down app_down apps_down "
        "website_down broadband_down no_service no_signal no_power no_internet no_electricity "
        "no_lights lost_power power_cut power_outage power_is power blackout not_loading "
        "wont_load connection connect connectivity non_functioning")),
    ("account_access", _words(
        "login log_in logged_out logging_in log_into sign_in signin sign_into signed_out "
        "signed_up password passwords passwrd hacked hack locked locked_out suspended banned "
        "terminated deactivated verification verify verification_code 2fa authenticator "
        "two_factor 2_step recover recovery username acct my_account delete_my the_account")),
    ("billing", _words(
        "refund refunds refunded charged charge charges charging overcharged bill billing bills "
        "invoice payment payments pay paid subscription subscriptions fee fees price prices "
        "pricing money credit rate rates compensation cost costs renew renewing renewal funds "
        "wallet escrow")),
    ("order_delivery", _words(
        "order ordered orders delivery delivered deliver deliveries package packages parcel "
        "shipping shipped tracking courier arrived arrive never_received not_received "
        "havent_received return returned returning luggage baggage bags booking reservation "
        "reserve replacement for_delivery")),
    ("product_defect", _words(
        "broken broke breaks crash crashes crashing crashed bug bugs bugged glitch glitches "
        "error errors faulty defective defect stopped freezing freezes frozen battery "
        "not_working doesnt_work dont_work wont_work isnt_working stopped_working working works "
        "cant_play laggy lag disconnects disconnected wont_turn sync syncs inaccurate accurate "
        "recognized recall issue issues problem problems quality memory install installed "
        "update updates reinstall reinstalled uninstall")),
    ("feature_request", _words(
        "bring_back please_add add be_great would_love wish should_add when_will feature "
        "option get_rid")),
    ("how_to", _words(
        "how howto where way possible setup is_there can_i do_i anyway which is_it does")),
    ("praise", _words("thanks thank love awesome great amazing best")),
)


def rule_match(words: set[str], actionable: int) -> tuple[str, str] | None:
    """(category, the keyword that decided it) by the first rule that matches, or None."""
    for category, keys in RULES:
        if category == "praise" and actionable:
            continue
        if category == "how_to" and "?" not in words:
            continue
        hit = keys & words
        if hit:
            return category, min(hit)
    return None


def guess_category(tokens: list[str], actionable: int) -> str:
    """The category by the keyword rules, ``other`` when none matches (weak labels for
    training rows without a category, and the shipped model's first say, see
    ``classifiers.model``)."""
    words = set(tokens)
    words.update(a + "_" + b for a, b in zip(tokens, tokens[1:], strict=False))
    match = rule_match(words, actionable)
    return match[0] if match else "other"
