"""The embedded desk as an agent uses it from the command line: the whole ticket, a public
update the customer then reads on the status page, and the review queue."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from click.testing import CliRunner

from connectors.desks.base import CommentBody
from connectors.desks.embedded import EmbeddedConfig, EmbeddedDesk
from router.cli import main
from router.drafts import REVIEW_TAG
from router.pages import ticket_page

from ..connectors.desks.drafts import draft


async def desk_with_tickets(path: Path) -> tuple[EmbeddedDesk, str, str]:
    desk = EmbeddedDesk(EmbeddedConfig(path=path, url="https://status.example/t/{id}"))
    await desk.setup()
    plain = await desk.open(draft("case-1"))
    review = await desk.open(dataclasses.replace(
        draft("case-2", handle="bob"), tags=["social", REVIEW_TAG]))
    await desk.comment(plain.id, CommentBody(text="New post by @ann joined this ticket"),
                       public=False, idempotency_key="note-1")
    return desk, plain.id, review.id


async def test_show_reply_and_the_review_queue(tmp_path: Path) -> None:
    path = tmp_path / "desk.sqlite"
    desk, plain, review = await desk_with_tickets(path)
    env = {"ROUTER_EMBEDDED_DESK_PATH": str(path), "ROUTER_DESK": "embedded",
           "ROUTER_EMBEDDED_DESK_URL": "https://status.example/t/{id}"}
    run = CliRunner(env=env).invoke

    shown = run(main, ["desk", "show", plain])
    assert shown.exit_code == 0, shown.output
    assert "My order #123 never arrived" in shown.output  # the agent's view of the mention
    assert "internal note" in shown.output and "joined this ticket" in shown.output
    assert "tags: social, social-mastodon, verdict-open" in shown.output
    assert f"https://status.example/t/{plain}?k=" in shown.output

    out = run(main, ["desk", "reply", plain, "Refunded today, sorry for the wait."])
    assert out.exit_code == 0, out.output
    view = await desk.public_view(plain, desk.page_key(plain))
    assert view is not None
    assert "Refunded today, sorry for the wait." in ticket_page(view)  # what the link shows
    assert "joined this ticket" not in ticket_page(view)  # the note stays internal
    as_json = json.loads(run(main, ["desk", "show", plain, "--json"]).output)
    assert [c["public"] for c in as_json["comments"]] == [0, 1]

    queue = run(main, ["desk", "list", "--review", "--json"]).output.splitlines()
    assert [json.loads(line)["id"] for line in queue] == [int(review)]
    tagged = run(main, ["desk", "list", "--tag", "social", "--json"]).output.splitlines()
    assert len(tagged) == 2

    missing = run(main, ["desk", "show", "99"])
    assert missing.exit_code == 1 and "no ticket 99" in missing.output
    assert "Traceback" not in missing.output
    await desk.aclose()
