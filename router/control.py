"""Runtime control: the compacted ``router-config`` topic, read by every worker.

Ops change a setting at runtime (``router killswitch on``, ``router config set``); the value
is written to ``router-config`` keyed by its name, and every worker's watcher reads the whole
topic from the beginning (no consumer group, so each worker sees every entry) and keeps the
latest value of each name. The kill switch stops replies already queued: the publisher checks
it just before posting.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from typing import Any

from vocab.records import ConfigEntry

from .settings import Settings, did_you_mean, parse_quiet_hours
from .topics import name

log = logging.getLogger(__name__)

KILL_SWITCH = "replies_enabled"
RUNTIME_SETTINGS = {
    KILL_SWITCH: bool,
    "quiet_hours": str,
    "actionable_threshold": float,
    "hurtful_threshold": float,
    "min_coverage": float,
}


class Control:
    """The latest runtime values, over the settings' defaults."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.values: dict[str, Any] = {}
        self.version = 0  # bumped on every change, so readers can cache what they derive
        self.ready = asyncio.Event()

    def get(self, key: str) -> Any:
        if key in self.values:
            return self.values[key]
        return getattr(self.settings, key)

    @property
    def replies_enabled(self) -> bool:
        return bool(self.get(KILL_SWITCH))

    def quiet_now(self, now: float | None = None) -> bool:
        spec = str(self.get("quiet_hours") or "")
        if not spec:
            return False
        start, end = (int(x) for x in spec.split("-"))
        hour = time.gmtime(now if now is not None else time.time()).tm_hour
        return start <= hour < end if start <= end else (hour >= start or hour < end)

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        k = key.decode("utf-8", "replace")
        self.version += 1
        if value is None:
            self.values.pop(k, None)
            return
        try:
            self.values[k] = json.loads(value)["value"]
        except (ValueError, KeyError, TypeError):
            log.warning("ignoring malformed router-config entry %r", k)

    async def save(self, producer: Any, key: str, value: Any, *, by: str) -> None:
        """Write ``key`` (e.g. a poll checkpoint) to the control topic through the worker's
        producer, after everything it has sent before (so a checkpoint never gets ahead of
        what it covers), and wait until Kafka has it."""
        await producer.flush()
        await producer.send_and_wait(name(self.settings, "config"), key.encode(),
                                     entry(key, value, by=by), partition=None,
                                     timestamp=None, headers=None)
        self.values[key] = value

    async def forget(self, producer: Any, key: str) -> None:
        """Delete ``key`` from the control topic (a tombstone) and wait until Kafka has it."""
        await producer.send_and_wait(name(self.settings, "config"), key.encode(), None,
                                     partition=None, timestamp=None, headers=None)
        self.values.pop(key, None)

    def overrides(self) -> dict[str, Any]:
        """The runtime settings ops changed (``router set``), valid ones only."""
        out: dict[str, Any] = {}
        for key, value in self.values.items():
            if key in RUNTIME_SETTINGS and key != KILL_SWITCH:
                try:
                    out[key] = validate(key, str(value).lower() if isinstance(value, bool)
                                        else str(value))
                except ValueError:
                    log.warning("ignoring invalid runtime setting %s=%r", key, value)
        return out

    async def watch(self) -> None:
        """Follow the control topic for as long as the worker runs."""
        await follow_topic(self.settings, name(self.settings, "config"), self.apply,
                           self.ready)


