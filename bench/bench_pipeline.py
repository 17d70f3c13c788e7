"""Stream throughput and latency, measured on one broker in one run (prints; asserts nothing).

(a) raw aiokafka: consume -> produce pass-through (the floor any Kafka app pays)
(b) a Faust agent that forwards each message and does nothing else (micro-batches and
    the app's producer, as the triage agent does)
(c) the full triage path: the router worker (triage agent only) with the shipped model,
    mentions -> validation -> scoring -> policy -> tables -> decisions
Each over N mentions (default 100k), pre-produced; throughput is N over the span between
the first and the last output record's broker timestamp, so start-up is not counted.
Beside (c), the ceiling any triage in one Faust worker has: (b)'s cost per message plus
the shipped model's ``score()`` alone, timed in this process on the same texts.

Then latency, mentions produced at a fixed rate (``--rate``, default 1,000/s) once the
worker has warmed up, each stamped with the producer's clock just before it is sent:
(d) mention -> decision, the triage-only worker: the decision's broker timestamp (set when
    the worker produces it) minus the send time, p50/p99;
(e) the same with the default agents (triage, escalate, close-loop, publish) on the
    embedded desk, and mention -> ticket: the ticket's ``created_at`` in the desk's SQLite
    (the worker's clock as it inserts the row, in the transaction that commits it: the
    moment the ticket exists for an agent, not the later ``linked`` event) minus the send
    time, for the mentions whose decision opened a ticket of their own (verdict ``open``
    starting a case; mentions that joined an open case or an incident are left out, and
    counted).
(d0) the baseline for (d): the agent of (b) at the same rate, mention -> forwarded record.
(f) tickets/s: N/10 pre-produced mentions that each open a ticket, default agents on the
    embedded desk, from the first ticket's ``created_at`` to the last; beside it, the same
    desk's own sequential find + open rate, timed in this process (what the escalate agent
    would reach calling the desk one ticket at a time with nothing else to do).
The producer, the worker and the broker share this machine's cores: the core count and the
load average before the run are printed, so a run on a busy machine reads as one.

    python bench/bench_pipeline.py [--n 100000] [--rate 1000] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from router.broker import LocalBroker, free_port  # noqa: E402

PARTITIONS = 4
TEXTS = [
    "@acmesupport I was charged twice for my subscription, order {n}. Please refund it",
    "love the new app update, so smooth!!",
    "my package {n} never arrived, tracking says delivered",
    "can't log in, password reset email never comes #help",
    "lol @acmecorp ads are everywhere today",
    "is the site down? getting 503 on checkout",
    "how do I change my billing address?",
    "great podcast episode this week, thanks @acmecorp",
]


def mention(i: int, rng: random.Random) -> dict[str, object]:
    handle = f"user{rng.randrange(20_000)}"
    return {"id": f"b{i}", "network": "generic",
            "text": rng.choice(TEXTS).format(n=rng.randrange(10_000, 99_999)),
            "author": {"id": handle, "handle": handle}, "created_at": "2026-11-23T10:00:00Z"}


def create(bootstrap: str, *names: str) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(n, PARTITIONS, 1) for n in names])
    finally:
        admin.close()


def produce(bootstrap: str, topic: str, n: int, *, seed: int = 7) -> None:
    rng = random.Random(seed)
    p = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20,
                      batch_size=256 * 1024)
    for i in range(n):
        m = mention(i, rng)
        p.send(topic, key=f"generic:{m['author']['id']}".encode(),  # type: ignore[index]
               value=json.dumps(m).encode())
    p.flush()
    p.close()


def span(bootstrap: str, topic: str, n: int, timeout: float) -> tuple[int, float]:
    """(count, seconds between first and last record timestamps) once n records arrived."""
    c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False,
                      auto_offset_reset="earliest", consumer_timeout_ms=1000,
                      fetch_max_bytes=16 * 1024 * 1024)
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    first, last, count = None, 0, 0
    deadline = time.monotonic() + timeout
    while count < n and time.monotonic() < deadline:
        for msg in c:
            count += 1
            first = msg.timestamp if first is None else min(first, msg.timestamp)
            last = max(last, msg.timestamp)
    c.close()
    return count, (last - (first or last)) / 1000.0


async def raw_passthrough(bootstrap: str, src: str, dst: str, n: int) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    consumer = AIOKafkaConsumer(src, bootstrap_servers=bootstrap, group_id=f"raw-{src}",
                                auto_offset_reset="earliest", enable_auto_commit=True)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await consumer.start()
    await producer.start()
    done = 0
    try:
        while done < n:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            for records in batches.values():
                for r in records:
                    await producer.send(dst, key=r.key, value=r.value)
                done += len(records)
        await producer.flush()
    finally:
        await consumer.stop()
        await producer.stop()


FAUST_APP = '''
import faust, os
app = faust.App(os.environ["APP"], broker="kafka://" + os.environ["BOOT"], store="memory://",
                topic_partitions=4, web_enabled=False, consumer_auto_offset_reset="earliest")
src = app.topic(os.environ["SRC"], key_serializer="raw", value_serializer="raw")
dst = app.topic(os.environ["DST"], key_serializer="raw", value_serializer="raw")

@app.agent(src, concurrency=1)
async def forward(stream):
    # The same consume/produce pattern as the triage agent, minus the triage.
    async for events in stream.take_events(200, within=0.2):
        for e in events:
            await app.producer.send(os.environ["DST"], e.key, e.value, partition=None,
                                    timestamp=None, headers=None)

if __name__ == "__main__":
    app.main()
'''


def run_until(cmd: list[str], env: dict[str, str], bootstrap: str, out: str, n: int,
              cwd: str) -> tuple[int, float]:
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL,  # noqa: S603
                            stderr=subprocess.DEVNULL)
    try:
        return span(bootstrap, out, n, timeout=900)
    finally:
        stop(proc)


def ticket_mention(i: int) -> dict[str, object]:
    """A mention that opens a ticket of its own: actionable, by an author seen only once."""
    handle = f"warm{i}"
    return {"id": f"w{i}", "network": "generic", "author": {"id": handle, "handle": handle},
            "text": TEXTS[0].format(n=i), "created_at": "2026-11-23T10:00:00Z"}


def router_env(bootstrap: str, prefix: str, work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTER_")}
    env.update({"ROUTER_KAFKA_BOOTSTRAP": bootstrap, "ROUTER_TOPIC_PREFIX": prefix,
                "ROUTER_APP_ID": f"bench-{prefix.rstrip('.')}", "ROUTER_AGENTS": "triage",
                "ROUTER_DATA_DIR": str(work / prefix), "ROUTER_WEB_PORT": str(free_port()),
                "ROUTER_PARTITIONS": str(PARTITIONS)})
    return env


def pct(values: list[float], q: float) -> float:
    """The q-quantile (nearest rank) of ``values``; nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def send_paced(p: KafkaProducer, topic: str, rate: int, seconds: int,
               rng: random.Random) -> tuple[dict[str, float], float]:
    """Send ``rate`` mentions/s for ``seconds``: (id -> send time in ms, seconds the
    producer fell behind its schedule)."""
    sent: dict[str, float] = {}
    start = time.monotonic()
    for i in range(rate * seconds):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        m = mention(i, rng)
        sent[str(m["id"])] = time.time() * 1000
        p.send(topic, key=f"generic:{m['author']['id']}".encode(),  # type: ignore[index]
               value=json.dumps(m).encode())
    behind = time.monotonic() - start - seconds  # > 0: this producer could not keep up
    p.flush()
    return sent, behind


