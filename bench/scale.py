"""The router at scale, checked: several workers, many partitions, one killed and one added
mid-stream, outage waves spread over every partition (prints; exits 1 on a broken rule).

    python bench/scale.py                       # 100k mentions, 3 workers, 8 partitions
    python bench/scale.py --n 20000 --rate 600  # a shorter run

What it does, all on loopback and bounded:
1. a broker with ``--partitions`` partitions, ``router topics``, ``--workers`` workers in one
   consumer group sharing one embedded desk and one reply log;
2. ``--n`` mentions at ``--rate`` per second: most are chatter (silent), ``--requests`` of
   them are support requests (one per customer), and ``--waves`` outage waves of
   ``--wave-size`` reports each, every report by another customer (so a wave lands on
   every partition), each wave produced in a burst right after an incident window starts;
3. after 40 % of the mentions, one worker is killed (-9); after 60 %, a new one joins;
4. once every mention is decided, every ticket is solved with ``router desk solve``.

Then it checks and prints:
- every mention has exactly one verdict (a redelivery may repeat it, never change it);
- no case has two tickets, no customer two tickets;
- one problem ticket per wave, with every report's ticket (the first ones too) linked to
  it (a wave is the reports of one incident window: each burst is sent just after one
  starts);
- every customer with a ticket answered exactly once, nobody else answered.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import sqlite3
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from faultkit import kit  # noqa: E402
from faultkit.kit import Deadline, Kafka, Worker, encode, key_of  # noqa: E402

from router.broker import LocalBroker, free_port  # noqa: E402

CHATTER = (  # each silent with the shipped model, whatever the number
    "Love the new dashboard, great work team! #{n}",
    "lol the @acmecorp ad is everywhere today #{n}",
    "great podcast episode this week, thanks @acmecorp #{n}",
)
REQUESTS = kit.TEXTS
OUTAGE = (
    "Is @acmecorp down? Site won't load at all, getting error 503 ({n})",
    "@acmesupport website is down for me too, can't check out, 503 errors everywhere {n}",
    "@acmecorp your service is down, nothing loads and my shop can't take orders ({n})",
    "@acmecorp outage? the whole site is returning errors for me {n}",
)


def mention(mid: str, handle: str, text: str) -> dict[str, Any]:
    return kit.mention(mid, handle, 0, text=text)


def plan(n: int, requests: int, waves: int, wave_size: int,
         seed: int) -> tuple[list[dict[str, Any]], dict[str, list[str]], set[str]]:
    """(mentions in order, wave number -> its report ids, the request ids); a wave's reports
    are kept together (produced in one burst)."""
    rng = random.Random(seed)
    reports = waves * wave_size
    chatter = n - requests - reports
    if chatter < 0:
        raise SystemExit("--n is smaller than --requests plus the waves' reports")
    kinds = ["c"] * chatter + ["r"] * requests
    rng.shuffle(kinds)
    out: list[dict[str, Any]] = []
    request_ids: set[str] = set()
    for i, kind in enumerate(kinds):
        if kind == "r":
            m = mention(f"r{i}", f"req{i}", REQUESTS[i % len(REQUESTS)].format(n=10_000 + i))
            request_ids.add(m["id"])
        else:
            m = mention(f"c{i}", f"fan{rng.randrange(5000)}",
                        rng.choice(CHATTER).format(n=i))
        out.append(m)
    wave_ids: dict[str, list[str]] = {}
    # Waves sit at even spaces in the stream (their bursts are timed when produced).
    for w in range(waves):
        at = int(len(out) * (w + 0.5) / max(waves, 1))
        burst = [mention(f"w{w}-{k}", f"w{w}cust{k}", OUTAGE[k % len(OUTAGE)].format(n=k))
                 for k in range(wave_size)]
        wave_ids[str(w)] = [m["id"] for m in burst]
        for k, m in enumerate(burst):
            m["wave"] = w  # dropped before sending; marks the burst's place
            out.insert(at + k, m)
    return out, wave_ids, request_ids


def produce(w: Worker, mentions: list[dict[str, Any]], rate: int, window: float,
            on_progress: Any) -> None:
    """Send at ``rate``/s; a wave's burst waits for the start of an incident window (so
    that the whole wave is decided within one window) and goes out at once."""
    from kafka import KafkaProducer

    p = KafkaProducer(bootstrap_servers=w.kafka.bootstrap, acks="all", linger_ms=5)
    try:
        start = time.monotonic()
        sent = 0
        i = 0
        while i < len(mentions):
            m = mentions[i]
            if "wave" in m:
                wave = m["wave"]
                burst = []
                while i < len(mentions) and mentions[i].get("wave") == wave:
                    burst.append({k: v for k, v in mentions[i].items() if k != "wave"})
                    i += 1
                into = time.time() % window
                if into > 1.0:  # wait for the next window to start
                    time.sleep(window - into + 0.2)
                for b in burst:
                    b["created_at"] = posted_now()
                    p.send(w.topic("mentions"), key=key_of(b), value=encode(b))
                p.flush(timeout=30)
                sent += len(burst)
                start = time.monotonic() - sent / rate  # the pace resumes from here
                continue
            delay = start + sent / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            m["created_at"] = posted_now()
            p.send(w.topic("mentions"), key=key_of(m), value=encode(m))
            sent += 1
            i += 1
            if sent % 1000 == 0:
                on_progress(sent)
        p.flush(timeout=60)
    finally:
        p.close()


def posted_now() -> str:
    """A mention's ``created_at`` as a network gives it: when it was posted (now)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def decisions(w: Worker) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for raw in w.read("decisions", timeout=120):
        with contextlib.suppress(ValueError, KeyError, TypeError):
            d = json.loads(raw or b"")
            out[d["mention"]["id"]].append(d)
    return out


