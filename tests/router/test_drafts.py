"""What a decision puts on a ticket (router policy, not a desk's): subject, tags, problem."""

from __future__ import annotations

from router.drafts import REVIEW_TAG, draft_for
from vocab.records import Author, Decision, Mention
from vocab.verdicts import Verdict


def decision(verdict: str, text: str = "my  order\nnever arrived") -> Decision:
    m = Mention(id="7", network="mastodon", text=text, created_at="2026-12-07T10:00:00Z",
                author=Author(id="u1", handle="ann"))
    return Decision(mention=m, verdict=verdict, scores={"actionable": 0.93, "hurtful": 0.02},
                    reasons=["support can help"], category="shipping", priority="normal")


def test_an_open_decision_names_the_customer_and_is_tagged_for_the_social_view() -> None:
    draft = draft_for(decision("open"), external_id="social-router:x")
    assert draft.subject == "@ann on mastodon: my order never arrived"
    assert not draft.problem
    assert list(draft.tags) == ["social", "social-mastodon", "verdict-open", "category-shipping"]
    assert (draft.confidence, draft.hurtful, draft.language) == (0.93, 0.02, "unknown")


def test_an_incident_opens_the_problem_ticket_and_a_review_asks_for_a_person() -> None:
    incident = draft_for(decision("incident"), external_id="e")
    assert incident.problem and incident.subject.startswith("[incident] shipping: ")
    review = draft_for(decision("review"), external_id="e")
    assert REVIEW_TAG in review.tags and not review.problem
    assert all(REVIEW_TAG not in draft_for(decision(v), external_id="e").tags
               for v in Verdict if v is not Verdict.REVIEW)


def test_an_empty_post_still_gets_a_subject() -> None:
    assert draft_for(decision("open", text="  "), external_id="e").subject.endswith("(no text)")


def test_a_ticket_is_tagged_with_the_model_that_decided() -> None:
    d = decision("open")
    d.model_version = "3f9a1c2b7d4e (triage model trained on history.csv, 2026-12-07)"
    assert draft_for(d, external_id="e").tags[-1] == "model-3f9a1c2b7d4e"
