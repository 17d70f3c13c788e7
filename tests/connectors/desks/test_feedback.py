"""Agents' feedback through the desk they use: a social ticket an agent tagged (labelled, or
whose field they set) ``not-actionable`` comes back in the desk's own webhook as
``TicketChange.not_actionable``; True marked, False the payload lists the tags without it,
None the payload does not say. A mark put on without a status change still arrives, as a
change at the ticket's current status.

Payloads are built the way each vendor documents them (the page is named at each builder).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pytest

from connectors.desks.base import FEEDBACK_TAG, Desk, TicketChange
from connectors.desks.webhooks import ReplayCache
from connectors.registry import DESKS as REGISTERED_DESKS
from connectors.registry import desk_class
from router.webhooks import accept_delivery
from vocab.errors import SettingsError

Payload = dict[str, Any]


def parse(desk: str, payload: Mapping[str, Any], **kwargs: Any) -> list[TicketChange]:
    cls: type[Desk] = desk_class(desk)
    return cls.parse_webhook(payload, **kwargs)


# --- each desk's documented payloads ---------------------------------------------------------


def zendesk_event(kind: str, status: str, tags: list[str] | None,
                  event: Mapping[str, Any] | None = None) -> Payload:
    # https://developer.zendesk.com/api-reference/webhooks/event-types/ticket-events/
    # (every ticket event's ``detail`` lists the ticket's status and tags)
    detail: Payload = {"id": "35436", "status": status.upper(), "external_id": "case-1",
                       "updated_at": "2026-11-17T10:13:20Z", "actor_id": "1",
                       "requester_id": "2", "priority": "NORMAL", "type": "QUESTION"}
    if tags is not None:
        detail["tags"] = tags
    return {"type": f"zen:event-type:ticket.{kind}", "account_id": 1, "id": "01HN",
            "time": "2026-11-17T10:13:20Z", "zendesk_event_version": "2022-11-06",
            "subject": "zen:ticket:35436", "detail": detail,
            "event": dict(event or {"meta": {"sequence": {"id": "s1", "position": 1}}})}


def zendesk_trigger(status: str, tags: str | None) -> Payload:
    # The trigger body docs/desks.md recommends, with "tags": "{{ticket.tags}}" (Zendesk's
    # placeholder: the ticket's tags joined by spaces, "Zendesk Support placeholders
    # reference" on support.zendesk.com).
    ticket: Payload = {"id": "8", "status": status.title(), "external_id": "case-8",
                       "url": "https://acme.zendesk.com/agent/tickets/8"}
    if tags is not None:
        ticket["tags"] = tags
    return {"ticket": ticket}


def freshdesk_body(status: str, tags: str | None) -> Payload:
    # An automation rule's "Trigger webhook" action, a JSON body of placeholders
    # ({{ticket.tags}}: the tags joined by commas),
    # https://support.freshdesk.com/support/solutions/articles/99047
    data: Payload = {"ticket_id": "9", "ticket_status": status.title(),
                     "ticket_url": "https://acme.freshdesk.com/helpdesk/tickets/9",
                     "ticket_cf_external_id": "case-9"}
    if tags is not None:
        data["ticket_tags"] = tags
    return {"freshdesk_webhook": data}


def helpscout_conversation(status: str, tags: list[str] | None) -> Payload:
    # convo.* webhooks send the Mailbox API 2.0 conversation object,
    # https://developer.helpscout.com/webhooks/ ; its tags are {id, color, tag} objects,
    # https://developer.helpscout.com/mailbox-api/endpoints/conversations/get/
    convo: Payload = {"id": 123, "number": 7, "status": status, "mailboxId": 5,
                      "userUpdatedAt": "2026-11-17T10:13:20Z",
                      "_links": {"web": {"href":
                                         "https://secure.helpscout.net/conversation/123/7/"}}}
    if tags is not None:
        convo["tags"] = [{"id": 900 + i, "color": "#929499", "tag": t}
                         for i, t in enumerate(tags)]
    return convo


JIRA_STATUS = {"open": {"name": "In Progress", "statusCategory": {"key": "indeterminate"}},
               "solved": {"name": "Done", "statusCategory": {"key": "done"}}}


def jira_issue_updated(status: str, labels: list[str] | None) -> Payload:
    # jira:issue_updated, https://developer.atlassian.com/cloud/jira/platform/webhooks/ :
    # the whole issue (fields.labels: a list of strings) and the changelog of this update.
    fields: Payload = {"status": JIRA_STATUS[status], "summary": "Order never arrived"}
    if labels is not None:
        fields["labels"] = labels
    return {"timestamp": 1_795_000_000_000, "webhookEvent": "jira:issue_updated",
            "issue_event_type_name": "issue_generic",
            "issue": {"id": "10001", "key": "SUP-7",
                      "self": "https://acme.atlassian.net/rest/api/3/issue/10001",
                      "fields": fields},
            "changelog": {"id": "5", "items": [{"field": "labels", "fieldtype": "jira",
                                                "from": None, "fromString": "",
                                                "to": None, "toString": " ".join(labels or [])}]}}


def github_issues(action: str, state: str, labels: list[str] | None,
                  label: str | None = None) -> Payload:
    # The issues event, https://docs.github.com/en/webhooks/webhook-events-and-payloads#issues
    # (issue.labels: label objects with name; labeled / unlabeled also name the ``label``).
    issue: Payload = {"number": 42, "state": state,
                      "state_reason": "completed" if state == "closed" else None,
                      "html_url": "https://github.com/acme/support/issues/42",
                      "updated_at": "2026-11-18T11:06:00Z",
                      "body": "text\n<!-- escalation-router external-id=case%2D1 -->"}
    if labels is not None:
        issue["labels"] = [{"id": 7 + i, "name": n, "color": "ededed", "default": False}
                           for i, n in enumerate(labels)]
    payload: Payload = {"action": action, "issue": issue,
                        "repository": {"full_name": "acme/support"}, "sender": {"login": "ag"}}
    if label is not None:
        payload["label"] = {"id": 99, "name": label, "color": "d73a4a"}
    return payload


def zammad_trigger(state: str, feedback: str | None, *, with_field: bool = True) -> Payload:
    # The default trigger payload, https://admin-docs.zammad.org/en/latest/manage/webhook/
    # payload.html : the ticket's attributes, custom object attributes included (here the
    # select ``router_feedback``); Zammad sends no tags in it.
    ticket: Payload = {"id": 81, "number": "10081", "state": state, "state_id": 2,
                       "title": "Order never arrived", "updated_at": "2026-11-13T14:34:35Z"}
    if with_field:
        ticket["router_feedback"] = feedback
    return {"ticket": ticket, "article": {"id": 104, "internal": False}}


@dataclass(frozen=True)
class Case:
    """One desk: a payload with the ticket's tags, one that names none, and the event an
    agent's tag alone sends (no status change)."""

    tagged: Callable[[str, list[str]], Payload]  # (status, tags) -> payload
    untagged: Callable[[str], Payload]  # status -> a payload that does not list the tags
    tag_only: Callable[[list[str]], Payload]  # tags now on an open ticket -> the tag's event
    open_status: str = "open"


