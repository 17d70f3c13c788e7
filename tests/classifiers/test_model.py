"""What a user of the shipped model notices: rankings, reasons, odd input, the contract."""

from __future__ import annotations

from pathlib import Path

from classifiers.api import CATEGORIES, TriageModel
from classifiers.model import SocialTriageModel
from tests.classifiers.test_normalize import HOSTILE

SUPPORT = [
    "@acmecorp my order never arrived and tracking hasn't updated in 10 days, please help",
    "@AcmeSupport I was charged twice this month, I need a refund",
    "@acmecorp the app crashes every time I try to log in",
]
PRAISE = [
    "love my new @acmecorp headphones, thank you!",
    "@acmecorp best customer service ever, you guys rock",
    "great day at the beach with friends",
]
HURTFUL = ["you are a fucking idiot", "shut up you stupid bitch", "go to hell you worthless moron"]
NEUTRAL = ["what a lovely sunny morning", "the meeting moved to 3pm", "new recipe for banana bread"]


def test_implements_the_contract(model: SocialTriageModel) -> None:
    assert isinstance(model, TriageModel)


def test_support_requests_rank_above_praise(model: SocialTriageModel) -> None:
    support = [s.actionable for s in model.score(SUPPORT)]
    praise = [s.actionable for s in model.score(PRAISE)]
    assert min(support) > max(praise)


def test_hurtful_texts_score_higher_than_neutral(model: SocialTriageModel) -> None:
    assert min(model.hurtful(HURTFUL)) > max(model.hurtful(NEUTRAL))
    scored = model.score(HURTFUL)
    assert all(any(r.startswith("hurtful:") for r in s.reasons) for s in scored)


def test_sensitive_moment(model: SocialTriageModel) -> None:
    sad, plain = model.score(["my father passed away last night", "my battery is low"])
    assert sad.sensitive >= 0.5 > plain.sensitive
    assert any(r.startswith("sensitive:") for r in sad.reasons)


def test_a_bereaved_customer_is_a_sensitive_moment_a_dead_phone_is_not(
    model: SocialTriageModel,
) -> None:
    """Closing a relative's account is a common support request; a cheerful public reply
    to it is exactly what the gate exists to stop. Phones and batteries die every day."""
    bereaved = model.score([
        "my father died last week, how do I close his account?",
        "My late husband's subscription is still being charged",
        "my mum passed on sunday and her account is locked",
    ])
    assert all(s.sensitive >= 0.5 for s in bereaved), [s.sensitive for s in bereaved]
    everyday = model.score(["my phone died again", "the battery died after an hour",
                            "finally passed the exam, thanks for the tips"])
    assert all(s.sensitive < 0.5 for s in everyday), [s.sensitive for s in everyday]


def test_saved_model_carries_no_caches(model: SocialTriageModel, tmp_path: Path) -> None:
    """Caches (the sensitive lexicon's words, the keyword rules, the token table) are
    rebuilt on load: an edited lexicon takes effect without retraining."""
    from classifiers.store import load, save

    model.score(["warm every cache: my father passed away, refund please?"])
    assert any(k.startswith("_") for k in model.__dict__)
    path = save(model, tmp_path / "triage.joblib", {"name": "copy"})
    again = load(path)
    # only the semantic half's files, attached by load from beside the artifact
    assert [k for k in again.__dict__ if k.startswith("_")] == ["_encoder", "_folder"]
    texts = ["my father passed away", "@acmecorp refund please?"]
    assert again.score(texts) == model.score(texts)


def test_reasons_are_non_empty_and_readable(model: SocialTriageModel) -> None:
    for s in model.score(SUPPORT + PRAISE + HURTFUL + NEUTRAL):
        assert s.reasons and all(isinstance(r, str) and r for r in s.reasons)
        assert s.category in CATEGORIES
        assert 0.0 <= s.actionable <= 1.0 and 0.0 <= s.hurtful <= 1.0
        assert 0.0 <= s.sensitive <= 1.0 and 0.0 <= s.category_confidence <= 1.0


def test_hostile_text_is_scored_not_raised(model: SocialTriageModel) -> None:
    scored = model.score(HOSTILE)  # type: ignore[arg-type]
    assert len(scored) == len(HOSTILE)
    assert all(s.reasons for s in scored)
    assert len(model.hurtful(HOSTILE)) == len(HOSTILE)  # type: ignore[arg-type]


def test_batch_of_200_keeps_order(model: SocialTriageModel) -> None:
    texts = (SUPPORT + PRAISE) * 34
    scored = model.score(texts[:200])
    assert len(scored) == 200
    again = model.score(texts[:2])
    assert scored[0] == again[0] and scored[1] == again[1]
    assert model.score([]) == [] and model.hurtful([]) == []


def test_category_of_obvious_requests(model: SocialTriageModel) -> None:
    billing, delivery = model.score(
        ["@acmecorp you charged me twice, where is my refund", "@acmecorp my parcel never arrived"]
    )
    assert billing.category == "billing"
    assert delivery.category == "order_delivery"


