"""The ``router`` command as ops use it: dry-run decisions, the connector list, clear
one-line errors for bad flags and settings."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from router.cli import main

from .stream import encode, mention

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str] | None = None, input_: str | None = None
        ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "router", *args], capture_output=True,  # noqa: S603
                          text=True, timeout=120, input=input_, cwd=ROOT,
                          env={"PATH": "/usr/bin:/bin", **(env or {})})


def test_classify_writes_one_decision_per_line_with_scores_and_reasons(tmp_path: Path) -> None:
    src = tmp_path / "history.jsonl"
    lines = [
        encode(mention("1", "@acmesupport I was charged twice for my order, please refund")),
        encode(mention("2", "Love the new dashboard, great work team!", "fan")),
        b"{broken json",
        encode({**mention("3", "@acmesupport hi"), "network": "friendster"}),
        encode(mention("4", "@acmesupport I was charged twice for my order, please refund")),
    ]
    src.write_bytes(b"\n".join(lines) + b"\n")
    out = tmp_path / "decisions.jsonl"
    result = CliRunner().invoke(main, ["classify", "--input", str(src), "--output", str(out)])
    assert result.exit_code == 0, result.output
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 5  # one line out per line in, in order
    good = {r["id"]: r for r in rows if r["id"]}
    for r in good.values():
        assert set(r["scores"]) >= {"actionable", "hurtful"}
        assert all(0.0 <= v <= 1.0 for v in r["scores"].values())
        assert isinstance(r["hurtful"], bool) and r["reasons"]
    assert good["1"]["verdict"] == "open"
    assert good["2"]["verdict"] == "silent"
    assert good["4"]["verdict"] == "silent" and "duplicate" in good["4"]["reasons"][0]
    errors = [r for r in rows if r["id"] is None]
    assert [e["line"] for e in errors] == [3, 4]
    assert "malformed JSON" in errors[0]["error"] and "unknown network" in errors[1]["error"]


def test_threshold_override_changes_the_verdict_without_retraining() -> None:
    line = encode(mention("1", "@acmesupport I was charged twice for my order, please refund"))
    strict = run("classify", input_=line.decode(),
                 env={"ROUTER_ACTIONABLE_THRESHOLD": "1", "ROUTER_REVIEW_MARGIN": "0"})
    assert strict.returncode == 0, strict.stderr
    assert json.loads(strict.stdout)["verdict"] == "silent"
    per_category = run("classify", input_=line.decode(), env={
        "ROUTER_ACTIONABLE_THRESHOLD": "1", "ROUTER_REVIEW_MARGIN": "0",
        "ROUTER_CATEGORY_THRESHOLDS": json.dumps({c: 0.01 for c in (
            "outage", "account_access", "billing", "order_delivery", "product_defect",
            "how_to", "feature_request", "praise", "other")})})
    assert json.loads(per_category.stdout)["verdict"] == "open"


def test_connectors_lists_every_desk_and_network_with_settings() -> None:
    result = CliRunner().invoke(main, ["connectors"])
    assert result.exit_code == 0, result.output
    listed = {line.split()[0] for line in result.output.splitlines()
              if line.startswith("  ") and not line.startswith("    ")}
    assert listed >= {"embedded", "rt", "zendesk", "freshdesk", "jira", "servicenow",
                      "github", "zammad", "helpscout", "mastodon", "bluesky", "x", "reddit",
                      "generic"}
    assert "ROUTER_ZENDESK_API_TOKEN" in result.output and "secret" in result.output
    assert "unavailable" not in result.output


def test_bad_setting_is_one_line_naming_the_variable() -> None:
    result = run("classify", input_="", env={"ROUTER_HURTFUL_THRESHOLD": "lots"})
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "ROUTER_HURTFUL_THRESHOLD" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_flag_names_the_fix() -> None:
    result = run("classify", "--input", "/no/such/file.jsonl")
    assert result.returncode == 2 and "--input" in result.stderr
    result = run("set", "actionable_threshold", "7")
    assert result.returncode == 2 and "between 0 and 1" in result.stderr


def one_line(result: Any) -> str:
    """The whole output of a refused command: exactly one line, no dump, no traceback."""
    out = (result.output if hasattr(result, "output") else result.stderr).strip()
    assert out.count("\n") == 0, out
    assert "http" not in out and "Traceback" not in out and "validation error" not in out
    return str(out)


def test_set_quiet_hours_out_of_range_is_one_line_naming_the_form() -> None:
    result = CliRunner().invoke(main, ["set", "quiet_hours", "25-3"])
    assert result.exit_code == 2
    assert "quiet_hours must be H-H with hours 0-23, e.g. 22-7" in one_line(result)
    result = CliRunner().invoke(main, ["set", "quiet_hour", "22-7"])
    assert result.exit_code == 2 and "did you mean quiet_hours?" in one_line(result)
    result = CliRunner().invoke(main, ["set", "actionable_threshold", "high"])
    assert result.exit_code == 2 and "between 0 and 1, e.g. 0.6" in one_line(result)


def test_misspelt_category_threshold_is_refused_with_the_closest_category() -> None:
    result = run("classify", input_="", env={"ROUTER_CATEGORY_THRESHOLDS": '{"biling": 0.5}'})
    assert result.returncode == 2
    line = one_line(result)
    assert "ROUTER_CATEGORY_THRESHOLDS" in line and "did you mean billing?" in line
    assert "outage, account_access, billing" in line  # the categories the model knows
    result = run("classify", input_="", env={"ROUTER_CATEGORY_THRESHOLDS": '{"billing": 7}'})
    assert result.returncode == 2 and "(at billing)" in one_line(result)


@pytest.mark.parametrize(("env", "value", "says"), [
    ("ROUTER_QUIET_HOURS", "25-3", "H-H with hours 0-23"),
    ("ROUTER_PARTITIONS", "many", "valid integer"),
    ("ROUTER_REPLY_OUTPUT", "printer", "'file' or 'network'"),
    ("ROUTER_AGENTS", "triage,tirage", "unknown agent 'tirage'"),
    ("ROUTER_REPLY_TEMPLATES", "{not json", "not valid JSON"),
])
def test_any_bad_setting_is_one_line_naming_the_variable(env: str, value: str,
                                                         says: str) -> None:
    result = run("classify", input_="", env={env: value})
    assert result.returncode == 2
    line = one_line(result)
    assert env in line and says in line and f"fix or unset {env}" in line


def test_mistyped_command_suggests_the_closest() -> None:
    result = CliRunner().invoke(main, ["clasify"])
    assert result.exit_code == 2
    assert "No such command 'clasify'. Did you mean classify?" in result.output
    result = CliRunner().invoke(main, ["desk", "lst"])
    assert "Did you mean list?" in result.output


def test_connectors_list_what_to_set_first_then_defaults() -> None:
    result = CliRunner().invoke(main, ["connectors"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    start = lines.index("  zendesk     Zendesk Support")
    block = []
    for line in lines[start + 1:]:
        if not line.startswith("    "):
            break
        block.append(line)
    marked = [line.split()[1] for line in block if line.lstrip().startswith("*")]
    assert marked[:1] == ["ROUTER_ZENDESK_SUBDOMAIN"]
    assert {"ROUTER_ZENDESK_EMAIL", "ROUTER_ZENDESK_API_TOKEN"} <= set(marked)
    first_optional = next(i for i, line in enumerate(block) if not line.lstrip().startswith("*"))
    assert all(not line.lstrip().startswith("*") for line in block[first_optional:])
    knob = next(line for line in block if "ROUTER_ZENDESK_MAX_ATTEMPTS" in line)
    assert knob.endswith("[default: 5]")


def test_unreachable_kafka_is_a_clear_error() -> None:
    result = run("replay", str(ROOT / "router" / "sample" / "mentions.jsonl"),
                 env={"ROUTER_KAFKA_BOOTSTRAP": "127.0.0.1:1"})
    assert result.returncode == 1
    assert "cannot reach Kafka at 127.0.0.1:1" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_connector_setting_read_by_any_command_is_one_line(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Connectors read their ROUTER_<KEY>_* settings when a command builds them."""
    import click

    from connectors.desks.zendesk import ZendeskConfig
    from router.cli_base import RouterGroup

    @click.group(cls=RouterGroup)
    def cli() -> None:
        pass

    @cli.command()
    def build() -> None:
        ZendeskConfig()

    monkeypatch.setenv("ROUTER_ZENDESK_MAX_ATTEMPTS", "lots")
    result = CliRunner().invoke(cli, ["build"])
    assert result.exit_code == 2
    line = one_line(result)
    assert "bad setting ROUTER_ZENDESK_MAX_ATTEMPTS" in line and "valid integer" in line