CASES: dict[str, Case] = {
    "zendesk": Case(
        tagged=lambda s, tags: zendesk_event("status_changed", s, tags,
                                             {"current": s.upper(), "previous": "OPEN"}),
        untagged=lambda s: zendesk_event("status_changed", s, None,
                                         {"current": s.upper(), "previous": "OPEN"}),
        tag_only=lambda tags: zendesk_event("tags_changed", "open", tags,
                                            {"tags_added": tags[-1:], "tags_removed": []})),
    "freshdesk": Case(
        tagged=lambda s, tags: freshdesk_body(s if s != "solved" else "resolved",
                                              ", ".join(tags)),
        untagged=lambda s: freshdesk_body(s if s != "solved" else "resolved", None),
        tag_only=lambda tags: freshdesk_body("open", ", ".join(tags))),
    "helpscout": Case(
        tagged=lambda s, tags: helpscout_conversation("closed" if s == "solved" else "active",
                                                      tags),
        untagged=lambda s: helpscout_conversation("closed" if s == "solved" else "active",
                                                  None),
        tag_only=lambda tags: helpscout_conversation("active", tags)),
    "jira": Case(
        tagged=lambda s, tags: jira_issue_updated(s, tags),
        untagged=lambda s: jira_issue_updated(s, None),
        tag_only=lambda tags: jira_issue_updated("open", tags)),
    "github": Case(
        tagged=lambda s, tags: github_issues("closed" if s == "solved" else "reopened",
                                             "closed" if s == "solved" else "open", tags),
        untagged=lambda s: github_issues("closed" if s == "solved" else "reopened",
                                         "closed" if s == "solved" else "open", None),
        tag_only=lambda tags: github_issues("labeled", "open", tags, label=tags[-1])),
    "zammad": Case(
        # Zammad's mark is a field, not a tag: the last "tag" is the field's value.
        tagged=lambda s, tags: zammad_trigger("closed" if s == "solved" else "open",
                                              tags[-1] if tags[-1] != "social" else None),
        untagged=lambda s: zammad_trigger("closed" if s == "solved" else "open", None,
                                          with_field=False),
        tag_only=lambda tags: zammad_trigger("open", tags[-1])),
}
DONE = {"zendesk": "solved", "freshdesk": "solved", "helpscout": "closed", "jira": "solved",
        "github": "solved", "zammad": "closed"}
