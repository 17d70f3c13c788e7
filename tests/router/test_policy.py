"""The decision rules, as an ops person would check them, without Kafka."""

from __future__ import annotations

import pytest

from classifiers.api import Scores
from router.policy import Case, Context, decide
from router.settings import Settings
from vocab.records import Author, Mention

NOW = 1_800_000_000.0


def m(text: str = "x", handle: str = "ann", **kw: object) -> Mention:
    return Mention(id=kw.pop("id", "1"), network="generic", text=text,  # type: ignore[arg-type]
                   author=Author(id=f"u-{handle}", handle=handle), created_at="t", **kw)


def sc(actionable: float = 0.9, hurtful: float = 0.0, sensitive: float = 0.0,
       category: str = "billing", coverage: float = 1.0) -> Scores:
    return Scores(actionable=actionable, hurtful=hurtful, sensitive=sensitive,
                  category=category, reasons=("word 'refund' (+0.8)",), coverage=coverage)


S = Settings(own_accounts=["acmecorp"], personas=["acme_ceo"], employees=["jane_at_acme"])


def test_actionable_opens_with_reasons_and_scores() -> None:
    d = decide(m(), sc(0.9), S, Context(now=NOW))
    assert d.verdict == "open"
    assert d.reasons[0].startswith("support can help") and "word 'refund' (+0.8)" in d.reasons
    assert d.scores["actionable"] == 0.9 and d.case_key == "generic:1"


def test_not_actionable_is_silent() -> None:
    d = decide(m(), sc(0.1, category="praise"), S, Context(now=NOW))
    assert d.verdict == "silent" and "not actionable" in d.reasons[0]


@pytest.mark.parametrize("handle,flag,why", [
    ("acmecorp", {}, "own account"), ("acme_ceo", {}, "persona"),
    ("jane_at_acme", {}, "employee"), ("someone", {"is_repost": True}, "repost"),
    ("someone", {"is_own_account": True}, "own account"),
])
def test_never_a_ticket(handle: str, flag: dict[str, bool], why: str) -> None:
    d = decide(m(handle=handle, **flag), sc(0.99), S, Context(now=NOW))
    assert d.verdict == "silent" and why in d.reasons[0]


def test_hurtful_and_helpful_goes_to_human_review_hurtful_only_is_silent() -> None:
    assert decide(m(), sc(0.9, hurtful=0.9), S, Context(now=NOW)).verdict == "review"
    d = decide(m(), sc(0.1, hurtful=0.9), S, Context(now=NOW))
    assert d.verdict == "silent" and d.hurtful


def test_borderline_goes_to_review_but_not_praise() -> None:
    assert decide(m(), sc(0.45), S, Context(now=NOW)).verdict == "review"
    assert decide(m(), sc(0.45, category="praise"), S, Context(now=NOW)).verdict == "silent"


def test_category_threshold_override_without_retraining() -> None:
    strict = Settings(category_thresholds={"billing": 0.95})
    assert decide(m(), sc(0.9), strict, Context(now=NOW)).verdict == "review"
    assert decide(m(), sc(0.9, category="outage"), strict, Context(now=NOW)).verdict == "open"


def test_thread_reply_links_even_when_not_actionable_itself() -> None:
    case = Case(case_key="generic:1", thread_key="generic:1", opened_at=NOW - 60)
    reply = m("thanks, any update?", id="2", in_reply_to="1", conversation_id="1")
    d = decide(reply, sc(0.2), S, Context(now=NOW, cases=[case]))
    assert d.verdict == "link" and d.case_key == "generic:1"


def test_author_open_case_links_within_window_only() -> None:
    case = Case(case_key="generic:1", thread_key="generic:1", opened_at=NOW - 3600)
    new = m("another problem", id="9")
    assert decide(new, sc(0.9), S, Context(now=NOW, cases=[case])).verdict == "link"
    old = Case(case_key="generic:1", thread_key="generic:1", opened_at=NOW - 30 * 86400)
    assert decide(new, sc(0.9), S, Context(now=NOW, cases=[old])).verdict == "open"


def test_exact_duplicate_is_silent() -> None:
    d = decide(m(id="5"), sc(0.9), S, Context(now=NOW, duplicate_of="generic:1"))
    assert d.verdict == "silent" and "duplicate" in d.reasons[0]


def test_an_outage_report_opens_its_own_urgent_ticket() -> None:
    """The wave is counted across partitions by the waves agent (router.agents.waves):
    triage decides each report alone."""
    d = decide(m(), sc(0.9, category="outage"), S, Context(now=NOW))
    assert (d.verdict, d.priority, d.category) == ("open", "urgent", "outage")