def test_operating_point_is_exposed(model: SocialTriageModel) -> None:
    op = model.operating_point
    assert 0.0 < op["actionable"] < 1.0 and 0.0 < op["hurtful"] < 1.0


def test_decisions_the_router_relies_on(model: SocialTriageModel) -> None:
    """Obvious requests, with or without a handle, cross the operating point; praise doesn't."""
    threshold = model.operating_point["actionable"]
    requests = [
        "I was charged twice, please refund",
        "my package never arrived",
        "can't log in, password reset email never arrives",
        "the app crashes when I open settings",
    ]
    requests += ["@acmecorp " + t for t in requests]
    assert all(s.actionable >= threshold for s in model.score(requests))
    praise = model.score(["Love the new dashboard, great work!"])[0]
    assert praise.actionable < threshold
    assert model.hurtful(["you are useless idiots, go to hell"])[0] >= 0.5


def test_coverage_tells_a_language_the_model_cannot_read(model: SocialTriageModel) -> None:
    """English requests are read; Japanese, Russian, Chinese and German ones are not, so the
    router can hand them to a person instead of trusting a meaningless score."""
    english = model.score(SUPPORT + PRAISE + ["Love the new dashboard, great work!"])
    assert all(s.coverage >= 0.6 for s in english)  # "dashboard" is unknown: 0.68
    foreign = model.score([
        "@acmesupport アプリが起動しません。ログインできないです。助けてください",
        "Моя посылка не пришла, помогите пожалуйста",
        "我的订单还没到，请帮帮我",
        "Meine Bestellung ist nicht angekommen, bitte helfen Sie mir",
    ])
    assert all(s.coverage < 0.4 for s in foreign), [s.coverage for s in foreign]


def test_coverage_ignores_names_handles_links_and_hashtags(model: SocialTriageModel) -> None:
    short, tagged = model.score([
        "Mossad",  # one unknown word is not a language
        "@zq_unknown_brand my order never arrived https://t.co/xyzzy #zzqqxxwwvvuu",
    ])
    assert short.coverage == 1.0
    assert tagged.coverage == 1.0
    assert model.coverage(["", "🙂🙂", None, "zqxw " * 200_000]).tolist() == [1.0, 1.0, 1.0, 0.0]


def test_every_category_an_agent_expects_with_the_word_that_decided_it(
    model: SocialTriageModel,
) -> None:
    cases = {
        "is the acme app down for you too? nothing loads": "outage",
        "locked out of my account, the verification code never comes": "account_access",
        "you charged me twice this month, I want a refund": "billing",
        "my parcel was marked delivered but never arrived": "order_delivery",
        "the app crashes every time I open settings": "product_defect",
        "please bring back the old dark theme": "feature_request",
        "how do I export my invoices as csv?": "how_to",
        "thank you, best support team ever": "praise",
    }
    scored = model.score(list(cases))
    assert [s.category for s in scored] == list(cases.values())
    for s in scored:
        assert any(r.startswith(f"category: {s.category} (word '") for r in s.reasons), s.reasons
    # where no rule matches, the head decides and says how sure it is
    plain = model.score(["random words about nothing"])[0]
    assert any(r.startswith(f"category: {plain.category} (0.") for r in plain.reasons)


def test_a_company_trained_on_its_own_categories_gets_its_own_categories(
    model: SocialTriageModel,
) -> None:
    """Keyword rules would call this 'billing' (refund); a company that files refunds under
    order_delivery trains that, and its model must follow it, not the rules."""
    from classifiers.data import Labelled
    from classifiers.train import train_on

    data = Labelled()
    for i in range(30):
        data.add(f"refund for order {i} please, the parcel came back", 1, "order_delivery")
        data.add(f"my app login fails again, attempt {i}", 1, "account_access")
        data.add(f"lovely weather on day {i}", 0, "other")
    own, _ = train_on(data, model)
    assert own.category_rules is False
    assert own.score(["refund for my order please, the parcel came back"])[0].category == (
        "order_delivery"
    )
    assert model.score(["refund for my order please, the parcel came back"])[0].category == (
        "billing"
    )
    without, _ = train_on(Labelled(data.texts, data.labels, [""] * len(data)), model)
    assert without.category_rules is True


def test_the_model_applies_the_keyword_rules_exactly_as_written(
    model: SocialTriageModel,
) -> None:
    """The model finds rule words through its token table (fast, vectorized); the rules'
    own reading is ``guess_category``. Wherever a rule matches, both must agree, including
    how_to needing a question mark and praise only for posts support cannot help with."""
    from classifiers.actionable import guess_category
    from classifiers.seed_examples import SEED_EXAMPLES
    from classifiers.tokens import tokens

    texts = [row[0] for row in SEED_EXAMPLES]
    texts += [t.replace("?", "") for t in texts] + [t + " thanks, great!" for t in texts]
    threshold = model.operating_point["actionable"]
    checked = 0
    for text, s in zip(texts, model.score(texts), strict=True):
        expected = guess_category(tokens(text), int(s.actionable >= threshold))
        if expected != "other":
            assert s.category == expected, text
            checked += 1
    assert checked > len(texts) / 2
