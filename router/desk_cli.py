"""``router desk``: the embedded desk as an agent works it.

- ``router desk list [--status S] [--tag T] [--review] [--json]``: tickets, filtered;
- ``router desk show ID [--json]``: one ticket whole (the agent's view, tags, linked
  tickets, notes and public replies);
- ``router desk reply ID TEXT``: a public update, shown on the customer's status page;
- ``router desk solve ID...``: solve tickets (a problem's incidents too) and tell the
  router, through the desk's outbox, so every linked customer gets their one reply;
- ``router desk tag ID TAG [--remove]``: tag a ticket (or untag it); the feedback tag
  (``not-actionable``, ``ROUTER_EMBEDDED_DESK_FEEDBACK_TAG``) tells the router, through the
  outbox, that support could not help: its mentions are labelled so and get no reply;
- ``router desk move ID MENTION_REF (--to OTHER_ID | --new)``: a post the router put on
  the wrong ticket goes to the right one (or a new one): its author is answered when that
  one is solved, and the post is labelled "support could help" on ``feedback``.

These commands never create a desk: only the worker does.
"""

from __future__ import annotations

import json
import time
from typing import Any

import click

from .cli_base import RouterGroup, settings_or_exit
from .drafts import REVIEW_TAG
from .pages import when
from .settings import Settings


def _settings() -> Settings:
    return settings_or_exit()


@click.group(cls=RouterGroup)
def desk() -> None:
    """Work the embedded desk as an agent would."""


def _embedded(settings: Settings) -> Any:
    """The embedded desk the worker uses; never creates one (only the worker does)."""
    from connectors.desks.embedded import EmbeddedConfig, EmbeddedDesk

    if settings.desk != "embedded":
        raise click.UsageError(f"ROUTER_DESK is {settings.desk!r}: these commands work on "
                               "the embedded desk (unset ROUTER_DESK)")
    path = settings.embedded_desk_path
    if not path.is_file():
        raise click.ClickException(
            f"no embedded desk at {path}: set ROUTER_EMBEDDED_DESK_PATH to the desk's file "
            "(the worker creates it when it first starts)")
    return EmbeddedDesk(EmbeddedConfig(path=path, url=settings.embedded_desk_url),
                        create=False)


@desk.command("list")
@click.option("--status", type=click.Choice(["new", "open", "pending", "solved", "closed",
                                             "active", "done"]))
@click.option("--tag", "tags", multiple=True, help="Only tickets with this tag (repeatable).")
@click.option("--review", is_flag=True,
              help=f"Only tickets waiting for a person's call (tag {REVIEW_TAG}).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per ticket.")
def desk_list(status: str | None, tags: tuple[str, ...], review: bool, as_json: bool) -> None:
    """List tickets, optionally by status and tags."""
    d = _embedded(_settings())
    wanted = set(tags) | ({REVIEW_TAG} if review else set())
    for t in d.tickets(status=status):
        t_tags = d.tags_of(t)
        if not wanted <= set(t_tags):
            continue
        if as_json:
            click.echo(json.dumps({**{k: t[k] for k in ("id", "external_id", "subject",
                                                       "status", "requester", "priority",
                                                       "comments")}, "tags": t_tags}))
        else:
            click.echo(f"#{t['id']:<4} {t['status']:<7} {t['priority'] or '':<7} "
                       f"{t['comments']} notes  {t['subject'][:90]}")


@desk.command("show")
@click.argument("ticket_id")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def desk_show(ticket_id: str, as_json: bool) -> None:
    """One ticket whole: what the agent sees (the mention, its scores and reasons, the
    thread), its tags, linked tickets, and every note and public reply in order."""
    d = _embedded(_settings())
    found = d.ticket(ticket_id)
    if found is None:
        raise click.ClickException(f"no ticket {ticket_id} in the embedded desk "
                                   "(`router desk list` shows them)")
    if as_json:
        click.echo(json.dumps(found, ensure_ascii=False, default=str))
        return
    click.echo(f"#{found['id']} {found['status']} {found['priority'] or ''}  "
               f"{found['subject']}")
    click.echo(f"requester: {found['requester'] or '-'} on {found['network'] or '-'}; "
               f"tags: {', '.join(found['tags']) or '-'}")
    if found["parent_id"]:
        click.echo(f"incident of problem #{found['parent_id']}")
    if found["incidents"]:
        click.echo("incidents: " + ", ".join(f"#{i}" for i in found["incidents"]))
    click.echo(f"link for the customer: {found['url']}")
    click.echo("")
    click.echo(found["body"].rstrip())
    for c in found["comments"]:
        kind = "public reply" if c["public"] else "internal note"
        click.echo(f"\n--- {kind}, {when(c['created_at'])} ---\n{c['body'].rstrip()}")


