"""Threads across authors: a reply by anyone in a thread that has a case joins that case,
and the decision says ``link`` (it used to say ``open`` while the desk's external id made
the effect a note on the same ticket). Pure steps first, then two real workers whose
partitions hold the two customers."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from classifiers.api import Scores
from router.settings import Settings
from router.tables import Bounded, Memory, RecentPosts
from router.threads import ThreadIndex, record
from router.triage_step import Triaged, author_key, leads_to, triage
from vocab.records import Mention

from .test_triage_step import NOW, m, sc

S = Settings()


class Run:
    """The triage agent's bookkeeping, with a thread index shared by every author."""

    def __init__(self, threads: ThreadIndex | None = None) -> None:
        self.authors: dict[str, dict[str, Any]] = {}
        self.threads = threads if threads is not None else ThreadIndex()
        self.memory = Memory(self.authors, RecentPosts({}),  # type: ignore[arg-type]
                             Bounded({}, 100), Bounded({}, 100),  # type: ignore[arg-type]
                             self.threads)

    def __call__(self, mention: Mention, scores: Scores, now: float = NOW) -> Triaged:
        key = author_key(mention)
        step = triage(mention, scores, S, author=self.authors.get(key, {}),
                      decided=self.memory.decided, texts=self.memory.texts, now=now,
                      threads=self.threads)
        if step.new:  # the agent's bookkeeping (its tables here on dicts)
            self.memory.keep(step, now)
        return step


REQUEST = "I was charged twice for order 4411, please refund the duplicate"
ME_TOO = "same here, charged twice on my card today"


def test_a_reply_by_another_customer_in_a_thread_with_a_case_links_to_it() -> None:
    run = Run()
    opened = run(m(REQUEST, id="1", handle="ann"), sc()).decision
    reply = run(m(ME_TOO, id="2", handle="bob", in_reply_to="1", conversation_id="1"),
                sc(0.3), now=NOW + 60).decision
    assert opened.verdict == "open"
    assert (reply.verdict, reply.case_key) == ("link", opened.case_key)
    assert reply.reasons[0] == ("replies in the thread of an existing ticket "
                                "(another customer's)")


def test_without_the_index_the_same_reply_is_not_a_link() -> None:
    """What the stream did before: the reply's author has no case of their own."""
    a = triage(m(REQUEST, id="1", handle="ann"), sc(), S, author={}, decided={}, texts={},
               now=NOW)
    b = triage(m(ME_TOO, id="2", handle="bob", in_reply_to="1", conversation_id="1"),
               sc(), S, author={}, decided={}, texts={}, now=NOW + 60)
    assert a.decision.verdict == "open" and b.decision.verdict == "open"


def test_joining_anothers_case_is_not_the_authors_open_ticket() -> None:
    """Bob joined Ann's ticket by replying in her thread; his own new request elsewhere
    is his own case, not a note on Ann's ticket. His later replies in her thread still
    join it."""
    run = Run()
    opened = run(m(REQUEST, id="1", handle="ann"), sc()).decision
    run(m(ME_TOO, id="2", handle="bob", in_reply_to="1", conversation_id="1"), sc(0.3),
        now=NOW + 60)
    own = run(m("my parcel 77 never arrived, tracking says delivered", id="3",
                handle="bob"), sc(0.9, "order_delivery"), now=NOW + 120).decision
    assert own.verdict == "open" and own.case_key != opened.case_key
    again = run(m("any news on the double charge?", id="4", handle="bob",
                  in_reply_to="1", conversation_id="1"), sc(0.3), now=NOW + 180).decision
    assert (again.verdict, again.case_key) == ("link", opened.case_key)


def test_the_authors_own_entry_is_not_anothers_thread() -> None:
    """The index also holds the author's own threads; those are their state's to decide
    (a shadow model scoring the mention again must not see it as joining itself)."""
    run = Run()
    first = run(m(REQUEST, id="1", handle="ann"), sc()).decision
    again = triage(m(REQUEST, id="1", handle="ann"), sc(), S, author={}, decided={}, texts={},
                   now=NOW, threads=run.threads).decision
    assert again.verdict == first.verdict == "open"


def test_a_hurtful_reply_in_the_thread_does_not_join() -> None:
    run = Run()
    run(m(REQUEST, id="1", handle="ann"), sc())
    abuse = Scores(actionable=0.2, hurtful=0.99, sensitive=0.0, category="other",
                   reasons=("word 'idiots' (+0.9)",))
    d = run(m("you idiots", id="2", handle="troll", in_reply_to="1", conversation_id="1"),
            abuse).decision
    assert d.verdict != "link" and d.case_key is None


def test_an_incident_does_not_lead_threads_to_it() -> None:
    d = triage(m(REQUEST, id="1", handle="ann"), sc(), S, author={}, decided={}, texts={},
               now=NOW).decision
    d.verdict, d.case_key = "incident", "incident:outage:3000000"  # type: ignore[assignment]
    assert leads_to(m(REQUEST, id="1", handle="ann"), d) is None


