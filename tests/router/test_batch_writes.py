"""Triage's records go to Kafka as one batch per topic partition (``router.batch_writes``):
none lost or reordered, a changelog record is the bytes Faust itself writes on the handled
message's partition, and a batch whose records cannot be handed to Kafka leaves its
mentions unsettled (the agent dead-letters them) instead of counting them decided. The
real broker path, a worker restarted onto the changelogs these records make, is
``test_stream.py::test_redelivered_mention_after_restart_without_commit_opens_no_second_ticket``."""

from __future__ import annotations

from typing import Any

import faust
import pytest
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder
from faust.types import TP

from router.batch_writes import ChangelogTable, Writes
from router.tables import in_event

from .test_triage_state import Agent, Event, m

PARTITIONS = [0, 1, 2, 3]


class Kafka:
    """aiokafka's producer as ``Writes`` uses it, with aiokafka's own batch builder and
    partitioner; ``sent`` is every batch handed over, decoded."""

    def __init__(self, batch_size: int = 16_384) -> None:
        self.batch_size = batch_size
        self.sent: list[tuple[str, int, list[tuple[bytes, bytes | None]]]] = []
        self.partitioner = DefaultPartitioner()

    def create_batch(self) -> Any:
        return BatchBuilder(self.batch_size, 0)

    async def partitions_for(self, topic: str) -> set[int]:
        return set(PARTITIONS)

    async def send_batch(self, batch: Any, topic: str, *, partition: int) -> None:
        from aiokafka.record.default_records import DefaultRecordBatch

        batch.close()
        records = DefaultRecordBatch(bytearray(batch._build()))
        self.sent.append((topic, partition, [(r.key, r.value) for r in records]))


class FaustProducer:
    """The app's Faust producer: the aiokafka one and its key hashing."""

    def __init__(self, kafka: Kafka) -> None:
        self.kafka = kafka

    def _ensure_producer(self) -> Kafka:
        return self.kafka

    def key_partition(self, topic: str, key: bytes) -> TP:
        return TP(topic, self.kafka.partitioner(key, PARTITIONS, PARTITIONS))


def records(kafka: Kafka, topic: str, partition: int) -> list[tuple[bytes, bytes | None]]:
    return [r for t, p, batch in kafka.sent if (t, p) == (topic, partition) for r in batch]


async def test_records_reach_their_partitions_in_order_in_few_batches() -> None:
    kafka = Kafka()
    writes = Writes(FaustProducer(kafka))
    keys = [f"generic:user{i % 37}".encode() for i in range(500)]
    for i, key in enumerate(keys):
        writes.add("decisions", key, b"%d" % i)
    writes.add("authors-changelog", b'"a"', None, partition=2)  # a tombstone, placed
    assert len(writes) == 501
    await writes.send()
    assert len(writes) == 0 and len(kafka.sent) == 5  # a batch per partition, not a send each
    for p in PARTITIONS:  # where aiokafka's partitioner puts each key, in the order added
        expected = [(k, b"%d" % i) for i, k in enumerate(keys)
                    if kafka.partitioner(k, PARTITIONS, PARTITIONS) == p]
        assert records(kafka, "decisions", p) == expected
    assert records(kafka, "authors-changelog", 2) == [(b'"a"', None)]


async def test_a_full_batch_is_sent_and_the_rest_follow_in_another() -> None:
    kafka = Kafka(batch_size=1_000)
    writes = Writes(FaustProducer(kafka))
    big = b"x" * 3_000  # larger than a batch: it goes alone
    for i in range(40):
        writes.add("posts-changelog", b"%d" % i, big if i == 7 else b"v" * 90, partition=1)
    await writes.send()
    assert len(kafka.sent) > 3
    assert [k for k, _ in records(kafka, "posts-changelog", 1)] == [b"%d" % i
                                                                     for i in range(40)]


async def test_a_changelog_record_is_the_bytes_faust_writes_on_the_events_partition() -> None:
    app = faust.App("batch-writes-test", broker="kafka://127.0.0.1:1", store="memory://")
    table = app.Table("authors", default=dict, partitions=4, key_type=str, value_type=None)
    writes = Writes(FaustProducer(Kafka()))
    authors: ChangelogTable[dict[str, Any]] = ChangelogTable(table, writes)
    with pytest.raises(RuntimeError, match="outside of a stream"):
        authors["generic:u1"] = {"x": 1}
    event = Event(m("hi", id="1"), 0, partition=3)
    in_event(event)
    value = {"cases": [], "text": {"ref": "généric:1", "at": 1.5, "none": None}}
    authors["generic:é"] = value
    assert authors["generic:é"] == value and "generic:é" in authors  # read back at once
    assert authors.pop("generic:é") == value and "generic:é" not in authors
    assert authors.pop("generic:é", None) is None  # nothing there: no tombstone
    topic = table.changelog_topic
    assert writes.pending == {(topic.get_topic_name(), 3): [
        (topic.prepare_key("generic:é", "json")[0], topic.prepare_value(value, "json")[0]),
        (topic.prepare_key("generic:é", "json")[0], None)]}


async def test_a_missing_key_reads_as_the_faust_table_reads_it() -> None:
    """Reads skip Faust's sensors, not its defaults: an author never seen is ``{}`` (the
    table's default), a post never seen is None, or KeyError when indexed."""
    app = faust.App("batch-reads-test", broker="kafka://127.0.0.1:1", store="memory://")
    writes = Writes(FaustProducer(Kafka()))
    for default, name in ((dict, "authors"), (None, "posts")):
        table = app.Table(name, default=default, partitions=4, key_type=str, value_type=None)
        ours: ChangelogTable[Any] = ChangelogTable(table, writes)
        assert ours.get("nobody") == table.get("nobody")
        assert ours.get("nobody", "x") == table.get("nobody", "x")
        if default is None:
            with pytest.raises(KeyError):
                ours["nobody"]
        else:
            assert ours["nobody"] == table["nobody"] == {}
        table.data["somebody"] = {"seen": 1}
        assert ours.get("somebody") == ours["somebody"] == {"seen": 1}


class Topic:
    def __init__(self, name: str) -> None:
        self.name = name

    def get_topic_name(self) -> str:
        return self.name


class Unreachable(Writes):
    """A producer that cannot take the batch (e.g. no metadata for the topic in time)."""

    async def send(self) -> None:
        self.pending = {}
        raise TimeoutError("metadata not ready")


async def test_a_batch_kafka_cannot_take_leaves_its_mentions_unsettled() -> None:
    agent = Agent()
    agent.step.writes = Unreachable(None)
    agent.step.decisions = Topic("decisions")
    events = [Event(m("I was charged twice", id="1"), 0), Event(m("and again", id="2"), 1)]
    with pytest.raises(TimeoutError):
        await agent.step.handle(events)
    assert agent.step.settled == set()  # the agent dead-letters them all
    assert agent.decisions() == []  # none went to the sink either