DESKS = sorted(CASES)


def test_every_webhook_desk_has_a_case() -> None:
    from connectors.registry import DESKS as REGISTERED

    webhook_desks = sorted(k for k in REGISTERED if desk_class(k).events == "webhook")
    assert DESKS == webhook_desks


@pytest.mark.parametrize("desk", DESKS)
def test_the_feedback_tag_marks_the_ticket_not_actionable(desk: str) -> None:
    [change] = parse(desk, CASES[desk].tagged("solved", ["social", FEEDBACK_TAG]))
    assert (change.status, change.not_actionable) == (DONE[desk], True)


@pytest.mark.parametrize("desk", DESKS)
def test_tags_without_the_feedback_tag_say_not_marked(desk: str) -> None:
    [change] = parse(desk, CASES[desk].tagged("solved", ["social"]))
    assert (change.status, change.not_actionable) == (DONE[desk], False)


@pytest.mark.parametrize("desk", DESKS)
def test_a_payload_without_tags_says_nothing(desk: str) -> None:
    [change] = parse(desk, CASES[desk].untagged("solved"))
    assert (change.status, change.not_actionable) == (DONE[desk], None)


@pytest.mark.parametrize("desk", DESKS)
def test_the_tag_is_read_in_any_case(desk: str) -> None:
    [change] = parse(desk, CASES[desk].tagged("open", ["social", "Not-Actionable"]))
    assert change.not_actionable is True


@pytest.mark.parametrize("desk", DESKS)
def test_a_configured_feedback_tag_replaces_the_default(desk: str) -> None:
    payload = CASES[desk].tagged("solved", ["social", "misrouted"])
    assert parse(desk, payload, feedback_tag="misrouted")[0].not_actionable is True
    assert parse(desk, payload)[0].not_actionable is False  # "not-actionable" is not on it
    other = CASES[desk].tagged("solved", ["social", FEEDBACK_TAG])
    assert parse(desk, other, feedback_tag="misrouted")[0].not_actionable is False


@pytest.mark.parametrize("desk", DESKS)
def test_a_tag_alone_comes_back_at_the_current_status(desk: str) -> None:
    """The agent only tags the ticket (it stays open): the router still hears of it."""
    [change] = parse(desk, CASES[desk].tag_only(["social", FEEDBACK_TAG]))
    assert (change.status, change.not_actionable) == ("open", True)
    assert change.ticket_id


# --- what each desk does beyond the shared cases --------------------------------------------


def test_zendesk_tags_changed_names_the_tag_added_or_removed() -> None:
    # detail lists the tags it had; the event says what this update did to them
    removed = zendesk_event("tags_changed", "open", ["social", FEEDBACK_TAG],
                            {"tags_added": [], "tags_removed": [FEEDBACK_TAG]})
    assert parse("zendesk", removed)[0].not_actionable is False
    added = zendesk_event("tags_changed", "open", None,
                          {"tags_added": [FEEDBACK_TAG], "tags_removed": []})
    assert parse("zendesk", added)[0].not_actionable is True
    other = zendesk_event("tags_changed", "pending", None,
                          {"tags_added": ["vip"], "tags_removed": []})
    assert [(c.status, c.not_actionable) for c in parse("zendesk", other)] == [
        ("pending", None)]


def test_zendesk_comment_event_carries_the_mark_it_lists() -> None:
    comment = zendesk_event("comment_added", "open", ["social", FEEDBACK_TAG],
                            {"comment": {"id": "1", "body": "looking", "is_public": False}})
    assert [(c.status, c.not_actionable) for c in parse("zendesk", comment)] == [
        ("open", True)]


def test_zendesk_trigger_body_reads_the_space_separated_placeholder() -> None:
    assert parse("zendesk", zendesk_trigger("solved", f"social {FEEDBACK_TAG} vip"))[
        0].not_actionable is True
    assert parse("zendesk", zendesk_trigger("solved", "social vip"))[0].not_actionable is False
    assert parse("zendesk", zendesk_trigger("solved", ""))[0].not_actionable is False
    assert parse("zendesk", zendesk_trigger("solved", None))[0].not_actionable is None


def test_freshdesk_splits_its_placeholder_on_commas_only() -> None:
    # a Freshdesk tag may hold a space: "not actionable" is not "not-actionable"
    body = freshdesk_body("open", "social,not actionable")
    assert parse("freshdesk", body)[0].not_actionable is False
    assert parse("freshdesk", body, feedback_tag="not actionable")[0].not_actionable is True


def test_helpscout_deleted_conversation_is_still_nothing() -> None:
    assert parse("helpscout", {"id": 123}) == []  # convo.deleted: only the id