@desk.command("reply")
@click.argument("ticket_id")
@click.argument("text")
def desk_reply(ticket_id: str, text: str) -> None:
    """Add a public update to a ticket: the customer reads it on the ticket's status page
    (the link in the router's reply), as what was done."""
    d = _embedded(_settings())
    if not text.strip():
        raise click.UsageError("give the TEXT of the update")
    if d.ticket(ticket_id) is None:
        raise click.ClickException(f"no ticket {ticket_id} in the embedded desk "
                                   "(`router desk list` shows them)")
    d.add_reply(ticket_id, text.strip())
    click.echo(f"#{ticket_id}: public update added; the customer sees it at "
               f"{d.ticket_url(ticket_id)}")


def _send(settings: Settings, d: Any, then: str) -> None:
    """Send the desk's pending ticket events now; if Kafka is down, say what happens."""
    from vocab.errors import BrokerError

    from .outbox import send_pending

    try:
        send_pending(settings, d)
    except BrokerError as exc:
        click.echo(f"{exc}: the ticket events wait in the desk's outbox, and {then}", err=True)


@desk.command("solve")
@click.argument("ticket_ids", nargs=-1, required=True)
@click.option("--status", default="solved", type=click.Choice(["solved", "closed"]),
              show_default=True)
def desk_solve(ticket_ids: tuple[str, ...], status: str) -> None:
    """Mark tickets solved (a problem's incidents too), and tell the router.

    Each status change is saved with its ticket event in the desk's outbox; the events go
    to Kafka now, or, if Kafka is down, from a running worker (or the next solve)."""
    settings = _settings()
    d = _embedded(settings)
    bad = d.unknown_ids(ticket_ids)
    for tid in dict.fromkeys(t for t in ticket_ids if t not in bad):
        for t in d.solve(tid, status):
            click.echo(f"#{t.id} {status}: {t.url}")
    _send(settings, d, "the customers' replies go out from a running worker once Kafka takes "
          "them (or with the next `router desk solve`)")
    if bad:
        raise click.ClickException(
            f"no ticket {', '.join(bad)} in the embedded desk (`router desk list` shows "
            "them); the others were " + status)


@desk.command("tag")
@click.argument("ticket_id")
@click.argument("tag")
@click.option("--remove", is_flag=True, help="Take the tag off instead.")
def desk_tag(ticket_id: str, tag: str, remove: bool) -> None:
    """Put TAG on a ticket (or take it off with --remove), and tell the router.

    The feedback tag (not-actionable, or ROUTER_EMBEDDED_DESK_FEEDBACK_TAG) says the router
    should not have sent this ticket: its mentions are labelled "support could not help" and
    their authors get no reply; taking it off withdraws that."""
    from connectors.errors import FatalError

    settings = _settings()
    d = _embedded(settings)
    try:
        changed = d.tag(ticket_id, tag, remove=remove)
    except FatalError as exc:
        raise click.ClickException(f"{exc} (`router desk list` shows the tickets)") from exc
    shown = d.ticket(ticket_id)
    tags = ", ".join(shown["tags"]) or "-"
    if not changed:
        click.echo(f"#{ticket_id} {'has no' if remove else 'already has'} tag {tag}; "
                   f"tags: {tags}")
    else:
        from connectors.desks.base import marked as has_mark

        marked = bool(has_mark(shown["tags"], d.feedback_tag))
        click.echo(f"#{ticket_id} tags: {tags}" + (
            " (marked not actionable: the router labels its mentions and sends no reply)"
            if marked else ""))
    _send(settings, d, "the router hears of it from a running worker once Kafka takes them")


def _placements(settings: Settings, ref: str) -> dict[str, dict[str, Any]]:
    """Where the router holds the post ``ref`` (network:id, or the post's link as the
    ticket shows it): each embedded ticket's latest ``linked`` or ``unlinked`` event of
    it, read from ticket-events (the whole topic: the embedded desk's are few). A ticket
    whose latest is ``linked`` answers the post's author when it is solved."""
    from .replay import read_to_end

    found: dict[str, dict[str, Any]] = {}
    for rec in read_to_end(settings, "ticket_events"):
        if not (rec.key or b"").startswith(b"embedded:"):
            continue
        try:
            ev = json.loads(rec.value)
        except (TypeError, ValueError):
            continue
        m = ev.get("mention") if isinstance(ev, dict) else None
        if ev.get("kind") in ("linked", "unlinked") and isinstance(m, dict) \
                and ref in (f"{m.get('network')}:{m.get('id')}", m.get("url")):
            found[str(ev.get("ticket_id"))] = ev
    return found


