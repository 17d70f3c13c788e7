"""Mentions in by polling: Mastodon notifications, Bluesky listNotifications, X mentions,
Reddit inbox, for the networks named in ``ROUTER_POLL_NETWORKS``.

Each round reads pages after the network's checkpoint, normalizes every payload (a payload
that cannot be is dead-lettered with its reason), produces the mentions, and only then moves
the checkpoint, kept on the compacted ``router-config`` topic as ``checkpoint:network:<key>``.
A restart resumes after the last saved checkpoint: no gaps; a repeat after a crash is
harmless (triage knows the mention ids it has decided). Only the leader worker polls; the
network's rate-limit wait (``Page.wait``) is honoured by skipping rounds.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from connectors.errors import ConnectorError, InvalidPayload
from connectors.registry import network_class
from connectors.social.base import Network
from connectors.social.compose import normalize_payload

if TYPE_CHECKING:
    from .runtime import Runtime

log = logging.getLogger(__name__)

MAX_PAGES = 20  # a round reads at most this many pages per network


async def poll_network(net: Network, checkpoint: str | None, *,
                       send: Callable[[bytes, bytes], Awaitable[None]],
                       dead_letter: Callable[[bytes, str], Awaitable[None]],
                       save: Callable[[str], Awaitable[None]]) -> tuple[int, float]:
    """One round for one network: (mentions produced, seconds the network asks us to wait)."""
    produced = 0
    wait = 0.0
    for _ in range(MAX_PAGES):
        page = await net.poll(checkpoint)
        for payload in page.payloads:
            raw = json.dumps(payload, ensure_ascii=False).encode()
            try:
                mention = normalize_payload(net, payload)
            except InvalidPayload as exc:
                await dead_letter(raw, f"{net.key}: {exc}")
                continue
            await send(f"{mention.network}:{mention.author.id}".encode(), mention.dumps())
            produced += 1
        wait = max(wait, float(getattr(page, "wait", 0.0) or 0.0))
        if page.checkpoint and page.checkpoint != checkpoint:
            checkpoint = page.checkpoint
            await save(checkpoint)
        if not getattr(page, "more", False) or wait > 0:
            break
    return produced, wait


def register(rt: Runtime) -> None:
    networks: dict[str, Any] = {}
    resume_at: dict[str, float] = {}

    async def net_for(key: str) -> Any:
        if key not in networks:
            net = network_class(key)()
            await net.setup()
            networks[key] = net
        return networks[key]

    @rt.app.timer(rt.settings.network_poll_seconds, on_leader=True)
    async def poll_networks() -> None:
        await rt.ready()
        await rt.control.ready.wait()
        for key in rt.settings.poll_networks:
            if time.monotonic() < resume_at.get(key, 0.0):
                continue
            cp_key = f"checkpoint:network:{key}"

            async def send(k: bytes, v: bytes) -> None:
                await rt.emit(rt.topics.mentions, k, v)

            async def dead_letter(raw: bytes, reason: str, key: str = key) -> None:
                await rt.dead_letter_record("mentions", key, raw, reason)

            async def save(cp: str, cp_key: str = cp_key) -> None:
                # mentions first, then the checkpoint
                await rt.control.save(rt.app.producer, cp_key, cp, by="poller")

            try:
                net = await net_for(key)
                n, wait = await poll_network(net, rt.control.values.get(cp_key), send=send,
                                             dead_letter=dead_letter, save=save)
            except ConnectorError as exc:
                log.warning("polling %s failed: %s", key, exc)
                wait = float(getattr(exc, "retry_after", 0.0) or 0.0)
                n = 0
            except Exception:  # noqa: BLE001 - a timer that raises stops the whole worker
                log.exception("polling %s failed", key)
                continue
            rt.count(f"poller.{key}.mentions", n)
            if wait:
                resume_at[key] = time.monotonic() + wait