def test_github_other_labels_events_are_skipped() -> None:
    """One labeled event per label follows an issue's creation; only the feedback label's
    own events are news."""
    social = github_issues("labeled", "open", ["social"], label="social")
    assert parse("github", social) == []
    pending = github_issues("unlabeled", "open", [FEEDBACK_TAG], label="waiting-for-customer")
    assert parse("github", pending) == []
    assert parse("github", github_issues("commented", "open", [FEEDBACK_TAG])) == []


def test_github_unlabeled_takes_the_mark_off() -> None:
    [change] = parse("github", github_issues("unlabeled", "open", ["social"],
                                             label=FEEDBACK_TAG))
    assert (change.status, change.not_actionable) == ("open", False)
    # the event's own label wins over a stale list
    [change] = parse("github", github_issues("unlabeled", "open", ["social", FEEDBACK_TAG],
                                             label=FEEDBACK_TAG))
    assert change.not_actionable is False
    [change] = parse("github", github_issues("labeled", "closed", ["social", "misrouted"],
                                             label="misrouted"), feedback_tag="misrouted")
    assert (change.status, change.not_actionable) == ("solved", True)


def test_zammad_field_unset_is_not_marked_and_tags_are_read_where_present() -> None:
    assert parse("zammad", zammad_trigger("open", None))[0].not_actionable is False
    with_tags = zammad_trigger("open", None, with_field=False)
    with_tags["ticket"]["tags"] = ["social", FEEDBACK_TAG]
    assert parse("zammad", with_tags)[0].not_actionable is True
    with_tags["ticket"]["tags"] = f"social, {FEEDBACK_TAG}"  # as #{ticket.tags} renders
    assert parse("zammad", with_tags)[0].not_actionable is True
    multi = zammad_trigger("open", None)
    multi["ticket"]["router_feedback"] = ["misrouted", FEEDBACK_TAG]  # a multi-select
    assert parse("zammad", multi)[0].not_actionable is True


# --- end to end: a signed delivery becomes a marked ticket event ------------------------------

SECRET = "whsec-feedback-0123"
NOW = 1_795_000_000.0  # 2026-11-18T11:06:40Z


def test_signed_github_label_delivery_becomes_a_marked_status_event() -> None:
    body = json.dumps(github_issues("labeled", "open", ["social", "misrouted"],
                                    label="misrouted")).encode()
    headers = {"X-Hub-Signature-256": "sha256=" + hmac.new(SECRET.encode(), body,
                                                           hashlib.sha256).hexdigest(),
               "X-GitHub-Delivery": "d-feedback-1", "X-GitHub-Event": "issues"}
    accepted = accept_delivery(desk_class("github"), headers, body, SECRET,
                               replay_cache=ReplayCache(), ticket_url=lambda tid: tid,
                               feedback_tag="misrouted", now=NOW)
    [event] = accepted.events
    assert (event.ticket_key, event.kind, event.status, event.not_actionable) == (
        "github:42", "status", "open", True)
    assert event.ticket_url == "https://github.com/acme/support/issues/42"


def test_signed_zendesk_tags_changed_delivery_is_marked_with_the_default_tag() -> None:
    body = json.dumps(CASES["zendesk"].tag_only(["social", FEEDBACK_TAG])).encode()
    at = "2026-11-18T11:06:40Z"
    sig = base64.b64encode(hmac.new(SECRET.encode(), at.encode() + body,
                                    hashlib.sha256).digest()).decode()
    headers = {"X-Zendesk-Webhook-Signature": sig,
               "X-Zendesk-Webhook-Signature-Timestamp": at,
               "X-Zendesk-Webhook-Invocation-Id": "inv-feedback"}
    accepted = accept_delivery(desk_class("zendesk"), headers, body, SECRET,
                               replay_cache=ReplayCache(),
                               ticket_url=lambda tid: f"https://acme.zendesk.com/agent/"
                                                      f"tickets/{tid}", now=NOW)
    [event] = accepted.events
    assert (event.ticket_key, event.status, event.not_actionable) == (
        "zendesk:35436", "open", True)


@pytest.mark.parametrize("key", sorted(REGISTERED_DESKS))
def test_an_empty_feedback_tag_is_one_line_naming_the_setting(
        key: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every desk the same way: an empty tag would turn agents' feedback off silently."""
    from router.runtime import make_desk
    from router.settings import Settings

    env = f"ROUTER_{'EMBEDDED_DESK' if key == 'embedded' else key.upper()}_FEEDBACK_TAG"
    monkeypatch.setenv(env, "  ")
    with pytest.raises(SettingsError) as err:
        make_desk(Settings(desk=key))
    assert str(err.value).startswith(f"bad setting {env}: ") and "\n" not in str(err.value)
