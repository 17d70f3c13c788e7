"""The neutral ticket document and its four renderers."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from connectors.desks.base import CommentBody, TicketDraft
from connectors.desks.render import (
    FORMATS,
    adf_text,
    comment_document,
    escape_markdown,
    find_marker,
    marker,
    render,
    ticket_document,
)
from router.drafts import draft_for
from vocab.records import Decision

from .drafts import HOSTILE, draft, mention

ADF_BLOCKS = {"paragraph", "heading", "blockquote", "bulletList", "listItem", "rule"}
ADF_INLINE = {"text", "hardBreak"}


def check_adf(node: dict[str, Any], top: bool = True) -> None:
    if top:
        assert node["type"] == "doc" and node["version"] == 1
        assert isinstance(node["content"], list) and node["content"]
    for child in node.get("content", []):
        kind = child["type"]
        assert kind in ADF_BLOCKS | ADF_INLINE, kind
        if kind == "text":
            assert isinstance(child["text"], str) and child["text"], "ADF text must be non-empty"
            for mark in child.get("marks", []):
                assert mark["type"] in ("strong", "link")
                if mark["type"] == "link":
                    assert mark["attrs"]["href"].startswith(("http://", "https://"))
        if kind == "heading":
            assert 1 <= child["attrs"]["level"] <= 6
        if kind in ("paragraph", "heading"):
            assert all(c["type"] in ADF_INLINE for c in child.get("content", []))
        if kind == "bulletList":
            assert all(c["type"] == "listItem" for c in child["content"])
        if kind not in ADF_INLINE:
            check_adf(child, top=False)


def test_everything_an_agent_needs_is_there() -> None:
    text = render(ticket_document(draft("case-9")), "plain")
    for needle in ("My order #123 never arrived", "https://social.example/@ann/case-9",
                   "@ann", "Ann Example", "https://social.example/@ann", "1,234 followers",
                   "Verdict: open", "mentions an order number", "asks for help",
                   "delivery", "high", "social-mastodon", "Anyone else?", "@bob", "case-9"):
        assert needle in text, needle


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_renders(fmt: str) -> None:
    out = render(ticket_document(draft()), fmt)
    if fmt == "adf":
        check_adf(out)
        assert "My order #123 never arrived" in adf_text(out)
    else:
        assert "never arrived" in out


def test_html_escapes_hostile_customer_text() -> None:
    d = draft(text=HOSTILE)
    out = render(ticket_document(d), "html")
    assert "<script>" not in out
    assert html.escape('<script>alert("x")</script>') in out
    assert "javascript:" not in re.findall(r'href="([^"]*)"', out).__str__()
    comment = render(comment_document(CommentBody(text=HOSTILE)), "html")
    assert "<script>" not in comment


def test_hostile_profile_link_is_not_a_link() -> None:
    m = mention()
    m.author.profile_url = "javascript:alert(1)"
    out = render(comment_document(CommentBody(text="", mention=m)), "html")
    assert "href=\"javascript" not in out
    md = render(comment_document(CommentBody(text="", mention=m)), "markdown")
    assert "](javascript" not in md and "](<javascript" not in md


def test_markdown_escapes_hostile_customer_text() -> None:
    out = render(ticket_document(draft(text=HOSTILE)), "markdown")
    quote = [line for line in out.splitlines() if "script" in line][0]
    assert "<script>" not in quote and "\\<script\\>" in quote
    assert "**bold**" not in quote
    assert "@octocat" not in out  # no GitHub @-mention ping
    assert "](javascript" not in out


def test_escape_markdown_keeps_the_words() -> None:
    assert escape_markdown("a_b*c") == "a\\_b\\*c"


def test_adf_survives_empty_and_multiline_text() -> None:
    out = render(ticket_document(draft(text="line one\nline two\n\nsecond para")), "adf")
    check_adf(out)
    out = render(comment_document(CommentBody(text="")), "adf")
    assert out == {"version": 1, "type": "doc", "content": []}


def test_marker_round_trips_any_value() -> None:
    value = "x:1 --> <b>& a--b-"
    text = f"body\n{marker('external-id', value)}\n"
    assert "-->" not in marker("external-id", value)[:-3]
    assert find_marker(text, "external-id") == value
    assert find_marker(text, "key") is None
    assert find_marker(None, "key") is None
    assert "er-abc" in marker("case", "er-abc")  # tokens stay searchable


def test_unknown_format() -> None:
    with pytest.raises(ValueError):
        render(ticket_document(draft()), "rtf")


def grief_draft() -> TicketDraft:
    m = mention("My father passed away. How do I close his account?", id="g1")
    m.lang = "en"
    d = Decision(mention=m, verdict="review", reasons=["borderline: actionable 0.76 just "
                 "under 0.80"], scores={"actionable": 0.7566, "hurtful": 0.0101,
                 "sensitive": 0.985}, category="how_to", priority="high", sensitive=True)
    return draft_for(d, external_id="g1")


def test_scores_are_labelled_as_what_they_are() -> None:
    """P(actionable) 0.21 is not '21 % confidence': an agent reading 'confidence' trusts a
    low number to mean 'the router is unsure', when it means 'support probably cannot help'."""
    text = render(ticket_document(grief_draft()), "plain")
    assert "confidence" not in text
    assert "P(actionable) 0.76 (support can help: 76%)" in text
    assert "P(hurtful) 0.01" in text
    assert "Suggested priority: high" in text


def test_the_language_is_on_the_ticket() -> None:
    assert "Language: en" in render(ticket_document(grief_draft()), "plain")
    unknown = draft_for(Decision(
        mention=mention(), verdict="open", reasons=[], scores={}, category="other",
        priority="normal"), external_id="x")
    assert "Language: unknown" in render(ticket_document(unknown), "plain")


def test_a_sensitive_moment_says_so_and_that_no_reply_goes_out() -> None:
    text = render(ticket_document(grief_draft()), "plain")
    assert "Sensitive moment" in text and "no automatic reply" in text
    assert "Sensitive moment" not in render(ticket_document(draft()), "plain")

