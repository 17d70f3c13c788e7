"""Publish: the last gate before a reply is public.

Just before posting, every reply is checked again: the global kill switch (so it stops
replies already queued), quiet hours, and the hurtful gate on the reply's own text. A reply
that does not pass is not lost: it goes to ``replies-dlq`` with the reason, to be released
later. The output posts each reply id at most once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from connectors.errors import ConnectorError
from vocab.records import Reply

from ..control import Control
from ..outputs import ReplyOutput
from . import Sink

if TYPE_CHECKING:
    from ..runtime import Runtime

log = logging.getLogger(__name__)


class Publish:
    """The last gate and the post, for one reply."""

    def __init__(self, *, control: Control, hurtful: Callable[[Sequence[str]], Sequence[float]],
                 hurtful_cut: Callable[[], float], output: ReplyOutput, sink: Sink) -> None:
        self.control = control
        self.hurtful = hurtful
        self.hurtful_cut = hurtful_cut  # read per reply: ops may change it at runtime
        self.output = output
        self.sink = sink

    def blocked(self, reply: Reply) -> str | None:
        """Why this reply must not be posted now, or None."""
        control = self.control
        if not control.replies_enabled:
            return "kill switch: replies are turned off"
        if control.quiet_now():
            return "quiet hours"
        hurtful = self.hurtful([reply.text])[0]
        if hurtful >= self.hurtful_cut():
            return f"hurtful gate: the reply scored {hurtful:.2f}"
        return None

    async def handle(self, reply: Reply) -> None:
        why = self.blocked(reply)
        if why:
            log.warning("reply %s held: %s", reply.id, why)
            self.sink.count("replies.held")
            await self.sink.dead_letter_record("replies", reply.id, reply.dumps(), why)
            return
        try:
            posted = await self.output.post(reply)
        except ConnectorError as exc:
            self.sink.count("replies.failed")
            await self.sink.dead_letter_record("replies", reply.id, reply.dumps(),
                                             f"posting failed: {exc}")
            return
        self.sink.count("replies.posted" if posted else "replies.already_posted")


def register(rt: Runtime) -> None:
    @rt.app.agent(rt.topics.replies, name="publish", concurrency=1)
    async def publish(stream: Any) -> None:
        await rt.ready()  # done before the worker starts: the model and output are set
        step = Publish(control=rt.control, hurtful=lambda texts: rt.model.hurtful(texts),
                       hurtful_cut=lambda: rt.policy_settings().hurtful_cut,
                       output=rt.output, sink=rt)
        async for event in stream.events():
            async with rt.guard("replies", event):
                await step.handle(event.value)
