"""Nothing lost on the desk side, on a real broker with a real worker (issue #13):

- an effect is recorded only once its ``linked`` event is in Kafka: a ticket event Kafka
  refuses is written on retry, and the customer is answered (no "joined this ticket" note
  of their own post on their own ticket);
- a repeated ``linked`` event yields one reply;
- ``router desk solve`` with a wrong id, or while Kafka is down, still answers everyone;
- a locked desk file delays tickets (retried off the event loop, /health answers) but loses
  none; dead decisions are replayed once and open one ticket;
- ``router release`` and ``router desk list`` say the truth.
"""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from router.broker import free_port

from .stream import RouterProcess, encode, key_of, mention, running, tickets

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

LOCK_SECONDS = 14.0  # longer than the desk's default 10 s busy timeout


@pytest.fixture(scope="module")
def router(kafka_bootstrap: str, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[RouterProcess]:
    rp = RouterProcess(kafka_bootstrap, tmp_path_factory.mktemp("effects"), extra_env={
        "ROUTER_DECISION_RETRY_DELAYS": ",".join(["2"] * 15),
        "ROUTER_DESK_POLL_SECONDS": "1"})
    with running(rp):
        yield rp


def send(rp: RouterProcess, *mentions: dict[str, Any]) -> None:
    rp.produce("mentions", [encode(m) for m in mentions], [key_of(m) for m in mentions])


def request(mid: str, handle: str) -> dict[str, Any]:
    return mention(mid, f"@acmesupport I was charged twice for order {mid}, please refund "
                   "the duplicate charge on my card", handle)


def ticket_of(rp: RouterProcess, handle: str, timeout: float = 90.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        mine = [t for t in tickets(rp) if t["requester"] == f"generic:@{handle}"]
        if mine:
            assert len(mine) == 1, mine
            return mine[0]
        if rp.proc is not None and rp.proc.poll() is not None:
            raise AssertionError("worker exited:\n" + rp.log_text()[-4000:])
        time.sleep(0.3)
    raise AssertionError(f"no ticket for @{handle}:\n" + rp.log_text()[-3000:])


def replies_to(rp: RouterProcess, *handles: str) -> list[dict[str, Any]]:
    """Every reply to these customers, once each has at least one (and a little after)."""
    rp.read("replies", lambda r: set(handles) <= {x["author_handle"] for x in r})
    time.sleep(3.0)  # a duplicate would come right behind
    return [x for x in rp.read("replies", lambda r: True) if x["author_handle"] in handles]


def cli(rp: RouterProcess, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "router", *args], env={**rp.env, **env}, cwd=rp.workdir,
        capture_output=True, text=True, timeout=120)


def set_max_message_bytes(rp: RouterProcess, topic: str, value: int) -> None:
    admin = KafkaAdminClient(bootstrap_servers=rp.bootstrap)
    try:
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, rp.topic(topic),
                                            configs={"max.message.bytes": str(value)})])
    finally:
        admin.close()


def test_a_ticket_event_kafka_refuses_is_written_on_retry_and_the_customer_is_answered(
        router: RouterProcess) -> None:
    set_max_message_bytes(router, "ticket-events", 300)  # the linked event cannot be written
    try:
        send(router, request("fx1", "faye"))
        ticket = ticket_of(router, "faye")
        tried = False  # the worker tried to write the event (and was refused)
        for _ in range(60):
            for topic in ("decisions-retry", "decisions-dlq"):
                tried = tried or any("fx1" in json.dumps(x)
                                     for x in router.read(topic, lambda r: True, timeout=5))
            if tried:
                break
            time.sleep(1.0)
        # An agent solves it before the router could write the link.
        out = router.cli("desk", "solve", str(ticket["id"]))
        assert out.returncode == 0, out.stderr
    finally:
        set_max_message_bytes(router, "ticket-events", 1048588)
    router.read("ticket-events", lambda r: any(
        x["kind"] == "linked" and (x.get("mention") or {}).get("id") == "fx1" for x in r))
    assert len(replies_to(router, "faye")) == 1
    # The retried decision neither notes the customer's own post on their own ticket
    # ("joined this ticket") nor reopens it.
    assert [(t["comments"], t["status"]) for t in tickets(router)
            if t["id"] == ticket["id"]] == [(0, "solved")]


