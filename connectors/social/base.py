"""What every social network connector offers the router.

A network connector is one file, one class with a ``key``, a ``Config`` (pydantic-settings,
env prefix ``ROUTER_<KEY>_``, secrets as ``SecretStr``) and these verbs:

- ``normalize(payload)``: one documented payload (dict) -> ``Mention``; raises
  ``InvalidPayload`` with a clear reason for anything else (never another exception);
- ``setup()`` / ``aclose()``: reach the network once / release the client;
- ``reply(reply)``: post the one public reply, in the customer's thread, from the corporate
  account, idempotent on ``reply.id``; returns the posted id and URL;
- ``poll(checkpoint)``: one page of new mentions after ``checkpoint`` and the next
  checkpoint (optional; ``NotSupported`` where the network pushes);
- ``set_gate(hurtful, threshold)``: the hurtful gate the router installs before any reply;
  ``reply`` scores its final text with it and refuses at or over the threshold, or without
  a gate (``SocialNetwork`` does both for every network built on it).

``max_length`` is the network's post length limit (``compose.fit_text`` keeps the link whole).
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import Field

from connectors.base import Connector, ConnectorConfig
from vocab.records import Mention, Reply

#: P(hurtful) of a text: one text to one score, or a batch to its scores (``model.hurtful``).
Hurtful = Callable[[str], float] | Callable[[Sequence[str]], Sequence[float]]


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
    #: The hurtful gate and its threshold (``set_gate``); no gate means no reply is posted.
    _hurtful: Hurtful | None = None
    hurtful_threshold: float = 0.5

    @abc.abstractmethod
    def normalize(self, payload: Mapping[str, Any]) -> Mention:
        """Turn one documented payload into a Mention, or raise InvalidPayload(reason)."""

    @abc.abstractmethod
    async def reply(self, reply: Reply) -> Posted:
        """Post the reply once; a retry with the same ``reply.id`` never posts twice."""

    @staticmethod
    def text_length(text: str) -> int:
        """How the network counts a post's length against ``max_length`` (X weighs a link
        as 23 and CJK as 2, Bluesky counts graphemes): characters unless it says otherwise."""
        return len(text)

    def set_gate(self, hurtful: Hurtful | None, threshold: float | None = None) -> None:
        """Install the hurtful gate (``classifiers.load_default().hurtful`` works as is)."""
        self._hurtful = hurtful
        if threshold is not None:
            self.hurtful_threshold = threshold

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
