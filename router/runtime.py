"""Wires the router: app, topics, tables, model, desk, output, agents and web views.

``build(settings)`` does no network and loads nothing heavy until the worker starts; the
model and the desk are set up in the worker's startup hook.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import faust

from classifiers.api import TriageModel
from connectors.desks.base import Desk
from connectors.registry import desk_class

from . import topics as topic_specs
from .app import create_app
from .control import Control
from .outputs import FileOutput, ReplyOutput
from .records import DeadLetter, Decision, Mention, Reply, TicketEvent
from .settings import Settings
from .tables import Tables, create_tables

log = logging.getLogger(__name__)

VALUE_TYPES: dict[str, Any] = {
    "decisions": Decision,
    "decisions_retry": Decision,
    "ticket_events": TicketEvent,
    "replies": Reply,
}


@dataclass
class Runtime:
    settings: Settings
    app: faust.App
    topics: dict[str, Any]
    tables: Tables
    control: Control
    model: TriageModel = field(init=False)
    desk: Desk = field(init=False)
    output: ReplyOutput = field(init=False)
    counters: Counter[str] = field(default_factory=Counter)
    started_at: float = field(default_factory=time.time)
    prepare_args: dict[str, Any] = field(default_factory=dict)
    _ready: asyncio.Lock = field(default_factory=asyncio.Lock)
    _prepared: bool = False
    _policy: tuple[int, Settings] | None = None

    async def ready(self) -> None:
        """Load the model and set up desk and output, once, before the first message."""
        if self._prepared:
            return
        async with self._ready:
            if not self._prepared:
                await prepare(self, **self.prepare_args)
                self._prepared = True

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] += n

    def compose(self, m: Mention, link: str) -> str:
        from .replies import compose

        return compose(self.settings, m, link)

    def policy_settings(self) -> Settings:
        """Settings as the policy applies them now: the worker's, with what ops changed at
        runtime (``router set actionable_threshold 0.8``) on top."""
        version = self.control.version
        if self._policy is None or self._policy[0] != version:
            overrides = self.control.overrides()
            settings = self.settings.model_copy(update=overrides) if overrides else self.settings
            self._policy = (version, settings)
        return self._policy[1]

    async def emit(self, topic_key: str, key: bytes, value: bytes) -> None:
        """Produce straight to Kafka through the app's producer, skipping the per-message
        overhead of ``Topic.send`` on hot paths. At-least-once holds: Faust flushes this
        producer before it commits the offsets of the messages being handled."""
        await self.app.producer.send(self.topics[topic_key].get_topic_name(), key, value,
                                     partition=None, timestamp=None, headers=None)

    @contextlib.asynccontextmanager
    async def guard(self, source: str, event: Any) -> AsyncIterator[None]:
        """Turn an unexpected error on one message into a dead letter, never a lost message
        (a crashed Faust agent is restarted past the message it was handling)."""
        try:
            yield
        except Exception as exc:  # noqa: BLE001
            log.exception("%s: unexpected error", source)
            raw = event.value.dumps() if hasattr(event.value, "dumps") else event.value
            await self.dead_letter(source, event,
                                   f"internal error: {type(exc).__name__}: {exc}", raw=raw)

    async def dead_letter(self, source: str, event: Any, reason: str, *,
                          raw: bytes | None = None) -> None:
        msg = event.message
        if raw is None:
            raw = event.value if isinstance(event.value, bytes) else str(event.value).encode()
        key = msg.key.decode("utf-8", "replace") if isinstance(msg.key, bytes) else msg.key
        await self._dlq(source, DeadLetter(
            source_topic=msg.topic, reason=reason,
            original=base64.b64encode(raw).decode(), key=key,
            partition=msg.partition, offset=msg.offset, at=time.time()))

    async def dead_letter_record(self, source: str, key: str, raw: bytes, reason: str) -> None:
        await self._dlq(source, DeadLetter(
            source_topic=topic_specs.name(self.settings, source), reason=reason,
            original=base64.b64encode(raw).decode(), key=key, at=time.time()))

    async def _dlq(self, source: str, letter: DeadLetter) -> None:
        self.count(f"dlq.{source}")
        log.warning("dead letter from %s: %s", source, letter.reason)
        topic = self.topics[f"{source}_dlq"]
        await topic.send(key=(letter.key or "").encode(), value=letter)


def make_desk(settings: Settings) -> Desk:
    cls = desk_class(settings.desk)
    if settings.desk == "embedded":
        return cls(cls.Config(path=settings.embedded_desk_path, url=settings.embedded_desk_url))  # type: ignore[no-any-return]
    return cls()  # type: ignore[no-any-return]


def make_output(settings: Settings, model: TriageModel) -> ReplyOutput:
    if settings.reply_output == "file":
        return FileOutput(settings.reply_log_path)
    from .network_output import NetworkOutput

    return NetworkOutput(settings, hurtful=model.hurtful)


def build(settings: Settings, *, model: TriageModel | None = None, desk: Desk | None = None,
          output: ReplyOutput | None = None) -> Runtime:
    """The whole router for these settings, ready for a Faust worker."""
    app = create_app(settings)
    topics: dict[str, Any] = {}
    for key, spec in topic_specs.SPECS.items():
        if key == "config":
            continue
        tname = settings.topic(spec.name)
        if key == "mentions":
            topics[key] = app.topic(tname, key_serializer="raw", value_serializer="raw",
                                    partitions=settings.partitions)
        elif key.endswith("_dlq"):
            topics[key] = app.topic(tname, key_serializer="raw", value_type=DeadLetter,
                                    partitions=settings.partitions)
        else:
            topics[key] = app.topic(tname, key_serializer="raw", value_type=VALUE_TYPES[key],
                                    partitions=settings.partitions)
    rt = Runtime(settings=settings, app=app, topics=topics,
                 tables=create_tables(app, settings.partitions), control=Control(settings))

    rt.prepare_args = {"model": model, "desk": desk, "output": output}
    from .agents import closeloop, escalate, publish, triage
    from .web import register as register_web

    for agent in (triage, escalate, closeloop, publish):
        if agent.__name__.rsplit(".", 1)[-1] in settings.agents:
            agent.register(rt)
    register_web(rt)

    @app.task
    async def _watch_control() -> None:  # pragma: no cover - worker
        await rt.control.watch()

    if settings.poll_networks:
        from .social_poller import register as register_social_poller

        register_social_poller(rt)
    if settings.desk == "embedded":
        from .outbox import register as register_outbox

        register_outbox(rt)
    if rt_polls(settings):
        from .poller import register as register_poller

        register_poller(rt)
    return rt


def rt_polls(settings: Settings) -> bool:
    try:
        return str(desk_class(settings.desk).events) == "poll"
    except Exception:  # noqa: BLE001 - an unknown desk is reported at startup
        return False


async def prepare(rt: Runtime, *, model: TriageModel | None = None, desk: Desk | None = None,
                  output: ReplyOutput | None = None) -> None:
    """Load the model and set up the desk and the output (before agents run)."""
    if model is None:
        import classifiers

        model = classifiers.load_default()
    rt.model = model
    rt.settings = rt.settings.with_model_defaults(getattr(model, "operating_point", {}))
    rt.desk = desk if desk is not None else make_desk(rt.settings)
    await rt.desk.setup()
    rt.output = output if output is not None else make_output(rt.settings, model)
    await rt.output.setup()
