"""The worker's life: set up before consuming, ready only while every agent runs, and down
(non-zero) when one crashes.

- ``start_worker(rt)``: checks the web port, loads the model, sets up the desk and the
  outputs in the worker's own event loop, *then* starts the Faust worker. Any failure is a
  ``SettingsError`` whose one line names the setting; nothing has been consumed yet.
- ``Health``: ``/health`` answers 200 only while every agent of this worker runs.
- A crashed agent (an exception that escaped it) freezes the offsets (nothing is committed
  past the message it was handling), marks the agent down and stops the worker, which then
  exits non-zero so an orchestrator restarts it; after a restart the message is read again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import faust
from faust.types import AppT

from vocab.errors import RouterError, SettingsError

from .logs import level_of, worker_config
from .topics import addresses, shown_bootstrap
from .watchdog import KafkaWatch, StallWatch, install_repeat_filter

if TYPE_CHECKING:
    from .runtime import Runtime

log = logging.getLogger(__name__)

#: A stopping worker that has not exited by then is ended hard (offsets are frozen anyway).
STOP_BOUND_S = 30.0
#: Without Kafka, Faust's orderly stop waits on the broker; give it less time.
KAFKA_LOST_STOP_BOUND_S = 10.0
EXIT_CRASHED = 70  # EX_SOFTWARE


@dataclass
class Health:
    """Which of this worker's agents run; ``/health`` reads it."""

    agents: tuple[str, ...]
    down: dict[str, str] = field(default_factory=dict)
    kafka: KafkaWatch | None = None

    def status(self, app: faust.App) -> tuple[int, dict[str, Any]]:
        """(HTTP status, body): 200 only while every agent runs, else 503 naming who."""
        states: dict[str, str] = {}
        for name in self.agents:
            agent = app.agents.get(name)
            if name in self.down:
                states[name] = f"crashed: {self.down[name]}"
            elif agent is None or not agent.started or agent.should_stop:
                states[name] = "not running"
            else:
                states[name] = "running"
        body: dict[str, Any] = {"agents": states}
        ok = all(s == "running" for s in states.values())
        if self.kafka is not None and self.kafka.lost_since is not None:
            ok = False
            body["kafka"] = f"unreachable for {self.kafka.down_for():.0f} s"
        return (200 if ok else 503), {"ok": ok, **body}


def freeze_commits(app: AppT) -> None:
    """From now on this worker commits no offset (the next worker reads from here)."""
    consumer = app.consumer

    async def no_commit(*args: Any, **kwargs: Any) -> bool:
        return False

    consumer.commit = no_commit  # type: ignore[method-assign]


@contextlib.asynccontextmanager
async def commits_held(app: AppT) -> AsyncIterator[None]:
    """No offset is committed inside this block (a record acked before it was handled
    stays uncommitted until it is safe); afterwards commits go on, unless something froze
    them for good meanwhile. Entering takes effect at once, before the first await."""
    consumer = app.consumer
    before = consumer.commit

    async def held(*args: Any, **kwargs: Any) -> bool:
        return False

    consumer.commit = held  # type: ignore[method-assign]
    try:
        yield
    finally:
        if consumer.commit is held:
            consumer.commit = before  # type: ignore[method-assign]


