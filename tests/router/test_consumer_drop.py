"""Nothing lost when a partition is paused mid-batch (issue #13).

What a user would notice: Faust hands on a fetched record only if its partition is still
active; a partition paused between the fetch and the hand-over loses the rest of its batch,
and when its next record arrives the hole is taken for a compaction gap, so the commit moves
past records no agent ever saw (a customer's reply never sent, and no stall to see).

No broker: the router's own app and consumer, with aiokafka replaced by a fake log (fetch
from a position, ``max_poll_records`` at a time, seek moves the position), driven by Faust's
real ``_drain_messages`` and ``getmany``; while the other partition's record is being
handled, one partition is paused with Faust's own ``pause_partitions`` (what table recovery
calls), the flow active and the generation unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import pytest
from aiokafka.structs import ConsumerRecord
from faust.types import TP, Message

from router.app import create_app
from router.settings import Settings

TOPIC = "ticket-events"
A, B = TP(TOPIC, 0), TP(TOPIC, 1)
LOG_SIZE = 8  # records per partition
BATCH = 4  # records per partition per fetch
PAUSE_AT = 1  # A is paused while B's record at this offset is handled


class FakeKafka:
    """aiokafka as ``getmany``/``seek`` see it: a log per partition and a fetch position."""

    def __init__(self) -> None:
        self.log = {tp: [record(tp, o) for o in range(LOG_SIZE)] for tp in (A, B)}
        self.position = {A: 0, B: 0}
        self.seeks: list[tuple[TP, int]] = []

    async def getmany(self, active_partitions: set[TP] | None, timeout: float) -> Any:
        out = {}
        for tp in sorted(active_partitions or ()):
            got = self.log[tp][self.position[tp]:self.position[tp] + BATCH]
            if got:
                out[tp] = got
                self.position[tp] = got[-1].offset + 1  # aiokafka moves on at the fetch
        return out

    def seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))
        self.position[tp] = offset

    async def position_of(self, tp: TP) -> int:
        return self.position[tp]


def record(tp: TP, offset: int) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(topic=tp.topic, partition=tp.partition, offset=offset,
                          timestamp=1_000, timestamp_type=0, key=b"k", value=b"v",
                          checksum=None, serialized_key_size=1, serialized_value_size=1,
                          headers=())


class Fetcher:
    """What ``_drain_messages`` is told to stop with."""

    def __init__(self) -> None:
        self._stopped = asyncio.Event()


@pytest.fixture
async def consumer(tmp_path: Any) -> Any:
    """The router's consumer, made in the test's event loop (Faust's services bind to the
    loop they are made in)."""
    return create_app(Settings(data_dir=tmp_path)).consumer


async def drain(consumer: Any, kafka: FakeKafka) -> list[tuple[TP, int]]:
    """Run Faust's own drain loop over the fake log; on B's record ``PAUSE_AT`` (while A's
    batch is still being handed on, round-robin) A is paused, and resumed once B's first
    batch is done."""
    handed: list[tuple[TP, int]] = []
    fetcher = Fetcher()
    fetches = 0

    async def fetch(active_partitions: set[TP] | None, timeout: float) -> Any:
        nonlocal fetches
        fetches += 1
        if fetches > 8 or all(kafka.position[tp] >= LOG_SIZE for tp in (A, B)):
            fetcher._stopped.set()  # checked by the drain loop before its next fetch
        return await kafka.getmany(active_partitions, timeout)

    async def callback(message: Message) -> None:
        tp = message.tp
        handed.append((tp, message.offset))
        consumer.ack(message)  # the agent is done with it: this is what the commit counts
        if (tp, message.offset) == (B, PAUSE_AT):
            consumer.pause_partitions({A})  # e.g. a table recovery pausing, same generation
        if (tp, message.offset) == (B, BATCH - 1):
            consumer.resume_partitions({A})

    async def seek_wait(partitions: dict[TP, int]) -> None:
        await consumer._thread._seek_wait(FakeAiokafka(kafka), partitions)

    consumer._getmany = fetch
    consumer.callback = callback
    consumer.assignment = lambda: {A, B}
    consumer.highwater = lambda tp: LOG_SIZE
    consumer._thread.seek_wait = seek_wait
    consumer._thread._seek = lambda tp, offset: kafka.seek(tp, offset)
    consumer.app.topics._acking_topics.add(TOPIC)
    consumer.resume_partitions({A, B})
    await asyncio.wait_for(consumer._drain_messages(fetcher), timeout=30)
    return handed


class FakeAiokafka:
    """The aiokafka consumer Faust's ``_seek_wait`` drives."""

    def __init__(self, kafka: FakeKafka) -> None:
        self.kafka = kafka

    def seek(self, tp: TP, offset: int) -> None:
        self.kafka.seek(tp, offset)

    async def position(self, tp: TP) -> int:
        return await self.kafka.position_of(tp)


