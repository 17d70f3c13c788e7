"""``router dlq``: read the dead-letter topics and re-drive what was dead-lettered.

- ``router dlq list TOPIC``: one line per dead letter (where, when, key, reason);
- ``router dlq show TOPIC PARTITION:OFFSET``: one letter whole, with its original message;
- ``router dlq replay TOPIC``: send the originals back to their topic (``decisions`` after a
  desk outage). Each letter is replayed at most once: a checkpoint per partition on
  ``router-config`` (``dlq-replayed:<topic>``) remembers how far replays went (``--all``
  ignores it). Replaying is safe for decisions anyway: the escalate step is idempotent per
  mention (its effects table and the desk's external ids), so no second ticket is opened.

TOPIC is the source topic: mentions, decisions, ticket-events or replies.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any

import click

from .settings import Settings
from .topics import name

SOURCES = {"mentions": "mentions", "decisions": "decisions", "ticket-events": "ticket_events",
           "replies": "replies"}


@dataclass(frozen=True)
class Letter:
    partition: int
    offset: int
    letter: Any  # a DeadLetter (records import Faust: loaded only when used)

    @property
    def ref(self) -> str:
        return f"{self.partition}:{self.offset}"


def letters(settings: Settings, source: str) -> list[Letter]:
    """Every dead letter of ``source`` now in its dead-letter topic, oldest first."""
    from vocab.records import DeadLetter

    from .replay import read_to_end

    out = []
    for msg in read_to_end(settings, f"{SOURCES[source]}_dlq"):
        try:
            letter = DeadLetter.loads(msg.value)
        except (ValueError, TypeError):
            continue
        out.append(Letter(msg.partition, msg.offset, letter))
    return sorted(out, key=lambda x: (x.letter.at, x.partition, x.offset))


def checkpoint_key(source: str) -> str:
    return f"dlq-replayed:{source}"


@dataclass(frozen=True)
class Replayed:
    sent: int
    partial: list[str]  # refs of letters that keep only part of their original: not sent


def replay(settings: Settings, source: str, *, everything: bool = False) -> Replayed:
    """Send the letters not replayed yet back to ``source`` (a letter that kept only part
    of its original, a message too large, is not sent: it would only fail again)."""
    from .control import publish, read_all
    from .replay import producer

    key = checkpoint_key(source)
    done: dict[str, int] = {} if everything else dict(read_all(settings).get(key) or {})
    due = [x for x in letters(settings, source) if x.offset >= done.get(str(x.partition), 0)]
    partial = [x.ref for x in due if x.letter.truncated]
    todo = [x for x in due if not x.letter.truncated]
    if not due:
        return Replayed(0, [])
    p = producer(settings)
    try:
        futures = [p.send(name(settings, SOURCES[source]),
                          key=(x.letter.key or "").encode() or None,
                          value=base64.b64decode(x.letter.original)) for x in todo]
        p.flush(timeout=60)
        for f in futures:
            f.get(timeout=60)
    finally:
        p.close()
    for x in due:
        done[str(x.partition)] = max(done.get(str(x.partition), 0), x.offset + 1)
    publish(settings, key, done, by="router dlq replay")
    return Replayed(len(todo), partial)


def _settings() -> Settings:
    from .cli_base import settings_or_exit

    return settings_or_exit()


source_arg = click.argument("topic", type=click.Choice(sorted(SOURCES)))


@click.group("dlq")
def dlq() -> None:
    """Read dead letters (with their reasons) and replay them."""


@dlq.command("list")
@source_arg
def list_cmd(topic: str) -> None:
    """One line per dead letter: PARTITION:OFFSET, when, key, reason."""
    found = letters(_settings(), topic)
    if not found:
        click.echo(f"no dead letters from {topic}")
        return
    for x in found:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(x.letter.at))
        click.echo(f"{x.ref:<8} {when}  {x.letter.key or '-':<24} {x.letter.reason[:160]}")
    click.echo(f"{len(found)} dead letters; `router dlq show {topic} PARTITION:OFFSET` "
               f"shows one, `router dlq replay {topic}` re-drives them")


@dlq.command("show")
@source_arg
@click.argument("ref")
def show_cmd(topic: str, ref: str) -> None:
    """One dead letter whole: its reason, origin and original message."""
    match = [x for x in letters(_settings(), topic) if x.ref == ref]
    if not match:
        raise click.ClickException(f"no dead letter {ref} from {topic}: "
                                   f"`router dlq list {topic}` shows them")
    x = match[0]
    raw = base64.b64decode(x.letter.original)
    original: Any
    try:
        original = json.loads(raw)
    except ValueError:
        original = raw.decode("utf-8", "replace")
    click.echo(json.dumps({"ref": x.ref, "reason": x.letter.reason, "key": x.letter.key,
                           "source_topic": x.letter.source_topic,
                           "source_partition": x.letter.partition,
                           "source_offset": x.letter.offset, "at": x.letter.at,
                           "original": original}, indent=2, ensure_ascii=False))


@dlq.command("replay")
@source_arg
@click.option("--all", "everything", is_flag=True,
              help="Replay every letter again, not only those not replayed yet.")
def replay_cmd(topic: str, everything: bool) -> None:
    """Send dead letters back to their topic (each once; the effects stay idempotent)."""
    done = replay(_settings(), topic, everything=everything)
    if done.partial:
        click.echo(f"not replayed: {len(done.partial)} letters keep only part of their "
                   f"original (too large for the router): {', '.join(done.partial[:10])}")
    click.echo(f"replayed {done.sent} dead letters to {topic}" if done.sent or done.partial
               else f"nothing to replay from {topic} (every letter was replayed already; "
               "--all replays them again)")
