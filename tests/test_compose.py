"""docker-compose.yml (no Docker engine here) stays in step with the local scripts: the same
Kafka version, the same partition count, real settings only, every worker on the embedded
desk's volume, Prometheus scraping every worker's /metrics, a dashboard of real metrics."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import tomllib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from router.broker import KAFKA_VERSION, free_port
from router.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[1]


def compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def interpolated(value: str, env: dict[str, str] | None = None) -> str:
    """Compose's ``${VAR:-default}`` interpolation (what ``docker compose`` does)."""
    given = env or {}
    return re.sub(r"\$\{(\w+):-([^}]*)\}", lambda m: given.get(m[1]) or m[2], value)


def test_same_kafka_version_as_the_local_broker() -> None:
    assert compose()["services"]["kafka"]["image"] == f"apache/kafka:{KAFKA_VERSION}"


def test_router_settings_are_real_and_valid() -> None:
    env = compose()["services"]["router"]["environment"]
    fields = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    assert set(env) <= fields, set(env) - fields
    values: dict[str, Any] = {k[len(ENV_PREFIX):].lower(): interpolated(v) for k, v in env.items()}
    settings = Settings(**values)
    assert settings.partitions == int(
        compose()["services"]["kafka"]["environment"]["KAFKA_NUM_PARTITIONS"])
    assert settings.kafka_bootstrap == "kafka:9092"


def test_topics_are_created_before_workers_and_workers_share_the_desk() -> None:
    services = compose()["services"]
    assert services["topics"]["command"] == ["router", "topics"]
    assert services["router"]["depends_on"]["topics"]["condition"] == \
        "service_completed_successfully"
    desk_path = services["router"]["environment"]["ROUTER_EMBEDDED_DESK_PATH"]
    mounts = [v.split(":")[1] for v in services["router"]["volumes"]]
    assert any(desk_path.startswith(m) for m in mounts)
    assert services["router"]["command"][:2] == ["router", "worker"]


def test_a_worker_that_stops_non_zero_is_started_again() -> None:
    """The worker stops non-zero, by design, when it cannot go on safely (README: "When the
    worker stops on its own"); without a restart policy compose would leave it down."""
    assert compose()["services"]["router"].get("restart") in ("unless-stopped", "always",
                                                              "on-failure")


def test_image_installs_the_package_with_its_console_script() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = [p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]]
    assert "vocab" in packages
    for part in packages:  # every package the wheel holds is in the image
        assert f"COPY {part} {part}" in dockerfile
    assert "pip install" in dockerfile


def test_workers_scale_past_two_on_free_host_ports() -> None:
    ports = compose()["services"]["router"]["ports"]
    for spec in ports:
        parts = str(spec).split(":")
        assert parts[0] == "127.0.0.1"  # published on loopback only
        assert len(parts) == 3 and parts[1] == "", spec  # no fixed host port or range


def test_reply_links_point_where_the_user_says_not_at_localhost() -> None:
    env = compose()["services"]["router"]["environment"]
    url = env["ROUTER_EMBEDDED_DESK_URL"]
    assert "localhost" not in url and "127.0.0.1" not in url
    default = interpolated(url)
    assert default.startswith("https://") and ".invalid/" in default  # never resolves
    assert interpolated(url, {"PUBLIC_URL": "https://help.shop.example"}) == \
        "https://help.shop.example/desk/tickets/{id}"
    assert "PUBLIC_URL" in (ROOT / "README.md").read_text()


class _Health(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        self.send_response(self.status if self.path == "/health" else 404)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[HTTPServer]:
    server = HTTPServer(("127.0.0.1", free_port()), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_router_healthcheck_asks_health_with_python_and_fails_when_unhealthy(
        health_server: HTTPServer) -> None:
    check = compose()["services"]["router"]["healthcheck"]
    assert check["test"][:2] == ["CMD", "python"]  # the slim image has no curl
    port = str(health_server.server_address[1])

    def probe() -> int:
        return subprocess.run([sys.executable, *check["test"][2:]], capture_output=True,  # noqa: S603
                              timeout=30, env={"ROUTER_WEB_PORT": port}).returncode

    _Health.status = 200
    assert probe() == 0
    _Health.status = 503
    assert probe() != 0
    health_server.shutdown()
    health_server.server_close()
    assert probe() != 0  # nothing listening
    _Health.status = 200


def test_every_published_port_is_on_loopback() -> None:
    for name, service in compose()["services"].items():
        for spec in service.get("ports", []):
            assert str(spec).startswith("127.0.0.1:"), (name, spec)


def test_prometheus_scrapes_every_worker_metrics_path() -> None:
    services = compose()["services"]
    prometheus = services["prometheus"]
    mounts = dict(v.split(":")[:2] for v in prometheus["volumes"])  # source: target
    config_path = next(src for src, dst in mounts.items() if dst.endswith("prometheus.yml"))
    assert config_path == "./deploy/prometheus.yml"
    assert f"--config.file={mounts[config_path]}" in prometheus["command"]
    config = yaml.safe_load((ROOT / config_path).read_text())
    port = int(services["router"]["environment"]["ROUTER_WEB_PORT"])
    jobs = [j for j in config["scrape_configs"]
            if any("router" in sd["names"] and sd["port"] == port
                   for sd in j.get("dns_sd_configs", []))]
    assert jobs, "no scrape job resolves the router service on its web port"
    assert jobs[0].get("metrics_path", "/metrics") == "/metrics"  # what router/web.py serves


def test_grafana_dashboard_reads_only_metrics_the_router_exports() -> None:
    import json

    from router.metrics import Metrics

    metrics = Metrics()
    metrics.watch(consumer=lambda: None, topics=set, replies_enabled=lambda: True)
    exported = {f"{family.name}{suffix}" for family in metrics.registry.collect()
                for suffix in ("", "_total", "_bucket", "_count", "_sum")}
    dashboard = json.loads((ROOT / "deploy/grafana/escalation-router.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    used = {name for e in exprs for name in re.findall(r"\brouter_\w+", e)}
    assert used and used <= exported, used - exported
    for wanted in ("router_verdicts_total", "router_dead_letters_total",
                   "router_desk_errors_total", "router_replies_total",
                   "router_decision_latency_seconds_bucket", "router_consumer_lag"):
        assert wanted in used, wanted
