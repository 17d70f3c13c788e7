"""A model promoted at runtime, on a real broker: a running worker switches to it without a
restart, the decisions after the switch name it, ``router model status`` reports it, and
``--default`` brings the shipped model back."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from .stream import RouterProcess, encode, key_of, mention, running, tickets
from .test_model import PRAISE, REFUND, train_inverted

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def send(rp: RouterProcess, *mentions: dict[str, Any]) -> None:
    rp.produce("mentions", [encode(m) for m in mentions], [key_of(m) for m in mentions])


def decided(rp: RouterProcess, *ids: str) -> dict[str, dict[str, Any]]:
    records = rp.read("decisions", lambda r: set(ids) <= {d["mention"]["id"] for d in r})
    return {d["mention"]["id"]: d for d in records if d["mention"]["id"] in ids}


def live_versions(rp: RouterProcess, wanted: str, timeout: float = 90.0) -> dict[str, Any]:
    """``router model status --json`` once every worker reports ``wanted`` (bounded)."""
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        out = rp.cli("model", "status", "--json")
        assert out.returncode == 0, out.stderr
        status = json.loads(out.stdout)
        if status["workers"] and all(w["version"] == wanted
                                     for w in status["workers"].values()):
            return status
        time.sleep(1.0)
    raise AssertionError(f"no worker reported {wanted} in {timeout:.0f} s: {status}\n"
                         + rp.log_text()[-3000:])


def test_a_promoted_model_decides_the_next_mentions_without_a_restart(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    trained = train_inverted(tmp_path)
    ours = json.loads((trained / "triage.json").read_text())["sha256"][:12]
    rp = RouterProcess(kafka_bootstrap, tmp_path / "worker",
                       extra_env={"ROUTER_OWN_ACCOUNTS": "acmecorp,acmesupport"})
    with running(rp):
        send(rp, mention("p1", PRAISE, "fan1"), mention("p2", REFUND, "payer1"))
        before = decided(rp, "p1", "p2")
        shipped = before["p1"]["model_version"]
        assert shipped and not shipped.startswith(ours)
        assert (before["p1"]["verdict"], before["p2"]["verdict"]) == ("silent", "open")
        live_versions(rp, shipped)  # each worker reports its model at start

        out = rp.cli("model", "promote", str(trained))
        assert out.returncode == 0 and f"promoted {ours}" in out.stdout, out.stderr
        version = json.loads(rp.cli("model", "status", "--json").stdout)["promoted"]["version"]
        assert version.startswith(ours)
        status = live_versions(rp, version)  # the worker switched and says so
        assert all(w["refused"] is None for w in status["workers"].values())
        shown = rp.cli("model", "status").stdout
        assert f"promoted: {version}" in shown and f": {version}, reported" in shown, shown

        send(rp, mention("p3", PRAISE, "fan2"), mention("p4", REFUND, "payer2"))
        after = decided(rp, "p3", "p4")
        assert {d["model_version"].split()[0] for d in after.values()} == {ours}
        assert (after["p3"]["verdict"], after["p4"]["verdict"]) == ("open", "silent")

        out = rp.cli("model", "promote", "--default")
        assert out.returncode == 0, out.stderr
        live_versions(rp, shipped)
        send(rp, mention("p5", PRAISE, "fan3"))
        assert decided(rp, "p5")["p5"]["model_version"] == shipped
    # stopped cleanly: the worker takes its report off, status lists the running ones only
    gone = json.loads(rp.cli("model", "status", "--json").stdout)
    assert gone["workers"] == {} and gone["promoted"] is not None


def wait_for(what: str, pred: Any, timeout: float = 90.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = pred()
        if found:
            return found
        time.sleep(1.0)
    raise AssertionError(f"no {what} in {timeout:.0f} s")


def test_a_shadowed_model_is_recorded_and_compared_but_never_acted_on(
        kafka_bootstrap: str, tmp_path: Path) -> None:
    trained = train_inverted(tmp_path)
    ours = json.loads((trained / "triage.json").read_text())["sha256"][:12]
    rp = RouterProcess(kafka_bootstrap, tmp_path / "worker",
                       extra_env={"ROUTER_OWN_ACCOUNTS": "acmecorp,acmesupport"})
    with running(rp):
        out = rp.cli("model", "shadow", str(trained))
        assert out.returncode == 0 and f"shadowing {ours}" in out.stdout, out.stderr
        status = wait_for("worker shadowing it", lambda: [
            w for w in json.loads(rp.cli("model", "status", "--json").stdout)["workers"]
            .values() if (w.get("shadow") or {}).get("version", "").startswith(ours)])
        shipped = status[0]["version"]
        assert not shipped.startswith(ours)  # the live model is still the shipped one
        shown = rp.cli("model", "status").stdout
        assert f": {shipped}, reported" in shown and f"shadow {ours}" in shown, shown

        send(rp, mention("s1", PRAISE, "fan1"), mention("s2", REFUND, "payer1"))
        live = decided(rp, "s1", "s2")
        assert {d["model_version"] for d in live.values()} == {shipped}
        assert (live["s1"]["verdict"], live["s2"]["verdict"]) == ("silent", "open")
        rp.read("shadow", lambda r: {x["mention_ref"] for x in r} >= {"generic:s1",
                                                                       "generic:s2"})
        out = rp.cli("model", "compare", "--json")
        assert out.returncode == 0, out.stderr
        found = json.loads(out.stdout)
        assert found["compared"] == 2 and found["shadow_version"].startswith(ours)
        assert found["live_versions"] == {shipped: 2} and found["agreement"] == 0.0
        assert {(d["ref"], d["live"], d["shadow"]) for d in found["disagreements"]} == {
            ("generic:s1", "silent", "open"), ("generic:s2", "open", "silent")}
        shown = rp.cli("model", "compare").stdout
        assert "2 mentions compared; agreement 0.0% (0 of 2)" in shown, shown
        assert f"shadow: {found['shadow_version']}" in shown
        assert "generic:s1: silent -> open" in shown and PRAISE in shown, shown

        # the desk got the live verdicts' tickets only: the refund's, never the praise's
        [ticket] = wait_for("ticket", lambda: tickets(rp))
        assert "payer1" in json.dumps(ticket), ticket
        decisions = rp.read("decisions", lambda r: len(r) >= 2)
        assert len(decisions) == 2 and len(tickets(rp)) == 1

        out = rp.cli("model", "shadow", "--off")
        assert out.returncode == 0, out.stderr
        wait_for("worker without a shadow", lambda: all(
            w.get("shadow") is None for w in
            json.loads(rp.cli("model", "status", "--json").stdout)["workers"].values()))
        send(rp, mention("s3", REFUND, "payer2"))
        decided(rp, "s3")
        assert "generic:s3" not in {x["mention_ref"] for x in rp.read("shadow", lambda r: True)}
