"""Wires the router: app, topics, tables, model, desk, output, agents and web views.

``build(settings)`` does no network and loads nothing heavy; ``prepare`` (through
``Runtime.ready``) loads the model and sets up the desk and the output. ``router worker``
runs it before the Faust worker starts (``router.lifecycle``), so a bad setting stops the
worker with one line before anything is consumed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import faust
from faust.types import TopicT
from pydantic import ValidationError

from classifiers.api import TriageModel
from connectors.desks.base import Desk
from connectors.registry import desk_class
from vocab.errors import RouterError, SettingsError
from vocab.records import (
    AuditItem,
    DeadLetter,
    Decision,
    Label,
    Mention,
    Reply,
    ShadowVerdict,
    TicketEvent,
)

from . import topics as topic_specs
from .app import create_app
from .control import Control
from .incidents import OutageReport
from .lifecycle import Health, crash_handler
from .live_model import LIVE_PREFIX, LiveModel, ModelFollower, open_model, worker_id
from .metrics import Metrics
from .outputs import FileOutput, ReplyOutput
from .settings import Settings
from .tables import Tables, create_tables
from .threads import ThreadIndex
from .topics import SOURCES, Source

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Topics:
    """The worker's topics, each typed by what it carries (names from ``router.topics``)."""

    mentions: TopicT  # raw mention JSON (bytes), keyed by author
    decisions: TopicT  # Decision, keyed by author
    decisions_retry: TopicT  # Decision the desk could not take yet
    ticket_events: TopicT  # TicketEvent, keyed by desk:ticket
    outages: TopicT  # OutageReport, keyed by wave (outage:<window>)
    outages_retry: TopicT  # OutageReport the desk could not take yet, keyed by wave
    replies: TopicT  # Reply, keyed by reply id
    audit: TopicT  # AuditItem, keyed by mention ref (compacted; written only)
    feedback: TopicT  # Label, keyed by mention ref (compacted; written only)
    shadow: TopicT  # ShadowVerdict, keyed by mention ref (compacted; written only)
    threads: TopicT  # thread key -> its case (compacted, one partition; router.threads)
    dead_letters: Mapping[Source, TopicT]  # DeadLetter, one topic per source

    def typed(self) -> dict[TopicT, Source]:
        """Each topic whose records are decoded, with the source it dead-letters to."""
        return {self.decisions: "decisions", self.decisions_retry: "decisions",
                self.ticket_events: "ticket_events", self.replies: "replies",
                self.outages: "decisions", self.outages_retry: "decisions"}


#: The agents whose running ``/health`` reports.
AGENTS = ("triage", "escalate", "escalate_retry", "waves", "waves_retry", "closeloop",
          "publish")
#: Agents that run with another (``ROUTER_AGENTS`` names that one): the desk work of
#: escalation comes with it.
RUNS_WITH = {"escalate_retry": "escalate", "waves": "escalate", "waves_retry": "escalate"}


