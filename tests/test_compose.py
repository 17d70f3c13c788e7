"""docker-compose.yml (no Docker engine here) stays in step with the local scripts: the same
Kafka version, the same partition count, real settings only, every worker on the embedded
desk's volume."""

from __future__ import annotations

from pathlib import Path

import yaml

from router.broker import KAFKA_VERSION
from router.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[1]


def compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_same_kafka_version_as_the_local_broker() -> None:
    assert compose()["services"]["kafka"]["image"] == f"apache/kafka:{KAFKA_VERSION}"


def test_router_settings_are_real_and_valid() -> None:
    env = compose()["services"]["router"]["environment"]
    fields = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    assert set(env) <= fields, set(env) - fields
    settings = Settings(**{k[len(ENV_PREFIX):].lower(): v for k, v in env.items()})
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


def test_image_installs_the_package_with_its_console_script() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    for part in ("router", "classifiers", "connectors"):
        assert f"COPY {part} {part}" in dockerfile
    assert "pip install" in dockerfile
