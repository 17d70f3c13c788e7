"""Poison stays alone, on a real broker with a real worker: whatever one message does wrong
(too large for the router but not for Kafka, nested past any parser's depth, an integer
Python refuses to read, a tombstone), it ends in ``mentions-dlq`` with its own reason and the
other messages of its batch get their verdicts as usual."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from .stream import RouterProcess, encode, key_of, mention, running

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


@pytest.fixture
def router(kafka_bootstrap: str, tmp_path: Any) -> Iterator[RouterProcess]:
    # A large batch so that the poison shares its batch with valid mentions.
    rp = RouterProcess(kafka_bootstrap, tmp_path / "w",
                       extra_env={"ROUTER_BATCH_SIZE": "64", "ROUTER_BATCH_TIMEOUT": "2"})
    with running(rp):
        yield rp


def _ids(records: list[dict[str, Any]]) -> set[str]:
    return {r["mention"]["id"] for r in records}


def test_each_poison_message_is_its_own_dead_letter_and_the_batch_is_decided(
        router: RouterProcess) -> None:
    huge = encode(mention("big", "x" * 900_000, "hugo"))  # > 256 KiB, < Kafka's 1 MB
    nested = b'{"id": "n", "a": ' + b"[" * 3000 + b"]" * 3000 + b"}"
    big_int = b'{"id": "i", "network": "generic", "n": ' + b"9" * 5000 + b"}"
    poison = {"message too large": huge, "nested": nested, "integer": big_int,
              "tombstone": None}
    valid = [mention(f"v{i}", f"@acmesupport my order {i} never arrived, can you check "
                     "the tracking number?", f"cust{i}") for i in range(10)]
    # Valid mentions before, between and after the poison, all on one partition key so
    # they arrive in one batch in this order.
    values: list[bytes | None] = [encode(m) for m in valid[:3]]
    values += [huge, encode(valid[3]), nested, big_int, None]
    values += [encode(m) for m in valid[4:]]
    router.produce("mentions", values, [b"k"] * len(values))  # type: ignore[arg-type]

    letters = router.read("mentions-dlq", lambda r: len(r) >= len(poison), timeout=120)
    decisions = router.read("decisions", lambda r: {m["id"] for m in valid} <= _ids(r),
                            timeout=120)
    assert _ids(decisions) == {m["id"] for m in valid}  # every valid one decided, once each
    assert len(letters) == len(poison), [x["reason"] for x in letters]
    assert not [x for x in letters if "internal error" in x["reason"]]
    by_offset = sorted(letters, key=lambda x: x["offset"])
    reasons = [x["reason"] for x in by_offset]
    assert "message too large" in reasons[0]
    assert "nested" in reasons[1]
    assert "integer" in reasons[2] or "digits" in reasons[2]
    assert "tombstone" in reasons[3] or "empty message" in reasons[3]
    # The large one is kept as its size, its digest and its first bytes, within what Kafka
    # accepts; the small ones are kept whole.
    big = by_offset[0]
    assert big["original_size"] == len(huge)
    assert big["original_sha256"] == hashlib.sha256(huge).hexdigest()
    assert big["truncated"] is True
    kept = base64.b64decode(big["original"])
    assert huge.startswith(kept) and 0 < len(kept) < len(huge)
    assert len(json.dumps(big)) < 1_000_000
    assert base64.b64decode(by_offset[1]["original"]) == nested
    assert base64.b64decode(by_offset[2]["original"]) == big_int


def test_after_the_poison_the_worker_keeps_deciding(router: RouterProcess) -> None:
    router.produce("mentions", [encode(mention("big2", "y" * 900_000, "hugo"))])
    later = mention("after", "@acmesupport I can't log in since this morning", "lee")
    router.produce("mentions", [encode(later)], [key_of(later)])
    decisions = router.read("decisions", lambda r: "after" in _ids(r), timeout=120)
    assert "after" in _ids(decisions)


def test_a_dead_letter_the_broker_refuses_is_kept_without_its_original(
        kafka_bootstrap: str, tmp_path: Any) -> None:
    # A dead-letter topic that takes less than a dead letter with its original: the letter
    # still arrives, as the reason, the size and the digest, and the batch goes on.
    rp = RouterProcess(kafka_bootstrap, tmp_path / "w")
    rp.create_topics()
    admin = KafkaAdminClient(bootstrap_servers=rp.bootstrap)
    try:
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC,
                                            rp.topic("mentions-dlq"),
                                            configs={"max.message.bytes": "3000"})])
    finally:
        admin.close()
    bad = encode({**mention("far", "w" * 8000, "ulla"), "network": "myspace"})
    before = mention("b1", "@acmesupport my invoice is wrong, please fix it", "ulla")
    after = mention("a1", "@acmesupport still no refund for order 77", "ulla")
    rp.start()
    try:
        rp.produce("mentions", [encode(before), bad, encode(after)], [b"k"] * 3)
        letters = rp.read("mentions-dlq", lambda r: len(r) >= 1)
        decisions = rp.read("decisions", lambda r: {"b1", "a1"} <= _ids(r))
    finally:
        rp.stop()
    assert len(letters) == 1 and _ids(decisions) == {"b1", "a1"}
    letter = letters[0]
    assert "unknown network" in letter["reason"] and "original not kept" in letter["reason"]
    assert letter["original"] == "" and letter["truncated"] is True
    assert letter["original_size"] == len(bad)
    assert letter["original_sha256"] == hashlib.sha256(bad).hexdigest()


#: A worker whose policy has a bug that one mention's text triggers (any bug: the point is
#: that it stays that mention's).
BUGGY_POLICY = """
import router.triage_step as triage
real = triage.decide

def decide(m, sc, s, ctx):
    if "TRIGGER" in m.text:
        raise ZeroDivisionError("a bug in the policy")
    return real(m, sc, s, ctx)

triage.decide = decide
from router.cli import main
main(["worker", "-l", "info"])
"""


def test_a_bug_on_one_mention_dead_letters_that_mention_only(
        kafka_bootstrap: str, tmp_path: Any) -> None:
    """A policy error on one mention used to send the rest of its batch, valid mentions
    nobody had decided yet, to ``mentions-dlq`` as "internal error" too."""
    rp = RouterProcess(kafka_bootstrap, tmp_path / "w", command=["-c", BUGGY_POLICY],
                       extra_env={"ROUTER_BATCH_SIZE": "64", "ROUTER_BATCH_TIMEOUT": "2"})
    rp.create_topics()
    batch = [mention("p1", "@acmesupport my order 5 never arrived", "ida"),
             mention("p2", "@acmesupport TRIGGER my order 6 never arrived", "ida"),
             mention("p3", "@acmesupport my order 7 never arrived", "ida"),
             mention("p4", "@acmesupport please refund order 8", "ida")]
    rp.produce("mentions", [encode(m) for m in batch], [b"k"] * len(batch))
    rp.start()
    try:
        letters = rp.read("mentions-dlq", lambda r: len(r) >= 1)
        decisions = rp.read("decisions", lambda r: {"p1", "p3", "p4"} <= _ids(r))
    finally:
        rp.stop()
    assert [json.loads(base64.b64decode(x["original"]))["id"] for x in letters] == ["p2"]
    assert "internal error: ZeroDivisionError" in letters[0]["reason"]
    assert _ids(decisions) == {"p1", "p3", "p4"}
