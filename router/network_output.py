"""Replies posted on the networks themselves (``ROUTER_REPLY_OUTPUT=network``).

Each network's connector is built from its own settings (``ROUTER_<NETWORK>_*``, see
``router connectors``) the first time a reply for it comes, set up once (which checks the
credentials belong to the configured corporate account), and given the hurtful gate, which
it re-checks on the final text just before posting, with the threshold in force for that
reply (``router set hurtful_threshold``, or the live model's card: the one the publisher
applied a moment before, never the one of the day the connector started). Its ledger keeps
a reply from being posted twice; a refused reply raises, and the publisher dead-letters it
with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from connectors.registry import network_class
from connectors.social.base import Network, Posted
from vocab.records import Reply

from .settings import Settings


class NetworkOutput:
    def __init__(self, settings: Settings,
                 hurtful: Callable[[Sequence[str]], Sequence[float]] | None = None,
                 networks: dict[str, Network] | None = None,
                 hurtful_cut: Callable[[], float] | None = None) -> None:
        self.settings = settings
        self.hurtful = hurtful
        # read per reply: ops may change it at runtime, a promoted model's card too
        self.hurtful_cut = hurtful_cut or (lambda: settings.hurtful_cut)
        self.networks: dict[str, Any] = dict(networks or {})
        self._ready: set[str] = set()

    async def setup(self) -> None:
        return None

    async def _network(self, key: str) -> Any:
        if key not in self.networks:
            self.networks[key] = network_class(key)()
        net = self.networks[key]
        if key not in self._ready:
            await net.setup()
            self._ready.add(key)
        return net

    async def post(self, reply: Reply) -> Posted | None:
        net = await self._network(reply.network)
        net.set_gate(self.hurtful, self.hurtful_cut())
        posted: Posted = await net.reply(reply)
        return posted

    async def aclose(self) -> None:
        for net in self.networks.values():
            await net.aclose()
