"""A model promoted at runtime, on a real broker: a running worker switches to it without a
restart, the decisions after the switch name it, ``router model status`` reports it, and
``--default`` brings the shipped model back."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from .stream import RouterProcess, encode, key_of, mention, running
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