def test_a_repeated_linked_event_yields_one_reply(router: RouterProcess) -> None:
    m = mention("rl1", "@acmesupport my parcel is lost", "rhea")
    linked = {"desk": "embedded", "ticket_id": "9001", "kind": "linked", "mention": m,
              "ticket_url": "https://desk.example/9001", "reply_allowed": True, "at": 1.0}
    solved = {"desk": "embedded", "ticket_id": "9001", "kind": "status", "status": "solved",
              "ticket_url": "https://desk.example/9001", "at": 2.0}
    router.produce("ticket-events", [encode(linked), encode(linked), encode(solved)],
                   [b"embedded:9001"] * 3)
    assert len(replies_to(router, "rhea")) == 1


def test_a_link_that_arrives_after_the_solved_event_is_answered_once(
        router: RouterProcess) -> None:
    m = mention("ls1", "@acmesupport my refund never came", "lou")
    url = "https://desk.example/9002"
    solved = {"desk": "embedded", "ticket_id": "9002", "kind": "status", "status": "solved",
              "ticket_url": url, "at": 1.0}
    linked = {"desk": "embedded", "ticket_id": "9002", "kind": "linked", "mention": m,
              "ticket_url": url, "reply_allowed": True, "at": 2.0}
    router.produce("ticket-events", [encode(solved), encode(linked), encode(linked)],
                   [b"embedded:9002"] * 3)
    assert len(replies_to(router, "lou")) == 1
    # Reopened, a new customer's link waits for the next solve.
    reopened = {**solved, "status": "open", "at": 3.0}
    other = {**linked, "mention": mention("ls2", "@acmesupport same here", "lia"), "at": 4.0}
    router.produce("ticket-events", [encode(reopened), encode(other)], [b"embedded:9002"] * 2)
    router.read("ticket-events", lambda r: any(
        (x.get("mention") or {}).get("id") == "ls2" for x in r))
    time.sleep(3.0)
    assert not [x for x in router.read("replies", lambda r: True)
                if x["author_handle"] == "lia"]
    router.produce("ticket-events", [encode({**solved, "at": 5.0})], [b"embedded:9002"])
    assert len(replies_to(router, "lia")) == 1


def test_a_new_customer_joining_a_solved_ticket_is_answered_at_the_next_solve_only(
        router: RouterProcess) -> None:
    send(router, request("nj1", "nia"))
    t = ticket_of(router, "nia")
    assert router.cli("desk", "solve", str(t["id"])).returncode == 0
    assert len(replies_to(router, "nia")) == 1
    joiner = mention("nj2", "@acmesupport same problem here, charged twice this month too",
                     "ned", in_reply_to="nj1", conversation_id="nj1")
    send(router, joiner)
    router.read("ticket-events", lambda r: any(
        (x.get("mention") or {}).get("id") == "nj2" for x in r))
    time.sleep(3.0)
    assert not [x for x in router.read("replies", lambda r: True)
                if x["author_handle"] == "ned"]  # nothing is sorted out for ned yet
    assert [x["status"] for x in tickets(router) if x["id"] == t["id"]] == ["open"]
    assert router.cli("desk", "solve", str(t["id"])).returncode == 0
    assert len(replies_to(router, "ned")) == 1
    assert len(replies_to(router, "nia")) == 1


def test_solve_with_a_wrong_id_still_answers_the_others(router: RouterProcess) -> None:
    send(router, request("bi1", "bea"), request("bi2", "bob"))
    a, b = ticket_of(router, "bea"), ticket_of(router, "bob")
    out = router.cli("desk", "solve", str(a["id"]), "99999", str(b["id"]))
    assert out.returncode != 0
    assert "no ticket 99999" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    assert {t["id"]: t["status"] for t in tickets(router)
            if t["id"] in (a["id"], b["id"])} == {a["id"]: "solved", b["id"]: "solved"}
    got = replies_to(router, "bea", "bob")
    assert sorted(x["author_handle"] for x in got) == ["bea", "bob"]


def test_solve_while_kafka_is_down_answers_once_kafka_is_back(router: RouterProcess) -> None:
    send(router, request("kd1", "kai"))
    t = ticket_of(router, "kai")
    down = f"127.0.0.1:{free_port()}"  # nothing listens there: Kafka is down for the CLI
    out = cli(router, "desk", "solve", str(t["id"]), ROUTER_KAFKA_BOOTSTRAP=down)
    assert out.returncode == 0, out.stderr
    if out.stderr:  # the CLI could not send the event: it says where it waits
        assert "cannot reach Kafka" in out.stderr and "outbox" in out.stderr, out.stderr
    # else the worker's outbox drain (every second here) sent it before the CLI tried, as
    # seen once on CI: then there is nothing to report, and the customer is answered anyway
    assert "Traceback" not in out.stderr
    assert [x["status"] for x in tickets(router) if x["id"] == t["id"]] == ["solved"]
    # The worker (which reaches Kafka) sends the event from the desk's outbox.
    assert len(replies_to(router, "kai")) == 1


