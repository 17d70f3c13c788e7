"""Two workers share the load in one consumer group; one is killed mid-stream and the
other takes over its partitions. No mention is lost and no case gets a second ticket."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from .stream import RouterProcess, encode, key_of, mention

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

REQUESTS = [
    "@acmesupport I was charged twice for order {n}, please refund the second charge",
    "@acmesupport my package {n} never arrived, tracking says delivered",
    "@acmesupport I can't log in, the password reset email never arrives (account {n})",
    "Love the new dashboard, great work team! #{n}",
]


def test_a_worker_dies_mid_stream_and_nothing_is_lost(kafka_bootstrap: str,
                                                      tmp_path: Path) -> None:
    shared = {"ROUTER_EMBEDDED_DESK_PATH": str(tmp_path / "desk.sqlite"),
              "ROUTER_SESSION_TIMEOUT": "8"}
    a = RouterProcess(kafka_bootstrap, tmp_path / "a", extra_env=shared)
    b = RouterProcess(kafka_bootstrap, tmp_path / "b", extra_env=shared, prefix=a.prefix)
    a.create_topics()
    mentions = [mention(f"s{i}", REQUESTS[i % 4].format(n=1000 + i), f"cust{i}")
                for i in range(240)]
    a.start()
    b.start()
    try:
        a.produce("mentions", [encode(m) for m in mentions], [key_of(m) for m in mentions])
        a.read("decisions", lambda r: len(r) >= 40)
        a.stop(kill=True)  # no goodbye, no commit
        decided = b.read("decisions", lambda r: {d["mention"]["id"] for d in r}
                         >= {m["id"] for m in mentions}, timeout=180)
    finally:
        a.stop(kill=True)
        b.stop()
    ids = {d["mention"]["id"] for d in decided}
    assert ids == {m["id"] for m in mentions}  # every mention has its verdict
    opened = {d["mention"]["id"] for d in decided if d["verdict"] == "open"}
    time.sleep(1.0)
    with sqlite3.connect(tmp_path / "desk.sqlite") as db:
        ext = [row[0] for row in db.execute("SELECT external_id FROM tickets")]
    assert len(ext) == len(set(ext))  # no case has two tickets
    assert {e.rsplit(":", 1)[-1] for e in ext} <= opened | {
        d["mention"]["id"] for d in decided if d["verdict"] in ("review", "incident")}
