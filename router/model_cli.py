"""``router model``: which model decides, on every worker, changed without a restart.

- ``router model promote PATH``: load the artifact here, under the trust rules every worker
  applies (sha256 sidecar, library versions), then write it to ``router-config``; every
  running worker loads it off its event loop and switches between two batches, and a
  worker started later starts deciding with it too. ``--default``: back to the shipped
  model.
- ``router model status``: the promoted model, and the model each worker reports it runs
  (with the promotion it refused, if any, and why), and its shadow.
- ``router model shadow PATH``: checked the same way, then every worker scores each mention
  with it too, beside the live model, and records what it would have decided (never acted
  on); ``--off`` stops that. ``router model compare``: how the two models' verdicts differ.

How workers follow and report: ``router.live_model``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click

from .live_model import LIVE_PREFIX, PROMOTED, SHADOW, load, promotion
from .settings import Settings


@click.group()
def model() -> None:
    """Promote a trained model to every worker, shadow one beside the live model, or see
    which model runs where."""


@model.command("promote")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--default", "to_default", is_flag=True, help="Back to the shipped model.")
def promote(path: Path | None, to_default: bool) -> None:
    """Check the model at PATH (triage.joblib from `router train`, or its folder), then
    make every worker decide with it from its next batch."""
    from .cli_base import settings_or_exit
    from .control import publish

    if to_default == (path is not None):
        raise click.UsageError("give the PATH of a model, or --default for the shipped one")
    settings = settings_or_exit()
    # --default: the shipped model; a refused artifact is one line and nothing is published
    live = load(None if path is None else path.resolve())
    publish(settings, PROMOTED, promotion(live))
    where = str(live.path) if live.path else "the shipped model"
    click.echo(f"promoted {live.version} ({where}); every worker switches to it from its next "
               "batch: `router model status` shows each one's")


@model.command("shadow")
@click.argument("path", required=False, type=click.Path(path_type=Path))
@click.option("--off", is_flag=True, help="Stop shadowing.")
def shadow(path: Path | None, off: bool) -> None:
    """Check the model at PATH, then make every worker score each mention with it beside
    the live model and record what it would decide (never acted on): `router model
    compare` shows the difference. Doubles the model's time per mention while it runs."""
    from .cli_base import settings_or_exit
    from .control import publish

    if off == (path is not None):
        raise click.UsageError("give the PATH of a model to shadow, or --off")
    settings = settings_or_exit()
    if path is None:
        publish(settings, SHADOW, None)  # a tombstone: no shadow
        click.echo("shadow off; the records stay on the shadow topic for `router model "
                   "compare`")
        return
    candidate = load(path.resolve())  # a refused artifact is one line, nothing published
    publish(settings, SHADOW, promotion(candidate))
    click.echo(f"shadowing {candidate.version} ({candidate.path}); every worker scores each "
               "mention with it from its next batch, never acting on it: `router model "
               "compare` shows how it differs")


@model.command("compare")
@click.option("--since", type=click.FloatRange(min=0), default=None,
              help="Only the mentions of the last HOURS.", metavar="HOURS")
