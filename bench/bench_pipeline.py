"""Stream throughput and latency, measured on one broker in one run (prints; asserts nothing).

(a) raw aiokafka: consume -> produce pass-through (the floor any Kafka app pays)
(b) a Faust agent that forwards each message and does nothing else (micro-batches and
    the app's producer, as the triage agent does)
(c) the full triage path: the router worker (triage agent only) with the shipped model,
    mentions -> validation -> scoring -> policy -> tables -> decisions
Each over N mentions (default 100k), pre-produced; throughput is N over the span between
the first and the last output record's broker timestamp, so start-up is not counted.
Then p50/p99 produce->decision latency with the router at a fixed rate.

    python bench/bench_pipeline.py [--n 100000] [--rate 500] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
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
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def router_env(bootstrap: str, prefix: str, work: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROUTER_")}
    env.update({"ROUTER_KAFKA_BOOTSTRAP": bootstrap, "ROUTER_TOPIC_PREFIX": prefix,
                "ROUTER_APP_ID": f"bench-{prefix.rstrip('.')}", "ROUTER_AGENTS": "triage",
                "ROUTER_DATA_DIR": str(work / prefix), "ROUTER_WEB_PORT": str(free_port()),
                "ROUTER_PARTITIONS": str(PARTITIONS)})
    return env


def latency(bootstrap: str, work: Path, rate: int, seconds: int) -> tuple[float, float, int]:
    prefix = f"lat{uuid.uuid4().hex[:6]}."
    env = router_env(bootstrap, prefix, work)
    env["ROUTER_BATCH_TIMEOUT"] = "0.02"
    proc = subprocess.Popen([sys.executable, "-m", "router", "worker"], env=env,  # noqa: S603
                            cwd=str(work), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        rng = random.Random(11)
        p = KafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=0)
        # Warm up: the clock starts once the worker has joined and decided on a mention
        # of every partition (first scores load the model, first table writes...).
        warm = [mention(-1 - i, rng) for i in range(64)]
        for m in warm:
            p.send(f"{prefix}mentions", key=f"generic:{m['author']['id']}".encode(),  # type: ignore[index]
                   value=json.dumps(m).encode())
        p.flush()
        count, _ = span(bootstrap, f"{prefix}decisions", len(warm), timeout=120)
        if count < len(warm):
            raise SystemExit("the router worker did not warm up within 120s")
        sent: dict[str, float] = {}
        total = rate * seconds
        start = time.monotonic()
        for i in range(total):
            target = start + i / rate
            delay = target - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            m = mention(i, rng)
            sent[str(m["id"])] = time.time() * 1000
            p.send(f"{prefix}mentions", key=f"generic:{m['author']['id']}".encode(),  # type: ignore[index]
                   value=json.dumps(m).encode())
        p.flush()
        p.close()
        c = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                          auto_offset_reset="earliest", consumer_timeout_ms=1000)
        tps = [TopicPartition(f"{prefix}decisions", q) for q in range(PARTITIONS)]
        c.assign(tps)
        c.seek_to_beginning(*tps)
        lat: list[float] = []
        deadline = time.monotonic() + 120
        while len(lat) < total and time.monotonic() < deadline:
            for msg in c:
                mid = json.loads(msg.value)["mention"]["id"]
                if mid in sent:
                    lat.append(msg.timestamp - sent[mid])
        c.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    lat.sort()
    return lat[len(lat) // 2], lat[int(len(lat) * 0.99) - 1], len(lat)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--rate", type=int, default=500, help="mentions/s for the latency run")
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--latency-only", action="store_true", help="skip (a), (b) and (c)")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-"))
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP")
    broker = None
    if not bootstrap:
        broker = LocalBroker(work / "kafka", port=free_port(), controller_port=free_port(),
                             partitions=PARTITIONS, heap="1g")
        broker.start()
        bootstrap = broker.bootstrap
    try:
        results: dict[str, float] = {}
        tag = uuid.uuid4().hex[:6]
        if args.latency_only:
            p50, p99, got = latency(bootstrap, work, args.rate, args.seconds)
            print(f"latency at {args.rate} mentions/s for {args.seconds}s ({got} decisions): "
                  f"p50 {p50:.0f} ms, p99 {p99:.0f} ms")
            return

        src, dst = f"raw-in-{tag}", f"raw-out-{tag}"
        create(bootstrap, src, dst)
        produce(bootstrap, src, args.n)
        asyncio.run(raw_passthrough(bootstrap, src, dst, args.n))
        count, secs = span(bootstrap, dst, args.n, 300)
        results["a"] = count / secs if secs else float("nan")
        print(f"(a) raw aiokafka pass-through : {count} msgs, {results['a']:>9.0f} msg/s",
              flush=True)

        src, dst = f"faust-in-{tag}", f"faust-out-{tag}"
        create(bootstrap, src, dst)
        produce(bootstrap, src, args.n)
        app_file = work / "passthrough.py"
        app_file.write_text(FAUST_APP)
        env = dict(os.environ, APP=f"bench-faust-{tag}", BOOT=bootstrap, SRC=src, DST=dst)
        count, secs = run_until([sys.executable, str(app_file), "worker", "-l", "warn"], env,
                                bootstrap, dst, args.n, str(work))
        results["b"] = count / secs if secs else float("nan")
        print(f"(b) Faust agent, no work      : {count} msgs, {results['b']:>9.0f} msg/s",
              flush=True)

        prefix = f"tri{tag}."
        env = router_env(bootstrap, prefix, work)
        subprocess.run([sys.executable, "-m", "router", "topics"], env=env, check=True,  # noqa: S603
                       cwd=str(work), capture_output=True)
        produce(bootstrap, f"{prefix}mentions", args.n)
        count, secs = run_until([sys.executable, "-m", "router", "worker"], env, bootstrap,
                                f"{prefix}decisions", args.n, str(work))
        results["c"] = count / secs if secs else float("nan")
        print(f"(c) full triage path          : {count} msgs, {results['c']:>9.0f} mentions/s",
              flush=True)
        print(f"ratios: (c)/(a) = {results['c'] / results['a']:.3f}   "
              f"(c)/(b) = {results['c'] / results['b']:.3f}")

        p50, p99, got = latency(bootstrap, work, args.rate, args.seconds)
        print(f"latency at {args.rate} mentions/s for {args.seconds}s ({got} decisions): "
              f"p50 {p50:.0f} ms, p99 {p99:.0f} ms")
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    main()