def test_a_locked_desk_delays_tickets_loses_none_and_health_answers(
        router: RouterProcess) -> None:
    handles = [f"lock{i}" for i in range(6)]
    holder = sqlite3.connect(router.workdir / "desk.sqlite", isolation_level=None,
                             check_same_thread=False, timeout=30)
    holder.execute("BEGIN EXCLUSIVE")  # another process holds the desk's file
    released = threading.Event()

    def release_later() -> None:
        released.wait(LOCK_SECONDS)
        holder.execute("ROLLBACK")
        holder.close()

    releaser = threading.Thread(target=release_later)
    releaser.start()
    health_failures = []
    try:
        send(router, *(request(f"lk{i}", h) for i, h in enumerate(handles)))
        deadline = time.monotonic() + LOCK_SECONDS - 1
        while time.monotonic() < deadline:
            try:
                r = httpx.get(f"http://127.0.0.1:{router.web_port}/health", timeout=5)
                r.raise_for_status()
            except httpx.HTTPError as exc:
                health_failures.append(repr(exc))
            time.sleep(0.5)
    finally:
        released.set()
        releaser.join(timeout=30)
    assert health_failures == []  # the event loop never waited for the lock
    for h in handles:
        ticket_of(router, h)
    assert router.read("decisions-retry", lambda r: len(r) > 0)  # some had to wait
    letters = router.read("decisions-dlq", lambda r: True, timeout=5)
    assert not [x for x in letters if "lock" in x.get("key", "")]


def dead_decision(handle: str, mid: str) -> bytes:
    m = request(mid, handle)
    decision = {"mention": m, "verdict": "open", "scores": {"actionable": 0.95},
                "reasons": ["open: support can help"], "category": "billing",
                "priority": "normal", "case_key": f"generic:{mid}", "decided_at": time.time()}
    return encode({"source_topic": "decisions", "reason": "desk unavailable: test",
                   "original": base64.b64encode(encode(decision)).decode(),
                   "key": key_of(m).decode(), "at": time.time()})


def test_dead_decisions_are_replayed_once_and_open_one_ticket(router: RouterProcess) -> None:
    router.produce("decisions-dlq", [dead_decision("dora", "dq1")])
    listed = router.cli("dlq", "list", "decisions")
    assert listed.returncode == 0 and "desk unavailable: test" in listed.stdout
    ref = next(line.split()[0] for line in listed.stdout.splitlines()
               if "generic:u-dora" in line)
    shown = router.cli("dlq", "show", "decisions", ref)
    assert json.loads(shown.stdout)["original"]["mention"]["id"] == "dq1"
    first = router.cli("dlq", "replay", "decisions")
    assert first.returncode == 0 and "replayed 1 " in first.stdout, first.stderr
    ticket = ticket_of(router, "dora")
    assert "nothing to replay" in router.cli("dlq", "replay", "decisions").stdout
    again = router.cli("dlq", "replay", "decisions", "--all")  # on purpose, all again
    assert again.returncode == 0 and "replayed" in again.stdout
    router.read("decisions", lambda r: sum(x["mention"]["id"] == "dq1" for x in r) >= 2)
    time.sleep(3.0)
    mine = [t for t in tickets(router) if t["requester"] == "generic:@dora"]
    assert [(t["id"], t["comments"]) for t in mine] == [(ticket["id"], 0)]


