"""The worker's Prometheus metrics (``router.metrics``): every count has its labelled
counter, runtimes do not share a registry, the lag arithmetic; and, on the real broker, a
worker's ``/metrics`` agrees with the decisions it wrote."""

from __future__ import annotations

import re
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from faust.types import TP
from prometheus_client.parser import text_string_to_metric_families

from router.metrics import FAMILIES, ROUTES, Metrics, consumer_lag, route

from .stream import RouterProcess, encode, key_of, mention, running

ROUTER = Path(__file__).resolve().parents[2] / "router"

#: ``count("name"`` or ``count(f"name.{x}"`` anywhere in the router.
COUNT_CALL = re.compile(r"\.count\(\s*f?\"([^\"]+)\"")


def count_names() -> set[str]:
    names = set()
    for path in ROUTER.rglob("*.py"):
        for name in COUNT_CALL.findall(path.read_text()):
            names.add(re.sub(r"\{[^}]*\}", "x", name))
    return names


def test_every_name_the_router_counts_has_a_metric_of_its_own() -> None:
    names = count_names()
    assert {"verdict.x", "dlq.x", "desk.opened", "desk.refused", "replies.held"} <= names
    unmapped = sorted(n for n in names if route(n)[0] == "other")
    assert unmapped == [], f"add these to router.metrics.ROUTES: {unmapped}"


def test_names_follow_prometheus_conventions() -> None:
    for family in FAMILIES.values():
        assert family.name.startswith("router_") and not family.name.endswith("_total")
        assert re.fullmatch(r"[a-z_]+", family.name)
    assert {key for _, key, _ in ROUTES} <= set(FAMILIES)


