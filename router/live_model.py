"""The model a worker decides with, and how ops change it without a restart.

- At start the worker loads ``ROUTER_MODEL_PATH`` (``router worker --model``) or the
  shipped model, under the store's trust rules (sha256 sidecar, library versions); a
  refused artifact stops it with one line naming the setting (``open_model``).
- ``router model promote PATH`` loads the artifact in the CLI under the same rules, then
  writes ``{"path", "version", "sha256", "at"}`` under the key ``model`` of the compacted
  ``router-config`` topic (``--default``: ``"path": null``, the shipped model). Every
  worker follows that topic (``router.control.Control.watch``); its ``ModelFollower``
  loads the promoted file in a thread, off the event loop, checks it is the file that was
  promoted (same sha256), and swaps it in with one assignment (``Runtime.use``): a batch
  being decided finishes with the model it started with, the next one uses the new one.
  A model that a worker cannot load leaves its live model in place, in one log line.
- Each worker reports the model it runs under ``model:live:<host>:<web port>`` on the same
  topic, at start and after every switch or refusal; ``router model status`` reads them.
  The topic rather than each worker's ``/stats``: the CLI reaches Kafka but not the
  workers' web ports (compose publishes them on ports it picks), and a compacted topic
  keeps the latest report of every worker, one that has stopped too (``at`` dates it).
  The id is stable across restarts (two workers on one host cannot share a web port), so
  a restarted worker replaces its own report instead of adding one.

A promotion names a path that every worker reads on its own machine: shared storage (a
volume) or the same path everywhere.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vocab.errors import ModelError, SettingsError

if TYPE_CHECKING:
    from classifiers import Artifact
    from classifiers.api import TriageModel

    from .control import Control
    from .settings import Settings

log = logging.getLogger(__name__)

#: router-config key of the model promoted to every worker.
PROMOTED = "model"
#: router-config key prefix of each worker's report of the model it runs.
LIVE_PREFIX = "model:live:"
#: How long triage waits, before its first batch, for a promoted model found at start.
SETTLE_S = 30.0


@dataclass(frozen=True)
class LiveModel:
    """The model a worker decides with now, and what identifies it."""

    model: TriageModel
    version: str = ""
    sha256: str = ""
    path: Path | None = None  # None: the shipped model (or one a test handed in)

    @classmethod
    def of(cls, artifact: Artifact) -> LiveModel:
        return cls(artifact.model, artifact.version, artifact.sha256, artifact.path)

    def describe(self) -> dict[str, Any]:
        return {"version": self.version, "sha256": self.sha256,
                "path": str(self.path) if self.path else None}


def worker_id(settings: Settings) -> str:
    """This worker among the group's: its host and web port (stable across restarts)."""
    return f"{socket.gethostname()}:{settings.web_port}"


def load(path: Path | str | None) -> LiveModel:
    """The artifact at ``path`` (None: the shipped model); ``ModelError`` in one line."""
    import classifiers

    try:
        return LiveModel.of(classifiers.load_artifact(path))
    except OSError as exc:  # e.g. unreadable: the store reports the rest as ModelError
        raise ModelError(f"cannot read the model at {path}: {exc.strerror or exc}") from None


def open_model(path: Path | None) -> LiveModel:
    """The model a worker or ``router classify`` starts with; a refused artifact is a
    ``SettingsError`` naming ``ROUTER_MODEL_PATH``."""
    if path is None:
        return load(None)  # the shipped model's own error says how to rebuild it
    try:
        return load(path)
    except ModelError as exc:
        raise SettingsError(f"bad setting ROUTER_MODEL_PATH (--model): {exc}; fix or unset "
                            "ROUTER_MODEL_PATH") from None


def promotion(live: LiveModel) -> dict[str, Any]:
    """What ``router model promote`` writes under ``PROMOTED``."""
    return {**live.describe(), "at": time.time()}


