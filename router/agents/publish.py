"""Publish: the last gate before a reply is public.

Just before posting, every reply is checked again: the global kill switch (so it stops
replies already queued), quiet hours, and the hurtful gate on the reply's own text. A reply
that does not pass is not lost: it goes to ``replies-dlq`` with the reason, to be released
later. The output posts each reply id at most once.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from connectors.errors import ConnectorError
from vocab.records import Reply

if TYPE_CHECKING:
    from ..runtime import Runtime

log = logging.getLogger(__name__)


class Publish:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def blocked(self, reply: Reply) -> str | None:
        """Why this reply must not be posted now, or None."""
        control = self.rt.control
        if not control.replies_enabled:
            return "kill switch: replies are turned off"
        if control.quiet_now():
            return "quiet hours"
        hurtful = self.rt.model.hurtful([reply.text])[0]
        if hurtful >= self.rt.policy_settings().hurtful_cut:
            return f"hurtful gate: the reply scored {hurtful:.2f}"
        return None

    async def handle(self, reply: Reply) -> None:
        why = self.blocked(reply)
        if why:
            log.warning("reply %s held: %s", reply.id, why)
            self.rt.count("replies.held")
            await self.rt.dead_letter_record("replies", reply.id, reply.dumps(), why)
            return
        try:
            posted = await self.rt.output.post(reply)
        except ConnectorError as exc:
            self.rt.count("replies.failed")
            await self.rt.dead_letter_record("replies", reply.id, reply.dumps(),
                                             f"posting failed: {exc}")
            return
        self.rt.count("replies.posted" if posted else "replies.already_posted")


def register(rt: Runtime) -> None:
    step = Publish(rt)

    @rt.app.agent(rt.topics.replies, name="publish", concurrency=1)
    async def publish(stream: Any) -> None:
        async for event in stream.events():
            async with rt.guard("replies", event):
                await step.handle(event.value)
