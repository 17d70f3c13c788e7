"""Auditing the silence: nobody looks at what the router silenced unless some of it is shown.

A share of the silent verdicts the model judged (``ROUTER_AUDIT_SHARE``, 1 % by default;
never the rules' silences: own accounts, reposts, duplicates) becomes an audit item on the
compacted ``audit`` topic, at most ``ROUTER_AUDIT_PER_HOUR`` per hour and worker. Which
mentions are sampled depends only on their ref, so a redelivery is sampled the same way.

- ``router audit list [--all] [--json]``: the items nobody has labelled yet (text, link,
  reasons, scores);
- ``router audit label REF yes|no``: could support have helped? The label goes to the
  compacted ``feedback`` topic keyed by the mention, where every label lives (one per
  mention: a relabel replaces it);
- ``router audit export FILE``: every label on ``feedback`` (the latest per mention) as
  JSON lines with ``text`` and ``label``, the file ``router train --data`` and
  ``router evaluate --data`` read.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click

from vocab.records import AuditItem, Decision, Label

from .cli_base import RouterGroup, settings_or_exit
from .policy import judged_silent
from .settings import Settings
from .topics import name

HOUR = 3600.0


def sampled(ref: str, share: float) -> bool:
    """Whether the mention ``ref`` is in the audited share (the same answer every time)."""
    if share <= 0:
        return False
    digest = int(hashlib.sha256(ref.encode("utf-8", "surrogatepass")).hexdigest()[:8], 16)
    return digest < share * 0x1_0000_0000


class Sampler:
    """Picks the audit items of one worker: the sampled share, capped per hour."""

    def __init__(self, settings: Callable[[], Settings]) -> None:
        self.settings = settings  # read per decision: ``router set`` may change the share
        self.hour = -1
        self.taken = 0

    def take(self, d: Decision, now: float) -> AuditItem | None:
        s = self.settings()
        if not judged_silent(d) or not sampled(d.mention.ref, s.audit_share):
            return None
        hour = int(now // HOUR)
        if hour != self.hour:
            self.hour, self.taken = hour, 0
        if self.taken >= s.audit_per_hour:
            return None
        self.taken += 1
        return AuditItem(mention=d.mention, reasons=list(d.reasons), scores=dict(d.scores),
                         model_version=d.model_version, at=now)


# --- the command line ----------------------------------------------------------------


def latest(settings: Settings, topic_key: str) -> dict[str, dict[str, Any]]:
    """The latest value per key of a compacted topic (tombstones remove the key)."""
    from .replay import read_to_end

    return latest_values(read_to_end(settings, topic_key))


def latest_values(records: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """The latest JSON value per key of a compacted topic's records, in order (a tombstone
    removes its key; a value that is not JSON is skipped)."""
    out: dict[str, dict[str, Any]] = {}
    for rec in records:
        key = (rec.key or b"").decode("utf-8", "replace")
        if rec.value is None:
            out.pop(key, None)
            continue
        try:
            out[key] = json.loads(rec.value)
        except ValueError:
            continue
    return out


@click.group(cls=RouterGroup)
def audit() -> None:
    """Check a sample of what the router silenced, and say where support could help."""


@audit.command("list")
@click.option("--all", "everything", is_flag=True, help="Labelled items too.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per item.")
def list_cmd(everything: bool, as_json: bool) -> None:
    """The audit items nobody has labelled yet, oldest first."""
    settings = settings_or_exit()
    items = latest(settings, "audit")
    labels = latest(settings, "feedback")
    shown = 0
    for ref, item in sorted(items.items(), key=lambda kv: kv[1].get("at", 0.0)):
        label = labels.get(ref)
        if label is not None and not everything:
            continue
        shown += 1
        m = item.get("mention", {})
        if as_json:
            click.echo(json.dumps({"ref": ref, "text": m.get("text"), "url": m.get("url"),
                                   "reasons": item.get("reasons"),
                                   "scores": item.get("scores"),
                                   "label": None if label is None else label["actionable"]},
                                  ensure_ascii=False))
            continue
        said = "" if label is None else f"  [labelled: {'yes' if label['actionable'] else 'no'}]"
        click.echo(f"{ref}{said}  @{m.get('author', {}).get('handle', '?')}: "
                   f"{' '.join(str(m.get('text', '')).split())[:160]}")
        click.echo(f"    {(item.get('reasons') or ['?'])[0]}; {m.get('url') or 'no link'}")
    if not shown and not as_json:
        click.echo("nothing to audit" if not items else "every audit item is labelled")


def label_item(settings: Settings, ref: str, actionable: bool, *, by: str) -> Label | None:
    """A person's answer for the audit item ``ref``, put on the feedback topic keyed by the
    mention (what ``router audit label`` and the dashboard do); None when no item has that
    ref. Returns once Kafka has the label, so a read of ``feedback`` right after sees it."""
    item = latest(settings, "audit").get(ref)
    if item is None:
        return None
    m = item.get("mention", {})
    label = Label(mention_ref=ref, actionable=actionable, source="audit",
                  text=str(m.get("text", "")), verdict="silent", by=by, at=time.time())
    write_label(settings, label)
    return label


def write_label(settings: Settings, label: Label) -> None:
    """Produce ``label`` to the compacted feedback topic keyed by its mention (a relabel
    replaces the earlier one) and wait until Kafka has it."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    try:
        producer.send(name(settings, "feedback"), key=label.mention_ref.encode(),
                      value=bytes(label.dumps())).get(timeout=30)
    finally:
        producer.close()


@audit.command("label")
@click.argument("ref")
@click.argument("answer", type=click.Choice(["yes", "no"]))
@click.option("--by", default="", help="Who labels (kept with the label).")
def label_cmd(ref: str, answer: str, by: str) -> None:
    """Could support have helped with the mention REF (network:id)? yes or no."""
    label = label_item(settings_or_exit(), ref, answer == "yes", by=by)
    if label is None:
        raise click.ClickException(f"no audit item {ref} (`router audit list` shows them)")
    click.echo(f"{ref}: support could {'' if label.actionable else 'not '}have helped "
               "(on the feedback topic)")


@audit.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def export_cmd(file: Path) -> None:
    """Write every label (the latest per mention) as JSON lines that `router train --data`
    and `router evaluate --data` read: ref, text, label (1: support could help), source."""
    from .feedback import label_rows, write_labels

    rows = label_rows(settings_or_exit())
    write_labels(rows, file)
    helpful = sum(r["label"] for r in rows)
    click.echo(f"{len(rows)} labels to {file} ({helpful} where support could help); train "
               f"with `router train --data {file}`")
