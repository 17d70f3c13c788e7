"""Fresh starts, measured: a new broker, ``router topics``, mentions, a new worker; N times.

Issue #13 saw one fresh start in three stall for good (aiokafka spinning, hundreds of
thousands of ERROR lines). This runs that sequence a bounded number of times on loopback,
each on its own new broker, and prints per run: mentions decided, seconds to decide them,
ERROR lines, "Ignoring missing topic" lines and the worker log's size.

    python scripts/fresh_starts.py --runs 10                 # this checkout
    python scripts/fresh_starts.py --runs 10 --code ../main  # another checkout's router

Every server listens on 127.0.0.1; every wait is bounded; each broker is stopped after its run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from router.broker import LocalBroker, free_port  # noqa: E402

MENTIONS = 20
DECIDE_BOUND_S = 90.0


def decided(bootstrap: str, topic: str, partitions: int) -> int:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                             enable_auto_commit=False, consumer_timeout_ms=300)
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        return len({json.loads(m.value)["mention"]["id"] for m in consumer})
    finally:
        consumer.close()


def one_run(i: int, code: Path, workdir: Path, workers: int = 1) -> dict[str, object]:
    broker = LocalBroker(workdir / "kafka", port=free_port(), controller_port=free_port(),
                         partitions=4)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ROUTER_", "KAFKA_"))}
    env.update({"PYTHONPATH": str(code), "ROUTER_KAFKA_BOOTSTRAP": broker.bootstrap,
                "ROUTER_DATA_DIR": str(workdir / "data"),
                "ROUTER_EMBEDDED_DESK_PATH": str(workdir / "desk.sqlite"),
                "ROUTER_REPLY_LOG_PATH": str(workdir / "replies.jsonl"),
                "ROUTER_BATCH_TIMEOUT": "0.05"})
    t0 = time.monotonic()
    broker.start()
    procs: list[subprocess.Popen[bytes]] = []
    logs = [workdir / f"worker{w}.log" for w in range(workers)]
    try:
        subprocess.run([sys.executable, "-m", "router", "topics"], env=env, cwd=workdir,  # noqa: S603
                       check=True, capture_output=True, timeout=120)
        producer = KafkaProducer(bootstrap_servers=broker.bootstrap, acks="all")
        for n in range(MENTIONS):
            producer.send("mentions", key=f"generic:u{n}".encode(), value=json.dumps({
                "id": f"m{n}", "network": "generic",
                "text": f"@acmesupport I was charged twice for order {n}, please refund",
                "author": {"id": f"u{n}", "handle": f"cust{n}"},
                "created_at": "2026-11-23T10:00:00Z"}).encode())
        producer.flush(timeout=30)
        producer.close()
        for w, log_path in enumerate(logs):  # started together, as an orchestrator would
            with open(log_path, "wb") as log:
                procs.append(subprocess.Popen(  # noqa: S603
                    [sys.executable, "-m", "router", "worker", "-l", "info"],
                    env={**env, "ROUTER_WEB_PORT": str(free_port()),
                         "ROUTER_DATA_DIR": str(workdir / f"data{w}")},
                    cwd=workdir, stdout=log, stderr=subprocess.STDOUT))
        started = time.monotonic()
        got = 0
        while (time.monotonic() - started < DECIDE_BOUND_S
               and all(p.poll() is None for p in procs)):
            got = decided(broker.bootstrap, "decisions", 4)
            if got >= MENTIONS:
                break
            time.sleep(1.0)
        took = time.monotonic() - started
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        broker.stop()
    text = "".join(p.read_text(errors="replace") for p in logs if p.exists())
    return {"run": i, "workers": workers, "decided": got, "seconds": round(took, 1),
            "total_s": round(time.monotonic() - t0, 1),
            "error_lines": sum("[ERROR]" in ln for ln in text.splitlines()),
            "missing_topic_lines": text.count("Ignoring missing topic"),
            "log_bytes": len(text.encode()), "worker_rc": [p.returncode for p in procs]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10, choices=range(1, 21),
                        metavar="1..20")
    parser.add_argument("--code", type=Path, default=ROOT,
                        help="Checkout whose router runs (PYTHONPATH of the worker).")
    parser.add_argument("--workers", type=int, default=1, choices=range(1, 5),
                        metavar="1..4", help="Workers started together in each run.")
    parser.add_argument("--keep", type=Path, help="Keep each run's folder under this one.")
    args = parser.parse_args()
    for i in range(args.runs):
        workdir = Path(tempfile.mkdtemp(prefix=f"fresh{i}-"))
        try:
            print(json.dumps(one_run(i, args.code.resolve(), workdir, args.workers)), flush=True)
        finally:
            if args.keep:
                shutil.copytree(workdir, args.keep / workdir.name, dirs_exist_ok=True,
                                ignore=shutil.ignore_patterns("kafka"))
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
