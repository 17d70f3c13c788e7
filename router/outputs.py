"""Where replies go. The default writes them to a JSON-lines file and the console.

Real networks (``reply_output = network``) post through the social connectors. Either way a
reply id is posted at most once: the file output keeps its own ledger (the file itself).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Protocol

from connectors.social.base import Posted
from vocab.records import Reply


class ReplyOutput(Protocol):
    async def setup(self) -> None: ...

    async def post(self, reply: Reply) -> Posted | None:
        """Post once; None if this reply id was already posted."""
        ...

    async def aclose(self) -> None: ...


class FileOutput:
    """Replies appended to a JSON-lines file (and echoed to the console)."""

    def __init__(self, path: Path, *, echo: bool = True) -> None:
        self.path = path
        self.echo = echo
        self.posted: set[str] = set()

    async def setup(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            for line in self.path.read_text(encoding="utf-8").splitlines():
                try:
                    self.posted.add(json.loads(line)["id"])
                except (ValueError, KeyError, TypeError):
                    continue

    async def post(self, reply: Reply) -> Posted | None:
        if reply.id in self.posted:
            return None
        record = {"id": reply.id, "network": reply.network, "in_reply_to": reply.in_reply_to,
                  "to": reply.author_handle, "text": reply.text, "link": reply.ticket_url,
                  "ticket": reply.ticket_key, "posted_at": time.time()}
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
            fh.flush()
        self.posted.add(reply.id)
        if self.echo:
            print(f"REPLY to @{reply.author_handle} on {reply.network} "
                  f"(in reply to {reply.in_reply_to}): {reply.text}", file=sys.stderr,
                  flush=True)
        return Posted(id=reply.id, url="")

    async def aclose(self) -> None:
        return None
