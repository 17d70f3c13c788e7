"""Shadowing a candidate model: what it would decide is recorded beside the live decision,
never acted on, and never in the live path's way; ``compare`` reads the records.

The stream test (a real worker shadowing on the broker) is in ``test_model_stream.py``."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from classifiers.api import Scores
from router.agents.triage import Triage
from router.broker import free_port
from router.cli import main
from router.live_model import SHADOW, LiveModel
from router.settings import Settings
from router.shadow import compare, settings_for
from router.tables import RecentPosts

from .stream import encode, mention
from .test_model import Worker, live, tampered, trained  # noqa: F401 - the fixture

HELP = "@acmesupport my order never arrived, please help"
CHAT = "lovely weather at the beach today"


class Fixed:
    """A model that scores every text the same P(actionable), or ``raises``."""

    def __init__(self, actionable: float, *, card: float = 0.5,
                 raises: Exception | None = None) -> None:
        self.p = actionable
        self.operating_point = {"actionable": card}
        self.raises = raises
        self.calls = 0

    def score(self, texts: Sequence[str]) -> list[Scores]:
        self.calls += 1
        if self.raises is not None:
            raise self.raises
        return [Scores(actionable=self.p, hurtful=0.0, sensitive=0.0, category="delivery",
                       category_confidence=0.9) for _ in texts]

    def hurtful(self, texts: Sequence[str]) -> list[float]:
        return [0.0 for _ in texts]


class Event:
    """A Kafka event as a ``take_events`` batch hands it over (weak-referenceable)."""

    def __init__(self, value: bytes, offset: int) -> None:
        self.value = value
        self.message = type("Message", (), {"partition": 0, "offset": offset,
                                            "timestamp": None, "topic": "mentions"})()


class Sink:
    """Records what a step emits and dead-letters."""

    def __init__(self) -> None:
        self.emitted: list[tuple[str, bytes, dict[str, Any]]] = []
        self.dead: list[str] = []
        self.counts: dict[str, int] = {}

    def count(self, name: str, n: int = 1, **labels: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    def decided(self, produced_at: float | None) -> None:
        pass

    async def emit(self, topic: Any, key: bytes, value: bytes) -> None:
        self.emitted.append((topic, key, json.loads(value)))

    async def dead_letter(self, source: str, event: Any, reason: str, *,
                          raw: bytes | None = None) -> None:
        self.dead.append(reason)

    async def dead_letter_record(self, source: str, key: str, raw: bytes,
                                 reason: str) -> None:
        self.dead.append(reason)

    def on(self, topic: str) -> list[dict[str, Any]]:
        return [value for t, _, value in self.emitted if t == topic]


def model(name: str, m: Fixed) -> LiveModel:
    return LiveModel(m, f"{name * 12} ({name})", name * 64)  # type: ignore[arg-type]


def step(candidate: LiveModel | None) -> tuple[Triage, Sink, dict[str, Any]]:
    settings = Settings()
    authors: dict[str, Any] = defaultdict(dict)
    sink = Sink()
    live = model("a", Fixed(0.9))
    t = Triage(live=lambda: live, policy_settings=lambda: settings,
               authors=authors,  # type: ignore[arg-type]
               posts=RecentPosts({}),  # type: ignore[arg-type]
               decisions="decisions", sink=sink,  # type: ignore[arg-type]
               shadow=lambda: None if candidate is None else (
                   candidate, settings_for(settings, {}, candidate)),
               shadows="shadow")  # type: ignore[arg-type]
    return t, sink, authors


def batch(*texts: str, start: int = 0) -> list[Event]:
    return [Event(encode(mention(str(start + i), text, f"fan{start + i}")), start + i)
            for i, text in enumerate(texts)]


def without_times(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k != "decided_at"}


async def test_the_shadow_records_its_verdict_beside_the_live_one_and_changes_nothing() -> None:
    plain, plain_sink, plain_authors = step(None)
    shadowed, sink, authors = step(model("b", Fixed(0.1)))
    await plain.handle(batch(HELP, CHAT))
    await shadowed.handle(batch(HELP, CHAT))
    # the live decisions and the state they leave are those of a worker without a shadow
    assert ([without_times(d) for d in sink.on("decisions")]
            == [without_times(d) for d in plain_sink.on("decisions")])
    # (each author's latest text, with the verdict a redelivery would get again)
    assert ({k: v.get("text") for k, v in authors.items()}
            == {k: v.get("text") for k, v in plain_authors.items()})
    assert all(v.get("text") for v in authors.values())
    assert {d["model_version"] for d in sink.on("decisions")} == {"aaaaaaaaaaaa (a)"}
    records = sink.on("shadow")
    assert [(r["mention_ref"], r["live_verdict"], r["shadow_verdict"]) for r in records] == [
        ("generic:0", "open", "silent"), ("generic:1", "open", "silent")]
    assert records[0]["shadow_version"] == "bbbbbbbbbbbb (b)"
    assert records[0]["live_actionable"] == 0.9 and records[0]["shadow_actionable"] == 0.1
    assert records[0]["text"] == HELP and sink.dead == []


async def test_the_shadow_judges_the_mention_as_the_live_model_found_it() -> None:
    """The live decision is remembered before the shadow decides: read after it, the
    shadow would see a redelivery and echo the live verdict."""
    t, sink, _ = step(model("b", Fixed(0.1)))
    live_silent = model("c", Fixed(0.1))
    t.live = lambda: live_silent
    t.shadow = lambda: (model("d", Fixed(0.9)), Settings())
    await t.handle(batch(HELP))
    assert [(r["live_verdict"], r["shadow_verdict"]) for r in sink.on("shadow")] == [
        ("silent", "open")]
    await t.handle(batch(HELP))  # a redelivery: the first record stands, none added
    assert len(sink.on("shadow")) == 1 and len(sink.on("decisions")) == 2


@pytest.mark.parametrize("where", ["score", "decide"])
async def test_a_failing_shadow_never_touches_the_live_decisions(
        where: str, caplog: pytest.LogCaptureFixture) -> None:
    plain, plain_sink, _ = step(None)
    await plain.handle(batch(HELP, CHAT))
    broken = Fixed(0.1, raises=RuntimeError("candidate bug") if where == "score" else None)
    t, sink, _ = step(model("b", broken))
    if where == "decide":  # scores fine, then a shadow verdict cannot be recorded
        async def refuse(topic: Any, key: bytes, value: bytes) -> None:
            if topic == "shadow":
                raise RuntimeError("shadow topic refused")
            await Sink.emit(sink, topic, key, value)
        sink.emit = refuse  # type: ignore[method-assign]
    await t.handle(batch(HELP, CHAT))
    assert sink.dead == [] and len(t.settled) == 2  # both decided, none dead-lettered
    assert ([without_times(d) for d in sink.on("decisions")]
            == [without_times(d) for d in plain_sink.on("decisions")])
    assert sink.on("shadow") == []
    errors = [r for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "shadow model bbbbbbbbbbbb (b)" in errors[0].getMessage()
    await t.handle(batch(HELP, start=10))  # failing again: decided, and no second traceback
    assert len(sink.on("decisions")) == 3 and sink.dead == []
    assert len([r for r in caplog.records if r.levelname == "ERROR"]) == 1
    assert sink.counts["shadow.failed"] == (2 if where == "score" else 3)  # on /metrics


def test_the_candidate_decides_with_its_own_card_unless_ops_set_a_threshold() -> None:
    candidate = model("b", Fixed(0.4, card=0.3))
    assert settings_for(Settings(), {}, candidate).actionable == 0.3
    assert settings_for(Settings(actionable_threshold=0.8), {}, candidate).actionable == 0.8
    ops = settings_for(Settings(), {"actionable_threshold": 0.7}, candidate)
    assert ops.actionable == 0.7  # `router set` applies to the candidate too


async def test_the_candidates_card_threshold_makes_its_verdict() -> None:
    t, sink, _ = step(None)
    t.live = lambda: model("a", Fixed(0.4))  # under the live card's 0.5: not opened
    candidate = model("b", Fixed(0.4, card=0.3))  # over its own card's 0.3: opened
    t.shadow = lambda: (candidate, settings_for(Settings(), {}, candidate))
    await t.handle(batch(HELP))
    [r] = sink.on("shadow")
    assert r["live_verdict"] != "open" and r["shadow_verdict"] == "open"


def rec(ref: str, live: str, shadow: str, *, lp: float = 0.5, sp: float = 0.5,
        at: float = 100.0, version: str = "b") -> dict[str, Any]:
    return {"mention_ref": ref, "network": "generic", "text": f"text  of\n{ref}",
            "live_verdict": live, "live_version": "a", "live_actionable": lp,
            "shadow_verdict": shadow, "shadow_version": version, "shadow_actionable": sp,
            "at": at}


def test_compare_counts_agreement_volumes_acted_share_and_the_furthest_disagreements(
        ) -> None:
    found = compare([
        rec("g:1", "open", "open"), rec("g:2", "silent", "silent"),
        rec("g:3", "open", "silent", lp=0.9, sp=0.2), rec("g:4", "silent", "review", sp=0.45),
        rec("g:0", "silent", "open", version="old", at=10.0),  # an earlier candidate's
    ], limit=1)
    assert found["shadow_version"] == "b" and found["live_versions"] == {"a": 4}
    assert (found["compared"], found["agreed"], found["agreement"]) == (4, 2, 0.5)
    assert found["volumes"] == {"silent": {"live": 2, "shadow": 2},
                                "open": {"live": 2, "shadow": 1},
                                "review": {"live": 0, "shadow": 1}}
    assert found["acted"] == {"live": 0.5, "shadow": 0.5}
    assert found["disagreed"] == 2 and found["other_candidates"] == 1
    assert found["disagreements"] == [{
        "ref": "g:3", "network": "generic", "live": "open", "shadow": "silent",
        "live_actionable": 0.9, "shadow_actionable": 0.2, "text": "text of g:3"}]


def test_compare_keeps_the_window_asked_for_and_says_when_nothing_is_compared() -> None:
    records = [rec("g:1", "open", "silent", at=50.0), rec("g:2", "open", "open", at=150.0)]
    assert compare(records, since=100.0)["compared"] == 1
    assert compare(records, shadow_version="old")["compared"] == 0
    empty = compare([])
    assert empty["compared"] == 0 and empty["agreement"] is None
    assert empty["acted"] == {"live": None, "shadow": None}


async def test_the_follower_loads_the_shadow_beside_the_live_model_and_reports_both() -> None:
    w = Worker(lambda value: live(value["sha256"][0], path=value["path"]))
    await w.follower.step()
    assert w.reports[-1]["shadow"] is None and w.follower.shadow is None
    w.control.values[SHADOW] = {"path": "/models/b/triage.joblib", "sha256": "b" * 64,
                                "version": "bbbbbbbbbbbb (b)", "at": 1.0}
    await w.follower.step()
    assert w.live.version == "aaaaaaaaaaaa (a)"  # the live model is not the shadow's
    assert w.follower.shadow is not None and w.follower.shadow.version == "bbbbbbbbbbbb (b)"
    assert w.reports[-1]["version"] == "aaaaaaaaaaaa (a)"
    assert w.reports[-1]["shadow"]["version"] == "bbbbbbbbbbbb (b)"
    del w.control.values[SHADOW]  # router model shadow --off
    await w.follower.step()
    assert w.follower.shadow is None and w.reports[-1]["shadow"] is None
    assert len(w.loaded) == 1 and w.live.version == "aaaaaaaaaaaa (a)"


async def test_a_shadow_that_cannot_load_is_reported_and_the_live_model_stays() -> None:
    def refuse(value: dict[str, Any]) -> LiveModel:
        raise RuntimeError("sha256 mismatch")

    w = Worker(refuse)
    await w.follower.step()
    w.control.values[SHADOW] = {"path": "/models/b", "sha256": "b" * 64, "version": "b"}
    await w.follower.step()
    assert w.follower.shadow is None and w.live.version == "aaaaaaaaaaaa (a)"
    assert w.reports[-1]["refused"] is None
    assert "sha256" in w.reports[-1]["shadow_refused"]["error"]


def test_shadow_refuses_a_bad_artifact_before_it_publishes_anything(
        trained: Path, tmp_path: Path) -> None:  # noqa: F811 - the fixture
    env = {"ROUTER_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}"}  # nothing listens there
    result = CliRunner().invoke(main, ["model", "shadow", str(tampered(trained, tmp_path))],
                                env=env)
    out = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 1 and len(out) == 1 and "sha256" in out[0], out
    neither = CliRunner().invoke(main, ["model", "shadow"], env=env)
    assert neither.exit_code == 2 and "--off" in neither.output
