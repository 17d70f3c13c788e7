"""The worker's Kafka client does not spin on metadata (issue #13's fresh-start stall).

What a user would notice: aiokafka's fetcher, given a partition whose leader it does not
know, forces a metadata round and asks again as soon as it is answered; on loopback that is
hundreds of rounds a second (one ERROR line each when the topic is missing) and a busy CPU
while nothing is consumed. The router's consumer thread paces forced rounds to the client's
``retry_backoff_ms``.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from router.app import create_app
from router.settings import Settings
from router.watchdog import MetadataPace


async def test_forced_rounds_asked_for_within_the_interval_are_one_round() -> None:
    rounds: list[asyncio.Future[bool]] = []

    def force() -> asyncio.Future[bool]:
        fut = asyncio.get_running_loop().create_future()
        fut.set_result(True)
        rounds.append(fut)
        return fut

    now = [100.0]
    pace = MetadataPace(force, interval=0.05, clock=lambda: now[0])
    assert await pace() is True  # the first goes at once
    waiting = [pace() for _ in range(50)]  # a fetcher asking again and again
    assert len(rounds) == 1
    now[0] += 0.05
    assert await asyncio.wait_for(asyncio.gather(*waiting), 5) == [True] * 50
    assert len(rounds) == 2  # one more round answered all fifty
    assert await pace() is True  # the interval has passed: at once again
    assert len(rounds) == 3


@pytest.mark.kafka
async def test_a_partition_without_a_leader_does_not_spin_the_workers_client(
        kafka_bootstrap: str, tmp_path: Any) -> None:
    """A partition with no leader (here one past the topic's count; a missing topic the
    broker does not auto-create does the same): over a two-second wait the router's client
    asks for metadata about once per ``retry_backoff_ms`` (100 ms), not once per round trip
    (aiokafka alone: some 300 rounds in those two seconds here)."""
    topic = f"pace-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    app = create_app(Settings(data_dir=tmp_path, kafka_bootstrap=kafka_bootstrap))
    client_consumer = app.consumer._thread._create_consumer(asyncio.get_running_loop())
    client = client_consumer._client
    rounds = 0
    update = client._metadata_update

    async def counted(*args: Any) -> bool:
        nonlocal rounds
        rounds += 1
        return bool(await update(*args))

    client._metadata_update = counted
    await client_consumer.start()
    try:
        client_consumer.assign([TopicPartition(topic, 7)])  # no such partition: no leader
        before = rounds
        await client_consumer.getmany(timeout_ms=2000)
        asked = rounds - before
    finally:
        await asyncio.wait_for(client_consumer.stop(), 10)
    assert asked <= 2.0 / 0.1 + 5, (
        f"{asked} metadata rounds in a two-second wait for a partition with no leader")