@click.option("--limit", type=click.IntRange(min=0), default=10, show_default=True,
              help="Disagreements shown.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def compare(since: float | None, limit: int, as_json: bool) -> None:
    """The live and the shadow model on the same mentions: agreement, the volume of each
    verdict, the share each would act on, and where they disagree."""
    from .audit import latest
    from .cli_base import settings_or_exit
    from .shadow import compare as compared

    records = latest(settings_or_exit(), "shadow").values()
    found = compared(records, limit=limit,
                     since=None if since is None else time.time() - since * 3600)
    if as_json:
        click.echo(json.dumps(found, sort_keys=True, ensure_ascii=False))
        return
    if not found["compared"]:
        click.echo("nothing compared yet: `router model shadow PATH` makes the workers "
                   "record what a candidate would decide")
        return
    n = found["compared"]
    lives = ", ".join(f"{v} ({c})" for v, c in sorted(found["live_versions"].items()))
    click.echo(f"live:   {lives}")
    click.echo(f"shadow: {found['shadow_version']}")
    if found["other_candidates"]:
        click.echo(f"        ({found['other_candidates']} records of earlier candidates "
                   "left out)")
    click.echo(f"{n} mentions compared; agreement {found['agreement']:.1%} "
               f"({found['agreed']} of {n})")
    click.echo(f"\n  {'verdict':<10}{'live':>8}{'shadow':>8}")
    for verdict, counts in found["volumes"].items():
        click.echo(f"  {verdict:<10}{counts['live']:>8}{counts['shadow']:>8}")
    acted = found["acted"]
    click.echo(f"  {'acted on':<10}{acted['live']:>8.1%}{acted['shadow']:>8.1%}")
    if found["disagreed"]:
        shown = len(found["disagreements"])
        click.echo(f"\n{found['disagreed']} disagreements"
                   + (f" (the {shown} furthest apart)" if shown < found["disagreed"] else "")
                   + ":")
    for d in found["disagreements"]:
        click.echo(f"  {d['ref']}: {d['live']} -> {d['shadow']}  P(actionable) "
                   f"{d['live_actionable']:.2f} -> {d['shadow_actionable']:.2f}  "
                   f"{d['text'][:80]}")


@model.command("status")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def status(as_json: bool) -> None:
    """The promoted model and the model each worker runs."""
    from .cli_base import settings_or_exit

    found = read_status(settings_or_exit())
    if as_json:
        click.echo(json.dumps(found, sort_keys=True))
        return
    promoted = found["promoted"]
    if promoted is None:
        click.echo("promoted: none (each worker runs ROUTER_MODEL_PATH, or the shipped model)")
    else:
        click.echo(f"promoted: {promoted.get('version')} "
                   f"({promoted.get('path') or 'the shipped model'}), {_ago(promoted)}")
    shadowed = found["shadow"]
    if shadowed is not None:
        click.echo(f"shadow: {shadowed.get('version')} ({shadowed.get('path')}), "
                   f"{_ago(shadowed)}")
    if not found["workers"]:
        click.echo("no worker has reported yet")
    for worker, live in sorted(found["workers"].items()):
        line = f"  {worker}: {live.get('version')}, reported {_ago(live)}"
        line += _refusal(live.get("refused"))
        shadowing = live.get("shadow")
        if shadowing or live.get("shadow_refused"):
            line += f"; shadow {shadowing.get('version') if shadowing else 'none'}"
            line += _refusal(live.get("shadow_refused"))
        click.echo(line)


def read_status(settings: Settings) -> dict[str, Any]:
    """``{"promoted": value or None, "shadow": value or None, "workers": {worker id: live
    model}}`` from router-config (a stopped worker's last report stays; its age says so)."""
    from .control import read_all

    return models_from(read_all(settings))


def models_from(values: Mapping[str, Any]) -> dict[str, Any]:
    """``read_status``'s answer from router-config's values already read."""
    promoted = values.get(PROMOTED)
    shadowed = values.get(SHADOW)
    return {"promoted": promoted if isinstance(promoted, dict) else None,
            "shadow": shadowed if isinstance(shadowed, dict) else None,
            "workers": {k[len(LIVE_PREFIX):]: v for k, v in values.items()
                        if k.startswith(LIVE_PREFIX) and isinstance(v, dict)}}


def _refusal(refused: Any) -> str:
    if not isinstance(refused, dict):
        return ""
    return f"; refused {refused.get('version') or refused.get('path')}: {refused.get('error')}"


def _ago(value: dict[str, Any]) -> str:
    at = value.get("at")
    if not isinstance(at, (int, float)):
        return "at an unknown time"
    return f"{max(0.0, time.time() - at):.0f} s ago"