async def test_a_record_dropped_by_a_pause_is_read_again_before_the_commit_passes_it(
        consumer: Any, caplog: pytest.LogCaptureFixture) -> None:
    kafka = FakeKafka()
    with caplog.at_level(logging.WARNING, logger="router.consumer"):
        handed = await drain(consumer, kafka)

    never = [o for o in range(LOG_SIZE) if (A, o) not in handed]
    commit_to = consumer._new_offset(A)  # what the next commit of A would write
    assert not never, (
        f"{TOPIC}[0] offsets {never} were fetched but never handed to the agent; "
        f"seeks back: {kafka.seeks}; the next commit of {TOPIC}[0] would be {commit_to}, "
        "past them, so a restart would not read them either")
    assert commit_to == LOG_SIZE
    first = PAUSE_AT + 1  # A's records up to PAUSE_AT were handed on before the pause
    assert kafka.seeks == [(A, first)]  # back to the first record the pause dropped
    assert all((B, o) in handed for o in range(LOG_SIZE))
    assert consumer.reread == BATCH - first
    assert [r.getMessage() for r in caplog.records] == [
        f"re-reading {BATCH - first} record(s) of {TOPIC}[0] from offset {first} that Faust "
        "dropped while the partition was paused"]


async def test_a_batch_cut_short_by_a_rebalance_is_left_to_the_rebalance_seek(
        consumer: Any) -> None:
    """A stopped flow (a rebalance) also cuts the batch short; Faust's rebalance seeks every
    partition to its committed offset, so the consumer does not seek on its own."""
    kafka = FakeKafka()

    async def callback(message: Message) -> None:
        consumer.stop_flow()  # on_partitions_revoked does this first

    async def fetch(active_partitions: set[TP] | None, timeout: float) -> Any:
        return await kafka.getmany(active_partitions, timeout)

    consumer._getmany = fetch
    consumer.assignment = lambda: {A, B}
    consumer.highwater = lambda tp: LOG_SIZE
    consumer._thread._seek = lambda tp, offset: kafka.seek(tp, offset)
    consumer.resume_partitions({A, B})
    handed: list[tuple[TP, int]] = []
    async for tp, message in consumer.getmany(timeout=1.0):
        handed.append((tp, message.offset))
        await callback(message)
    assert len(handed) == 1
    assert kafka.seeks == []


async def fetch_and_ack(consumer: Any, kafka: FakeKafka, committed: int,
                        acked: set[int]) -> dict[int, Message]:
    """One batch of A fetched through ``getmany``, the group's commit at ``committed`` (the
    next offset to read), and the agent done with the records at ``acked``; the others
    are returned by offset."""
    async def fetch(active_partitions: set[TP] | None, timeout: float) -> Any:
        return await kafka.getmany(active_partitions, timeout)

    consumer._getmany = fetch
    consumer.assignment = lambda: {A}
    consumer.highwater = lambda tp: LOG_SIZE
    consumer.app.topics._acking_topics.add(TOPIC)
    consumer.resume_partitions({A})
    consumer._committed_offset[A] = committed
    pending = {}
    async for _tp, message in consumer.getmany(timeout=1.0):
        if message.offset in acked:
            consumer.ack(message)
        else:
            pending[message.offset] = message
    return pending


async def test_the_commit_waits_for_a_fetched_record_nobody_acked(
        consumer: Any, caplog: pytest.LogCaptureFixture) -> None:
    """Faust commits past the record at the committed offset as soon as the next one is
    acked (its check is off by one): the reply of a record never handled is lost with no
    stall to see. The commit must wait (the stall watch then restarts the worker)."""
    pending = await fetch_and_ack(consumer, FakeKafka(), committed=1, acked={2, 3})
    with caplog.at_level(logging.WARNING, logger="router.consumer"):
        commit_to = consumer._new_offset(A)
        assert consumer._new_offset(A) is None  # the next commit too, warned about once
    assert commit_to is None, (
        f"the commit would move to {commit_to}, past {TOPIC}[0] offset 1, fetched and "
        "never acked")
    assert [r.getMessage() for r in caplog.records] == [
        f"holding the commit of {TOPIC}[0] at offset 1: that record was fetched but not "
        "acked, the next one was (Faust would commit past it)"]
    consumer.ack(pending[1])
    assert consumer._new_offset(A) == BATCH