@dataclass
class Runtime:
    settings: Settings
    app: faust.App
    topics: Topics
    tables: Tables
    control: Control
    health: Health
    #: The model deciding now, swapped whole by ``use`` (``router.live_model``).
    live: LiveModel = field(init=False)
    desk: Desk = field(init=False)
    output: ReplyOutput = field(init=False)
    counters: Counter[str] = field(default_factory=Counter)  # what /stats shows
    metrics: Metrics = field(default_factory=Metrics)  # what /metrics shows
    #: Messages an agent is handling right now, per topic (``router.watchdog.StallWatch``).
    busy: Counter[str] = field(default_factory=Counter)
    started_at: float = field(default_factory=time.time)
    prepare_args: dict[str, Any] = field(default_factory=dict)
    _ready: asyncio.Lock = field(default_factory=asyncio.Lock)
    _prepared: bool = False
    _policy: tuple[int, Settings] | None = None
    #: The settings the worker was started with, before the model's operating point.
    own_settings: Settings = field(init=False)
    follower: ModelFollower | None = None
    #: Every thread's case, whoever opened it, from the ``threads`` topic.
    threads: ThreadIndex = field(default_factory=ThreadIndex)

    def __post_init__(self) -> None:
        self.own_settings = self.settings

    @property
    def model(self) -> TriageModel:
        return self.live.model

    def use(self, live: LiveModel) -> None:
        """Decide with ``live`` from the next batch on; the thresholds left unset follow its
        card. Synchronous: no agent sees the model and the thresholds half-changed."""
        self.live = live
        self.settings = self.own_settings.with_model_defaults(
            getattr(live.model, "operating_point", {}))
        self._policy = None

    async def ready(self) -> None:
        """Load the model and set up desk and output, once (``router worker`` does it before
        the worker starts); a bad setting raises a one-line ``SettingsError``."""
        if self._prepared:
            return
        async with self._ready:
            if not self._prepared:
                await prepare(self, **self.prepare_args)
                self._prepared = True

    def count(self, name: str, n: int = 1, **labels: str) -> None:
        """Count ``n`` of ``name`` for ``/stats``, and for ``/metrics`` in the counter
        ``router.metrics.ROUTES`` maps it to, with these labels (e.g. ``network``)."""
        self.counters[name] += n
        self.metrics.count(name, n, labels)

    def decided(self, produced_at: float | None) -> None:
        """A decision was emitted for a mention Kafka stamped ``produced_at``."""
        self.metrics.decided(produced_at, time.time())

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

    async def emit(self, topic: TopicT, key: bytes, value: bytes) -> None:
        """Produce straight to Kafka through the app's producer, skipping the per-message
        overhead of ``Topic.send`` on hot paths. At-least-once holds: Faust flushes this
        producer before it commits the offsets of the messages being handled."""
        await self.app.producer.send(topic.get_topic_name(), key, value,
                                     partition=None, timestamp=None, headers=None)

    @contextlib.asynccontextmanager
    async def guard(self, source: Source, event: Any) -> AsyncIterator[None]:
        """Turn an unexpected error on one message into a dead letter, so that one message's
        bug stays its own (an error that escapes an agent stops the whole worker, see
        ``router.lifecycle``)."""
        with self.working(event.message.topic):
            try:
                yield
            except Exception as exc:  # noqa: BLE001
                log.exception("%s: unexpected error", source)
                raw = event.value.dumps() if hasattr(event.value, "dumps") else event.value
                await self.dead_letter(source, event,
                                       f"internal error: {type(exc).__name__}: {exc}", raw=raw)

    @contextlib.contextmanager
    def working(self, topic: str) -> Iterator[None]:
        """An agent is handling a message of ``topic`` (its wait is not a stall)."""
        self.busy[topic] += 1
        try:
            yield
        finally:
            self.busy[topic] -= 1

    async def dead_letter(self, source: Source, event: Any, reason: str, *,
                          raw: bytes | None = None) -> None:
        """Send this event's message to ``<source>_dlq`` with the reason (never raises)."""
        msg = event.message
        if raw is None:
            value = event.value
            raw = value if isinstance(value, bytes) or value is None else str(value).encode()
        key = msg.key.decode("utf-8", "replace") if isinstance(msg.key, bytes) else msg.key
        await self._dlq(source, DeadLetter.of(
            raw, reason, source_topic=msg.topic, key=key, partition=msg.partition,
            offset=msg.offset, at=time.time()))

    def undecodable_to_dlq(self, source: Source) -> Any:
        """What a topic does with a record it cannot decode: send it, as it was, to
        ``<source>_dlq`` with the reason (raises if that fails, so the worker stops)."""

        async def to_dlq(exc: Exception, message: Any) -> None:
            key = message.key
            raw = message.value
            await self._dlq(source, DeadLetter.of(
                raw if isinstance(raw, bytes) else b"",
                f"cannot decode the record as a {source} message: {str(exc)[:300]}",
                source_topic=message.topic,
                key=key.decode("utf-8", "replace") if isinstance(key, bytes) else key,
                partition=message.partition, offset=message.offset, at=time.time()),
                strict=True)

        return to_dlq

    async def dead_letter_record(self, source: Source, key: str, raw: bytes,
                                 reason: str) -> None:
        await self._dlq(source, DeadLetter.of(
            raw, reason, source_topic=topic_specs.name(self.settings, source), key=key,
            at=time.time()))

    async def _dlq(self, source: Source, letter: DeadLetter, *, strict: bool = False) -> None:
        """Send a dead letter; if the broker refuses it, send it again without the original
        (its size and digest stay), and if that fails too, log it: one message that cannot
        be dead-lettered must not take its batch, or the agent, down with it. ``strict``
        raises instead, for a caller that can still stop before the offset is committed."""
        self.count(f"dlq.{source}")
        log.warning("dead letter from %s: %s", source, letter.reason)
        topic = self.topics.dead_letters[source]
        try:  # wait for the broker's answer: a refusal must be seen here, not lost later
            await (await topic.send(key=(letter.key or "").encode(), value=letter))
            return
        except Exception as exc:  # noqa: BLE001 - see the docstring
            log.warning("dead letter from %s refused (%s); sending it without the original",
                        source, type(exc).__name__)
            first = exc
        bare = DeadLetter.from_data({
            **letter.asdict(), "original": "", "truncated": True,
            "reason": f"{letter.reason} (original not kept: {type(first).__name__})"})
        try:
            await (await topic.send(key=(letter.key or "").encode(), value=bare))
        except Exception:  # noqa: BLE001 - see the docstring
            if strict:
                raise
            self.count(f"dlq_failed.{source}")
            log.exception("LOST: dead letter from %s could not be sent: topic %s partition %s "
                          "offset %s, %s bytes, sha256 %s: %s", source, letter.source_topic,
                          letter.partition, letter.offset, letter.original_size,
                          letter.original_sha256, letter.reason)


