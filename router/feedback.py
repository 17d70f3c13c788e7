"""The company's own labels, back into training and evaluation.

Every label people give lands on the compacted ``feedback`` topic keyed by mention (one per
mention: a relabel replaces it): audit items labelled with ``router audit label`` or on the
dashboard, and agents' judgement read from the desk (``router.agents.closeloop``: a ticket
marked not actionable, a ticket solved). This module reads them back:

- ``router train --feedback``: trains on the shared research data (``--shared``, by default
  ``../shared/data`` when it is there) plus the company's labels (and any ``--data``); the
  labels used are kept beside the model as ``feedback-labels.jsonl``;
- ``router evaluate --feedback``: scores the live model (the promoted one, else
  ``ROUTER_MODEL_PATH``, else the shipped one; or ``--model``) and, with ``--candidate``,
  a candidate beside it on those labels: precision, recall, volume and review share at each
  threshold, and one PR chart.

Both commands are ``classifiers.cli``'s, with ``--feedback`` added; without it they are
unchanged and need no broker.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import click

from .settings import Settings

#: Where ``--feedback`` looks for the shared data when ``--shared`` is not given.
DEFAULT_SHARED = Path("../shared/data")


def label_rows(settings: Settings) -> list[dict[str, Any]]:
    """Every label on ``feedback`` (the latest per mention) that has a text to learn from:
    ``ref``, ``text``, ``label`` (1: support could help), ``source``, ``verdict``."""
    from .audit import latest

    labels = latest(settings, "feedback")
    return [{"ref": ref, "text": lab.get("text", ""), "label": int(bool(lab["actionable"])),
             "source": lab.get("source", ""), "verdict": lab.get("verdict", "")}
            for ref, lab in sorted(labels.items()) if "actionable" in lab and lab.get("text")]


def write_labels(rows: list[dict[str, Any]], file: Path) -> None:
    """``rows`` as the JSON-lines file ``router train --data`` and ``--evaluate`` read."""
    file.parent.mkdir(parents=True, exist_ok=True)
    with file.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def _feedback_file(folder: Path) -> tuple[Path, list[dict[str, Any]]]:
    from .cli_base import settings_or_exit

    rows = label_rows(settings_or_exit())
    if not rows:
        raise click.ClickException("no labels on the feedback topic yet: label audit items "
                                   "(`router audit label`) or mark tickets in the desk first")
    file = folder / "feedback-labels.jsonl"
    write_labels(rows, file)
    helpful = sum(r["label"] for r in rows)
    by_source: dict[str, int] = {}
    for r in rows:
        by_source[r["source"] or "?"] = by_source.get(r["source"] or "?", 0) + 1
    sources = ", ".join(f"{k} {v}" for k, v in sorted(by_source.items()))
    click.echo(f"{len(rows)} labels from the feedback topic ({helpful} where support could "
               f"help; {sources}) in {file}")
    return file, rows


def _feedback_option() -> click.Option:
    return click.Option(["--feedback"], is_flag=True,
                        help="Also use every label on the feedback topic (audits, agents' "
                        "desk feedback), the latest per mention.")


def _with(command: click.Command, callback: Any, extra: list[click.Parameter],
          optional: str) -> click.Command:
    """``command`` with ``extra`` parameters, its ``optional`` parameter not required, and
    ``callback`` in front of its own."""
    params = []
    for param in command.params:
        if param.name == optional:
            param = copy.copy(param)
            param.required = False
        params.append(param)
    return click.Command(command.name, params=[*params, *extra], callback=callback,
                         help=command.help, short_help=command.short_help)


def train_command() -> click.Command:
    from classifiers.cli import train_command as base

    def train(feedback: bool, shared: Path | None, no_shared: bool, data_paths: tuple[Path, ...],
              out_dir: Path, **rest: Any) -> None:
        ctx = click.get_current_context()
        if feedback:
            file, _ = _feedback_file(out_dir)
            data_paths = (*data_paths, file)
            if shared is None and not no_shared:
                if not DEFAULT_SHARED.is_dir():
                    raise click.UsageError(f"no shared data at {DEFAULT_SHARED}: pass --shared "
                                           "DIR, or --no-shared to train on your labels only")
                shared = DEFAULT_SHARED
        ctx.invoke(base, data_paths=data_paths, shared=None if no_shared else shared,
                   out_dir=out_dir, **rest)

    no_shared = click.Option(["--no-shared"], is_flag=True,
                             help="With --feedback: without the shared research data.")
    return _with(base, train, [_feedback_option(), no_shared], optional="data_paths")


def evaluate_command() -> click.Command:
    from classifiers.cli import evaluate_command as base

    def evaluate(feedback: bool, data_path: Path | None, model_path: Path | None,
                 out_dir: Path, **rest: Any) -> None:
        ctx = click.get_current_context()
        if feedback:
            if data_path is not None:
                raise click.UsageError("give --data FILE or --feedback, not both")
            data_path, _ = _feedback_file(out_dir)
            if model_path is None:
                model_path = live_model_path()
                click.echo(f"live model: {model_path or 'the shipped model'}")
        elif data_path is None:
            raise click.UsageError("give --data FILE (labelled rows), or --feedback")
        ctx.invoke(base, data_path=data_path, model_path=model_path, out_dir=out_dir, **rest)

    return _with(base, evaluate, [_feedback_option()], optional="data_path")


def live_model_path() -> Path | None:
    """The model the workers decide with: the promoted one, else ``ROUTER_MODEL_PATH``,
    else None (the shipped model)."""
    from .cli_base import settings_or_exit
    from .model_cli import read_status

    settings = settings_or_exit()
    promoted = read_status(settings)["promoted"]
    if promoted is not None:
        return Path(promoted["path"]) if promoted.get("path") else None
    return settings.model_path
