"""`router status` and `router set NAME`: what the workers apply now, and where it comes from
(ops could not read a threshold back before: `router set actionable_threshold` only said
"give a VALUE")."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest

from router.settings import Settings
from router.status import effective

from .stream import RouterProcess, encode

CARD = {"actionable": 0.52, "hurtful": 0.40, "review_margin": 0.16}


def by_name(found: list) -> dict[str, tuple[object, str]]:  # type: ignore[type-arg]
    return {e.name: (e.value, e.source) for e in found}


def test_each_value_says_whether_ops_the_environment_the_card_or_the_default_set_it() -> None:
    settings = Settings(hurtful_threshold=0.7, min_coverage=0.3)  # as if from ROUTER_*
    runtime = {"actionable_threshold": 0.61, "quiet_hours": "22-7",
               "min_coverage": "not a number"}  # an invalid entry, ignored by workers too
    got = by_name(effective(settings, runtime, CARD))
    assert got["actionable_threshold"] == (0.61, "router set")
    assert got["quiet_hours"] == ("22-7", "router set")
    assert got["hurtful_threshold"] == (0.7, "env ROUTER_HURTFUL_THRESHOLD")
    assert got["min_coverage"] == (0.3, "env ROUTER_MIN_COVERAGE")
    assert got["review_margin"] == (0.16, "model card")
    assert got["replies_enabled"] == (True, "default")
    bare = by_name(effective(Settings(), {}, {}))
    assert bare["actionable_threshold"] == (0.5, "default")  # no card: the fallback


@pytest.mark.kafka
def test_status_and_set_read_back_what_ops_changed(kafka_bootstrap: str,
                                                   tmp_path: Path) -> None:
    rp = RouterProcess(kafka_bootstrap, tmp_path)
    rp.create_topics()
    before = rp.cli("set", "actionable_threshold")
    assert before.returncode == 0, before.stderr
    assert "actionable_threshold: " in before.stdout and "[model card]" in before.stdout
    assert rp.cli("set", "actionable_threshold", "0.7").returncode == 0
    after = rp.cli("set", "actionable_threshold")
    assert after.stdout.strip() == "actionable_threshold: 0.7  [router set]"
    assert rp.cli("set", "actionable_treshold").returncode == 2  # a typo names the fix
    letter = {"source_topic": "replies", "reason": "kill switch", "key": "r-1",
              "original": base64.b64encode(b"{}").decode(), "at": time.time()}
    rp.produce("replies-dlq", [encode(letter)], [b"r-1"])
    rp.produce("mentions", [b"{}", b"{}"], [b"a", b"b"])  # no worker: both wait
    out = rp.cli("status", "--json")
    assert out.returncode == 0, out.stderr
    found = json.loads(out.stdout)
    settings = {e["name"]: (e["value"], e["source"]) for e in found["settings"]}
    assert settings["actionable_threshold"] == (0.7, "router set")
    assert found["dead_letters"][rp.topic("replies-dlq")] == 1
    assert found["dead_letters"][rp.topic("decisions-dlq")] == 0
    assert sum(found["lag"][rp.topic("mentions")].values()) == 2
    text = rp.cli("status")
    assert "kill switch: off (replies allowed)  [default]" in text.stdout
    assert f"{rp.topic('mentions')}: 2 (" in text.stdout