def make_desk(settings: Settings) -> Desk:
    cls = desk_class(settings.desk)  # SettingsError naming ROUTER_DESK when unknown
    try:
        if settings.desk == "embedded":
            return cls(cls.Config(path=settings.embedded_desk_path,  # type: ignore[no-any-return]
                                  url=settings.embedded_desk_url))
        return cls()  # type: ignore[no-any-return]
    except ValidationError as exc:
        raise SettingsError(setting_line(cls.Config, exc)) from None


def setting_line(config: Any, exc: ValidationError) -> str:
    """One line naming the environment variable of a connector's first bad setting."""
    err = exc.errors()[0]
    prefix = str(config.model_config.get("env_prefix", "")).upper()
    env = f"{prefix}{str(err.get('loc', ('?',))[0]).upper()}"
    return f"bad setting {env}: {err.get('msg')}; fix or unset {env}"


def make_output(settings: Settings, hurtful: Callable[[Sequence[str]], Sequence[float]],
                hurtful_cut: Callable[[], float] | None = None) -> ReplyOutput:
    if settings.reply_output == "file":
        # The console echo is a plain line: not among JSON log lines.
        return FileOutput(settings.reply_log_path, echo=settings.log_format == "text")
    from .network_output import NetworkOutput

    return NetworkOutput(settings, hurtful=hurtful, hurtful_cut=hurtful_cut)


