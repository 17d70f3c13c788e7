"""The registry knows every SaaS desk, and `router connectors` can list their settings."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from connectors.desks.base import Desk
from connectors.registry import DESKS, desk_class, desk_paths, settings_of

MINE = {
    "zendesk": "connectors.desks.zendesk:Zendesk",
    "freshdesk": "connectors.desks.freshdesk:Freshdesk",
    "jira": "connectors.desks.jira:Jira",
    "servicenow": "connectors.desks.servicenow:ServiceNow",
    "github": "connectors.desks.github:GitHubIssues",
    "zammad": "connectors.desks.zammad:Zammad",
    "helpscout": "connectors.desks.helpscout:HelpScout",
}
BUILT = sorted(MINE)  # every one must import: a missing module fails, never skips


def test_registry_lists_every_saas_desk() -> None:
    for key, path in MINE.items():
        assert DESKS[key] == path
        assert desk_paths()[key] == path


@pytest.mark.parametrize("key", BUILT)
def test_desk_class_and_settings(key: str) -> None:
    cls = desk_class(key)
    assert issubclass(cls, Desk) and cls.key == key and cls.title
    assert cls.body_format in ("plain", "markdown", "html", "adf")
    assert cls.events in ("webhook", "poll")
    settings = settings_of(cls)
    prefix = f"ROUTER_{key.upper()}_"
    assert settings and all(s.env.startswith(prefix) for s in settings)
    assert all(s.description for s in settings), [s.name for s in settings if not s.description]
    assert any(s.secret for s in settings)
    names = {s.name: s for s in settings}
    assert names["state_path"].env == f"{prefix}STATE_PATH"
    config = cls.Config.model_config
    assert config.get("frozen") is True and config.get("extra") == "ignore"
    for name, field in cls.Config.model_fields.items():
        if names[name].secret:
            assert field.annotation is SecretStr


@pytest.mark.parametrize("key", BUILT)
def test_constructor_does_no_network_and_setup_names_the_env_var(
        key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from connectors.errors import ConfigError

    for name in list(__import__("os").environ):
        if name.startswith("ROUTER_"):
            monkeypatch.delenv(name)
    cls = desk_class(key)
    desk = cls(cls.Config(state_path=":memory:"))  # no settings: fine until setup()
    with pytest.raises(ConfigError) as info:
        asyncio.run(desk.setup())
    assert f"ROUTER_{key.upper()}_" in str(info.value)


@pytest.mark.parametrize("key", BUILT)
def test_settings_come_from_the_environment(key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    cls = desk_class(key)
    monkeypatch.setenv(f"ROUTER_{key.upper()}_TIMEOUT_SECONDS", "3.5")
    assert cls.Config().timeout_seconds == 3.5



@pytest.mark.parametrize("key,per_minute", [("zendesk", 200.0), ("freshdesk", 200.0),
                                            ("github", 80.0), ("helpscout", 400.0)])
async def test_client_side_limiter_keeps_under_the_documented_budget(
        key: str, per_minute: float, tmp_path: Path) -> None:
    from .harness import discover

    desk = discover()[key](tmp_path).make_desk(rate_per_minute=0.0)
    await desk.setup()
    try:
        limiter = desk._api.limiter  # what every request of this desk waits on
        assert (limiter.max_rate, limiter.time_period) == (per_minute, 60.0)
    finally:
        await desk.aclose()
