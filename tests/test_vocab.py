"""The shared vocabulary: verdicts that say what they do, records that read what was written
before they moved (their wire names are part of the published schema)."""

from __future__ import annotations

import json

import pytest

from vocab.records import Author, Decision, Mention, TicketEvent
from vocab.verdicts import Verdict


def mention() -> Mention:
    return Mention(id="1", network="generic", text="my order never arrived",
                   author=Author(id="u1", handle="ann"), created_at="2026-12-07T10:00:00Z")


def test_each_verdict_says_what_it_does_downstream() -> None:
    table = {v.value: (v.acts, v.opens, v.may_reply) for v in Verdict}
    assert table == {
        "silent": (False, False, False),  # if we can't help, we shut up
        "open": (True, True, True),
        "link": (True, False, True),  # joins a case, opens none
        "incident": (True, True, True),
        "review": (True, True, False),  # a person decides; never answered automatically
    }


def test_a_decision_read_back_holds_the_verdict_and_an_unknown_one_is_refused() -> None:
    d = Decision(mention=mention(), verdict="review", scores={}, reasons=[])
    back = Decision.loads(d.dumps())
    assert back.verdict is Verdict.REVIEW and back.verdict == "review"
    data = json.loads(d.dumps())
    data["verdict"] = "escalate"
    with pytest.raises(ValueError, match="escalate"):
        Decision.loads(json.dumps(data).encode())


def test_records_keep_the_wire_names_they_were_published_with() -> None:
    """Records moved from router.records to vocab.records; Faust writes the class's
    namespace into every message, so it must not have moved with them."""
    d = Decision(mention=mention(), verdict=Verdict.OPEN, scores={}, reasons=[])
    data = json.loads(d.dumps())
    assert data["verdict"] == "open"
    assert data["__faust"]["ns"] == "router.records.Decision"
    assert data["mention"]["__faust"]["ns"] == "router.records.Mention"
    # A message written by the release before the move reads the same.
    before = ('{"desk":"embedded","ticket_id":"7","kind":"status","status":"solved",'
              '"ticket_url":"","mention":null,"reply_allowed":true,"at":1.0,"schema":1,'
              '"__faust":{"ns":"router.records.TicketEvent"}}')
    ev = TicketEvent.loads(before.encode())
    assert (ev.ticket_key, ev.kind, ev.status) == ("embedded:7", "status", "solved")


def test_a_decision_names_its_model_and_one_written_before_the_field_still_reads() -> None:
    d = Decision(mention=mention(), verdict="open", scores={}, reasons=[],
                 model_version="3f9a1c2b7d4e (ours, 2026-12-07)")
    assert Decision.loads(d.dumps()).model_version == "3f9a1c2b7d4e (ours, 2026-12-07)"
    older = json.loads(d.dumps())
    del older["model_version"]  # what the release before the field wrote
    back = Decision.loads(json.dumps(older).encode())
    assert back.model_version == "" and back.schema == 1 and back.verdict is Verdict.OPEN
