"""Builds the ``faust.App`` from settings, and nothing else.

Three departures from Faust's defaults, all so that neither a failure nor a rebalance loses
messages (see ``router.lifecycle`` and ``router.consumer``):

- an agent that raises is not restarted past the message it was handling, and the consumer
  does not commit on the way out (Faust's default does both: ``Consumer.on_task_error``
  commits, and the supervisor restarts the agent on the next message);
- a record that cannot be decoded goes to its dead-letter topic before any commit can pass
  it (Faust acks such a record before it reports the error); if even that fails, the
  offsets freeze and the worker stops;
- a record fetched for a partition that is paused before Faust hands it on is read again:
  Faust drops it, and the next record of that partition makes the hole look like a
  compaction gap that the commit moves past (``router.consumer.RereadingConsumer`` seeks
  the partition back instead, and logs a warning per partition); and the commit never
  passes a fetched record that was not acked (Faust's check is off by one), so a record
  lost on the way to its agent is a stall the watchdog restarts, not a silent loss.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from faust.types import TransportT

from .consumer import RouterTransport
from .settings import Settings

#: Called with (agent name, exception) when an agent raises; set by ``router.lifecycle``.
CrashHandler = Callable[[str, BaseException], Awaitable[None]]
#: Called with (exception, message) for a record a topic cannot decode; set by ``build``.
UndecodableHandler = Callable[[Exception, Any], Awaitable[None]]


class RouterApp(faust.App):
    """A ``faust.App`` whose crashed agent is handed to ``crash_handler``."""

    crash_handler: CrashHandler | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: What to do with a record a topic cannot decode, by topic name (``RouterTopic``).
        self.undecodable: dict[str, UndecodableHandler] = {}

    def _new_transport(self) -> TransportT:
        # create_app always gives a kafka:// broker, i.e. Faust's aiokafka transport.
        return RouterTransport(self.conf.broker_consumer, self)

    async def _on_agent_error(self, agent: Any, exc: BaseException) -> None:
        if self.crash_handler is None:
            await super()._on_agent_error(agent, exc)
            return
        await self.crash_handler(agent.name, exc)


class RouterTopic(faust.Topic):
    """A topic whose undecodable record is dead-lettered, never skipped and never replayed
    into a crash loop.

    Faust acks such a record before it reports the error, so commits are held until the
    dead letter is written; without a dead-letter handler (or when writing it fails) the
    offsets freeze for good and the error goes to the agent, which stops the worker.
    """

    async def on_value_decode_error(self, exc: Exception, message: Any) -> None:
        await self._undecodable(exc, message, super().on_value_decode_error)

    async def on_key_decode_error(self, exc: Exception, message: Any) -> None:
        await self._undecodable(exc, message, super().on_key_decode_error)

    async def _undecodable(self, exc: Exception, message: Any,
                           fallback: Callable[[Exception, Any], Awaitable[None]]) -> None:
        from .lifecycle import commits_held, freeze_commits

        handlers: dict[str, UndecodableHandler] = getattr(self.app, "undecodable", {})
        handler = handlers.get(message.topic)  # by name: agents read clones of the topic
        if handler is not None:
            async with commits_held(self.app):  # taken synchronously, before any await
                try:
                    await handler(exc, message)
                    return
                except Exception:  # noqa: BLE001 - fall back to stopping, below
                    logging.getLogger(__name__).exception(
                        "cannot dead-letter an undecodable record on %s", message.topic)
        freeze_commits(self.app)  # synchronously: nothing can commit after Faust's ack
        await fallback(exc, message)


def create_app(settings: Settings) -> faust.App:
    """A Faust app for these settings (no network until a worker starts it)."""
    return RouterApp(
        settings.app_id,
        broker=f"kafka://{settings.kafka_bootstrap.replace(',', ';kafka://')}",
        store="memory://",  # tables are rebuilt from their Kafka changelogs on start
        topic_partitions=settings.partitions,
        topic_replication_factor=1,
        topic_allow_declare=True,
        datadir=str(settings.data_dir / "faust"),
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_in_thread=False,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=min(3.0, settings.session_timeout / 3),
        broker_commit_every=200,
        broker_commit_interval=1.0,
        stream_wait_empty=False,
        worker_redirect_stdouts=False,
        autodiscover=False,
        # A crashed agent is not restarted on the next message (lifecycle stops the worker).
        agent_supervisor="mode.ForfeitOneForOneSupervisor",
        Topic=RouterTopic,
        version=1,
    )
