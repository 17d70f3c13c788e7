"""The shape of triage's state (issue #12): one mention writes one small record beside its
post and the author's short record, not the author's history; an ``authors`` record of the
older shape (decided ids and text hashes inside it) is still honoured, and its entries move
out with the author's next mention; the triage path's JSON is Faust's, byte for byte. No
Kafka: the agent runs on dict tables."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from classifiers.api import Scores
from router.agents.triage import Triage
from router.classify import classify_lines
from router.settings import Settings
from router.tables import Bounded, RecentPosts, in_event
from router.triage_step import author_key, remember, text_hash, text_key, triage
from router.wire import decision_bytes, mention_json
from vocab.records import Author, Decision, Mention
from vocab.verdicts import Verdict

from .test_shadow import Sink

NOW = 1_800_000_000.0
S = Settings()


def m(text: str, *, id: str, handle: str = "ann", **kw: Any) -> Mention:
    return Mention(id=id, network="generic", text=text, author=Author(id=f"u-{handle}",
                   handle=handle), created_at="2027-01-15T08:00:00Z", **kw)


def sc(actionable: float = 0.9) -> Scores:
    return Scores(actionable=actionable, hurtful=0.0, sensitive=0.0, category="billing",
                  category_confidence=0.9, reasons=("word 'refund' (+0.8)",))


def old_shape(*decided: tuple[Mention, Decision]) -> dict[str, Any]:
    """An ``authors`` record as the worker before issue #12 wrote it (``remember`` then put
    the text hashes and decided ids in the author's record, up to 200 and 500)."""
    state: dict[str, Any] = {}
    hashes: dict[str, str] = {}
    ids: dict[str, list[Any]] = {}
    for mention, d in decided:
        state = remember(state, mention, d)
        hashes.setdefault(text_hash(mention.text), mention.ref)
        ids[mention.ref] = [str(d.verdict), d.case_key]
    state.update(hashes=hashes, decided=ids)
    return json.loads(json.dumps(state))  # as read back from the changelog


def decision(mention: Mention, verdict: str, case: str | None) -> Decision:
    return Decision(mention=mention, verdict=Verdict(verdict), scores={}, reasons=[],
                    case_key=case, decided_at=NOW - 100)


# -- the step -------------------------------------------------------------------------------
def test_a_mention_writes_its_own_records_and_the_author_record_stays_small() -> None:
    author: dict[str, Any] = {}
    decided: dict[str, list[Any]] = {}
    texts: dict[str, str] = {}
    sizes = []
    for i in range(600):  # more than the old record's 500 decided ids and 200 hashes
        step = triage(m(f"question number {i}", id=str(i)), sc(0.1), S, author=author,
                      decided=decided, texts=texts, now=NOW + i)
        assert step.new and step.decided == {}
        # a new text rides in the author's record; the one before it gets its own record
        assert step.author["text"] == {"hash": text_hash(f"question number {i}"),
                                       "ref": f"generic:{i}", "verdict": ["silent", None]}
        assert step.texts == ({} if i == 0 else {
            text_key("generic:u-ann", text_hash(f"question number {i - 1}")): {
                "ref": f"generic:{i - 1}", "verdict": ["silent", None]}})
        decided.update(step.decided)
        texts.update(step.texts)
        author = dict(step.author)
        sizes.append(len(json.dumps(author)))
    assert set(author) == {"recent", "text"} and len(author["recent"]) == 10
    assert max(sizes[20:]) == max(sizes[-5:])  # what one mention rewrites does not grow
    again = triage(m("question number 3", id="3"), sc(), S, author=author, decided=decided,
                   texts=texts, now=NOW + 700)
    assert not again.new and again.decision.verdict == "silent"  # its first verdict
    dup = triage(m("Question  number 3", id="x"), sc(), S, author=author, decided=decided,
                 texts=texts, now=NOW + 700)
    assert dup.decision.verdict == "silent" and "duplicate of generic:3" in dup.decision.reasons[0]
    assert dup.texts == {} and dup.decided == {"generic:x": ["silent", None]}  # its own only
    latest = triage(m("question number 599", id="599"), sc(), S, author=author,
                    decided=decided, texts=texts, now=NOW + 700)
    assert not latest.new  # found in the author's record
    decided.update(dup.decided)
    again = triage(m("Question  number 3", id="x"), sc(), S, author=author, decided=decided,
                   texts=texts, now=NOW + 800)
    assert not again.new and again.decision.reasons[0] == "redelivered: same verdict as before"