class RouterWorker(faust.Worker):
    """A Faust worker that can be failed from inside: it stops, then exits non-zero.

    It also watches Kafka (``router.watchdog``): repeated client errors are rate-limited,
    and a Kafka that stays away longer than the session timeout fails the worker.
    """

    failure: str | None = None
    watch: KafkaWatch | None = None
    kafka_shown: str = ""
    stall: StallWatch | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # No terminal spinner: Faust sets the root logger to DEBUG for it, so every Kafka
        # send built (and scrubbed) a debug record nobody saw (a third of the CPU under
        # load), and its cursor codes landed in the log lines.
        self.spinner = None

    async def on_first_start(self) -> None:
        await super().on_first_start()  # logging is set up here
        install_repeat_filter()
        if self.watch is not None:
            self.add_future(self.watch.run(self.kafka_lost))
        if self.stall is not None:
            self.add_future(self.stall.run(self.app, self.stalled))

    def stalled(self, what: str) -> None:
        self.fail(f"stalled: {what}; stopping so that a restart reads it again "
                  "(ROUTER_STALL_SECONDS sets the wait)")

    def kafka_lost(self, seconds: float) -> None:
        freeze_commits(self.app)
        self.fail(f"lost Kafka at {self.kafka_shown}: unreachable for {seconds:.0f} s "
                  "(longer than ROUTER_SESSION_TIMEOUT); start it with `router broker start` "
                  "or set KAFKA_BOOTSTRAP", stop_bound=KAFKA_LOST_STOP_BOUND_S)

    def fail(self, message: str, *, stop_bound: float = STOP_BOUND_S) -> None:
        if self.failure is not None:
            return
        self.failure = message

        def hard_exit() -> None:  # pragma: no cover - only when Faust's stop hangs
            sys.stderr.write(f"Error: {message} (stop timed out)\n")
            sys.stderr.flush()
            os._exit(EXIT_CRASHED)

        timer = threading.Timer(stop_bound, hard_exit)
        timer.daemon = True
        timer.start()
        os.kill(os.getpid(), signal.SIGTERM)  # the same orderly stop as an operator's


def crash_handler(rt: Runtime, worker: RouterWorker | None = None) -> Any:
    """What a crashed agent does: freeze offsets, mark itself down, stop the worker."""

    async def on_crash(agent: str, exc: BaseException) -> None:
        freeze_commits(rt.app)
        reason = f"{type(exc).__name__}: {exc}"[:300]
        rt.health.down[agent] = reason
        log.critical("agent %s crashed; the worker stops without committing past the "
                     "message it was handling", agent, exc_info=exc)
        if worker is not None:
            worker.fail(f"agent {agent} crashed ({reason}); the worker stopped without "
                        "committing past that message: fix the cause and start it again")

    return on_crash


def check_web_port(host: str, port: int) -> None:
    """The worker's web port is free (else Faust fails later, after a traceback)."""
    if port == 0:
        raise SettingsError("the worker's web server needs a fixed port: set ROUTER_WEB_PORT "
                            "to a free port (1-65535)")
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise SettingsError(
                f"cannot listen on {host}:{port} ({exc.strerror}): set ROUTER_WEB_PORT to a "
                "free port (or ROUTER_WEB_HOST)") from exc


def start_worker(rt: Runtime, *, loglevel: str) -> None:
    """Set everything up, then run the worker until it stops; a failure raises one line.

    ``check_web_port`` runs before ``build`` (Faust refuses some ports while building).
    """
    loop = asyncio.get_event_loop_policy().get_event_loop()  # the one build() ran under
    loop.run_until_complete(rt.ready())  # model, desk, outputs: before anything is consumed
    level = level_of(loglevel)  # a number: mode reads "crit" as the name "Level CRIT"
    worker = RouterWorker(rt.app, loglevel=level, quiet=True, redirect_stdouts=False,
                          override_logging=True, loop=loop,
                          logging_config=worker_config(rt.settings.log_format, level))
    worker.kafka_shown = shown_bootstrap(rt.settings)
    worker.watch = rt.health.kafka = KafkaWatch(addresses(rt.settings),
                                                bound=rt.settings.session_timeout)
    if rt.settings.stall_seconds > 0:
        busy = rt.busy
        worker.stall = StallWatch(
            bound=rt.settings.stall_seconds,
            topics={agent.channel.get_topic_name() for agent in rt.app.agents.values()},
            busy=lambda topic: busy[topic] > 0,
            every=min(5.0, max(rt.settings.stall_seconds / 4, 0.5)))
    rt.app.crash_handler = crash_handler(rt, worker)  # type: ignore[attr-defined]
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        if worker.failure is not None:
            raise WorkerCrashed(worker.failure) from None
        raise exc


class WorkerCrashed(RouterError):
    """An agent crashed and the worker stopped; the message says which and why."""
