"""The triage step without Kafka: what the author's state makes of a mention (duplicates,
threads, cases, redeliveries), as the agent and `router classify` both apply it; and the
dry run's outage waves, counted as the waves agent counts them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from classifiers.api import Scores
from router.settings import Settings
from router.triage_step import Triaged, triage
from vocab.records import Author, Mention

NOW = 1_800_000_000.0
S = Settings(incident_min_reports=3, incident_window_seconds=600)


def m(text: str, *, id: str, handle: str = "ann", **kw: Any) -> Mention:
    return Mention(id=id, network="generic", text=text, author=Author(id=f"u-{handle}",
                   handle=handle), created_at="2027-01-15T08:00:00Z", **kw)


def sc(actionable: float = 0.9, category: str = "billing") -> Scores:
    return Scores(actionable=actionable, hurtful=0.0, sensitive=0.0, category=category,
                  reasons=("word 'refund' (+0.8)",))


class Run:
    """Keeps state between steps exactly as the triage agent does."""

    def __init__(self) -> None:
        self.authors: dict[str, Mapping[str, Any]] = {}
        self.posts: dict[str, dict[str, Any]] = {}
        self.decided: dict[str, list[Any]] = {}
        self.texts: dict[str, str] = {}

    def __call__(self, mention: Mention, scores: Scores, now: float = NOW) -> Triaged:
        key = f"{mention.network}:{mention.author.id}"
        step = triage(mention, scores, S, author=self.authors.get(key, {}),
                      decided=self.decided, texts=self.texts, now=now, posts=self.posts)
        if step.new:
            self.posts[mention.ref] = step.post
            self.decided.update(step.decided)
            self.texts.update(step.texts)
            self.authors[key] = step.author
        return step


def test_a_redelivered_mention_gets_the_same_verdict_and_changes_nothing() -> None:
    run = Run()
    first = run(m("I was charged twice", id="1"), sc())
    state = run.authors["generic:u-ann"]
    again = run(m("I was charged twice", id="1"), sc(), now=NOW + 5)
    assert (again.decision.verdict, again.decision.case_key) == ("open", "generic:1")
    assert first.decision.verdict == "open" and not again.new
    assert again.decision.reasons[0] == "redelivered: same verdict as before"
    assert again.author is state


def test_the_same_text_again_under_another_id_is_a_silent_duplicate() -> None:
    run = Run()
    run(m("I was charged twice", id="1"), sc())
    d = run(m("i was  CHARGED twice", id="2"), sc()).decision
    assert d.verdict == "silent" and "duplicate of generic:1" in d.reasons[0]


def test_a_reply_in_a_case_thread_links_and_the_ticket_shows_the_thread() -> None:
    run = Run()
    run(m("hello", id="0", handle="shop"), sc(0.1, "praise"))  # the brand's post, seen
    opened = run(m("my refund never came", id="1", in_reply_to="0"), sc()).decision
    assert opened.verdict == "open"
    assert [p["id"] for p in opened.thread] == ["0"]  # the post it replies to, by anyone
    linked = run(m("still nothing", id="2", in_reply_to="1", conversation_id="0"),
                 sc(0.2, "other")).decision
    assert linked.verdict == "link" and linked.case_key == opened.case_key


def test_each_outage_report_opens_its_own_urgent_ticket_the_wave_is_counted_later() -> None:
    """Triage sees one partition: it cannot know the wave, so it never says incident (the
    waves agent counts every partition's reports; tests/router/test_waves.py)."""
    run = Run()
    verdicts = [run(m(f"app down for me {i}", id=str(i), handle=f"u{i}"), sc(0.95, "outage"),
                    now=NOW + i).decision for i in range(4)]
    assert [(d.verdict, d.priority, d.case_key) for d in verdicts] == [
        ("open", "urgent", f"generic:{i}") for i in range(4)]


class Fixed:
    """A model that scores every text the same (the step, not the model, is under test)."""

    def score(self, texts: list[str]) -> list[Scores]:
        return [sc(0.95, "outage") for _ in texts]

    def hurtful(self, texts: list[str]) -> list[float]:
        return [0.0 for _ in texts]


def test_router_classify_decides_through_the_same_step_as_the_stream() -> None:
    """The dry run keeps what the agent keeps: a mention given twice (a replayed export) is a
    redelivery, and a wave spread over authors is counted as the waves agent counts it: the
    third report makes it an incident of every report so far, the one given twice counts
    once."""
    import json

    from router.classify import classify_lines

    lines = [json.dumps(m(f"app down {i}", id=str(i), handle=f"u{i}").to_json_dict()).encode()
             for i in range(3)]
    out = list(classify_lines([*lines, lines[0]], S, Fixed()))  # type: ignore[arg-type]
    assert [o["verdict"] for o in out] == ["open", "open", "open", "open"]
    assert [o["wave"]["report"] for o in out] == [1, 2, 3, 1]
    assert [o["wave"]["problem"] is not None for o in out] == [False, False, True, True]
    assert out[2]["wave"]["incidents"] == ["generic:0", "generic:1", "generic:2"]
    assert out[3]["wave"]["incidents"] == []  # counted and made an incident already
    assert out[3]["reasons"][0] == "redelivered: same verdict as before"


def test_every_decision_names_the_model_that_scored_it_a_redelivery_too() -> None:
    mention = m("I was charged twice", id="1")
    first = triage(mention, sc(), S, author={}, decided={}, texts={}, now=NOW,
                   model_version="aaa (one)")
    again = triage(mention, sc(), S, author=first.author, decided=first.decided,
                   texts=first.texts, now=NOW + 5, model_version="bbb (two)")
    assert first.decision.model_version == "aaa (one)"
    assert not again.new and again.decision.model_version == "bbb (two)"