def test_an_old_shape_author_record_is_honoured_then_moved_out() -> None:
    """A worker upgraded in place: a mention decided before the upgrade and redelivered after
    it gets its verdict and case again (no second ticket), before and after the author's
    record is rewritten in the new shape."""
    opened, chat = m("I was charged twice", id="1"), m("nice weather", id="2")
    repeated = m("i was charged TWICE", id="3")  # a duplicate: its id, not its text, kept
    record = old_shape((opened, decision(opened, "open", "generic:1")),
                       (chat, decision(chat, "silent", None)),
                       (repeated, decision(repeated, "silent", None)))
    assert set(record) == {"cases", "recent", "hashes", "decided"}
    again = triage(opened, sc(), S, author=record, decided={}, texts={}, now=NOW)
    assert not again.new and again.author is record
    assert (again.decision.verdict, again.decision.case_key) == ("open", "generic:1")
    assert again.decision.reasons[0] == "redelivered: same verdict as before"
    dup = triage(m("I was  CHARGED twice", id="7"), sc(), S, author=record, decided={},
                 texts={}, now=NOW)
    assert "duplicate of generic:1" in dup.decision.reasons[0]

    new = triage(m("where is my refund", id="4"), sc(), S, author=record, decided={},
                 texts={}, now=NOW)
    assert set(new.author) == {"cases", "recent", "text"}  # without the old entries...
    key = "generic:u-ann"
    assert new.texts == {
        text_key(key, text_hash(opened.text)): {"ref": "generic:1",
                                                "verdict": ["open", "generic:1"]},
        text_key(key, text_hash(chat.text)): {"ref": "generic:2", "verdict": ["silent", None]}}
    assert new.author["text"]["ref"] == "generic:4"
    assert new.decided == {"generic:3": ["silent", None]}
    # ...which are read from their own records from now on
    for before in (opened, chat, repeated):
        later = triage(before, sc(), S, author=new.author, decided=new.decided,
                       texts=new.texts, now=NOW + 5)
        assert not later.new and [later.decision.verdict, later.decision.case_key] == (
            record["decided"][before.ref])
    assert new.decision.case_key == "generic:1"  # the open case kept in the record, joined


# -- the agent, on dict tables ----------------------------------------------------------------
class Fixed:
    def __init__(self, p: float) -> None:
        self.p = p

    def score(self, texts: Sequence[str]) -> list[Scores]:
        return [sc(self.p) for _ in texts]

    def hurtful(self, texts: Sequence[str]) -> list[float]:
        return [0.0 for _ in texts]


class Event:
    """A Kafka event as a ``take_events`` batch hands it over (weak-referenceable)."""

    def __init__(self, mention: Mention, offset: int, partition: int = 0) -> None:
        self.value = json.dumps(mention.to_json_dict()).encode()
        self.message = type("Message", (), {"partition": partition, "offset": offset,
                                            "timestamp": None, "topic": "mentions"})()


class Agent:
    """The triage agent's step on dict tables, kept between batches as Faust keeps them."""

    def __init__(self, authors: dict[str, Any] | None = None) -> None:
        from router.live_model import LiveModel

        self.authors: dict[str, Any] = defaultdict(dict, authors or {})
        self.decided_table: dict[str, Any] = {}
        self.texts_table: dict[str, Any] = {}
        self.sink = Sink()
        live = LiveModel(Fixed(0.9), "model (test)", "a" * 64)  # type: ignore[arg-type]
        self.step = Triage(live=lambda: live, policy_settings=lambda: S,
                           authors=self.authors,  # type: ignore[arg-type]
                           posts=RecentPosts({}),  # type: ignore[arg-type]
                           decisions="decisions", sink=self.sink,  # type: ignore[arg-type]
                           decided=Bounded(self.decided_table, 100),  # type: ignore[arg-type]
                           texts=Bounded(self.texts_table, 100))  # type: ignore[arg-type]

    def decisions(self) -> list[dict[str, Any]]:
        return [v for t, _, v in self.sink.emitted if t == "decisions"]


