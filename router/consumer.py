"""A Kafka consumer that reads again what Faust's ``getmany`` fetched but never handed on.

Faust (checked against faust-streaming 0.15.3) fetches a batch for the partitions active
at the time of the fetch, then hands on a record only if its partition is *still* active
(``Consumer.getmany``: ``tp in active_partitions or tp in self._buffered_partitions``,
where ``active_partitions`` is the consumer's own set, changed in place). A partition
paused while the batch is being handed on loses the rest of its records: aiokafka's
position is already past them, and when the partition's next record arrives
``_drain_messages`` takes the hole for a compaction gap (``_add_gap``), which
``_new_offset`` counts as acked, so the commit moves past records nobody processed.

This consumer watches each batch: when the flow stayed active and the consumer generation
did not change, yet a record was not handed on, it seeks that partition (if it is still
assigned) back to its first such record. The seek also resets Faust's read offset, so no
gap is recorded and nothing is committed past the record before it is read again.

In Faust 0.15.3 the pauses that can land inside a batch while the flow is active and the
generation unchanged are those of table recovery, on changelog partitions (``Recovery``
pauses them when it is done reading, ``TableManager._update_channels`` at start); stream
partitions are paused only on a rebalance, which stops the flow first. The seek back costs
nothing when it is not needed, and keeps another caller of ``pause_partitions`` (or a
later Faust) from turning a pause into a loss.

The other ways ``getmany`` stops early (the flow stopped, or the generation changed) come
with a rebalance (or a shutdown), and a rebalance starts every partition again from the
group's committed offset: aiokafka's eager protocol assigns every partition afresh and
positions it at its committed offset (or by the reset policy), and Faust's recovery calls
``perform_seek`` before ``resume_flow`` (``seek_to_committed`` alone would not be enough:
it skips partitions with no committed offset). A batch fetched while the flow is stopped
is answered by ``perform_seek`` in ``getmany`` itself. Those batches are left to Faust.

After an assignment, this consumer fetches no stream partition until ``perform_seek`` has
moved it to its committed offset. Faust's recovery resumes the stream partitions and then
awaits ``perform_seek`` with the flow already active (``Recovery.on_recovery_completed``;
a worker's first assignment never stops the flow at all), and aiokafka's
``seek_to_committed`` asks the group for one partition's offset at a time. Meanwhile the
flow fetches and hands on the stream partitions from aiokafka's position; the seek then
moves a partition back, the records fetched again are dropped by ``_drain_messages`` as
already read (``offset < _read_offset``), and ``perform_seek`` finally writes the committed
offset it read before (lower than a commit made in between) and the read offset, so the
next record is taken for a gap. The commit guard held such a partition at a record that
was never to be handed on again (a stall and a restart); Faust alone counts the gap as
acked and commits past records still waiting in a stream's buffer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from contextlib import aclosing
from typing import Any, ClassVar, cast

from aiokafka.errors import IllegalStateError
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP, Message

from .watchdog import pace_metadata_updates

log = logging.getLogger(__name__)


class Batch:
    """One fetched batch, and the state of the consumer when ``getmany`` started on it."""

    def __init__(self, records: Any, generation_id: int, flow_active: bool) -> None:
        self.records: Any = records or {}
        self.generation_id = generation_id
        self.flow_active = flow_active
        #: Offsets handed on, by partition.
        self.yielded: dict[TP, set[int]] = {}

    def dropped(self) -> dict[TP, list[int]]:
        """Offsets fetched but not handed on, by partition (sorted, possibly empty)."""
        out: dict[TP, list[int]] = {}
        for tp, records in self.records.items():
            seen = self.yielded.get(tp, set())
            missed = sorted(r.offset for r in records if r.offset not in seen)
            if missed:
                out[tp] = missed
        return out


class RereadingConsumer(faust_aiokafka.Consumer):
    """The aiokafka consumer, which seeks back to records ``getmany`` dropped because their
    partition was paused between the fetch and the hand-over."""

    #: Records sought back to, over this consumer's life (read by the tests).
    reread: int = 0

    _batch: Batch | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: Offsets fetched and not yet committed past, per partition of an acked topic.
        self._fetched: dict[TP, set[int]] = {}
        #: The offset a commit was last held at (warned about once), per partition.
        self._held: dict[TP, int] = {}
        #: Stream partitions assigned (or paused by a rebalance) and not fetched until
        #: ``perform_seek`` has moved them to their committed offsets.
        self._unsought: set[TP] = set()
        #: Set when ``perform_seek`` releases partitions (wakes a fetch waiting for it).
        self._sought = asyncio.Event()

    def _new_consumer_thread(self) -> RouterConsumerThread:
        return RouterConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def on_partitions_assigned(self, assigned: set[TP], generation_id: int = 0) -> None:
        # aiokafka positions each partition at its committed offset, but Faust's recovery
        # seeks them again while the flow is active: nothing is fetched from them before.
        self._unsought = {tp for tp in assigned if not self._is_changelog_tp(tp)}
        await super().on_partitions_assigned(assigned, generation_id)

    def pause_partitions(self, tps: Iterable[TP]) -> None:
        tps = list(tps)
        if not self.flow_active:  # a rebalance's pause: the recovery seeks them after
            self._unsought.update(tp for tp in tps if not self._is_changelog_tp(tp))
        super().pause_partitions(tps)

    async def perform_seek(self) -> None:
        """Seek to the committed offsets, then let the stream partitions that were active
        (resumed for it) be fetched.

        A ``perform_seek`` that fails or is cut short leaves them waiting for the next
        one (a rebalance's), and the stall watch restarts a worker that waits too long.
        """
        generation_id = self.app.consumer_generation_id
        seeking = self._unsought & self._get_active_partitions()
        await super().perform_seek()
        if self.app.consumer_generation_id == generation_id and seeking:
            self._unsought -= seeking
            self._sought.set()

    async def _getmany(self, active_partitions: set[TP] | None,
                       timeout: float) -> Any:
        if active_partitions is not None and self._unsought:
            active_partitions = active_partitions - self._unsought
            if not active_partitions:  # aiokafka would read an empty set as "all"
                self._sought.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._sought.wait(), timeout)
                return {}
        return await super()._getmany(active_partitions, timeout)

    async def _wait_next_records(self, timeout: float) -> Any:
        records, active = await super()._wait_next_records(timeout)
        # Taken with no await between here and Faust's own reading of both in getmany.
        self._batch = Batch(records, self.app.consumer_generation_id, self.flow_active)
        acks_enabled_for = self.app.topics.acks_enabled_for
        for tp, of_tp in (records or {}).items():
            if acks_enabled_for(tp.topic):
                self._fetched.setdefault(tp, set()).update(r.offset for r in of_tp)
        return records, active

    def _new_offset(self, tp: TP) -> int | None:
        """Faust's next offset to commit, except past a fetched record nobody acked.

        Faust's check of the head of the acked offsets is off by one (``min(acked) -
        committed > 1``, with ``committed`` the next offset to read, and skipped when it is
        0 or unknown): with the record at the committed offset not acked and the next one
        acked, it commits past the first. A record this consumer fetched exists, so the
        commit waits for it; the worker's stall watch restarts a worker whose wait does not
        end. A record never fetched (removed by retention) is left to Faust.
        """
        fetched = self._fetched.get(tp)
        if fetched:
            committed = self._committed_offset[tp]
            head = min(fetched) if committed is None else committed
            if head in fetched and head not in self._acked_index[tp]:
                done = [*self._acked[tp], *(gap.begin for gap in self._gap[tp])]
                passes = bool(done) and (not committed or min(done) - committed <= 1)
                if passes and self._held.get(tp) != head:  # Faust would commit past it
                    self._held[tp] = head
                    log.warning("holding the commit of %s[%d] at offset %d: that record was "
                                "fetched but not acked, the next one was (Faust would "
                                "commit past it)", tp.topic, tp.partition, head)
                return None
        new = super()._new_offset(tp)
        if fetched and new is not None:
            fetched.difference_update([o for o in fetched if o < new])
        return new

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        for tp in revoked:
            self._fetched.pop(tp, None)
            self._held.pop(tp, None)
            self._unsought.discard(tp)
        await super().on_partitions_revoked(revoked)

    async def getmany(self, timeout: float) -> AsyncIterator[tuple[TP, Message]]:
        self._batch = None
        # Faust types getmany as an iterator; it is an async generator, to be closed with ours.
        generator = cast(AsyncGenerator[tuple[TP, Message], None], super().getmany(timeout))
        async with aclosing(generator) as inherited:
            async for tp, message in inherited:
                if self._batch is not None:
                    self._batch.yielded.setdefault(tp, set()).add(message.offset)
                yield tp, message
        batch, self._batch = self._batch, None
        if batch is not None:
            await self._reread(batch)

    async def _reread(self, batch: Batch) -> None:
        if not (batch.flow_active and self.flow_active and not self.should_stop
                and self.app.consumer_generation_id == batch.generation_id):
            return  # a rebalance seeks every partition to its committed offset
        dropped = batch.dropped()
        if not dropped:
            return
        assigned = self.assignment()
        for tp, offsets in dropped.items():
            if tp not in assigned:
                continue  # its next owner starts from the committed offset
            log.warning("re-reading %d record(s) of %s[%d] from offset %d that Faust "
                        "dropped while the partition was paused",
                        len(offsets), tp.topic, tp.partition, offsets[0])
            try:
                # seek_wait, not seek: it moves aiokafka on the consumer's own thread
                # (seek calls it from this one), and it resets the read offset the same way.
                await self.seek_wait({tp: offsets[0]})
            except IllegalStateError:
                log.info("%s[%d] was revoked before it could be re-read; its next owner "
                         "starts from the committed offset", tp.topic, tp.partition)
                continue
            self.reread += len(offsets)


class RouterConsumerThread(faust_aiokafka.AIOKafkaConsumerThread):
    """Faust's aiokafka thread, whose client forces metadata no faster than its
    ``retry_backoff_ms`` (``router.watchdog.MetadataPace`` says why)."""

    def _create_consumer(self, loop: asyncio.AbstractEventLoop) -> Any:
        consumer = super()._create_consumer(loop)
        client = consumer._client
        pace_metadata_updates(client, client._retry_backoff)
        return consumer


class RouterTransport(faust_aiokafka.Transport):
    """The aiokafka transport with the ``RereadingConsumer``."""

    Consumer: ClassVar[Any] = RereadingConsumer