def tickets(path: Path) -> list[dict[str, Any]]:
    with contextlib.closing(sqlite3.connect(path, timeout=30)) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("SELECT id, external_id, requester, status, "
                                            "parent_id FROM tickets ORDER BY id")]


def handle(ticket: dict[str, Any]) -> str:
    """The customer's handle of a ticket (its requester is ``network:@handle``)."""
    return str(ticket["requester"] or "").split("@")[-1]


def replies(path: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if path.is_file():
        for line in path.read_text(errors="replace").splitlines():
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--partitions", type=int, default=8)
    ap.add_argument("--rate", type=int, default=800, help="mentions/s produced")
    ap.add_argument("--requests", type=int, default=2000, help="support requests in --n")
    ap.add_argument("--waves", type=int, default=4)
    ap.add_argument("--wave-size", type=int, default=12)
    ap.add_argument("--window", type=int, default=30, help="incident window, seconds")
    ap.add_argument("--min-reports", type=int, default=5)
    ap.add_argument("--timeout", type=int, default=3600, help="bound on the whole run, s")
    ap.add_argument("--keep", action="store_true", help="keep the work dir (logs, desk)")
    args = ap.parse_args()

    dl = Deadline.after(args.timeout)
    work = Path(tempfile.mkdtemp(prefix="scale-"))
    kit.PARTITIONS = args.partitions
    kafka = Kafka(work)
    kafka.broker = LocalBroker(work / "kafka", port=free_port(), controller_port=free_port(),
                               partitions=args.partitions, heap="1g")
    kafka.broker.start(timeout=120)
    shared = {"ROUTER_PARTITIONS": str(args.partitions),
              "ROUTER_EMBEDDED_DESK_PATH": str(work / "desk.sqlite"),
              "ROUTER_REPLY_LOG_PATH": str(work / "replies.jsonl"),
              "ROUTER_INCIDENT_MIN_REPORTS": str(args.min_reports),
              "ROUTER_INCIDENT_WINDOW_SECONDS": str(args.window),
              "ROUTER_SESSION_TIMEOUT": "10"}
    first = Worker(kafka, work / "w0", extra_env=shared)
    workers = [first] + [Worker(kafka, work / f"w{i}", extra_env=shared, prefix=first.prefix)
                         for i in range(1, args.workers)]
    failures: list[str] = []
    try:
        first.create_topics()
        for w in workers:
            w.start()
        for w in workers:
            if not w.wait_healthy(dl, timeout=120):
                raise SystemExit(f"worker {w.workdir.name} did not start: "
                                 f"{kit.first_error_line(w.log_text())}")
        mentions, waves, request_ids = plan(args.n, args.requests, args.waves,
                                            args.wave_size, seed=5)
        print(f"{args.n} mentions ({args.requests} requests, {args.waves} waves of "
              f"{args.wave_size}), {args.workers} workers, {args.partitions} partitions, "
              f"{args.rate}/s", flush=True)
        killed: list[str] = []

        def progress(sent: int) -> None:
            if not killed and sent >= 0.4 * args.n:
                workers[1 % len(workers)].stop(kill=True)
                killed.append(workers[1 % len(workers)].workdir.name)
                print(f"  {sent}: killed {killed[0]} (-9)", flush=True)
            elif len(killed) == 1 and sent >= 0.6 * args.n:
                joined = Worker(kafka, work / f"w{len(workers)}", extra_env=shared,
                                prefix=first.prefix)
                joined.start()
                workers.append(joined)
                killed.append(joined.workdir.name)
                print(f"  {sent}: added {joined.workdir.name}", flush=True)

        t0 = time.monotonic()
        produce(first, mentions, args.rate, args.window, progress)
        print(f"produced in {time.monotonic() - t0:.0f} s", flush=True)
        wanted = {m["id"] for m in mentions}
        seen: dict[str, list[dict[str, Any]]] = {}
        end = time.monotonic() + dl.cap(900)
        while time.monotonic() < end:
            seen = decisions(first)
            if wanted <= set(seen):
                break
            time.sleep(5)
        print(f"decided {len(wanted & set(seen))} of {len(wanted)} in "
              f"{time.monotonic() - t0:.0f} s", flush=True)

        # 1. one verdict per mention
        lost = wanted - set(seen)
        changed = [mid for mid, ds in seen.items() if len({d["verdict"] for d in ds}) > 1]
        verdicts = Counter(ds[0]["verdict"] for mid, ds in seen.items() if mid in wanted)
        print(f"verdicts: {dict(sorted(verdicts.items()))}; lost {len(lost)}; verdict "
              f"changed on redelivery {len(changed)}; redelivered "
              f"{sum(len(ds) - 1 for ds in seen.values())}")
        if lost:
            failures.append(f"{len(lost)} mentions never decided (e.g. {sorted(lost)[:3]})")
        if changed:
            failures.append(f"{len(changed)} mentions got two verdicts")

        # 2. tickets: wait for escalation to settle (the ticket count stops moving)
        desk = work / "desk.sqlite"
        count, still = -1, 0
        while still < 3 and time.monotonic() < end:
            now = len(tickets(desk))
            still = still + 1 if now == count else 0
            count = now
            time.sleep(3)
        ts = tickets(desk)
        ext = Counter(t["external_id"] for t in ts)
        customers = {f"req{i}" for i in range(args.n)} | {
            f"w{w}cust{k}" for w, ids in waves.items() for k in range(len(ids))}
        # (a problem ticket is drafted from the report that made the wave: not its own)
        per_customer = Counter(handle(t) for t in ts if handle(t) in customers
                               and "incident" not in str(t["external_id"]))
        dup_cases = sum(n - 1 for n in ext.values() if n > 1)
        dup_customers = sum(n - 1 for n in per_customer.values() if n > 1)
        print(f"tickets: {len(ts)}; a case twice {dup_cases}; a customer twice "
              f"{dup_customers}")
        if dup_cases or dup_customers:
            failures.append(f"duplicate tickets: {dup_cases} cases, {dup_customers} customers")

        # 3. waves: one problem ticket per wave, every report's own ticket linked to it
        problems = {t["id"] for t in ts if "incident" in str(t["external_id"])}
        for wave, ids in waves.items():
            mine = [t for t in ts if handle(t) in {f"w{wave}cust{k}" for k in range(len(ids))}
                    and t["id"] not in problems]
            parents = Counter(t["parent_id"] for t in mine)
            wave_problems = sorted(p for p in parents if p in problems)
            inside = sum(n for p, n in parents.items() if p in problems)
            print(f"wave {wave}: {len(ids)} reports, {len(mine)} tickets, problem tickets "
                  f"{wave_problems}, linked to it {inside}")
            if len(wave_problems) != 1:
                failures.append(f"wave {wave}: {len(wave_problems)} problem tickets")
            if inside != len(ids):
                failures.append(f"wave {wave}: {inside} of {len(ids)} reports linked")
        print(f"problem tickets: {len(problems)} for {len(waves)} waves")
        if len(problems) != len(waves):
            failures.append(f"{len(problems)} problem tickets for {len(waves)} waves")

        # 4. solve everything, then count replies
        ids = [str(t["id"]) for t in ts if t["parent_id"] is None]
        for i in range(0, len(ids), 400):
            rc, out = first.cli("desk", "solve", *ids[i:i + 400], timeout=300)
            if rc != 0:
                failures.append(f"router desk solve failed: {out.strip()[-200:]}")
                break
        # Every request and every wave report (a review is a person's to answer)
        expected = ({handle(t) for t in ts} & customers) | {
            f"w{w}cust{k}" for w, ids in waves.items() for k in range(len(ids))}
        got: Counter[str] = Counter()
        last, still = -1, 0
        while still < 4 and time.monotonic() < end:
            got = Counter(str(r.get("to")) for r in replies(work / "replies.jsonl"))
            n = sum(got.values())
            still = still + 1 if n == last else 0
            last = n
            if expected <= set(got) and still >= 2:
                break
            time.sleep(3)
        twice = {h: n for h, n in got.items() if n > 1}
        missing = expected - set(got)
        strangers = set(got) - expected
        print(f"replies: {sum(got.values())} to {len(got)} customers; expected "
              f"{len(expected)}; twice {len(twice)}; missing {len(missing)}; to nobody's "
              f"ticket {len(strangers)}")
        if twice or missing or strangers:
            failures.append(f"replies: {len(twice)} twice, {len(missing)} missing, "
                            f"{len(strangers)} unexpected")
        restarts = sum(w.log_text().count("stalled:") for w in workers)
        print(f"stall restarts logged: {restarts}; work dir {work}")
    finally:
        kit.kill_all()
        kafka.stop()
        if not args.keep and not failures:
            import shutil
            shutil.rmtree(work, ignore_errors=True)
    if failures:
        print("FAIL: " + "; ".join(failures))
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
