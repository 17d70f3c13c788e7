"""What desks and networks have in common: a key, settings, an injected HTTP client, and
``setup()`` apart from the constructor (which never touches the network)."""

from __future__ import annotations

import abc
from typing import ClassVar

import httpx
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConnectorConfig(BaseSettings):
    """Base of every connector's settings; subclasses set ``env_prefix='ROUTER_<KEY>_'``."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")


class Connector(abc.ABC):
    """A desk or a network, found by ``key`` in ``connectors.registry``."""

    key: ClassVar[str]
    #: Human name shown by ``router connectors``.
    title: ClassVar[str] = ""
    #: The settings model; ``router connectors`` lists its fields and env vars.
    Config: ClassVar[type[ConnectorConfig]] = ConnectorConfig

    def __init__(self, config: ConnectorConfig | None = None,
                 client: httpx.AsyncClient | None = None) -> None:
        self.config = config if config is not None else self.Config()
        self._client = client

    async def setup(self) -> None:  # noqa: B027 - optional hook
        """Validate settings and reach the system once; raise ConfigError naming the fix."""

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