def test_the_index_reads_its_topic_and_stays_bounded() -> None:
    idx = ThreadIndex(limit=2)
    idx.apply(b"generic:1", record("generic:1", NOW, "generic:u-ann"))
    idx.apply(b"generic:2", b"not json")  # unreadable: ignored, nothing raised
    idx.apply(None, record("x", NOW, "y"))
    assert idx.get("generic:1") == {"case_key": "generic:1", "opened_at": NOW,
                                    "by": "generic:u-ann"}
    assert idx.get("generic:2") is None
    assert idx.note("generic:1", "generic:1", NOW, "generic:u-ann") is False  # known
    assert idx.note("generic:5", "generic:5", NOW, "generic:u-cy") is True
    assert idx.note("generic:6", "generic:6", NOW, "generic:u-di") is True
    assert idx.get("generic:1") is None  # the oldest went
    idx.apply(b"generic:6", None)  # a tombstone forgets
    assert idx.get("generic:6") is None and idx.get("generic:5") is not None


def test_router_classify_links_the_reply_as_the_stream_does() -> None:
    from router.classify import classify_lines

    class Model:
        def score(self, texts: list[str]) -> list[Scores]:
            return [sc(0.9) if "charged twice for order" in t else sc(0.3) for t in texts]

    lines = [json.dumps({"id": "1", "network": "generic", "text": REQUEST,
                         "author": {"id": "u-ann", "handle": "ann"},
                         "created_at": "2026-11-23T10:00:00Z"}).encode(),
             json.dumps({"id": "2", "network": "generic", "text": ME_TOO,
                         "author": {"id": "u-bob", "handle": "bob"}, "in_reply_to": "1",
                         "conversation_id": "1",
                         "created_at": "2026-11-23T10:05:00Z"}).encode()]
    out = list(classify_lines(lines, S, Model()))  # type: ignore[arg-type]
    assert [(o["verdict"], o["case"]) for o in out] == [("open", "generic:1"),
                                                        ("link", "generic:1")]


# --- two real workers ---------------------------------------------------------------------


def partition_of(key: bytes, partitions: int) -> int:
    from kafka.partitioner.default import murmur2

    return (murmur2(key) & 0x7FFFFFFF) % partitions


def both_in_the_group(bootstrap: str, group: str, timeout: float = 120) -> bool:
    """True once the group is stable with two members (each then holds one partition)."""
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                found = admin.describe_groups([group]).get(group) or {}
            except KafkaError:  # no coordinator yet: the group is still forming
                found = {}
            state = found.get("group_state", found.get("state"))
            if state == "Stable" and len(found.get("members") or []) == 2:
                return True
            time.sleep(1.0)
        return False
    finally:
        admin.close()


@pytest.mark.kafka
@pytest.mark.slow
def test_a_reply_on_another_workers_partition_links_and_both_are_answered_once(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    from .stream import RouterProcess, encode, key_of, mention, tickets

    # one desk for both (a's; tickets(a) reads it)
    shared = {"ROUTER_PARTITIONS": "2",
              "ROUTER_EMBEDDED_DESK_PATH": str(tmp_path / "a" / "desk.sqlite"),
              "ROUTER_SESSION_TIMEOUT": "8"}
    a = RouterProcess(kafka_bootstrap, tmp_path / "a", extra_env=shared)
    b = RouterProcess(kafka_bootstrap, tmp_path / "b", extra_env=shared, prefix=a.prefix)
    request = mention("t1", "@acmesupport I was charged twice for my subscription this "
                      "month, order 4411. Please refund the duplicate charge.", "maria")
    reply = mention("t2", "@acmesupport same here, I was charged twice as well",
                    "omar", in_reply_to="t1", conversation_id="t1")
    # the two customers are on different partitions, so (two workers, one each) their
    # states live in different processes
    assert partition_of(key_of(request), 2) != partition_of(key_of(reply), 2)
    a.create_topics()
    a.start()
    b.start()
    try:
        assert both_in_the_group(kafka_bootstrap, a.settings.app_id), a.log_text()[-2000:]
        a.produce("mentions", [encode(request)], [key_of(request)])
        first = a.read("decisions", lambda r: any(d["mention"]["id"] == "t1" for d in r))
        opened = next(d for d in first if d["mention"]["id"] == "t1")
        assert opened["verdict"] == "open", opened["reasons"]
        a.produce("mentions", [encode(reply)], [key_of(reply)])
        ds = a.read("decisions", lambda r: any(d["mention"]["id"] == "t2" for d in r))
        joined = next(d for d in ds if d["mention"]["id"] == "t2")
        assert (joined["verdict"], joined["case_key"]) == ("link", opened["case_key"]), \
            joined["reasons"]

        def settled() -> list[dict[str, Any]]:
            ts = tickets(a)
            return ts if len(ts) == 1 and ts[0]["comments"] == 1 else []

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not settled():
            time.sleep(0.3)
        ts = settled()
        assert ts, tickets(a)  # one ticket, the reply a note on it
        assert a.cli("desk", "solve", str(ts[0]["id"])).returncode == 0
        answered = a.read("replies", lambda r: {x["author_handle"] for x in r}
                          >= {"maria", "omar"})
        time.sleep(2.0)
        answered = a.read("replies", lambda r: True)
        assert sorted(x["author_handle"] for x in answered) == ["maria", "omar"]
    finally:
        a.stop()
        b.stop()