def test_a_mention_the_model_cannot_read_goes_to_a_person_whatever_its_scores() -> None:
    """A Japanese support request scores 'not actionable' because the model reads no word
    of it; staying silent would fail the customer, so a human reviews it."""
    for scores in (sc(0.05, coverage=0.0), sc(0.99, coverage=0.2), sc(0.1, 0.9, coverage=0.1)):
        d = decide(m(), scores, S, Context(now=NOW))
        assert d.verdict == "review", scores
        assert "knows" in d.reasons[0] and "a human decides" in d.reasons[0]
        assert d.scores["coverage"] == scores.coverage
    assert decide(m(), sc(0.05, coverage=0.5), S, Context(now=NOW)).verdict == "silent"


def test_coverage_floor_is_a_setting_and_an_unread_follow_up_joins_the_open_case() -> None:
    off = Settings(min_coverage=0.0)
    assert decide(m(), sc(0.05, coverage=0.0), off, Context(now=NOW)).verdict == "silent"
    case = Case(case_key="generic:7", thread_key="generic:7", opened_at=NOW - 60)
    d = decide(m(), sc(0.05, coverage=0.0), S, Context(now=NOW, cases=[case]))
    assert d.verdict == "link" and d.case_key == "generic:7"
    # never_ticket still wins: the company's own account in Japanese stays silent
    own = decide(m(handle="acmecorp"), sc(0.05, coverage=0.0), S, Context(now=NOW))
    assert own.verdict == "silent"


def test_ops_move_the_coverage_floor_at_runtime() -> None:
    """`router set min_coverage 0.2` reaches every worker through router-config; a
    mention at 0.3 then goes by its scores instead of to a person."""
    import json

    from router.control import Control, validate

    assert validate("min_coverage", "0.2") == 0.2
    control = Control(S)
    control.apply(b"min_coverage", json.dumps({"name": "min_coverage", "value": 0.2}).encode())
    lowered = S.model_copy(update=control.overrides())
    mention, scores = m(), sc(0.05, coverage=0.3)
    assert decide(mention, scores, S, Context(now=NOW)).verdict == "review"
    assert decide(mention, scores, lowered, Context(now=NOW)).verdict == "silent"


def test_a_grieving_customer_is_never_low_priority() -> None:
    """'My father passed away, how do I close his account' reads as a how-to (low) and is
    borderline (review): the agent must still see it before the feature requests."""
    grief = sc(0.45, sensitive=0.98, category="how_to")
    d = decide(m("My father passed away. How do I close his account?"), grief, S,
               Context(now=NOW))
    assert d.verdict == "review" and d.sensitive
    assert d.priority == "high"
    opened = decide(m(), sc(0.9, sensitive=0.98, category="praise"), S, Context(now=NOW))
    assert opened.verdict == "open" and opened.priority == "high"
    outage = decide(m(), sc(0.9, sensitive=0.98, category="outage"), S, Context(now=NOW))
    assert outage.priority == "urgent"  # at least high, not capped at high
    assert decide(m(), sc(0.45, category="how_to"), S, Context(now=NOW)).priority == "low"


@pytest.mark.parametrize("ctx,verdict", [
    (Context(now=NOW, cases=[Case("generic:1", "generic:1", NOW - 60)]), "link"),
    (Context(now=NOW, cases=[Case("generic:5", "generic:5", NOW - 60)]), "link"),
    (Context(now=NOW), "open"),
])
def test_the_first_reason_does_not_repeat_the_verdict(ctx: Context, verdict: str) -> None:
    """A ticket note shows the verdict and its reason side by side; 'link: link: ...' was
    the reason repeating the verdict word."""
    reply = m("still broken", id="2", in_reply_to="1", conversation_id="1")
    d = decide(reply, sc(0.9, category="outage" if verdict == "incident" else "billing"), S,
               ctx)
    assert d.verdict == verdict
    assert not d.reasons[0].lower().startswith(("link", "open", "incident")), d.reasons[0]


def test_a_score_just_under_the_threshold_never_reads_as_equal_to_it() -> None:
    settings = Settings(actionable_threshold=0.5, review_margin=0.1)
    d = decide(m(), sc(0.4975), settings, Context(now=NOW))
    assert d.verdict == "review"
    assert d.reasons[0] == "borderline: actionable 0.497 just under 0.500", d.reasons
    d = decide(m(), sc(0.50004), settings, Context(now=NOW))
    assert d.verdict == "open" and d.reasons[0] == "support can help (0.5000 >= 0.5000)"
    assert decide(m(), sc(0.8), settings, Context(now=NOW)).reasons[0] == (
        "support can help (0.80 >= 0.50)")