@desk.command("move")
@click.argument("ticket_id")
@click.argument("mention_ref")
@click.option("--to", "to", metavar="OTHER_ID", help="The ticket the post belongs on.")
@click.option("--new", "new", is_flag=True, help="A new ticket for the post's author.")
def desk_move(ticket_id: str, mention_ref: str, to: str | None, new: bool) -> None:
    """Move a post the router put on a ticket (MENTION_REF: network:id, or the post's link)
    to the ticket it belongs on (--to OTHER_ID) or a new one (--new).

    Its author is then answered when that ticket is solved, and the post is labelled
    "support could help" (the router was right to send it, if not where). Safe to run
    again: the same move again does nothing; a post already moved off ID is moved from
    the ticket it is on now, so it is never on two tickets."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    from connectors.errors import FatalError
    from vocab.errors import BrokerError
    from vocab.records import Label, Mention, TicketEvent

    from .topics import name

    if new == (to is not None):
        raise click.UsageError("say where the post goes: --to OTHER_ID or --new")
    settings = _settings()
    d = _embedded(settings)
    for tid in (ticket_id, to):
        if tid is not None and d.ticket(tid) is None:
            raise click.ClickException(f"no ticket {tid} in the embedded desk (`router desk "
                                       "list` shows them)")
    placed = _placements(settings, mention_ref)
    on = sorted(tid for tid, ev in placed.items() if ev["kind"] == "linked")
    linked = placed.get(ticket_id)
    if linked is None:
        raise click.ClickException(
            f"the router put no post {mention_ref} on ticket #{ticket_id} (`router desk show "
            f"{ticket_id}` shows its posts; the ref is network:id)")
    mention = Mention.from_data(linked["mention"])
    ref = mention.ref
    if linked["kind"] == "unlinked":  # moved off before: only the same move again is a no-op
        here = [tid for tid in on if tid == to or (
            to is None and (d.ticket(tid) or {}).get("external_id") == f"moved:{ref}")]
        if here:
            click.echo(f"{ref} was already moved from #{ticket_id} to #{here[0]}; nothing to do")
            return
        raise click.ClickException(
            f"{ref} was already moved off #{ticket_id}; it is on "
            f"{', '.join('#' + t for t in on) or 'no ticket'}: move it from there")
    try:
        target = d.move(ticket_id, mention, to=to)
    except FatalError as exc:
        raise click.ClickException(str(exc)) from exc
    verdict = str(linked.get("verdict") or "")
    # onto the new ticket, labelled, then off the old one (its solve no longer answers or
    # judges the post): once the last is in Kafka the move is whole, and a move cut short
    # before it is run again from the start
    off = TicketEvent(desk=d.key, ticket_id=ticket_id, kind="unlinked", mention=mention,
                      at=time.time())
    ev = TicketEvent(desk=d.key, ticket_id=target.id, kind="linked", ticket_url=target.url,
                     mention=mention, verdict=verdict,
                     reply_allowed=bool(linked.get("reply_allowed", True)), at=time.time())
    label = Label(mention_ref=ref, actionable=True, source=d.key, text=mention.text,
                  verdict=verdict, by="router desk move", at=time.time())
    try:
        producer = KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
        try:
            producer.send(name(settings, "ticket_events"), key=ev.ticket_key.encode(),
                          value=bytes(ev.dumps())).get(timeout=30)
            producer.send(name(settings, "feedback"), key=ref.encode(),
                          value=bytes(label.dumps())).get(timeout=30)
            producer.send(name(settings, "ticket_events"), key=off.ticket_key.encode(),
                          value=bytes(off.dumps())).get(timeout=30)
        finally:
            producer.close()
    except KafkaError as exc:
        raise BrokerError(f"the post is on ticket #{target.id}, but Kafka did not take the "
                          f"link ({type(exc).__name__}): run the same move again") from exc
    click.echo(f"{ref} moved from #{ticket_id} to #{target.id} ({target.url}): "
               f"@{mention.author.handle} is answered when it is solved; labelled 'support "
               "could help'")
