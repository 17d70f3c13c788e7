"""Fail fast: a worker that cannot do its job stops before it consumes anything, says why in
one line, and loses nothing; a worker whose agent crashes stops rather than half-running.

What a user would notice: with a bad desk or output setting, ``router worker`` used to start,
answer ``/health`` 200 and move the group's offsets to the end while every agent
crash-looped, so after the fix none of the earlier mentions was ever decided. Now it exits
non-zero with one line naming the setting, commits nothing, and once the setting is fixed
every earlier mention gets its verdict.
"""

from __future__ import annotations

import base64
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from kafka import KafkaAdminClient
from kafka.errors import CoordinatorNotAvailableError

from router.broker import LocalBroker, free_port

from .stream import RouterProcess, encode, key_of, mention, tickets

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

EXIT_BOUND_S = 90.0  # a worker that does not exit by then is taken as "kept running"


def run_worker(rp: RouterProcess, extra: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``router worker`` to its end (bounded); a worker still running fails the test."""
    env = {**rp.env, **extra}
    try:
        return subprocess.run(  # noqa: S603
            [sys.executable, "-m", "router", "worker"], env=env, cwd=rp.workdir,
            capture_output=True, text=True, timeout=EXIT_BOUND_S)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"the worker kept running with {extra}") from None


def lines(out: str) -> list[str]:
    return [ln for ln in out.splitlines() if ln.strip()]


def committed(bootstrap: str, group: str) -> dict[Any, Any]:
    """The group's committed offsets. On a broker where no group has committed yet, the
    offsets topic is being created and the coordinator is briefly unavailable: ask again."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        for _ in range(40):
            try:
                found = admin.list_group_offsets({group: None}).get(group, {})
                break
            except CoordinatorNotAvailableError:
                time.sleep(0.5)
        else:
            raise AssertionError(f"no group coordinator for {group} after 20 s")
        return {tp: om.offset for tp, om in found.items() if om.offset >= 0}
    finally:
        admin.close()


def bad_settings(workdir: Path) -> list[tuple[dict[str, str], str]]:
    blocker = workdir / "not-a-folder"
    blocker.write_text("a file where the desk's folder should be")
    reply_dir = workdir / "replies-folder"
    reply_dir.mkdir(exist_ok=True)
    return [
        ({"ROUTER_DESK": "zendsk"}, "ROUTER_DESK"),
        ({"ROUTER_WEB_PORT": "0"}, "ROUTER_WEB_PORT"),  # Faust's own traceback, before
        ({"ROUTER_EMBEDDED_DESK_PATH": str(blocker / "desk.sqlite")},
         "ROUTER_EMBEDDED_DESK_PATH"),
        ({"ROUTER_REPLY_LOG_PATH": str(reply_dir)}, "ROUTER_REPLY_LOG_PATH"),
        ({"ROUTER_MODEL_PATH": str(workdir / "no-such-model")}, "ROUTER_MODEL_PATH"),
        ({"ROUTER_DESK": "zendesk", "ROUTER_ZENDESK_SUBDOMAIN": "acme",
          "ROUTER_ZENDESK_EMAIL": "agent@acme.example", "ROUTER_ZENDESK_API_TOKEN": "tok",
          "ROUTER_ZENDESK_GROUP_ID": "support-team"}, "ROUTER_ZENDESK_GROUP_ID"),
    ]


def test_bad_setting_stops_the_worker_before_it_consumes_and_loses_nothing(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    rp = RouterProcess(kafka_bootstrap, tmp_path)
    rp.workdir.mkdir(parents=True, exist_ok=True)
    rp.create_topics()
    sent = [mention(f"ff{i}", f"@acmesupport I was charged twice, order {i}, please refund",
                    f"cust{i}") for i in range(6)]
    rp.produce("mentions", [encode(m) for m in sent], [key_of(m) for m in sent])

    for extra, setting in bad_settings(rp.workdir):
        done = run_worker(rp, extra)
        out = lines(done.stdout + done.stderr)
        assert done.returncode != 0, f"{extra}: exit status 0\n{out}"
        assert len(out) == 1, f"{extra}: expected one line, got:\n" + "\n".join(out[-20:])
        assert setting in out[0], out[0]
        assert "Traceback" not in out[0]
        assert committed(kafka_bootstrap, rp.settings.app_id) == {}, extra

    rp.start()  # the settings fixed: every earlier mention is decided
    try:
        ids = {m["id"] for m in sent}
        decided = rp.read("decisions", lambda r: ids <= {d["mention"]["id"] for d in r},
                          timeout=180)
        assert ids <= {d["mention"]["id"] for d in decided}
    finally:
        rp.stop()


def test_no_broker_is_one_line_naming_the_address_and_the_fix(tmp_path: Path) -> None:
    port = free_port()  # nothing listens there
    rp = RouterProcess(f"127.0.0.1:{port}", tmp_path)
    for cmd in ("worker", "topics"):
        assert failed_in_one_line(rp, cmd) == [
            f"Error: cannot reach Kafka at 127.0.0.1:{port}: start it with "
            "`router broker start` or set KAFKA_BOOTSTRAP"]


def failed_in_one_line(rp: RouterProcess, cmd: str) -> list[str]:
    """``router <cmd>``'s output, once it has exited non-zero (within 25 s)."""
    rp.workdir.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(  # noqa: S603
            [sys.executable, "-m", "router", cmd], env=rp.env, cwd=rp.workdir,
            capture_output=True, text=True, timeout=25)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"router {cmd} waited in silence") from None
    assert done.returncode != 0, done.stdout + done.stderr
    return lines(done.stdout + done.stderr)


def test_a_broker_that_advertises_an_unreachable_address_is_named_not_called_down(
        tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    """Kafka's commonest misconfiguration: the bootstrap address answers, but the brokers
    hand clients an ``advertised.listeners`` address they cannot reach. `router worker` and
    `router topics` said "cannot reach Kafka ...: start it" about a running broker after 30 s;
    each must say at once which address is handed out and what to fix."""
    closed = free_port()  # what the broker advertises; nothing listens there
    broker = LocalBroker(tmp_path_factory.mktemp("kafka-advertised"), port=free_port(),
                         controller_port=free_port(), partitions=4,
                         advertised=f"127.0.0.1:{closed}")
    broker.start()
    try:
        rp = RouterProcess(broker.bootstrap, tmp_path)
        for cmd in ("worker", "topics"):
            assert failed_in_one_line(rp, cmd) == [
                f"Error: Kafka at {broker.bootstrap} answers, but it sends clients to "
                f"127.0.0.1:{closed}, which this machine cannot reach: set the brokers' "
                "advertised.listeners to an address reachable from here"]
    finally:
        broker.stop()


def health(port: int) -> httpx.Response | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=5)
    except httpx.HTTPError:
        return None


def wait_healthy(rp: RouterProcess, bound_s: float = 60.0) -> httpx.Response:
    deadline = time.monotonic() + bound_s
    ready = health(rp.web_port)
    while (ready is None or ready.status_code != 200) and time.monotonic() < deadline:
        time.sleep(0.5)
        ready = health(rp.web_port)
    assert ready is not None and ready.status_code == 200, rp.log_text()[-3000:]
    return ready


def test_an_undecodable_decision_is_dead_lettered_and_the_stream_goes_on(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    """A record on ``decisions`` that is not a decision (another version's, a producer bug)
    was first skipped for good while /health said 200, then stopped the worker, which read
    it again on every restart: a crash loop that blocked every mention behind it. Now it
    goes to ``decisions-dlq`` as it was, with the reason, and the next mention is decided
    and ticketed as usual."""
    rp = RouterProcess(kafka_bootstrap, tmp_path)
    rp.create_topics()
    rp.start()
    try:
        first = mention("ok1", "@acmesupport my parcel never arrived, order 1234", "dana")
        rp.produce("mentions", [encode(first)], [key_of(first)])
        rp.read("decisions", lambda r: any(d["mention"]["id"] == "ok1" for d in r))
        wait_healthy(rp)

        rp.produce("decisions", [b'{"not": "a decision"}'], [b"generic:u-zed"])
        letters = rp.read("decisions-dlq", lambda r: len(r) >= 1)
        assert base64.b64decode(letters[0]["original"]) == b'{"not": "a decision"}'
        assert letters[0]["key"] == "generic:u-zed"
        assert "cannot decode" in letters[0]["reason"], letters[0]["reason"]

        after = mention("ok2", "@acmesupport I was charged twice for order 88, please refund",
                        "eve")
        rp.produce("mentions", [encode(after)], [key_of(after)])
        rp.read("ticket-events", lambda r: any(
            (e.get("mention") or {}).get("id") == "ok2" for e in r))
        assert rp.proc is not None and rp.proc.poll() is None, rp.log_text()[-3000:]
        assert wait_healthy(rp).json()["ok"] is True
    finally:
        rp.stop()


#: A worker whose escalate agent lets an exception escape on one mention (the guard that
#: turns errors into dead letters is itself what failed, say): the crash path, on demand.
ESCAPING_AGENT = """
import contextlib, sys
import router.runtime, router.agents.escalate as escalate

@contextlib.asynccontextmanager
async def no_guard(self, source, event):
    yield

async def boom(self, batch, guard=None):
    raise RuntimeError(f"escaped on {batch[0][1].mention.id}")

router.runtime.Runtime.guard = no_guard
escalate.Escalate.handle_batch = boom
from router.cli import main
main(["worker", "-l", "info"])
"""


def test_crashed_agent_stops_the_worker_without_committing_past_the_message(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    """An exception that escapes an agent used to be logged, and Faust restarted the agent
    past the message (skipped for good) while /health said 200; now the worker stops,
    non-zero, and that message's offset is not committed, so nothing past it is lost."""
    rp = RouterProcess(kafka_bootstrap, tmp_path, command=["-c", ESCAPING_AGENT])
    rp.create_topics()
    rp.start()
    try:
        first = mention("ok1", "@acmesupport my parcel never arrived, order 1234", "dana")
        rp.produce("mentions", [encode(first)], [key_of(first)])
        assert rp.proc is not None
        try:
            rc = rp.proc.wait(timeout=EXIT_BOUND_S)
        except subprocess.TimeoutExpired:
            raise AssertionError("the worker kept running with a crashed agent:\n"
                                 + rp.log_text()[-3000:]) from None
        assert rc != 0
        last = rp.log_text().splitlines()[-1]
        assert "agent escalate crashed" in last and "escaped on ok1" in last, last
        decisions = rp.read("decisions", lambda r: len(r) >= 1)
        assert [d["mention"]["id"] for d in decisions] == ["ok1"]
        offsets = committed(kafka_bootstrap, rp.settings.app_id)
        on_decisions = {tp: off for tp, off in offsets.items()
                        if tp.topic == rp.topic("decisions") and off > 0}
        assert on_decisions == {}, f"committed past the unhandled decision: {on_decisions}"
    finally:
        rp.stop()


UNREAD_PARTITIONS = """
import os
import faust.transport.consumer as fc

topic = os.environ["TEST_UNREAD_TOPIC"]
fetched = fc.Consumer.getmany

async def getmany(self, timeout):
    # Records fetched and never handed to a stream: what Faust does to the records of a
    # partition it does not count as active when they arrive (seen after a kill -9).
    async for tp, message in fetched(self, timeout):
        if tp.topic != topic:
            yield tp, message

fc.Consumer.getmany = getmany
from router.cli import main
main(["worker", "-l", "info"])
"""


def test_a_partition_left_unread_stops_the_worker_and_the_restart_reads_it(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    """Issue #13, seen in the fault harness after kill -9: a partition Faust never handed
    to its agent kept a solved ticket's event (or 5 decisions) waiting while /health said
    200: no reply until the worker happened to restart. Now the worker stops, non-zero,
    naming the partition; the restart handles what was waiting, once."""
    rp = RouterProcess(kafka_bootstrap, tmp_path, command=["-c", UNREAD_PARTITIONS],
                       extra_env={"ROUTER_STALL_SECONDS": "6"})
    rp.extra_env["TEST_UNREAD_TOPIC"] = rp.topic("decisions")
    rp.create_topics()
    rp.start()
    try:
        ms = [mention(f"st{i}", f"@acmesupport my order {4400 + i} never arrived, where is it?",
                      f"cust{i}") for i in range(6)]
        rp.produce("mentions", [encode(m) for m in ms], [key_of(m) for m in ms])
        assert rp.proc is not None
        try:
            rc = rp.proc.wait(timeout=EXIT_BOUND_S)
        except subprocess.TimeoutExpired:
            raise AssertionError("the worker kept running with unread decisions "
                                 f"({len(tickets(rp))} tickets)") from None
        last = rp.log_text().splitlines()[-1]
        assert rc != 0
        assert last.startswith("Error: stalled: partition ") and \
            f" of {rp.topic('decisions')} has kept " in last, last
        assert tickets(rp) == []
        decisions = rp.read("decisions", lambda r: len(r) >= len(ms))
        opened = {d["mention"]["id"] for d in decisions if d["verdict"] == "open"}
        assert len(opened) >= 4, decisions

        # Be the orchestrator: start it again, and again if a real stall stops it (the
        # restart is a rebalance, where Faust's own stall can show up).
        rp.command = ["-m", "router", "worker", "-l", "info"]
        rp.start()
        deadline = time.monotonic() + 120
        while len(tickets(rp)) < len(opened) and time.monotonic() < deadline:
            if rp.proc is not None and rp.proc.poll() is not None:
                last = rp.log_text().splitlines()[-1]
                assert rp.proc.returncode != 0 and last.startswith("Error: stalled: "), last
                rp.start()
            time.sleep(0.5)
        got = tickets(rp)
        assert sorted(t["external_id"].rsplit(":", 1)[1] for t in got) == sorted(opened), got
    finally:
        rp.stop()


def test_health_is_503_naming_the_agent_until_every_agent_runs(tmp_path: Path) -> None:
    from router.runtime import build
    from router.settings import load_settings

    rt = build(load_settings(data_dir=tmp_path, app_id="router-health-test"))
    status, body = rt.health.status(rt.app)  # not started: nothing runs yet
    assert status == 503
    assert body["agents"] == dict.fromkeys(
        ("triage", "escalate", "escalate_retry", "waves", "waves_retry", "closeloop",
         "publish"),
        "not running")
    rt.health.down["escalate_retry"] = "RuntimeError: escaped"
    status, body = rt.health.status(rt.app)
    assert status == 503 and body["agents"]["escalate_retry"] == "crashed: RuntimeError: escaped"


def test_topics_creates_the_tables_changelogs_and_fausts_leader_topic(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    """Faust used to find them missing at start ("Ignoring missing topic:
    replied-changelog") and create them itself, racing its own consumer."""
    from router.runtime import build

    rp = RouterProcess(kafka_bootstrap, tmp_path)
    rp.workdir.mkdir(parents=True, exist_ok=True)
    done = rp.cli("topics")
    assert done.returncode == 0, done.stderr
    app = build(rp.settings).app
    changelogs = {t.changelog_topic.get_topic_name() for t in app.tables.values()}
    # authors, decided, texts, effects, cases, links, replied, posts, waves
    assert len(changelogs) == 9
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        have = {t: len(admin.describe_topics([t])[0]["partitions"])
                for t in admin.list_topics() if t.startswith(rp.settings.app_id)}
    finally:
        admin.close()
    assert {t: have.get(t) for t in changelogs} == dict.fromkeys(changelogs,
                                                                 rp.settings.partitions)
    assert have.get(f"{rp.settings.app_id}-__assignor-__leader") == 1


def test_repeated_client_errors_are_one_line_per_window() -> None:
    import logging

    from router.watchdog import RepeatFilter

    now = [0.0]
    f = RepeatFilter(window=10.0, clock=lambda: now[0])

    def rec(msg: str, *args: object) -> logging.LogRecord:
        return logging.LogRecord("aiokafka.client", logging.ERROR, __file__, 1, msg, args,
                                 None)

    passed = []
    for i in range(1000):  # 1,000 refusals in 5 s, then more after the window
        now[0] = i * 0.005
        r = rec("Unable connect to node with id %s: %s", 1, "refused")
        if f.filter(r):
            passed.append(r.getMessage())
    now[0] = 11.0
    r = rec("Unable connect to node with id %s: %s", 1, "refused")
    assert f.filter(r)
    passed.append(r.getMessage())
    assert passed == ["Unable connect to node with id 1: refused",
                      "Unable connect to node with id 1: refused (999 more like this "
                      "suppressed in the last 10 s)"]
    assert f.filter(rec("another message"))  # each kind of message on its own


@pytest.fixture
def own_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """A broker this test may stop (the session's is shared)."""
    broker = LocalBroker(tmp_path_factory.mktemp("kafka-lost"), port=free_port(),
                         controller_port=free_port(), partitions=4)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def test_lost_kafka_is_a_bounded_log_and_a_non_zero_exit_naming_the_address(
        own_broker: LocalBroker, tmp_path: Path) -> None:
    """Issue #13: a worker whose broker went away logged hundreds of thousands of
    reconnect errors, kept /health at 200 and never stopped."""
    rp = RouterProcess(own_broker.bootstrap, tmp_path,
                       extra_env={"ROUTER_SESSION_TIMEOUT": "6"})
    rp.create_topics()
    rp.start()
    try:
        m = mention("k1", "@acmesupport my order 77 never arrived", "lee")
        rp.produce("mentions", [encode(m)], [key_of(m)])
        rp.read("decisions", lambda r: len(r) >= 1)
        before = len(rp.log_text().splitlines())
        own_broker.stop()
        assert rp.proc is not None
        try:
            rc = rp.proc.wait(timeout=EXIT_BOUND_S)
        except subprocess.TimeoutExpired:
            raise AssertionError("the worker kept running without Kafka") from None
        after = rp.log_text().splitlines()[before:]
        assert rc != 0
        assert after[-1].startswith(f"Error: lost Kafka at {own_broker.bootstrap}: "), after[-1]
        assert "set KAFKA_BOOTSTRAP" in after[-1]
        errors = [ln for ln in after if "[ERROR]" in ln]
        assert len(errors) < 200, f"{len(errors)} ERROR lines, e.g. {errors[-3:]}"
    finally:
        rp.stop()