async def test_a_record_removed_by_retention_does_not_hold_the_commit(consumer: Any) -> None:
    kafka = FakeKafka()
    kafka.log[A] = kafka.log[A][2:]  # offsets 0 and 1 are gone; the commit was at 1
    kafka.position[A] = 0
    await fetch_and_ack(consumer, kafka, committed=1, acked={2, 3, 4, 5})
    assert consumer._new_offset(A) == 6


COMMITTED = 3  # the group's offset of A when the restarted worker is assigned it


async def test_a_restarted_worker_hands_on_each_record_once_from_the_committed_offset(
        consumer: Any, caplog: pytest.LogCaptureFixture) -> None:
    """Issue #13's recovery window. A restarted worker's flow is active while Faust's
    recovery resumes the stream partitions and awaits ``perform_seek``, and aiokafka's
    ``seek_to_committed`` asks for one partition's committed offset at a time. A stream
    partition fetched before its turn is moved back by the seek, its records fetched again
    are dropped as already read, a commit lands meanwhile, and ``perform_seek`` then writes
    the older committed offset: the commit is held at a record that will never be handed
    on again (the 15 s stall and restart of the kill -9 runs), or, without the router's
    guard, the next record is taken for a gap.

    The recovery's own steps are played in Faust's order (``Recovery.on_recovery_completed``:
    resume the stream partitions, ``perform_seek``, ``resume_flow``) against Faust's real
    ``_drain_messages``, with aiokafka's thread replaced by the fake log."""
    kafka = FakeKafka()
    kafka.position[A] = COMMITTED  # aiokafka starts a new assignment at the committed offset
    group = {A: COMMITTED}  # the offsets the group has committed
    handed: list[int] = []
    fetched_a = asyncio.Event()  # a fetch returned records of A
    handed_a = asyncio.Event()  # the agent got a record of A
    all_handed = asyncio.Event()
    fetcher = Fetcher()

    async def bounded(event: asyncio.Event) -> None:
        """Wait for ``event``, at most a second (the router's consumer never sets it)."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(event.wait(), 1.0)

    async def fetch(active_partitions: set[TP] | None, timeout: float) -> Any:
        got = await kafka.getmany(active_partitions, timeout)
        if A in got:
            fetched_a.set()
        return got

    async def callback(message: Message) -> None:
        handed.append(message.offset)
        consumer.ack(message)
        handed_a.set()
        if message.offset == LOG_SIZE - 1:
            all_handed.set()

    def commit() -> None:
        """The commit timer: Faust's choice of offsets and its book-keeping once Kafka took
        them (``Consumer._commit_offsets``), without the broker."""
        offsets = consumer._filter_committable_offsets([A])
        group.update(offsets)
        consumer._committed_offset.update(offsets)

    async def seek_to_committed() -> dict[TP, int]:
        """aiokafka's walk: the other partitions' round trips, then A's committed offset and
        the seek to it, then more round trips while the flow goes on."""
        await bounded(handed_a)
        offset = group[A]
        kafka.seek(A, offset)
        commit()
        fetched_a.clear()
        await bounded(fetched_a)
        return {A: offset}

    async def on_partitions_assigned(assigned: set[TP], generation_id: int) -> None:
        """The app's part of an assignment, as far as the consumer sees it: the assigned
        partitions paused (``App._on_partitions_assigned``)."""
        consumer.pause_partitions(assigned)

    consumer._thread.getmany = fetch
    consumer._thread.seek_to_committed = seek_to_committed
    consumer._thread.seek = lambda tp, offset: kafka.seek(tp, offset)
    consumer._on_partitions_assigned = on_partitions_assigned
    consumer.callback = callback
    consumer.assignment = lambda: {A}
    consumer.highwater = lambda tp: LOG_SIZE
    consumer.app.topics._acking_topics.add(TOPIC)
    consumer.resume_flow()  # a worker's first assignment does not stop the flow
    await consumer.on_partitions_assigned({A}, 1)
    drain = asyncio.create_task(consumer._drain_messages(fetcher))
    try:
        with caplog.at_level(logging.WARNING, logger="router.consumer"):
            consumer.resume_partitions({A})  # Recovery.on_recovery_completed, in its order
            await asyncio.wait_for(consumer.perform_seek(), timeout=10)
            consumer.resume_flow()
            await asyncio.wait_for(all_handed.wait(), timeout=10)
            commit_to = consumer._new_offset(A)
    finally:
        fetcher._stopped.set()
        await asyncio.wait_for(drain, timeout=10)
    assert (handed, commit_to) == (list(range(COMMITTED, LOG_SIZE)), LOG_SIZE), (
        f"the agent was handed {TOPIC}[0] offsets {handed} and the next commit would be "
        f"{commit_to} (None: held): records fetched before the seek to the committed "
        "offset were read again and dropped as already read")
    assert not [r for r in caplog.records if r.name == "router.consumer"]  # no hold