async def follow_topic(settings: Settings, topic: str,
                       apply: Callable[[bytes | None, bytes | None], None],
                       ready: asyncio.Event) -> None:
    """Hand every record of ``topic`` (all its partitions, from the start) to ``apply``,
    for as long as the worker runs; ``ready`` is set once it has been read to its end."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                                enable_auto_commit=False, group_id=None,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic) or {0}
        tps = [TopicPartition(topic, p) for p in parts]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        while True:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for rec in records:
                    apply(rec.key, rec.value)
            if not ready.is_set():
                positions = {tp: await consumer.position(tp) for tp in tps}
                if all(positions[tp] >= end[tp] for tp in tps):
                    ready.set()
    finally:
        await consumer.stop()


def validate(key: str, raw: str) -> Any:
    """Parse a value given on the command line for a runtime setting."""
    if key not in RUNTIME_SETTINGS:
        raise ValueError(f"unknown runtime setting {key!r}{did_you_mean(key, RUNTIME_SETTINGS)}"
                         f": use one of {', '.join(RUNTIME_SETTINGS)}")
    kind = RUNTIME_SETTINGS[key]
    if kind is bool:
        low = raw.strip().lower()
        if low not in ("true", "false", "on", "off", "1", "0"):
            raise ValueError(f"{key} takes true or false")
        return low in ("true", "on", "1")
    if kind is float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"{key} takes a probability between 0 and 1, e.g. 0.6; "
                             f"got {raw!r}") from None
        if not 0 <= value <= 1:
            raise ValueError(f"{key} takes a probability between 0 and 1")
        return value
    if key == "quiet_hours" and raw:
        parse_quiet_hours(raw)
    return raw


def entry(key: str, value: Any, *, by: str) -> bytes:
    """One record of the control topic: a ``ConfigEntry`` as JSON."""
    return bytes(ConfigEntry(name=key, value=value, by=by, at=time.time()).dumps())


def publish(settings: Settings, key: str, value: Any, *, by: str = "cli") -> None:
    """Write one runtime setting to the control topic (and wait until Kafka has it)."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    try:
        # None is a tombstone: back to the worker's setting
        payload = None if value is None else entry(key, value, by=by)
        producer.send(name(settings, "config"), key=key.encode(),
                      value=payload).get(timeout=30)
    finally:
        producer.close()


def read_all(settings: Settings, *, timeout_s: float = 10.0) -> dict[str, Any]:
    """The latest value of every runtime setting on the control topic (for the CLI)."""
    from .replay import read_to_end

    state = Control(settings)
    for rec in read_to_end(settings, "config", timeout_s=timeout_s):
        state.apply(rec.key, rec.value)
    return state.values


def held_replies(settings: Settings, *, timeout_s: float = 10.0) -> dict[str, bytes]:
    """The replies held in ``replies-dlq`` and not released since (reply id -> reply JSON).

    A reply is pending when it was held after it was last sent to ``replies``: a release
    writes it to ``replies`` again, and the publisher holds it again if it still may not go.
    """
    import base64

    from vocab.records import DeadLetter

    from .replay import read_to_end

    held: dict[str, tuple[int, bytes]] = {}
    for msg in read_to_end(settings, "replies_dlq", timeout_s=timeout_s):
        letter = DeadLetter.loads(msg.value)
        held[letter.key or ""] = (msg.timestamp, base64.b64decode(letter.original))
    if not held:
        return {}
    last_sent: dict[str, int] = {}
    for msg in read_to_end(settings, "replies", timeout_s=timeout_s):
        key = msg.key.decode("utf-8", "replace") if msg.key else ""
        if key in held:
            last_sent[key] = max(last_sent.get(key, 0), msg.timestamp)
    return {k: raw for k, (at, raw) in held.items() if at >= last_sent.get(k, 0)}


def why_replies_wait(settings: Settings) -> str | None:
    """Why released replies would be held again right now (kill switch, quiet hours)."""
    state = Control(settings)
    state.values = read_all(settings)
    if not state.replies_enabled:
        return ("kill switch is on: nothing released; turn it off with "
                "`router killswitch off`")
    if state.quiet_now():
        return (f"quiet hours ({state.get('quiet_hours')} UTC): nothing released; release "
                "after them, or end them with `router set quiet_hours --unset`")
    return None


def release_held(settings: Settings, *, timeout_s: float = 10.0) -> int:
    """Send the pending held replies back to ``replies`` (checked again, posted at most
    once); returns how many."""
    from .replay import producer

    held = held_replies(settings, timeout_s=timeout_s)
    if not held:
        return 0
    p = producer(settings)
    try:
        futures = [p.send(name(settings, "replies"), key=reply_id.encode(), value=raw)
                   for reply_id, raw in held.items()]
        p.flush(timeout=60)
        for f in futures:
            f.get(timeout=60)
    finally:
        p.close()
    return len(held)