def build(settings: Settings, *, model: TriageModel | None = None, desk: Desk | None = None,
          output: ReplyOutput | None = None) -> Runtime:
    """The whole router for these settings, ready for a Faust worker."""
    app = create_app(settings)

    def topic(key: str, **kind: Any) -> TopicT:
        return app.topic(topic_specs.name(settings, key), key_serializer="raw",
                         partitions=settings.partitions, **kind)

    # router-config and webhook-deliveries are read and written by their own clients
    topics = Topics(
        mentions=topic("mentions", value_serializer="raw"),
        decisions=topic("decisions", value_type=Decision),
        decisions_retry=topic("decisions_retry", value_type=Decision),
        ticket_events=topic("ticket_events", value_type=TicketEvent),
        outages=topic("outages", value_type=OutageReport),
        outages_retry=topic("outages_retry", value_type=OutageReport),
        replies=topic("replies", value_type=Reply),
        audit=topic("audit", value_type=AuditItem),
        feedback=topic("feedback", value_type=Label),
        shadow=topic("shadow", value_type=ShadowVerdict),
        threads=app.topic(topic_specs.name(settings, "threads"), key_serializer="raw",
                          value_serializer="raw", partitions=1),
        dead_letters={s: topic(f"{s}_dlq", value_type=DeadLetter) for s in SOURCES})
    rt = Runtime(settings=settings, app=app, topics=topics,
                 tables=create_tables(app, settings.partitions), control=Control(settings),
                 health=Health(tuple(a for a in AGENTS
                                     if RUNS_WITH.get(a, a) in settings.agents)))
    app.crash_handler = crash_handler(rt)  # type: ignore[attr-defined]
    for typed, source in topics.typed().items():
        app.undecodable[typed.get_topic_name()] = (  # type: ignore[attr-defined]
            rt.undecodable_to_dlq(source))

    rt.prepare_args = {"model": model, "desk": desk, "output": output}
    from .agents import closeloop, escalate, publish, triage, waves
    from .web import register as register_web

    for agent in (triage, escalate, waves, closeloop, publish):
        name = agent.__name__.rsplit(".", 1)[-1]
        if RUNS_WITH.get(name, name) in settings.agents:
            agent.register(rt)
    register_web(rt)
    rt.metrics.watch(
        consumer=lambda: getattr(app, "_consumer", None),  # None until the worker starts
        topics=lambda: {a.channel.get_topic_name() for a in app.agents.values()},
        replies_enabled=lambda: rt.control.replies_enabled)

    @app.task
    async def _watch_control() -> None:  # pragma: no cover - worker
        await rt.control.watch()

    @app.task
    async def _follow_threads() -> None:  # pragma: no cover - worker
        await rt.threads.follow(settings)

    me = worker_id(settings)

    async def report(key: str, value: Any) -> None:  # each worker's live model, for status
        await rt.control.save(app.producer, key, value, by=me)

    rt.follower = ModelFollower(control=rt.control, current=lambda: rt.live, use=rt.use,
                                own_path=settings.model_path, report=report, worker=me)

    @app.task
    async def _follow_model() -> None:  # pragma: no cover - worker
        await rt.ready()
        if rt.follower is not None:
            await rt.follower.run()

    async def unreport(*args: Any, **kwargs: Any) -> None:  # pragma: no cover - worker
        """A worker that stops cleanly takes its report off (`router model status` lists
        the running ones; one killed keeps its last report, dated, until it starts again)."""
        try:
            await asyncio.wait_for(rt.control.forget(app.producer, f"{LIVE_PREFIX}{me}"), 5.0)
        except Exception as exc:  # noqa: BLE001 - stopping anyway
            log.warning("model: cannot take this worker's report off: %s", exc)

    app.on_before_shutdown.connect(cast(Any, unreport))

    if settings.poll_networks:
        from .social_poller import register as register_social_poller

        register_social_poller(rt)
    events = desk_events(settings)
    if events == "local":  # changes made in this process wait in the desk's outbox
        from .outbox import register as register_outbox

        register_outbox(rt)
    elif events == "poll":
        from .poller import register as register_poller

        register_poller(rt)
    return rt


def desk_events(settings: Settings) -> str | None:
    """How the configured desk's ticket changes come back (``Desk.events``)."""
    try:
        return str(desk_class(settings.desk).events)
    except Exception:  # noqa: BLE001 - an unknown desk is reported at startup
        return None


async def prepare(rt: Runtime, *, model: TriageModel | None = None, desk: Desk | None = None,
                  output: ReplyOutput | None = None) -> None:
    """Load the model and set up the desk and the output (before agents run).

    Raises ``ModelError`` or ``SettingsError`` with one line naming the fix.
    """
    # ROUTER_MODEL_PATH or the shipped model; a refused artifact names the setting
    rt.use(open_model(rt.settings.model_path) if model is None else LiveModel(model))
    rt.desk = desk if desk is not None else make_desk(rt.settings)
    try:
        await rt.desk.setup()
    except RouterError as exc:  # ConfigError, FatalError, RetriableError: one line each
        raise SettingsError(f"desk {rt.settings.desk!r} cannot start: {exc}") from None
    rt.output = output if output is not None else make_output(  # the live model's gate
        rt.settings, lambda texts: rt.model.hurtful(texts),
        lambda: rt.policy_settings().hurtful_cut)
    try:
        await rt.output.setup()
        if isinstance(rt.output, FileOutput):
            with rt.output.path.open("a", encoding="utf-8"):
                pass  # writable now, not at the first reply
    except OSError as exc:
        path = rt.settings.reply_log_path
        raise SettingsError(
            f"cannot write replies to {path} ({exc.strerror or exc}): set "
            "ROUTER_REPLY_LOG_PATH to a writable file") from None
    except RouterError as exc:
        raise SettingsError(f"reply output {rt.settings.reply_output!r} cannot start: "
                            f"{exc}") from None
