"""How fast ``parse_mention`` turns raw bytes into a ``Mention`` (prints; asserts nothing).

Cycles the shipped sample mentions up to N (default 20,000), each made unique by its id,
and prints mentions per second (wall clock and CPU time, best of five runs; the CPU
figure is the steadier one on a shared machine), and the ratio to a baseline measured in
the same run: ``json.loads`` of the same bytes, the least any reader of them must do.

    python bench/bench_validate.py [--n 20000]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

from router.validate import parse_mention

SAMPLE = Path(__file__).resolve().parents[1] / "router" / "sample" / "mentions.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000)
    n = ap.parse_args().n
    base = [json.loads(x) for x in SAMPLE.read_text().splitlines() if x.strip()]
    raws = [json.dumps({**base[i % len(base)], "id": f"b{i}"}, ensure_ascii=False).encode()
            for i in range(n)]
    networks = ["generic", "x", "mastodon", "bluesky", "reddit"]

    def run(step: Callable[[bytes], object]) -> tuple[float, float]:
        best = cpu = float("inf")
        for _ in range(5):
            start, start_cpu = time.perf_counter(), time.process_time()
            for raw in raws:
                step(raw)
            best = min(best, time.perf_counter() - start)
            cpu = min(cpu, time.process_time() - start_cpu)
        return best, cpu

    base_wall, base_cpu = run(json.loads)
    best, cpu = run(lambda raw: parse_mention(raw, networks=networks, max_text_bytes=16_384,
                                              max_message_bytes=262_144))
    print(f"json.loads (baseline): {n / base_wall:,.0f} mentions/s "
          f"(CPU {n / base_cpu:,.0f}/s)")
    print(f"parse_mention: {n} mentions in {best:.3f} s = {n / best:,.0f} mentions/s "
          f"(CPU time {cpu:.3f} s = {n / cpu:,.0f} mentions/s; best of 5); "
          f"{cpu / base_cpu:.1f}x the baseline's CPU time")


if __name__ == "__main__":
    main()