def test_dlq_replay_sends_whole_letters_only_and_says_which_it_kept(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    """A letter that kept only the head of a message too large for the router used to be
    replayed as that head (a broken mention, dead-lettered again) without a word."""
    rp = RouterProcess(kafka_bootstrap, tmp_path)  # no worker: only what replay sends
    rp.create_topics()
    whole = encode(mention("w1", "@acmesupport my order 9 never arrived", "wes"))
    head = b'{"id": "h1", "text": "' + b"x" * 100
    letters = [
        {"source_topic": "mentions", "reason": "message too large", "key": "k",
         "original": base64.b64encode(head).decode(), "truncated": True,
         "original_size": 900_000, "at": time.time()},
        {"source_topic": "mentions", "reason": "desk down", "key": "k",
         "original": base64.b64encode(whole).decode(), "at": time.time() + 1},
    ]
    rp.produce("mentions-dlq", [encode(x) for x in letters], [b"k", b"k"])
    out = rp.cli("dlq", "replay", "mentions")
    assert out.returncode == 0, out.stderr
    assert "not replayed: 1 letters keep only part of their original" in out.stdout
    assert "replayed 1 dead letters to mentions" in out.stdout
    assert [m["id"] for m in rp.read("mentions", lambda r: len(r) >= 1)] == ["w1"]
    again = rp.cli("dlq", "replay", "mentions")
    assert "nothing to replay" in again.stdout, again.stdout


def test_release_says_the_truth(kafka_bootstrap: str, tmp_path: Path) -> None:
    rp = RouterProcess(kafka_bootstrap, tmp_path)  # no worker: nothing posts or holds
    rp.create_topics()
    out = rp.cli("release")
    assert out.returncode == 0 and out.stdout.strip() == "nothing to release", out.stderr
    reply = {"id": "r-1", "network": "generic", "in_reply_to": "1", "conversation_id": None,
             "author_handle": "ann", "text": "Hi @ann, sorted", "ticket_url": "u",
             "ticket_key": "embedded:1"}
    letter = {"source_topic": "replies", "reason": "kill switch: replies are turned off",
              "original": base64.b64encode(encode(reply)).decode(), "key": "r-1",
              "at": time.time()}
    rp.produce("replies-dlq", [encode(letter)], [b"r-1"])
    assert rp.cli("killswitch", "on").returncode == 0
    out = rp.cli("release")
    assert out.returncode != 0
    assert "kill switch is on: nothing released" in out.stderr
    assert "router killswitch off" in out.stderr
    assert rp.read("replies", lambda r: True, timeout=3) == []
    assert rp.cli("killswitch", "off").returncode == 0
    out = rp.cli("release")
    assert out.returncode == 0 and "released 1 held replies" in out.stdout, out.stderr
    assert [x["id"] for x in rp.read("replies", lambda r: len(r) >= 1)] == ["r-1"]
    assert rp.cli("release").stdout.strip() == "nothing to release"  # not held again


def test_desk_commands_never_create_a_desk_and_name_the_setting(tmp_path: Path) -> None:
    mistyped = tmp_path / "dsk.sqlite"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTER_")}
    env["ROUTER_EMBEDDED_DESK_PATH"] = str(mistyped)
    for args in (["desk", "list"], ["desk", "solve", "1"]):
        out = subprocess.run([sys.executable, "-m", "router", *args], env=env,  # noqa: S603
                             cwd=tmp_path, capture_output=True, text=True, timeout=60)
        assert out.returncode != 0
        lines = out.stderr.strip().splitlines()
        assert len(lines) == 1 and "ROUTER_EMBEDDED_DESK_PATH" in lines[0], out.stderr
        assert str(mistyped) in lines[0]
    assert not mistyped.exists()


def test_a_desk_locked_past_every_retry_goes_to_the_dlq_and_replay_opens_it_once(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    rp = RouterProcess(kafka_bootstrap, tmp_path, extra_env={
        "ROUTER_DECISION_RETRY_DELAYS": "1", "ROUTER_EMBEDDED_DESK_BUSY_TIMEOUT_SECONDS": "1"})
    rp.create_topics()
    rp.start()
    try:
        send(rp, request("gu0", "gus"))
        ticket_of(rp, "gus")  # the worker is up and the desk file exists
        holder = sqlite3.connect(rp.workdir / "desk.sqlite", isolation_level=None,
                                 timeout=30)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            send(rp, request("gu1", "gil"))
            letters = rp.read("decisions-dlq", lambda r: any(
                "gil" in (x.get("key") or "") for x in r))
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        reason = next(x["reason"] for x in letters if "gil" in (x.get("key") or ""))
        assert "locked" in reason and "gave up after 2 tries" in reason
        assert "router dlq replay decisions" in reason
        assert not [t for t in tickets(rp) if t["requester"] == "generic:@gil"]
        out = rp.cli("dlq", "replay", "decisions")
        assert out.returncode == 0 and "replayed 1 " in out.stdout, out.stderr
        assert ticket_of(rp, "gil")["comments"] == 0
    finally:
        rp.stop()
