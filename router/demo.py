"""``router demo``: the whole loop on the embedded default, start to finish.

Starts a local Kafka broker and a router worker, replays the bundled sample of mentions,
shows every verdict and what the desk got (the sample's outage wave as one problem ticket,
every report an incident of it), marks tickets solved as an agent would, shows the replies
that go out, and stops everything it started. Each run starts from a clean
``var/demo`` (the broker's jars stay cached), so running it twice gives the same story.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

import click

from vocab.records import Decision
from vocab.verdicts import Verdict

from .broker import LocalBroker, free_port
from .drafts import REVIEW_TAG
from .incidents import has_incident, is_report

DEMO_DIR = Path("var/demo")
# A verdict without a colour here (a new one) prints plain.
COLOURS = {Verdict.SILENT: "white", Verdict.OPEN: "green", Verdict.LINK: "cyan",
           Verdict.INCIDENT: "red", Verdict.REVIEW: "yellow"}
# The sample company's handles (router/sample/mentions.jsonl): the demo's own settings,
# never the router's defaults, which silence nobody.
DEMO_ACCOUNTS = {
    "ROUTER_OWN_ACCOUNTS": "acmecorp,acmesupport",
    "ROUTER_PERSONAS": "acme_ceo,acme_cto",
}


def _read_topic(bootstrap: str, topic: str, until: Any, timeout: float,
                partitions: int = 4) -> list[dict[str, Any]]:
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                             enable_auto_commit=False, auto_offset_reset="earliest",
                             consumer_timeout_ms=500)
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        out: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out.extend(json.loads(m.value) for m in consumer)
            if until(out):
                break
        return out
    finally:
        consumer.close()


def run_demo(*, keep: bool = False) -> None:
    shutil.rmtree(DEMO_DIR, ignore_errors=True)
    DEMO_DIR.mkdir(parents=True)
    port = free_port()
    broker = LocalBroker(DEMO_DIR / "kafka", port=port, controller_port=free_port())
    web_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTER_")}
    env.update({
        "ROUTER_KAFKA_BOOTSTRAP": broker.bootstrap,
        "ROUTER_DATA_DIR": str(DEMO_DIR / "data"),
        "ROUTER_EMBEDDED_DESK_PATH": str(DEMO_DIR / "desk.sqlite"),
        "ROUTER_EMBEDDED_DESK_URL": f"http://127.0.0.1:{web_port}/desk/tickets/{{id}}",
        "ROUTER_REPLY_LOG_PATH": str(DEMO_DIR / "replies.jsonl"),
        "ROUTER_WEB_PORT": str(web_port),
        "ROUTER_APP_ID": "escalation-router-demo",
        "ROUTER_BATCH_TIMEOUT": "0.1",
        **DEMO_ACCOUNTS,
    })
    os.environ.update(env)
    from .settings import load_settings
    from .topics import ensure_topics

    settings = load_settings()
    worker: subprocess.Popen[bytes] | None = None
    step = 0

    def say(text: str) -> None:
        nonlocal step
        step += 1
        click.secho(f"\n[{step}] {text}", bold=True)

    try:
        say(f"Starting Kafka {broker.bootstrap} (KRaft, single node, loopback only)")
        t0 = time.monotonic()
        broker.start()
        ensure_topics(settings)
        click.echo(f"    up in {time.monotonic() - t0:.1f}s; topics created with "
                   f"{settings.partitions} partitions each")

        say("Starting a router worker (embedded desk, replies to a file)")
        log = open(DEMO_DIR / "worker.log", "wb")  # noqa: SIM115
        worker = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "router", "worker", "-l", "warn"], env=env,
            stdout=log, stderr=subprocess.STDOUT)
        log.close()

        sample = resources.files("router") / "sample" / "mentions.jsonl"
        lines = [json.loads(x) for x in sample.read_text(encoding="utf-8").splitlines() if x]
        bad = resources.files("router") / "sample" / "bad-mentions.jsonl"
        bad_lines = [x for x in bad.read_bytes().splitlines() if x.strip()]
        say(f"Replaying {len(lines)} sample mentions, and {len(bad_lines)} malformed ones "
            "sent as-is (as a faulty producer would)")
        from .replay import producer, replay_file

        with resources.as_file(sample) as p:
            replay_file(settings, p)
        # `router replay` would refuse these before sending; sent raw, they show what the
        # worker does with bad input from a producer it does not control.
        raw = producer(settings)
        try:
            for x in bad_lines:
                raw.send(settings.topic("mentions"), value=x).get(timeout=30)
        finally:
            raw.close()

        decisions = _read_topic(broker.bootstrap, settings.topic("decisions"),
                                lambda r: len(r) >= len(lines), 180, settings.partitions)
        if len(decisions) < len(lines):
            raise click.ClickException(
                f"only {len(decisions)}/{len(lines)} decisions; see {DEMO_DIR}/worker.log")
        dlq = _read_topic(broker.bootstrap, settings.topic("mentions-dlq"),
                          lambda r: len(r) >= len(bad_lines), 60, settings.partitions)
        if len(dlq) < len(bad_lines):
            raise click.ClickException(
                f"only {len(dlq)}/{len(bad_lines)} malformed mentions reached the dead-letter "
                f"topic; see {DEMO_DIR}/worker.log")
        counts = Counter(d["verdict"] for d in decisions)
        say("Verdicts: " + ", ".join(f"{v} {n}" for v, n in counts.most_common()))
        for d in decisions:
            m = d["mention"]
            colour = COLOURS.get(d["verdict"], "white")
            click.echo(click.style(f"    {d['verdict']:<8}", fg=colour)
                       + f" @{m['author']['handle']:<14} {m['text'][:60]!r}")
            click.echo(f"             why: {d['reasons'][0]}")
        click.echo("    dead-letter topic:")
        for letter in dlq:
            click.echo(f"      refused: {letter['reason']}")

        from connectors.desks.embedded import EmbeddedConfig, EmbeddedDesk

        desk = EmbeddedDesk(EmbeddedConfig(path=settings.embedded_desk_path,
                                           url=settings.embedded_desk_url))
        acted = sum(n for v, n in counts.items() if Verdict(v).acts)
        reports = [d for d in decisions if is_report(Decision.from_data(d))]
        wave = has_incident(len(reports), settings)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            tickets = desk.tickets()
            notes = sum(t["comments"] for t in tickets)
            # the wave: one more ticket (its problem), and a note there per report
            if len(tickets) + notes >= acted + (1 + len(reports) if wave else 0):
                break
            time.sleep(0.5)
        say(f"The desk: {len(tickets)} tickets, {notes} mentions linked as internal notes")
        for t in tickets:
            parent = f" (incident of #{t['parent_id']})" if t["parent_id"] else ""
            click.echo(f"    #{t['id']:<3} {t['priority']:<7} {t['comments']} linked  "
                       f"{t['subject'][:70]}{parent}")
        problems = [t for t in tickets if t["subject"].startswith("[incident]")]
        for problem in problems:
            incidents = [t for t in tickets if t["parent_id"] == problem["id"]]
            say(f"The outage wave: {len(reports)} reports (counted across every partition), "
                f"one problem ticket #{problem['id']}, each report's own ticket an incident "
                f"of it ({', '.join('#' + str(t['id']) for t in incidents)})")
            for c in desk.comments(str(problem["id"])):
                click.echo(f"    note: {c['body'].splitlines()[0][:100]}")

        solvable = [str(t["id"]) for t in tickets if REVIEW_TAG not in t["tags"]
                    and t["parent_id"] is None]
        say(f"An agent solves tickets {', '.join('#' + s for s in solvable)} "
            "(a problem ticket solves its incidents too)")
        from .outbox import send_pending

        for tid in solvable:
            desk.solve(tid)  # each status change saved with its event in the desk's outbox
        send_pending(settings, desk)

        replies_path = settings.reply_log_path
        deadline = time.monotonic() + 60
        replies: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            if replies_path.exists():
                replies = [json.loads(x) for x in replies_path.read_text().splitlines() if x]
            if len(replies) >= 1 and time.monotonic() > deadline - 50:
                break
            time.sleep(0.5)
        say(f"Replies posted ({len(replies)}; one per customer per solved ticket):")
        for r in replies:
            click.echo(f"    to @{r['to']} in reply to {r['in_reply_to']}: {r['text']}")
        click.echo(f"\nEverything is in {DEMO_DIR}/ (desk.sqlite, replies.jsonl, worker.log).")
    finally:
        if keep:
            click.echo(f"Left running: Kafka on {broker.bootstrap}, worker pid "
                       f"{worker.pid if worker else '-'}; web on 127.0.0.1:{web_port}")
        else:
            if worker is not None and worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
                try:
                    worker.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    worker.kill()
            broker.stop()
            click.echo("Stopped the worker and Kafka.")
