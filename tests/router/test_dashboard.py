"""The ops dashboard's parts: the verdict volumes workers publish and the page sums, the
estimates from labels, the page itself, and who may open it."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from router.dashboard import Reads, board, csrf_token, loopback, refusal, render, session_cookie
from router.estimates import quality
from router.metrics import Metrics
from router.settings import Settings
from router.volumes import VolumePublisher, verdict_totals, volumes

from .stream import RouterProcess, running

NOW = 1_800_000_000.0  # 2027-01-15 08:00 UTC


def test_each_worker_publishes_only_what_it_decided_since_and_retries_what_kafka_refused(
        ) -> None:
    metrics = Metrics()
    sent: list[tuple[bytes, dict[str, Any]]] = []
    refuse = False

    async def send(key: bytes, value: bytes) -> None:
        if refuse:
            raise ConnectionError("broker gone")
        sent.append((key, json.loads(value)))

    pub = VolumePublisher("host:6066", lambda: verdict_totals(metrics), send)

    async def run() -> None:
        nonlocal refuse
        assert await pub.tick(NOW) == 0 and not sent  # nothing decided: nothing sent
        metrics.count("verdict.open", 2, {"network": "x"})
        metrics.count("verdict.silent", 1, {"network": "mastodon"})
        assert await pub.tick(NOW + 5) == 3
        metrics.count("verdict.open", 1, {"network": "x"})
        refuse = True
        with pytest.raises(ConnectionError):
            await pub.tick(NOW + 65)
        refuse = False
        metrics.count("verdict.review", 1, {"network": "x"})
        assert await pub.tick(NOW + 70) == 2  # the refused one, and the new one
        assert await pub.tick(NOW + 80) == 0

    asyncio.run(run())
    assert [k for k, _ in sent] == [b"host:6066|1800000000", b"host:6066|1800000060"]
    assert sent[0][1]["counts"] == [{"verdict": "open", "network": "x", "n": 2},
                                    {"verdict": "silent", "network": "mastodon", "n": 1}]
    assert sent[1][1]["counts"] == [{"verdict": "open", "network": "x", "n": 1},
                                    {"verdict": "review", "network": "x", "n": 1}]


def test_volumes_add_every_workers_counts_per_hour_over_the_last_day() -> None:
    def rec(worker: str, minute: float, *counts: tuple[str, str, int]) -> dict[str, Any]:
        return {"worker": worker, "minute": minute,
                "counts": [{"verdict": v, "network": n, "n": c} for v, n, c in counts]}

    vols = volumes([
        rec("a", NOW - 60, ("open", "x", 2), ("silent", "x", 5)),
        rec("b", NOW - 120, ("open", "x", 3)),  # another worker, same hour
        rec("a", NOW - 3 * 3600, ("review", "mastodon", 1)),
        rec("a", NOW - 25 * 3600, ("open", "x", 100)),  # older than a day
        {"worker": "c", "minute": "soon", "counts": []},  # malformed: skipped
    ], NOW)
    assert len(vols.hours) == 24 and vols.hours[-1] == NOW  # NOW starts an hour
    assert vols.series["x"]["open"][-2] == 5 and vols.series["x"]["silent"][-2] == 5
    assert vols.series["mastodon"]["review"][-4] == 1
    assert vols.total() == 11 and vols.total("open") == 5 and vols.workers == 2


def test_precision_and_recall_come_from_the_labels_with_their_counts() -> None:
    labels = [
        {"verdict": "open", "actionable": True, "source": "zendesk"},  # right
        {"verdict": "review", "actionable": True, "source": "zendesk"},  # right
        {"verdict": "link", "actionable": False, "source": "zendesk"},  # acted, wrongly
        {"verdict": "open", "actionable": False, "source": "rt"},  # acted, wrongly
        {"verdict": "silent", "actionable": True, "source": "audit"},  # missed
        {"verdict": "silent", "actionable": False, "source": "audit"},  # right silence
        {"verdict": "", "actionable": True, "source": "rt"},  # unknown verdict: left out
    ]
    q = quality(labels)
    assert (q.precision.hits, q.precision.n) == (2, 4)  # of what the router acted on
    assert (q.recall.hits, q.recall.n) == (2, 3)  # of what support could help with
    assert q.unknown_verdict == 1
    assert q.by_source == {"audit": {"yes": 1, "no": 1}, "rt": {"yes": 1, "no": 1},
                           "zendesk": {"yes": 2, "no": 1}}
    empty = quality([])
    assert empty.precision.value is None and empty.recall.n == 0


def page(**reads: Any) -> tuple[Any, str]:
    settings = Settings(quiet_hours="8-9", actionable_threshold=0.7)
    r = Reads(**reads)
    b = board(settings, r, models={"promoted": None, "workers": {
        "host:6066": {"version": "abc123 triage 2026-11", "at": NOW - 5,
                      "shadow": {"version": "def456 candidate"}}}},
              dead_letters={"mentions-dlq": 1, "decisions-dlq": 0},
              operating_point={"actionable": 0.55, "review_margin": 0.04},
              review_tickets=None, now=NOW)
    return b, render(b, csrf="c5rf")


def test_the_page_shows_the_open_audit_items_with_buttons_and_escapes_what_people_wrote(
        ) -> None:
    item = {"mention": {"text": "<script>alert(1)</script> my order is late",
                        "author": {"handle": "ann"}, "url": "https://x.example/1"},
            "reasons": ["not actionable: 0.10 < 0.55"], "at": NOW - 60}
    b, html = page(
        audit={"x:1": item, "x:2": {**item, "at": NOW - 30}, "x:3": item},
        feedback={"x:3": {"verdict": "silent", "actionable": False, "source": "audit"}},
        config={"replies_enabled": False},  # the latest value per name
        letters={"mentions-dlq": [{"reason": "text longer than 16384 bytes", "at": NOW}]},
        volumes=[{"worker": "a", "minute": NOW - 60,
                  "counts": [{"verdict": "open", "network": "x", "n": 4}]}])
    assert b.audit_open == 2 and b.audit_labelled == 1
    assert re.search(r'id="audit-count">2<', html)
    assert html.count('name="csrf" value="c5rf"') == 2  # one form per open item
    assert 'data-ref="x:1"' in html and 'data-ref="x:3"' not in html
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "text longer than 16384 bytes" in html
    assert "open: 4" in html and "<svg" in html
    assert "def456 candidate" in html and "abc123 triage 2026-11" in html
    # settings with their sources; the kill switch came from the control topic
    assert re.search(r"actionable_threshold</td><td[^>]*>0.7</td><td[^>]*>env "
                     r"ROUTER_ACTIONABLE_THRESHOLD", html)
    assert re.search(r"review_margin</td><td[^>]*>0.04</td><td[^>]*>model card", html)
    assert "ON</span> no reply is posted" in html and "[router set]" in html
    assert b.quiet_now and "8-9 UTC" in html and "quiet now" in html  # NOW is 08:00 UTC


def test_access_needs_the_token_setting_and_a_local_peer_unless_opened() -> None:
    off = refusal(Settings(), "127.0.0.1")
    assert off is not None and off[0] == 404 and "ROUTER_DASHBOARD_TOKEN" in off[1]
    on = Settings(dashboard_token="t0k")  # type: ignore[arg-type]
    assert refusal(on, "127.0.0.1") is None and refusal(on, "::1") is None
    far = refusal(on, "10.1.2.3")
    assert far is not None and far[0] == 403 and "ROUTER_DASHBOARD_REMOTE=true" in far[1]
    assert refusal(on.model_copy(update={"dashboard_remote": True}), "10.1.2.3") is None
    assert loopback("::ffff:127.0.0.1") and not loopback(None) and not loopback("host")
    assert session_cookie("t0k") != "t0k" and session_cookie("t0k") != session_cookie("t1k")
    assert csrf_token("t0k") != session_cookie("t0k")


@pytest.mark.kafka
def test_the_worker_signs_in_with_the_token_and_refuses_posts_without_cookie_or_csrf(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    token = f"tok-{uuid.uuid4().hex}"
    rp = RouterProcess(kafka_bootstrap, tmp_path, extra_env={
        "ROUTER_DASHBOARD_TOKEN": token})
    base = f"http://127.0.0.1:{rp.web_port}"
    with running(rp), httpx.Client(base_url=base, timeout=30) as http:
        for _ in range(120):  # until the worker's web server answers
            try:
                http.get("/health")
                break
            except httpx.TransportError:
                time.sleep(0.5)
        plain = http.get("/dashboard")
        assert plain.status_code == 403 and "token=" in plain.text
        assert http.get("/dashboard", params={"token": "nope"}).status_code == 403
        signed = http.get("/dashboard", params={"token": token})
        assert signed.status_code == 303 and signed.headers["location"] == "/dashboard"
        cookie = signed.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and token not in cookie
        jar = {"router_dashboard": session_cookie(token)}
        rp.produce("mentions", [b'{"id": "1", "network": "generic"}'])  # a malformed one
        rp.read("mentions-dlq", lambda r: len(r) >= 1)
        shown = http.get("/dashboard", cookies=jar)
        assert shown.status_code == 200 and 'id="audit-count">0<' in shown.text
        # dead letters counted and their reason shown, from the same one-pass read
        assert re.search(rf"{re.escape(rp.topic('mentions-dlq'))}</td><td[^>]*>1<",
                         shown.text), shown.text[:2000]
        assert "missing field" in shown.text
        assert "default-src 'none'" in shown.headers["content-security-policy"]
        form = {"ref": "generic:1", "answer": "yes"}
        assert http.post("/dashboard/audit", data=form).status_code == 403  # no cookie
        assert http.post("/dashboard/audit", data=form, cookies=jar).status_code == 403
        missing = http.post("/dashboard/audit", data={**form, "csrf": csrf_token(token)},
                            cookies=jar)
        assert missing.status_code == 404 and "no audit item generic:1" in missing.text


def test_charts_say_no_labels_rather_than_zero_and_escape_their_text() -> None:
    from router.charts import Bar, Series, share_bars, stacked_bars

    bars = share_bars([Bar("precision", 0.75, "3 of 4 labels"), Bar("recall", None, "")],
                      title="q")
    assert "75%, 3 of 4 labels" in bars and "no labels yet" in bars
    assert bars.count("<rect") == 3  # two backgrounds, one bar: no zero-width "recall"
    chart = stacked_bars(["09:00", "10:00"], [Series("<b>", "#000", [0, 2])], title="t&t")
    assert "10:00 &lt;b&gt;: 2" in chart and "t&amp;t" in chart and "<b>" not in chart
    assert chart.count("<rect") == 1  # nothing drawn for an empty hour


def test_the_page_says_how_often_the_shadow_agrees() -> None:
    def rec(ref: str, live: str, shadow: str) -> dict[str, Any]:
        return {"mention_ref": ref, "live_verdict": live, "shadow_verdict": shadow,
                "shadow_version": "def456 candidate", "live_version": "abc123",
                "live_actionable": 0.1, "shadow_actionable": 0.9, "at": NOW}

    b, html = page(shadow=[rec("x:1", "open", "open"), rec("x:2", "silent", "open"),
                           rec("x:3", "silent", "silent"), rec("x:4", "open", "open")])
    assert b.shadow_agreement is not None
    assert 'id="shadow-agreement"' in html
    assert "75.0% of the latest 4 mentions (shadow def456 candidate)" in html
    assert "acted on: live 50.0%, shadow 75.0%" in html
    none, html = page()
    assert none.shadow_agreement is None and 'id="shadow-agreement"' not in html
