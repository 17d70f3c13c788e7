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
  keeps the latest report of every worker. A worker that stops cleanly deletes its report
  (``router.runtime``); one killed keeps its last, which ``at`` dates.
  The id is stable across restarts (two workers on one host cannot share a web port), so
  a restarted worker replaces its own report instead of adding one.
- ``router model shadow PATH`` writes the same value under the key ``shadow``: every worker
  follows it the same way (a ``Slot`` each, one follower) and keeps the candidate beside
  its live model, never instead of it; triage scores each batch with it too and writes
  what it would have decided to the ``shadow`` topic (``router.shadow``). ``--off`` deletes
  the key. A worker's report names its shadow (``"shadow"``) and a candidate it refused
  (``"shadow_refused"``).

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
#: router-config key of the candidate every worker scores beside the live model (shadow).
SHADOW = "shadow"
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


@dataclass
class Slot:
    """One model a worker follows on router-config: the live one, or the shadow."""

    key: str  # PROMOTED or SHADOW
    current: Callable[[], LiveModel | None]
    use: Callable[[LiveModel | None], None]
    #: What the worker runs while the key is unset: its own model, or None (no model).
    unset: dict[str, Any] | None
    label: str  # "model", "shadow model": how the log names it
    doing: str  # "deciding", "shadowing"
    handled: Any = ()  # the value last acted on (() : none yet)
    refused: dict[str, Any] | None = None


class ModelFollower:
    """Follows ``PROMOTED`` and ``SHADOW`` on router-config: switches this worker's live
    model, loads or drops its shadow (``self.shadow``), and reports both.

    Handed only what it uses: the control state, the live model and how to swap it, the
    worker's own model path (what a deleted promotion goes back to) and how to report.
    """

    def __init__(self, *, control: Control, current: Callable[[], LiveModel],
                 use: Callable[[LiveModel], None], own_path: Path | None,
                 report: Callable[[str, dict[str, Any]], Awaitable[None]], worker: str,
                 loader: Callable[[dict[str, Any]], LiveModel] = load_promoted) -> None:
        self.control = control
        self.current = current
        self.report_to = report
        self.worker = worker
        self.loader = loader
        #: The candidate scoring beside the live model (``router model shadow``), or None.
        self.shadow: LiveModel | None = None

        def use_live(model: LiveModel | None) -> None:
            if model is not None:  # always: an unset promotion means the worker's own model
                use(model)

        self.live_slot = Slot(PROMOTED, current, use_live,
                              {"path": str(own_path) if own_path else None},
                              "model", "deciding")
        self.shadow_slot = Slot(SHADOW, lambda: self.shadow, self._use_shadow, None,
                                "shadow model", "shadowing")
        self.settled = asyncio.Event()  # the promotion found at start is applied

    @property
    def refused(self) -> dict[str, Any] | None:
        """The promotion this worker could not load (None: it runs the promoted model)."""
        return self.live_slot.refused

    def _use_shadow(self, model: LiveModel | None) -> None:
        self.shadow = model

    async def run(self, every: float = 0.5) -> None:
        """Apply the promotion and shadow found at start, then each new one, for as long as
        the worker runs (never raises: a failure is logged and the models in place stay)."""
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
        """Follow each slot once; report when either changed (one report for both). The
        first batch waits for the live model only, never for a candidate to load."""
        live = await self._follow(self.live_slot)
        self.settled.set()
        if await self._follow(self.shadow_slot) or live:
            await self.report()

    async def _follow(self, slot: Slot) -> bool:
        """Load what ``slot.key`` names now, if it changed; whether there is news to report."""
        wanted = self.control.values.get(slot.key)
        if wanted == slot.handled:
            return False
        slot.handled = wanted
        target = wanted if isinstance(wanted, dict) else slot.unset
        if target is None:  # no model wanted here (the shadow turned off)
            if slot.current() is not None:
                log.warning("%s off", slot.label)
            slot.use(None)
            slot.refused = None
            return True
        if not _is_running(slot.current(), target):
            try:
                model = await asyncio.to_thread(self.loader, target)
            except Exception as exc:  # noqa: BLE001 - any failure: keep the model in place
                slot.refused = {"version": target.get("version"), "path": target.get("path"),
                                "error": " ".join(str(exc).split())[:300], "at": time.time()}
                running = slot.current()
                log.error("%s %s not loaded, still %s with %s: %s", slot.label,
                          target.get("version") or target.get("path") or "shipped",
                          slot.doing, running.version if running else "none",
                          slot.refused["error"])
                return True
            slot.use(model)
            log.warning("%s switched to %s", slot.label, model.version)
        slot.refused = None
        return True

    async def report(self) -> None:
        """Write this worker's live model and shadow to router-config (a failure is only
        logged: the next switch reports again)."""
        value = {**self.current().describe(), "at": time.time(),
                 "refused": self.live_slot.refused,
                 "shadow": self.shadow.describe() if self.shadow is not None else None,
                 "shadow_refused": self.shadow_slot.refused}
        try:
            await self.report_to(f"{LIVE_PREFIX}{self.worker}", value)
        except Exception as exc:  # noqa: BLE001 - Kafka away: the watchdog handles that
            log.warning("model: cannot report the live model (%s)", type(exc).__name__)


def _is_running(running: LiveModel | None, target: dict[str, Any]) -> bool:
    """Whether ``target`` is the model ``running`` already (nothing to load)."""
    if running is None:
        return False
    if target.get("sha256"):
        return bool(running.sha256 == target["sha256"])
    if target.get("path") is None:
        return running.path is None
    from classifiers.store import target as artifact_file

    return running.path == artifact_file(target["path"]).resolve()
