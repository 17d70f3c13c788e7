"""``router status``: what the router runs with now, and where each value comes from.

- the effective runtime settings (kill switch, quiet hours, thresholds, minimum coverage,
  review margin), each with its source: ``router set`` (the control topic), the environment
  (``ROUTER_…``), the model's card, or the default;
- the promoted model and the model each worker reports (``router model status``);
- consumer lag per partition of the topics the worker group reads;
- how many dead letters each dead-letter topic holds.

``router set NAME`` (no value) prints one setting the same way. ``effective`` is pure.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import click

from .control import KILL_SWITCH, RUNTIME_SETTINGS, validate
from .settings import ENV_PREFIX, Settings
from .topics import SOURCES, SPECS, name

#: The settings ``router status`` shows: the runtime ones, and the card-given review margin.
SHOWN = (*RUNTIME_SETTINGS, "review_margin")
#: Thresholds a model's card sets when neither ``router set`` nor the environment does.
FROM_CARD = {"actionable_threshold": "actionable", "hurtful_threshold": "hurtful",
             "review_margin": "review_margin"}
#: The topics a worker group consumes (its lag).
CONSUMED = ("mentions", "decisions", "decisions_retry", "ticket_events", "replies")


@dataclass(frozen=True)
class Effective:
    """One setting as the workers apply it now."""

    name: str
    value: Any
    source: str  # "router set", "env ROUTER_…", "model card", "default"


def effective(settings: Settings, runtime: Mapping[str, Any],
              operating_point: Mapping[str, Any], names: tuple[str, ...] = SHOWN
              ) -> list[Effective]:
    """Each setting's value and source, in the order the workers apply them: a valid
    ``router set`` value, else the environment, else the model's card, else the default."""
    out = []
    for key in names:
        if key in runtime and key in RUNTIME_SETTINGS:
            raw = runtime[key]
            try:
                value = validate(key, str(raw).lower() if isinstance(raw, bool) else str(raw))
            except ValueError:
                pass  # the workers ignore an invalid entry too (and log it)
            else:
                out.append(Effective(key, value, "router set"))
                continue
        current = getattr(settings, key)
        if key in settings.model_fields_set and current is not None:
            out.append(Effective(key, current, f"env {ENV_PREFIX}{key.upper()}"))
        elif key in FROM_CARD and current is None and FROM_CARD[key] in operating_point:
            out.append(Effective(key, float(operating_point[FROM_CARD[key]]), "model card"))
        else:
            fallback = {"actionable_threshold": settings.threshold_for("other"),
                        "hurtful_threshold": settings.hurtful_cut,
                        "review_margin": settings.review_band}.get(key, current)
            out.append(Effective(key, fallback, "default"))
    return out


def card_of(settings: Settings, runtime: Mapping[str, Any]) -> dict[str, Any]:
    """The sidecar (card) of the model in force: the promoted one, else
    ``ROUTER_MODEL_PATH``, else the shipped one (read without loading the model)."""
    from classifiers import store

    promoted = runtime.get("model")
    path: str | Path | None = settings.model_path
    if isinstance(promoted, dict):
        path = promoted.get("path")  # None: the shipped model
    try:
        return store.read_sidecar(store.target(path))
    except Exception:  # noqa: BLE001 - status shows what it can
        return {}


def lag(settings: Settings) -> dict[str, dict[int, int]]:
    """Messages not yet committed by the worker group, per topic and partition."""
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None)
    try:
        committed = _committed(admin, settings.app_id)
        tps = [TopicPartition(name(settings, key), p)
               for key in CONSUMED for p in range(settings.partitions)]
        ends = consumer.end_offsets(tps)
        out: dict[str, dict[int, int]] = {}
        for tp in tps:
            done = committed.get(tp)
            start = done.offset if done is not None and done.offset >= 0 else 0
            out.setdefault(tp.topic, {})[tp.partition] = max(0, ends[tp] - start)
        return out
    finally:
        consumer.close()
        admin.close()


def _committed(admin: Any, group: str) -> dict[Any, Any]:
    """The group's committed offsets; none while the broker has no coordinator yet (a
    broker where no group ever committed creates its offsets topic on first ask)."""
    from kafka.errors import CoordinatorNotAvailableError

    for _ in range(10):
        try:
            return dict(admin.list_group_offsets({group: None}).get(group, {}))
        except CoordinatorNotAvailableError:
            time.sleep(0.5)
    return {}


def dead_letters(settings: Settings) -> dict[str, int]:
    """How many dead letters each dead-letter topic holds now."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None)
    try:
        out = {}
        for source in SOURCES:
            topic = name(settings, f"{source}_dlq")
            tps = [TopicPartition(topic, p)
                   for p in range(SPECS[f"{source}_dlq"].partitions or settings.partitions)]
            begin, end = consumer.beginning_offsets(tps), consumer.end_offsets(tps)
            out[topic] = sum(end[tp] - begin[tp] for tp in tps)
        return out
    finally:
        consumer.close()


def read_status(settings: Settings) -> dict[str, Any]:
    from .control import read_all
    from .model_cli import models_from

    runtime = read_all(settings)
    card = card_of(settings, runtime)
    return {
        "settings": [asdict(e) for e in effective(settings, runtime,
                                                   card.get("operating_point", {}))],
        "model": models_from(runtime),
        "lag": lag(settings),
        "dead_letters": dead_letters(settings),
    }


def show(e: Effective) -> str:
    value = e.value
    if e.name == KILL_SWITCH:
        value = "off (replies allowed)" if value else "ON (no reply is posted)"
        return f"kill switch: {value}  [{e.source}]"
    if e.name == "quiet_hours":
        value = f"{value} UTC" if value else "none"
    return f"{e.name}: {value}  [{e.source}]"


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def status(as_json: bool) -> None:
    """Effective settings and their sources, models, lag and dead letters."""
    from .cli_base import settings_or_exit

    found = read_status(settings_or_exit())
    if as_json:
        click.echo(json.dumps(found, sort_keys=True, default=str))
        return
    click.echo("settings (router set > environment > model card > default):")
    for e in found["settings"]:
        click.echo("  " + show(Effective(**e)))
    model = found["model"]
    promoted = model["promoted"]
    click.echo("model: " + (f"{promoted.get('version')} promoted" if promoted else
                            "none promoted (ROUTER_MODEL_PATH, or the shipped model)"))
    for worker, live in sorted(model["workers"].items()):
        click.echo(f"  {worker}: {live.get('version')}")
    click.echo("lag (messages not yet committed by the workers):")
    for topic, parts in found["lag"].items():
        total = sum(parts.values())
        detail = ", ".join(f"{p}: {n}" for p, n in sorted(parts.items()))
        click.echo(f"  {topic}: {total} ({detail})")
    click.echo("dead letters: " + ", ".join(f"{t} {n}" for t, n in found["dead_letters"].items()))


def show_one(settings: Settings, key: str) -> str:
    """``router set NAME`` without a value: the setting as the workers apply it now."""
    from .control import read_all

    runtime = read_all(settings)
    card = card_of(settings, runtime)
    [e] = effective(settings, runtime, card.get("operating_point", {}), (key,))
    return show(e)
