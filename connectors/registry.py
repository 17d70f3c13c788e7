"""Which connectors exist, by key: the built-in ones and any a third party installs.

A third-party package adds a desk (or a network) without editing this project by declaring
an entry point in its own ``pyproject.toml``::

    [project.entry-points."escalation_router.desks"]
    mydesk = "my_package.mydesk:MyDesk"

Classes are imported only when asked for, so listing the registry costs nothing.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from pydantic import SecretStr

from vocab.errors import SettingsError

DESK_GROUP = "escalation_router.desks"
NETWORK_GROUP = "escalation_router.networks"

DESKS: dict[str, str] = {
    "embedded": "connectors.desks.embedded:EmbeddedDesk",
    "rt": "connectors.desks.rt:RequestTracker",
    "zendesk": "connectors.desks.zendesk:Zendesk",
    "freshdesk": "connectors.desks.freshdesk:Freshdesk",
    "jira": "connectors.desks.jira:Jira",
    "servicenow": "connectors.desks.servicenow:ServiceNow",
    "github": "connectors.desks.github:GitHubIssues",
    "zammad": "connectors.desks.zammad:Zammad",
    "helpscout": "connectors.desks.helpscout:HelpScout",
}

NETWORKS: dict[str, str] = {
    "generic": "connectors.social.generic:Generic",
    "mastodon": "connectors.social.mastodon:Mastodon",
    "bluesky": "connectors.social.bluesky:Bluesky",
    "x": "connectors.social.x:X",
    "reddit": "connectors.social.reddit:Reddit",
}


def _all(builtin: dict[str, str], group: str) -> dict[str, str]:
    found = dict(builtin)
    for ep in entry_points(group=group):
        found.setdefault(ep.name, ep.value)
    return found


def desk_paths() -> dict[str, str]:
    """Every desk key and the dotted path of its class (built-in first, then plugins)."""
    return _all(DESKS, DESK_GROUP)


def network_paths() -> dict[str, str]:
    """Every network key and the dotted path of its class."""
    return _all(NETWORKS, NETWORK_GROUP)


def load(path: str) -> Any:
    module, _, attr = path.partition(":")
    return getattr(importlib.import_module(module), attr)


def desk_class(key: str) -> Any:
    paths = desk_paths()
    if key not in paths:
        raise SettingsError(
            f"unknown desk {key!r}: set ROUTER_DESK to one of {', '.join(sorted(paths))}"
        )
    return load(paths[key])


def network_class(key: str) -> Any:
    paths = network_paths()
    if key not in paths:
        raise SettingsError(
            f"unknown network {key!r}: use one of {', '.join(sorted(paths))}"
        )
    return load(paths[key])


@dataclass(frozen=True)
class SettingInfo:
    name: str
    env: str
    required: bool
    secret: bool
    description: str


def settings_of(cls: Any) -> list[SettingInfo]:
    """The settings a connector class needs, with their environment variable names."""
    config = cls.Config
    prefix = str(config.model_config.get("env_prefix", "")).upper()
    out = []
    for name, field in config.model_fields.items():
        secret = field.annotation is SecretStr or "SecretStr" in str(field.annotation)
        out.append(
            SettingInfo(
                name=name,
                env=f"{prefix}{name.upper()}",
                required=field.is_required(),
                secret=secret,
                description=field.description or "",
            )
        )
    return out
