"""The whole correction loop of issue #10, as ops run it, on a real broker with a real worker
and the embedded desk: train a model on a labelled file, promote it at runtime and see the
decisions carry its version, shadow another and compare, label an audit item, mark one
ticket not actionable and solve another in the desk, then find those labels (and only
once each) in ``router evaluate --feedback`` and on the dashboard."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from classifiers.seed_examples import SEED_EXAMPLES

from .stream import RouterProcess, mention, running, tickets
from .test_model import PRAISE, REFUND, train_inverted
from .test_model_stream import decided, live_versions, send, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

TOKEN = "ops-loop-dashboard-token"
OTHER_REFUND = "@acmesupport my parcel never arrived, order 5521, can you check it please"
CHATTER = "What a beautiful sunset over the bay tonight"


def test_ops_train_promote_shadow_label_and_evaluate(kafka_bootstrap: str,
                                                     tmp_path: Path) -> None:
    history = tmp_path / "history.jsonl"
    history.write_text("".join(json.dumps({"text": text, "label": actionable}) + "\n"
                               for text, _c, actionable, _h, _s in SEED_EXAMPLES), "utf-8")
    rp = RouterProcess(kafka_bootstrap, tmp_path / "worker", extra_env={
        "ROUTER_OWN_ACCOUNTS": "acmecorp,acmesupport", "ROUTER_AUDIT_SHARE": "1",
        "ROUTER_DASHBOARD_TOKEN": TOKEN, "ROUTER_DESK_POLL_SECONDS": "1"})
    rp.workdir.mkdir(parents=True)
    trained = rp.cli("train", "--data", str(history), "--out", str(tmp_path / "ours"))
    assert trained.returncode == 0, trained.stderr
    ours = json.loads((tmp_path / "ours" / "triage.json").read_text())["sha256"][:12]
    candidate = train_inverted(tmp_path)
    theirs = json.loads((candidate / "triage.json").read_text())["sha256"][:12]

    with running(rp):
        # 1. promote our model at runtime: the next decisions name it
        promoted = rp.cli("model", "promote", str(tmp_path / "ours"))
        assert promoted.returncode == 0, promoted.stderr
        version = json.loads(rp.cli("model", "status", "--json").stdout)["promoted"]["version"]
        live_versions(rp, version)
        # 2. shadow the candidate beside it
        assert rp.cli("model", "shadow", str(candidate)).returncode == 0
        wait_for("the worker shadowing the candidate", lambda: [
            w for w in json.loads(rp.cli("model", "status", "--json").stdout)["workers"]
            .values() if (w.get("shadow") or {}).get("version", "").startswith(theirs)])
        send(rp, mention("o1", REFUND, "payer1"), mention("o2", OTHER_REFUND, "payer2"),
             mention("o3", PRAISE, "fan1"), mention("o4", CHATTER, "walker"))
        got = decided(rp, "o1", "o2", "o3", "o4")
        assert {d["model_version"].split()[0] for d in got.values()} == {ours}
        assert got["o1"]["verdict"] == "open" and got["o2"]["verdict"] == "open"
        assert got["o4"]["verdict"] == "silent"
        rp.read("shadow", lambda r: len({x["mention_ref"] for x in r}) >= 4)
        compared = json.loads(rp.cli("model", "compare", "--json").stdout)
        assert compared["compared"] == 4 and compared["shadow_version"].startswith(theirs)

        # 3. a person audits one silence; agents judge two tickets in the desk
        rp.read("audit", lambda r: any(x["mention"]["id"] == "o4" for x in r))
        assert rp.cli("audit", "label", "generic:o4", "no", "--by", "ops").returncode == 0
        opened = wait_for("two tickets", lambda: tickets(rp) if len(tickets(rp)) >= 2
                          else None)
        wrong = next(str(t["id"]) for t in opened if t["requester"].endswith("payer1"))
        right = next(str(t["id"]) for t in opened if t["requester"].endswith("payer2"))
        assert rp.cli("desk", "tag", wrong, "not-actionable").returncode == 0
        assert rp.cli("desk", "solve", wrong).returncode == 0  # no reply: not for support
        assert rp.cli("desk", "solve", right).returncode == 0  # one reply, one "yes" label
        labels = rp.read("feedback", lambda r: {x["mention_ref"] for x in r} >= {
            "generic:o1", "generic:o2", "generic:o4"})
        latest = {x["mention_ref"]: x for x in labels}
        assert (latest["generic:o1"]["actionable"], latest["generic:o1"]["source"]) == (
            False, "embedded")
        assert (latest["generic:o2"]["actionable"], latest["generic:o2"]["source"]) == (
            True, "embedded")
        assert latest["generic:o4"]["source"] == "audit"
        log = rp.workdir / "replies.jsonl"
        wait_for("the solved customer's reply", lambda: log.exists() and log.read_text())
        time.sleep(2.0)  # a reply to the not-actionable ticket would have come by now
        replied = [json.loads(line)["in_reply_to"] for line in log.read_text().splitlines()]
        assert replied == ["o2"]

        # 4. the dashboard counts them, each once
        with httpx.Client(base_url=f"http://127.0.0.1:{rp.web_port}", timeout=30,
                          follow_redirects=True) as web:
            page = web.get("/dashboard", params={"token": TOKEN})
            assert page.status_code == 200, page.text[:300]
            html = page.text
        assert re.search(r"1 of 2 labels", html)  # precision: o1 (no) and o2 (yes) acted on
        assert theirs in html  # the shadow's version, and how often it agrees
        assert 'id="shadow-agreement"' in html

    # 5. evaluate live vs candidate on exactly those labels
    evaluated = rp.cli("evaluate", "--feedback", "--candidate", str(candidate),
                       "--out", str(tmp_path / "eval"))
    assert evaluated.returncode == 0, evaluated.stderr
    assert "3 labels from the feedback topic (1 where support could help; audit 1, " \
           "embedded 2)" in evaluated.stdout
    assert f"live model: {tmp_path / 'ours'}" in evaluated.stdout
    report: dict[str, Any] = json.loads((tmp_path / "eval" / "evaluation.json").read_text())
    assert report["rows"] == 3 and set(report["models"]) == {"live", "candidate"}