def samples(metrics: Metrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    body, content_type = metrics.exposition()
    assert content_type.startswith("text/plain; version=0.0.4")
    return parse(body.decode())


def parse(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_counts_become_labelled_counters() -> None:
    m = Metrics()
    m.count("verdict.open", labels={"network": "mastodon"})
    m.count("verdict.open", labels={"network": "mastodon"})
    m.count("verdict.silent", labels={"network": "x"})
    m.count("dlq.mentions")
    m.count("desk.opened")
    m.count("desk.retry_later", labels={"cause": "503"})
    m.count("replies.held")
    m.count("poller.mastodon.mentions", 3)
    got = samples(m)
    assert got[("router_verdicts_total", frozenset({("verdict", "open"),
                                                    ("network", "mastodon")}))] == 2
    assert got[("router_verdicts_total", frozenset({("verdict", "silent"),
                                                    ("network", "x")}))] == 1
    assert got[("router_dead_letters_total", frozenset({("source", "mentions")}))] == 1
    assert got[("router_desk_actions_total", frozenset({("action", "opened")}))] == 1
    assert got[("router_desk_errors_total", frozenset({("outcome", "retry_later"),
                                                       ("cause", "503")}))] == 1
    assert got[("router_replies_total", frozenset({("outcome", "held")}))] == 1
    assert got[("router_network_poll_mentions_total",
                frozenset({("network", "mastodon")}))] == 3
    assert not any(name == "router_other_events_total" for name, _ in got)
    body, content_type = m.exposition("application/openmetrics-text; version=1.0.0")
    assert content_type.startswith("application/openmetrics-text")  # what Prometheus asks
    assert body.endswith(b"# EOF\n")


def test_latency_histogram_has_buckets_from_5ms_to_60s() -> None:
    m = Metrics()
    now = time.time()
    m.decided(now - 0.003, now)
    m.decided(now - 2.0, now)
    m.decided(None, now)  # no timestamp: not observed
    got = samples(m)
    bucket = "router_decision_latency_seconds_bucket"
    assert got[(bucket, frozenset({("le", "0.005")}))] == 1
    assert got[(bucket, frozenset({("le", "60.0")}))] == 2
    assert got[("router_decision_latency_seconds_count", frozenset())] == 2


def test_each_runtime_has_its_own_registry(tmp_path: Path) -> None:
    from router.runtime import build
    from router.settings import load_settings

    one = build(load_settings(data_dir=tmp_path / "1", app_id="router-metrics-1"))
    two = build(load_settings(data_dir=tmp_path / "2", app_id="router-metrics-2"))
    one.count("verdict.open", network="x")
    assert one.counters["verdict.open"] == 1  # /stats keeps its names
    key = ("router_verdicts_total", frozenset({("verdict", "open"), ("network", "x")}))
    assert samples(one.metrics)[key] == 1
    assert key not in samples(two.metrics)
    # not started: no lag yet, the kill switch's default
    assert samples(one.metrics)[("router_replies_enabled", frozenset())] == 1


class FakeConsumer:
    def __init__(self, high: dict[Any, int | None], committed: dict[Any, int | None],
                 read: dict[Any, int | None]) -> None:
        self.high = high
        self._committed_offset = committed
        self._read_offset = read

    def assignment(self) -> set[Any]:
        return set(self.high)

    def highwater(self, tp: Any) -> int | None:
        return self.high[tp]


def test_lag_is_highwater_minus_committed_for_the_agents_topics() -> None:
    def tp(topic: str, partition: int) -> Any:
        return TP(topic, partition)

    a, b, c, d, e = (tp("mentions", 0), tp("mentions", 1), tp("mentions", 2),
                     tp("mentions", 3), tp("authors-changelog", 0))
    consumer = FakeConsumer(high={a: 10, b: 7, c: None, d: 5, e: 99},
                            committed={a: 4, b: None, d: None},
                            read={b: 2})
    assert consumer_lag(consumer, {"mentions"}) == {
        ("mentions", 0): 6,   # 10 - 4
        ("mentions", 1): 4,   # never committed: from what was read (offset 2, next 3)
        ("mentions", 3): 5}   # never committed nor read: from the start
    assert consumer_lag(None, {"mentions"}) == {}


# --- on the real broker ---------------------------------------------------------------
def scrape(rp: RouterProcess) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{rp.web_port}/metrics",  # noqa: S310
                                timeout=10) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return parse(resp.read().decode())


def wait_for(pred: Any, timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}; last: {last}")


@pytest.mark.kafka
@pytest.mark.slow
def test_worker_metrics_match_its_decisions(kafka_bootstrap: str, tmp_path: Path) -> None:
    rp = RouterProcess(kafka_bootstrap, tmp_path, extra_env={
        "ROUTER_OWN_ACCOUNTS": "acmecorp", "ROUTER_LOG_FORMAT": "json",
        "ROUTER_INGEST_TOKEN": "ingest-secret-never-logged-1234"},
        command=["-m", "router", "worker", "-l", "debug"])
    sent = [
        mention("m1", "@acmesupport I was charged twice for my order 4411, please refund",
                "maria"),
        mention("m2", "Love the new dashboard, great work team!", "fan"),
        mention("m3", "our new release is out today", "acmecorp"),
        {**mention("m4", "@acmesupport my parcel never arrived, tracking says lost",
                   "bo"), "network": "mastodon"},
    ]
    with running(rp):
        rp.produce("mentions", [encode(m) for m in sent], [key_of(m) for m in sent])
        rp.produce("mentions", [b"{not json"], [b"generic:u-x"])
        decisions = rp.read("decisions", lambda r: len(r) >= len(sent))
        expected = Counter((d["verdict"], d["mention"]["network"]) for d in decisions)

        def settled() -> Any:
            got = scrape(rp)
            verdicts = Counter({(dict(k)["verdict"], dict(k)["network"]): int(v)
                                for (name, k), v in got.items()
                                if name == "router_verdicts_total"})
            lag = {dict(k)["partition"]: v for (name, k), v in got.items()
                   if name == "router_consumer_lag"
                   and dict(k)["topic"] == rp.topic("mentions")}
            done = verdicts == expected and len(lag) == rp.settings.partitions \
                and sum(lag.values()) == 0
            return got if done else None

        got = wait_for(settled, what="the verdict counters and a drained mentions lag")
        assert got[("router_decision_latency_seconds_count", frozenset())] == len(decisions)
        assert got[("router_dead_letters_total", frozenset({("source", "mentions")}))] == 1
        assert got[("router_replies_enabled", frozenset())] == 1
    log = rp.log_text()
    assert "\x1b" not in log
    import json

    lines = [json.loads(line) for line in log.splitlines() if line.strip()]
    assert all({"time", "level", "logger", "message"} <= set(x) for x in lines)
    decided = [x["message"] for x in lines if x["message"].startswith("decided ")]
    assert len(decided) == len(decisions)
    assert any("generic:m1 verdict=open" in x for x in decided), decided
    assert "ingest-secret-never-logged-1234" not in log
