"""``router model``: which model decides, on every worker, changed without a restart.

- ``router model promote PATH``: load the artifact here, under the trust rules every worker
  applies (sha256 sidecar, library versions), then write it to ``router-config``; every
  running worker loads it off its event loop and switches between two batches, and a
  worker started later starts deciding with it too. ``--default``: back to the shipped
  model.
- ``router model status``: the promoted model, and the model each worker reports it runs
  (with the promotion it refused, if any, and why).

How workers follow and report: ``router.live_model``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from .live_model import LIVE_PREFIX, PROMOTED, load, promotion
from .settings import Settings


@click.group()
def model() -> None:
    """Promote a trained model to every worker, or see which model runs where."""


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
    if not found["workers"]:
        click.echo("no worker has reported yet")
    for worker, live in sorted(found["workers"].items()):
        line = f"  {worker}: {live.get('version')}, reported {_ago(live)}"
        refused = live.get("refused")
        if refused:
            line += (f"; refused {refused.get('version') or refused.get('path')}: "
                     f"{refused.get('error')}")
        click.echo(line)


def read_status(settings: Settings) -> dict[str, Any]:
    """``{"promoted": value or None, "workers": {worker id: live model}}`` from
    router-config (a stopped worker's last report stays; its age says so)."""
    from .control import read_all

    values = read_all(settings)
    promoted = values.get(PROMOTED)
    return {"promoted": promoted if isinstance(promoted, dict) else None,
            "workers": {k[len(LIVE_PREFIX):]: v for k, v in values.items()
                        if k.startswith(LIVE_PREFIX) and isinstance(v, dict)}}


def _ago(value: dict[str, Any]) -> str:
    at = value.get("at")
    if not isinstance(at, (int, float)):
        return "at an unknown time"
    return f"{max(0.0, time.time() - at):.0f} s ago"