def faust_latency(bootstrap: str, work: Path, rate: int, seconds: int) -> list[float]:
    """(d0): ms from send to forwarded record through the agent of (b), batch timeout 0.02 s
    as the worker's in (d)."""
    tag = uuid.uuid4().hex[:6]
    src, dst = f"flat-in-{tag}", f"flat-out-{tag}"
    create(bootstrap, src, dst)
    app_file = work / f"latency-{tag}.py"
    app_file.write_text(FAUST_APP.replace("within=0.2", "within=0.02"))
    env = dict(os.environ, APP=f"bench-flat-{tag}", BOOT=bootstrap, SRC=src, DST=dst)
    proc = subprocess.Popen([sys.executable, str(app_file), "worker", "-l", "info"],  # noqa: S603
                            env=env, cwd=str(work), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        rng = random.Random(11)
        p = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=0)
        for i in range(64):
            p.send(src, key=b"warm%d" % i, value=json.dumps(mention(-1 - i, rng)).encode())
        p.flush()
        if span(bootstrap, dst, 64, timeout=120)[0] < 64:
            raise SystemExit("the Faust agent did not warm up within 120s")
        sent, _ = send_paced(p, src, rate, seconds, rng)
        p.close()
        c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                          auto_offset_reset="earliest", consumer_timeout_ms=3000)
        tps = [TopicPartition(dst, q) for q in range(PARTITIONS)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        got: dict[str, float] = {}
        deadline = time.monotonic() + 120
        while len(got) < len(sent) and time.monotonic() < deadline:
            for msg in c:
                mid = json.loads(msg.value)["id"]
                if mid in sent:
                    got[mid] = msg.timestamp - sent[mid]
        c.close()
        return list(got.values())
    finally:
        stop(proc)


def desk_rate(work: Path, n: int) -> float:
    """The embedded desk's own rate, in this process: find by external id, then open, one
    ticket after the other (what escalate does per ticket, with nothing else around)."""
    from connectors.desks.embedded import EmbeddedConfig, EmbeddedDesk  # noqa: PLC0415
    from router.agents.escalate import external_id  # noqa: PLC0415
    from router.drafts import draft_for  # noqa: PLC0415
    from vocab.records import Author, Decision, Mention  # noqa: PLC0415
    from vocab.verdicts import Verdict  # noqa: PLC0415

    async def run() -> float:
        desk = EmbeddedDesk(EmbeddedConfig(path=work / f"desk-rate-{uuid.uuid4().hex[:6]}.sqlite",
                                           url="http://127.0.0.1:1/desk/tickets/{id}"))
        await desk.setup()
        drafts = []
        for i in range(n):
            m = Mention(id=f"r{i}", network="generic", text=TEXTS[0].format(n=i),
                        author=Author(id=f"r{i}", handle=f"r{i}"),
                        created_at="2026-11-23T10:00:00Z")
            d = Decision(mention=m, verdict=Verdict.OPEN, scores={}, reasons=[],
                         case_key=f"generic:r{i}")
            drafts.append(draft_for(d, external_id=external_id(f"generic:r{i}")))
        start = time.perf_counter()
        for draft in drafts:
            await desk.find_by_external_id(draft.external_id)
            await desk.open(draft)
        took = time.perf_counter() - start
        await desk.aclose()
        return n / took

    return asyncio.run(run())


def ticket_rate(bootstrap: str, work: Path, n: int) -> float:
    """(f): tickets/s with the default agents on the embedded desk, over ``n`` pre-produced
    mentions that each open a ticket of their own."""
    prefix = f"tix{uuid.uuid4().hex[:6]}."
    env = router_env(bootstrap, prefix, work)
    env.pop("ROUTER_AGENTS")
    db_path = work / prefix / "desk.sqlite"
    env["ROUTER_EMBEDDED_DESK_PATH"] = str(db_path)
    subprocess.run([sys.executable, "-m", "router", "topics"], env=env, check=True,  # noqa: S603
                   cwd=str(work), capture_output=True)
    p = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20)
    for i in range(n):
        m = ticket_mention(i)
        p.send(f"{prefix}mentions", key=f"generic:{m['author']['id']}".encode(),  # type: ignore[index]
               value=json.dumps(m).encode())
    p.flush()
    p.close()
    proc = subprocess.Popen([sys.executable, "-m", "router", "worker"], env=env,  # noqa: S603
                            cwd=str(work), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        made = sorted(tickets(db_path, {f"w{i}" for i in range(n)}, timeout=900).values())
    finally:
        stop(proc)
    if len(made) < n:
        raise SystemExit(f"only {len(made)} of {n} tickets were opened within 900s")
    return (n - 1) / (made[-1] - made[0])


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def latency(bootstrap: str, work: Path, rate: int, seconds: int, *,
            desk: bool) -> dict[str, object]:
    """Run a worker, send ``rate`` mentions/s for ``seconds``: per mention id, ms from send
    to decision and (``desk``: default agents, embedded desk) to its own ticket."""
    prefix = f"lat{uuid.uuid4().hex[:6]}."
    env = router_env(bootstrap, prefix, work)
    env["ROUTER_BATCH_TIMEOUT"] = "0.02"
    db_path = work / prefix / "desk.sqlite"
    if desk:
        env.pop("ROUTER_AGENTS")  # the default: triage, escalate, closeloop, publish
        env["ROUTER_EMBEDDED_DESK_PATH"] = str(db_path)
    subprocess.run([sys.executable, "-m", "router", "topics"], env=env, check=True,  # noqa: S603
                   cwd=str(work), capture_output=True)
    proc = subprocess.Popen([sys.executable, "-m", "router", "worker"], env=env,  # noqa: S603
                            cwd=str(work), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    topic = f"{prefix}mentions"
    try:
        rng = random.Random(11)
        p = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=0)

        def send(m: dict[str, object]) -> None:
            p.send(topic, key=f"generic:{m['author']['id']}".encode(),  # type: ignore[index]
                   value=json.dumps(m).encode())

        # Warm up: the clock starts once the worker has joined and decided on a mention
        # of every partition (first scores load the model, first table writes...), and,
        # with the desk, opened tickets (the desk's file is created on first use).
        warm = [mention(-1 - i, rng) for i in range(64)] + [ticket_mention(i) for i in range(8)]
        for m in warm:
            send(m)
        p.flush()
        count, _ = span(bootstrap, f"{prefix}decisions", len(warm), timeout=120)
        if count < len(warm):
            raise SystemExit("the router worker did not warm up within 120s")
        if desk and len(tickets(db_path, {f"w{i}" for i in range(8)}, timeout=120)) < 8:
            raise SystemExit("the router worker did not open the warm-up tickets within 120s")
        total = rate * seconds
        sent, behind = send_paced(p, topic, rate, seconds, rng)
        p.close()
        c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                          auto_offset_reset="earliest", consumer_timeout_ms=1000)
        tps = [TopicPartition(f"{prefix}decisions", q) for q in range(PARTITIONS)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        decided: dict[str, float] = {}
        own_case: list[str] = []  # ids whose decision opens a ticket of their own
        deadline = time.monotonic() + 120
        while len(decided) < total and time.monotonic() < deadline:
            for msg in c:
                d = json.loads(msg.value)
                mid = d["mention"]["id"]
                if mid in sent and mid not in decided:
                    decided[mid] = msg.timestamp - sent[mid]
                    if d["verdict"] == "open" and d["case_key"] == f"generic:{mid}":
                        own_case.append(mid)
        c.close()
        ticket_ms: list[float] = []
        if desk:
            made = tickets(db_path, set(own_case), timeout=120)
            ticket_ms = [at * 1000 - sent[mid] for mid, at in made.items()]
    finally:
        stop(proc)
    return {"sent": total, "behind": behind, "decision_ms": decided,
            "opening": len(own_case), "ticket_ms": ticket_ms}


def tickets(db_path: Path, ids: set[str], timeout: float) -> dict[str, float]:
    """mention id -> ``created_at`` of the embedded desk's ticket the mention opened (its
    external id names its case, ``generic:<id>``), once all of ``ids`` have one or
    ``timeout`` seconds passed."""
    deadline = time.monotonic() + timeout
    found: dict[str, float] = {}
    while True:
        if db_path.is_file():
            try:
                db = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True)
                try:
                    rows = db.execute("SELECT external_id, created_at FROM tickets").fetchall()
                finally:
                    db.close()
            except sqlite3.OperationalError:  # being created: the schema is not there yet
                rows = []
            made = {str(x).removeprefix("social-router:generic:"): float(t) for x, t in rows}
            found = {i: made[i] for i in ids if i in made}
        if len(found) == len(ids) or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def print_latency(rate: int, seconds: int, desk: bool, r: dict[str, object]) -> None:
    by_id = r["decision_ms"]
    assert isinstance(by_id, dict)
    dec = list(by_id.values())
    who = "default agents, embedded desk" if desk else "triage only"
    late = float(r["behind"])  # type: ignore[arg-type]
    note = f" (the producer fell {late:.1f}s behind)" if late > 0.5 else ""
    print(f"({'e' if desk else 'd'}) {who}, {rate} mentions/s for {seconds}s{note}: "
          f"mention -> decision p50 {pct(dec, 0.5):.0f} ms, p99 {pct(dec, 0.99):.0f} ms "
          f"({len(dec)} of {r['sent']} decided)", flush=True)
    if desk:
        tix = r["ticket_ms"]
        assert isinstance(tix, list)
        print(f"    mention -> ticket in the embedded desk p50 {pct(tix, 0.5):.0f} ms, "
              f"p99 {pct(tix, 0.99):.0f} ms ({len(tix)} tickets of {r['opening']} "
              "mentions that opened one)", flush=True)


