"""What every social network connector offers the router.

A network connector is one file, one class with a ``key``, a ``Config`` (pydantic-settings,
env prefix ``ROUTER_<KEY>_``, secrets as ``SecretStr``) and these verbs:

- ``normalize(payload)``: one documented payload (dict) -> ``Mention``; raises
  ``InvalidPayload`` with a clear reason for anything else (never another exception);
- ``setup()`` / ``aclose()``: reach the network once / release the client;
- ``reply(reply)``: post the one public reply, in the customer's thread, from the corporate
  account, idempotent on ``reply.id``; returns the posted id and URL;
- ``poll(checkpoint)``: one page of new mentions after ``checkpoint`` and the next
  checkpoint (optional; ``NotSupported`` where the network pushes).

``max_length`` is the network's post length limit; ``fit_reply`` keeps the link whole.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import Field

from connectors.base import Connector, ConnectorConfig
from vocab.records import Mention, Reply


@dataclass(frozen=True)
class Posted:
    """A reply as the network stored it."""

    id: str
    url: str = ""


@dataclass(frozen=True)
class Page:
    """One page of polled payloads and the checkpoint to resume after them.

    ``wait`` is how many seconds the network asks us to leave before the next poll (its
    rate-limit headers say the window is nearly spent); 0 means poll at the usual pace.
    ``more`` is true when the poller knows further pages are ready right now.
    """

    payloads: Sequence[Mapping[str, Any]]
    checkpoint: str | None
    wait: float = 0.0
    more: bool = False


class NetworkConfig(ConnectorConfig):
    """Base of each network's settings; subclasses set ``env_prefix = 'ROUTER_<KEY>_'``."""

    own_accounts: list[str] = Field(
        default_factory=list,
        description="Handles or ids of the company's own accounts (never a ticket).",
    )
    personas: list[str] = Field(
        default_factory=list, description="Corporate persona accounts (never a ticket)."
    )
    employees: list[str] = Field(
        default_factory=list, description="Employees' personal accounts (never a ticket)."
    )


class Network(Connector):
    """A social network the router hears mentions on and answers customers on."""

    Config: ClassVar[type[ConnectorConfig]] = NetworkConfig
    config: NetworkConfig
    max_length: ClassVar[int] = 280

    @abc.abstractmethod
    def normalize(self, payload: Mapping[str, Any]) -> Mention:
        """Turn one documented payload into a Mention, or raise InvalidPayload(reason)."""

    @abc.abstractmethod
    async def reply(self, reply: Reply) -> Posted:
        """Post the reply once; a retry with the same ``reply.id`` never posts twice."""

    async def poll(self, checkpoint: str | None) -> Page:
        from connectors.errors import NotSupported

        raise NotSupported(f"{self.key} does not poll")

    def account_flags(self, *, handle: str, author_id: str) -> dict[str, bool]:
        """Mention flags for the configured own/persona/employee account lists."""

        def has(names: Sequence[str]) -> bool:
            wanted = {n.lower().lstrip("@") for n in names}
            return handle.lower().lstrip("@") in wanted or author_id.lower() in wanted

        return {
            "is_own_account": has(self.config.own_accounts),
            "is_persona": has(self.config.personas),
            "is_employee": has(self.config.employees),
        }


def fit_reply(text: str, link: str, limit: int, *, link_weight: int | None = None) -> str:
    """``text`` followed by ``link``, shortened (never the link) to fit ``limit`` characters.

    ``link_weight`` is how many characters the network counts for a link (X counts 23).
    """
    weight = len(link) if link_weight is None else link_weight
    room = limit - weight - 1
    if room <= 0:
        return link
    text = " ".join(text.split())
    if len(text) > room:
        cut = text[: room - 1]
        if " " in cut:
            cut = cut.rsplit(" ", 1)[0]
        text = cut.rstrip(" ,;:.") + "…"
    return f"{text} {link}"
