"""The judgement the stream relies on, through the router's own policy, on posts the
project wrote (none is from the shared data): requests open or go to a person, praise and
chatter stay silent, abuse with nothing to fix is gated; and the semantic half holds up on
hostile text and gives the same answer alone or in a batch."""

from __future__ import annotations

import random

import numpy as np
import pytest

from classifiers.api import Scores
from classifiers.metrics import route
from classifiers.model import SocialTriageModel
from router.policy import Context, decide
from router.settings import Settings
from vocab.records import Author, Mention

NOW = 1_800_000_000.0

# Requests worded the way people ask, without the words the linear model leans on most
# ("refund", "order", "broken"): the semantic half has to read what they ask.
REQUESTS = [
    "what's the quickest way to get my money back for the jacket",
    "I need to update the phone number on my account, how do I do that",
    "is there anybody I can actually speak to about my bill",
    "nobody has answered my emails for a week, can someone help me",
    "how do I cancel my subscription before it renews",
    "my card was charged but the booking does not show in the app",
    "the router you sent keeps dropping wifi every evening",
    "where is my parcel? tracking hasn't moved since monday",
]
PRAISE_AND_CHATTER = [
    "love the new store layout, great job everyone",
    "thank you so much, the team sorted it out in minutes",
    "watching the match tonight with a pizza, can't wait",
    "happy friday everyone! what are your weekend plans",
]
ABUSE = [
    "you are all idiots and I hope you rot",
    "shut up you stupid clowns nobody cares about you",
]


def mention(text: str) -> Mention:
    return Mention(id="1", network="generic", text="@acmecorp " + text,
                   author=Author(id="u-ann", handle="ann"), created_at="t")


def verdicts(model: SocialTriageModel, texts: list[str]) -> list[str]:
    settings = Settings(own_accounts=["acmecorp"]).with_model_defaults(model.operating_point)
    scored = model.score(["@acmecorp " + t for t in texts])
    return [decide(mention(t), s, settings, Context(now=NOW)).verdict
            for t, s in zip(texts, scored, strict=True)]


def test_requests_open_or_go_to_a_person(model: SocialTriageModel) -> None:
    got = dict(zip(REQUESTS, verdicts(model, REQUESTS), strict=True))
    assert all(v in ("open", "review") for v in got.values()), got
    assert sum(v == "open" for v in got.values()) >= len(REQUESTS) - 2, got


def test_praise_and_chatter_stay_silent(model: SocialTriageModel) -> None:
    got = dict(zip(PRAISE_AND_CHATTER, verdicts(model, PRAISE_AND_CHATTER), strict=True))
    assert all(v == "silent" for v in got.values()), got


@pytest.mark.xfail(strict=True, reason="known: an opinion addressed to the brand (its ads, "
                   "prices) still reaches a ticket or a person too often: 40% of the "
                   "evaluation set's 88 brand-directed non-actionable posts (MODEL_CARD.md)")
def test_an_opinion_about_an_advert_stays_silent(model: SocialTriageModel) -> None:
    assert verdicts(model, ["just saw your new advert on tv, very funny"]) == ["silent"]


def test_abuse_with_nothing_to_fix_is_gated(model: SocialTriageModel) -> None:
    got = dict(zip(ABUSE, verdicts(model, ABUSE), strict=True))
    assert all(v == "silent" for v in got.values()), got
    assert all(p >= model.operating_point["hurtful"] for p in model.hurtful(ABUSE))


def test_the_semantic_half_speaks_in_the_reasons(model: SocialTriageModel) -> None:
    assert model.semantic is not None
    request, chatter = model.score([REQUESTS[2], PRAISE_AND_CHATTER[2]])
    assert any(r.startswith("meaning: reads like a request for help") for r in request.reasons)
    assert any(r.startswith("meaning: reads like chatter") for r in chatter.reasons)


def test_a_batch_and_each_post_alone_get_the_same_scores(model: SocialTriageModel) -> None:
    texts = REQUESTS + PRAISE_AND_CHATTER + ABUSE + ["", "🙏🙏🙏", "日本語のテキスト and English"]
    batch = model.score(texts)
    alone = [model.score([t])[0] for t in texts]
    for b, a in zip(batch, alone, strict=True):
        assert b.actionable == pytest.approx(a.actionable, abs=1e-9)
        assert b.reasons == a.reasons


def test_hostile_text_gets_a_bounded_score(model: SocialTriageModel) -> None:
    huge = "please help my order " * 50_000  # about 1 MB
    texts = ["", " ", "😡" * 40, "🙏🏽👍🏿‍", "مرحبا 你好 שלום hello", "\u200b\u200d", huge,
             "@a @b @c", "http://t.co/x"]
    scored = model.score(texts)
    assert len(scored) == len(texts)
    for s in scored:
        assert 0.0 <= s.actionable <= 1.0 and np.isfinite(s.actionable)
        assert not any(r.startswith("error") for r in s.reasons)
    vectors = model.encoder().encode(texts)
    assert np.isfinite(vectors).all()
    assert not vectors[0].any()  # an empty post has no meaning, not a made-up one


def test_route_is_the_policy_on_scores_alone() -> None:
    """The card's review and recall figures come from ``route``: it must say what
    ``router.policy.decide`` says for the same scores."""
    rng = random.Random(3)
    op = {"actionable": 0.62, "hurtful": 0.43}
    margin = 0.08
    settings = Settings(own_accounts=["acmecorp"]).with_model_defaults(
        {**op, "review_margin": margin})
    pa = [rng.random() for _ in range(400)]
    ph = [rng.random() for _ in range(400)]
    cat = [rng.choice(["billing", "praise", "other"]) for _ in range(400)]
    ours = route(pa, ph, [c == "praise" for c in cat], op, margin)
    for a, h, c, v in zip(pa, ph, cat, ours, strict=True):
        s = Scores(actionable=a, hurtful=h, sensitive=0.0, category=c, reasons=("x",))
        assert decide(mention("x"), s, settings, Context(now=NOW)).verdict == v


def test_the_review_band_comes_from_the_card_unless_set() -> None:
    op = {"actionable": 0.6, "hurtful": 0.4, "review_margin": 0.04}
    assert Settings().with_model_defaults(op).review_band == 0.04
    assert Settings(review_margin=0.2).with_model_defaults(op).review_band == 0.2
    assert Settings().review_band == 0.1  # a model without a band on its card