def load_promoted(value: dict[str, Any]) -> LiveModel:
    """The promoted model, refused if the file is no longer the one promoted."""
    path = value.get("path")
    live = load(path)
    wanted = value.get("sha256")
    if wanted and live.sha256 != wanted:
        raise ModelError(f"{path or 'the shipped model'} is not the file that was promoted "
                         f"(sha256 {live.sha256[:12]} here, {str(wanted)[:12]} promoted); "
                         "promote it again")
    return live


class ModelFollower:
    """Follows ``PROMOTED`` on router-config and switches this worker's model.

    Handed only what it uses: the control state, the live model and how to swap it, the
    worker's own model path (what a deleted promotion goes back to) and how to report.
    """

    def __init__(self, *, control: Control, current: Callable[[], LiveModel],
                 use: Callable[[LiveModel], None], own_path: Path | None,
                 report: Callable[[str, dict[str, Any]], Awaitable[None]], worker: str,
                 loader: Callable[[dict[str, Any]], LiveModel] = load_promoted) -> None:
        self.control = control
        self.current = current
        self.use = use
        self.own = {"path": str(own_path) if own_path else None}
        self.report_to = report
        self.worker = worker
        self.loader = loader
        self.handled: Any = ()  # the promotion value last acted on (() : none yet)
        self.refused: dict[str, Any] | None = None
        self.settled = asyncio.Event()  # the promotion found at start is applied

    async def run(self, every: float = 0.5) -> None:
        """Apply the promotion found at start, then each new one, for as long as the
        worker runs (never raises: a failure is logged and the live model stays)."""
        await self.control.ready.wait()
        while True:
            try:
                await self.step()
            except Exception:  # noqa: BLE001 - following must not stop the worker
                log.exception("model follower: unexpected error; the live model stays")
            self.settled.set()
            await asyncio.sleep(every)

    async def wait_settled(self, timeout: float = SETTLE_S) -> None:
        """Wait (bounded) until the promotion found at start is applied."""
        try:
            await asyncio.wait_for(self.settled.wait(), timeout)
        except asyncio.TimeoutError:
            log.warning("model: router-config not read within %.0f s; deciding with %s until "
                        "it is", timeout, self.current().version or "the start-up model")

    async def step(self) -> None:
        wanted = self.control.values.get(PROMOTED)
        if wanted == self.handled:
            return
        first = self.handled == ()
        self.handled = wanted
        target = wanted if isinstance(wanted, dict) else self.own
        if not self._is_live(target):
            try:
                live = await asyncio.to_thread(self.loader, target)
            except Exception as exc:  # noqa: BLE001 - any failure: keep the live model
                self.refused = {"version": target.get("version"), "path": target.get("path"),
                                "error": " ".join(str(exc).split())[:300], "at": time.time()}
                log.error("model %s not loaded, still deciding with %s: %s",
                          target.get("version") or target.get("path") or "shipped",
                          self.current().version, self.refused["error"])
                await self.report()
                return
            self.use(live)
            self.refused = None
            log.warning("model switched to %s", live.version)
        elif not first:
            self.refused = None
        await self.report()

    def _is_live(self, target: dict[str, Any]) -> bool:
        """Whether ``target`` is the model already live (nothing to load)."""
        live = self.current()
        if target.get("sha256"):
            return bool(live.sha256 == target["sha256"])
        if target.get("path") is None:
            return live.path is None
        from classifiers.store import target as artifact_file

        return live.path == artifact_file(target["path"]).resolve()

    async def report(self) -> None:
        """Write this worker's live model to router-config (a failure is only logged:
        the next switch reports again)."""
        value = {**self.current().describe(), "at": time.time(), "refused": self.refused}
        try:
            await self.report_to(f"{LIVE_PREFIX}{self.worker}", value)
        except Exception as exc:  # noqa: BLE001 - Kafka away: the watchdog handles that
            log.warning("model: cannot report the live model (%s)", type(exc).__name__)