def machine() -> str:
    one, five, _ = os.getloadavg()
    cores = os.cpu_count() or 1
    busy = "other work was running" if one > 0.5 else "otherwise idle"
    return (f"{cores} cores; load average before the run {one:.2f} (1 min), {five:.2f} "
            f"(5 min): {busy}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--rate", type=int, default=1000, help="mentions/s for the latency runs")
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--latency-only", action="store_true", help="skip (a), (b) and (c)")
    ap.add_argument("--no-desk", action="store_true", help="skip (e), the run with the desk")
    args = ap.parse_args()
    print(machine(), flush=True)

    work = Path(tempfile.mkdtemp(prefix="bench-"))
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP")
    broker = None
    if not bootstrap:
        broker = LocalBroker(work / "kafka", port=free_port(), controller_port=free_port(),
                             partitions=PARTITIONS, heap="1g")
        broker.start()
        bootstrap = broker.bootstrap
    try:
        if not args.latency_only:
            throughput(bootstrap, work, args.n, uuid.uuid4().hex[:6])
        base = faust_latency(bootstrap, work, args.rate, args.seconds)
        print(f"(d0) Faust agent, no work, {args.rate} msg/s for {args.seconds}s: "
              f"p50 {pct(base, 0.5):.0f} ms, p99 {pct(base, 0.99):.0f} ms "
              f"({len(base)} of {args.rate * args.seconds} forwarded)", flush=True)
        for desk in (False, True)[: 1 if args.no_desk else 2]:
            print_latency(args.rate, args.seconds, desk,
                          latency(bootstrap, work, args.rate, args.seconds, desk=desk))
        if not (args.latency_only or args.no_desk):
            n = max(500, args.n // 10)
            own = desk_rate(work, 500)
            made = ticket_rate(bootstrap, work, n)
            print(f"(f) tickets opened by the worker: {n} mentions, {made:.0f} tickets/s; "
                  f"the desk alone, one ticket at a time: {own:.0f}/s "
                  f"(ratio {made / own:.2f})", flush=True)
    finally:
        if broker is not None:
            broker.stop()


def throughput(bootstrap: str, work: Path, n: int, tag: str) -> None:
    """(a), (b) and (c) over ``n`` pre-produced mentions each, and their ratios."""
    results: dict[str, float] = {}

    src, dst = f"raw-in-{tag}", f"raw-out-{tag}"
    create(bootstrap, src, dst)
    produce(bootstrap, src, n)
    asyncio.run(raw_passthrough(bootstrap, src, dst, n))
    count, secs = span(bootstrap, dst, n, 300)
    results["a"] = count / secs if secs else float("nan")
    print(f"(a) raw aiokafka pass-through : {count} msgs, {results['a']:>9.0f} msg/s",
          flush=True)

    src, dst = f"faust-in-{tag}", f"faust-out-{tag}"
    create(bootstrap, src, dst)
    produce(bootstrap, src, n)
    app_file = work / "passthrough.py"
    app_file.write_text(FAUST_APP)
    env = dict(os.environ, APP=f"bench-faust-{tag}", BOOT=bootstrap, SRC=src, DST=dst)
    # -l info, not warn: at warn Faust keeps its terminal spinner, which sets the root logger
    # to DEBUG (every Kafka send builds a debug record); the router's worker has no spinner,
    # so the baseline runs without it too
    count, secs = run_until([sys.executable, str(app_file), "worker", "-l", "info"], env,
                            bootstrap, dst, n, str(work))
    results["b"] = count / secs if secs else float("nan")
    print(f"(b) Faust agent, no work      : {count} msgs, {results['b']:>9.0f} msg/s",
          flush=True)

    prefix = f"tri{tag}."
    env = router_env(bootstrap, prefix, work)
    subprocess.run([sys.executable, "-m", "router", "topics"], env=env, check=True,  # noqa: S603
                   cwd=str(work), capture_output=True)
    produce(bootstrap, f"{prefix}mentions", n)
    count, secs = run_until([sys.executable, "-m", "router", "worker"], env, bootstrap,
                            f"{prefix}decisions", n, str(work))
    results["c"] = count / secs if secs else float("nan")
    print(f"(c) full triage path          : {count} msgs, {results['c']:>9.0f} mentions/s",
          flush=True)
    scored = score_rate(n)
    ceiling = 1 / (1 / results["b"] + 1 / scored)
    print(f"    score() alone, shipped model : {scored:>9.0f} texts/s; so (b)'s cost per "
          f"message plus scoring caps (c) at {ceiling:.0f}/s ({ceiling / results['b']:.2f}x (b))",
          flush=True)
    print(f"ratios: (c)/(a) = {results['c'] / results['a']:.3f}   "
          f"(c)/(b) = {results['c'] / results['b']:.3f}", flush=True)


def score_rate(n: int) -> float:
    """``score()`` of the shipped model on the bench's texts, batches of 200, texts/s."""
    import classifiers  # noqa: PLC0415

    model = classifiers.load_default()
    rng = random.Random(7)
    texts = [str(mention(i, rng)["text"]) for i in range(min(n, 20_000))]
    model.score(texts[:200])  # warm: first tokens enter the table
    start = time.perf_counter()
    for i in range(0, len(texts), 200):
        model.score(texts[i:i + 200])
    return len(texts) / (time.perf_counter() - start)


if __name__ == "__main__":
    main()