async def test_the_agent_writes_one_small_record_of_each_and_answers_a_redelivery() -> None:
    agent = Agent()
    first = [m("I was charged twice", id="1"), m("still waiting", id="2", in_reply_to="1")]
    await agent.step.handle([Event(x, i) for i, x in enumerate(first)])
    await agent.step.handle([Event(first[0], 0)])  # redelivered after a crash
    out = agent.decisions()
    assert [(d["verdict"], d["case_key"]) for d in out] == [
        ("open", "generic:1"), ("link", "generic:1"), ("open", "generic:1")]
    assert out[2]["reasons"][0] == "redelivered: same verdict as before"
    assert set(agent.authors["generic:u-ann"]) == {"cases", "recent", "text"}
    first = agent.texts_table[text_key("generic:u-ann", text_hash("I was charged twice"))]
    assert first == {"value": {"ref": "generic:1", "verdict": ["open", "generic:1"]},
                     "at": first["at"], "partition": 0}  # moved out by the second mention
    assert len(agent.texts_table) == 1 and agent.decided_table == {}
    assert agent.authors["generic:u-ann"]["text"]["ref"] == "generic:2"
    assert agent.sink.counts == {"verdict.open": 2, "verdict.link": 1}  # once per batch


async def test_an_upgraded_agent_reads_the_old_record_and_moves_it_out() -> None:
    opened = m("I was charged twice", id="1")
    agent = Agent({"generic:u-ann": old_shape((opened, decision(opened, "open", "generic:1")))})
    await agent.step.handle([Event(opened, 0), Event(m("any news?", id="5"), 1)])
    await agent.step.handle([Event(opened, 0)])  # once more, after the record was rewritten
    out = agent.decisions()
    assert [(d["verdict"], d["case_key"], d["reasons"][0]) for d in out][::2] == [
        ("open", "generic:1", "redelivered: same verdict as before")] * 2
    assert set(agent.authors["generic:u-ann"]) == {"cases", "recent", "text"}
    assert {r["value"]["ref"] for r in agent.texts_table.values()} == {"generic:1"}


def test_bounded_evicts_the_oldest_of_the_same_partition_after_a_restart() -> None:
    class E:
        def __init__(self, partition: int) -> None:
            self.message = type("Message", (), {"partition": partition})()

    table = {"a": {"value": 1, "at": 2.0, "partition": 0},  # as recovered from a changelog
             "b": {"value": 2, "at": 1.0, "partition": 0},
             "c": {"value": 3, "at": 0.5, "partition": 1}}
    kept = Bounded(table, 2)  # type: ignore[arg-type]
    event = E(0)
    in_event(event)
    kept.put("d", 4, 3.0)
    assert set(table) == {"a", "c", "d"}  # b: the oldest of partition 0; c is another's
    assert kept.get("d") == 4 and kept.get("b") is None


# -- router classify ------------------------------------------------------------------------------
def test_router_classify_keeps_the_same_records_duplicates_included() -> None:
    texts = ["I was charged twice", "i was charged  TWICE", "I was charged twice"]
    lines = [json.dumps(m(t, id=str(i)).to_json_dict()).encode() for i, t in enumerate(texts)]
    out = list(classify_lines([*lines, lines[0]], S, Fixed(0.9)))  # type: ignore[arg-type]
    assert [o["verdict"] for o in out] == ["open", "silent", "silent", "open"]
    assert "duplicate of generic:0" in out[1]["reasons"][0]
    assert out[3]["reasons"][0] == "redelivered: same verdict as before"
    assert author_key(m("x", id="0")) == "generic:u-ann"


# -- the wire -----------------------------------------------------------------------------------
def test_the_triage_paths_json_is_faust_s_byte_for_byte() -> None:
    odd = m("Ünïcode ✓ 🙂 \"quoted\" \\ back\nslash", id="9", handle="zoë",
            in_reply_to="1", conversation_id="0", lang="de", is_persona=True)
    plain = m("hello", id="1")
    assert mention_json(odd) == odd.to_json_dict()
    assert mention_json(plain) == plain.to_json_dict()
    full = Decision(mention=odd, verdict=Verdict.INCIDENT, scores={"actionable": 0.91, "x": 1e-9},
                    reasons=["a ✓", "b"], category="outage", priority="high", hurtful=True,
                    case_key="incident:1", related=["generic:1", "generic:2"],
                    thread=[plain.to_json_dict()], decided_at=NOW + 0.123456,
                    model_version="abc (m)")
    bare = Decision(mention=plain, verdict=Verdict("silent"), scores={}, reasons=[])
    for d in (full, bare):
        assert decision_bytes(d) == d.dumps()
        assert decision_bytes(d, mention_json(d.mention)) == d.dumps()
        assert Decision.loads(decision_bytes(d)) == d
