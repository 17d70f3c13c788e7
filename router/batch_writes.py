"""What triage produces for a batch of mentions, handed to Kafka as one batch per partition.

Per mention, triage writes its decision and small records to three tables' changelogs (the
post, the author, a text moved out; ``router.tables``). Written one at a time, each record
went through Faust's table machinery (``Table.__setitem__`` -> ``send_soon`` -> a future
message in the producer buffer) and then aiokafka's per-message futures: py-spy on 20k
pre-produced mentions found 45% of the worker's busy time in those layers, and the empty
Faust agent, which produces one record per message, is the bar (issue #12).

``Writes`` keeps them in order and ``send`` hands each topic partition's records to
aiokafka as record batches (``create_batch``/``send_batch``): one future per batch. The
bytes are Faust's own: a changelog record's key and value are the table's JSON, on the
partition of the message being handled (as Faust writes it); a record with no partition
goes where aiokafka's partitioner puts its key, as ``producer.send`` does.

At-least-once holds as for any send: ``send`` hands every batch to the app's producer
before the agent takes its next mentions, and Faust flushes that producer before it
commits their offsets. ``ChangelogTable`` writes the table's local data at once (a later
mention of the batch reads it) and leaves the changelog record here.
"""

from __future__ import annotations

import asyncio
from collections.abc import ItemsView
from typing import Any, Generic, TypeVar

from faust.streams import current_event
from faust.types import TopicT

from .wire import json_bytes

V = TypeVar("V")

#: One record: (key, value or None for a tombstone)
Record = tuple[bytes, bytes | None]


class Writes:
    """Records for Kafka, kept in order per topic partition until ``send``."""

    def __init__(self, producer: Any) -> None:
        self.producer = producer  # the app's Faust producer (``app.producer``)
        self.pending: dict[tuple[str, int | None], list[Record]] = {}

    def add(self, topic: str, key: bytes, value: bytes | None,
            partition: int | None = None) -> None:
        """Keep a record for ``topic`` (``partition`` None: the key's, as aiokafka hashes it)."""
        self.pending.setdefault((topic, partition), []).append((key, value))

    async def emit(self, topic: TopicT, key: bytes, value: bytes) -> None:
        """``Sink.emit``, kept for ``send`` (the triage agent's decisions and threads)."""
        self.add(topic.get_topic_name(), key, value)

    def __len__(self) -> int:
        return sum(len(records) for records in self.pending.values())

    async def send(self) -> None:
        """Hand every record kept to the producer, one batch per topic partition, in the
        order they were added; nothing is kept afterwards (even if a send raises)."""
        pending, self.pending = self.pending, {}
        if not pending:
            return
        faust_producer = self.producer
        producer = faust_producer._ensure_producer()  # the aiokafka producer
        by_tp: dict[tuple[str, int], list[Record]] = {}
        for (topic, partition), records in pending.items():
            if partition is not None:
                by_tp.setdefault((topic, partition), []).extend(records)
                continue
            await producer.partitions_for(topic)  # metadata known before hashing keys
            for key, value in records:
                tp = faust_producer.key_partition(topic, key)
                by_tp.setdefault((topic, tp.partition), []).append((key, value))
        # aiokafka takes a partition's batch only once its previous one is on its way (a
        # produce round trip, at worst): the partitions wait together, not one by one
        await asyncio.gather(*(send_batches(producer, topic, partition, records)
                               for (topic, partition), records in by_tp.items()))


async def send_batches(producer: Any, topic: str, partition: int,
                       records: list[Record]) -> None:
    """Hand ``records`` to aiokafka as record batches for one partition, in order."""
    batch = producer.create_batch()
    for key, value in records:
        if batch.append(key=key, value=value, timestamp=None) is None:  # full
            await producer.send_batch(batch, topic, partition=partition)
            batch = producer.create_batch()  # takes a first record of any size
            batch.append(key=key, value=value, timestamp=None)
    await producer.send_batch(batch, topic, partition=partition)


class ChangelogTable(Generic[V]):
    """A Faust table whose writes change its local data now and leave their changelog
    record in ``writes`` (``router.tables.Table``). Reads and writes skip Faust's table
    sensors (its monitor's counts of keys read and written), a call per access that cost
    more than the access."""

    def __init__(self, table: Any, writes: Writes) -> None:
        self.table = table
        self.writes = writes
        self.topic = table.changelog_topic.get_topic_name()

    def _partition(self) -> int:
        event = current_event()
        if event is None:  # as Faust: a table is written while a message is handled
            raise RuntimeError(f"cannot write table {self.table.name} outside of a stream")
        return int(event.message.partition)

    def __getitem__(self, key: str) -> V:
        data = self.table.data  # not through Faust's read sensors: a dict read per call
        return data[key] if key in data else self.table.__missing__(key)  # type: ignore[no-any-return]

    def __setitem__(self, key: str, value: V) -> None:
        partition = self._partition()
        self.table.data[key] = value
        self.writes.add(self.topic, json_bytes(key), json_bytes(value), partition)

    def __contains__(self, key: object) -> bool:
        return key in self.table

    def get(self, key: str, default: V | None = None) -> V | None:
        """As the table's ``get``: its default factory's value for a missing key, if it
        has one, else ``default``."""
        data = self.table.data
        if key in data:
            return data[key]  # type: ignore[no-any-return]
        factory = self.table.default
        return default if factory is None else factory()

    def pop(self, key: str, default: V | None = None) -> V | None:
        partition = self._partition()
        data = self.table.data
        if key not in data:
            return default
        value: V = data.pop(key)
        self.writes.add(self.topic, json_bytes(key), None, partition)
        return value

    def items(self) -> ItemsView[str, V]:
        return self.table.items()  # type: ignore[no-any-return]
