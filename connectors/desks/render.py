"""One neutral description of a social ticket, four ways to write it for a desk.

``ticket_document(draft)`` and ``comment_document(body)`` build a ``Document`` (headings,
paragraphs, a quoted post, bullet lists, links); ``render(doc, fmt)`` writes it as

- ``plain``: text for desks that take no markup (ServiceNow, Freshdesk notes fallback);
- ``markdown``: GitHub-flavoured Markdown; customer text has every ASCII punctuation
  backslash-escaped and ``@`` broken with a word joiner, so it can neither inject markup
  nor ping a GitHub user;
- ``html``: a Jinja2 template (``templates/document.html``) with autoescape, so every
  customer string is escaped unless a change says otherwise on purpose;
- ``adf``: an Atlassian Document Format ``dict`` (``{"version": 1, "type": "doc", ...}``).

Links are emitted only for ``http``/``https`` URLs; anything else is shown as text.
A hidden marker (``marker(...)``) lets a desk find its own records again in a body
(HTML comment in Markdown/HTML); ``find_marker`` reads it back.
"""

from __future__ import annotations

import html
import re
import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jinja2
import markupsafe

from vocab.records import Mention

from .base import CommentBody, TicketDraft

FORMATS = ("plain", "markdown", "html", "adf")
MAX_QUOTE_CHARS = 4000
THREAD_LIMIT = 10


@dataclass(frozen=True)
class Text:
    """A run of text; ``bold`` for labels."""

    text: str
    bold: bool = False


@dataclass(frozen=True)
class Link:
    """A hyperlink; rendered as text when ``href`` is not http(s)."""

    text: str
    href: str


Inline = Text | Link


@dataclass(frozen=True)
class Heading:
    text: str
    level: int = 3


@dataclass(frozen=True)
class Para:
    parts: tuple[Inline, ...]


@dataclass(frozen=True)
class Quote:
    """Text written by a customer, quoted verbatim (and escaped by every renderer)."""

    text: str


@dataclass(frozen=True)
class Bullets:
    items: tuple[tuple[Inline, ...], ...]


Block = Heading | Para | Quote | Bullets


@dataclass(frozen=True)
class Document:
    blocks: tuple[Block, ...]


# --- building ---------------------------------------------------------------------------


def _safe_href(url: str) -> str | None:
    try:
        parsed = urllib.parse.urlsplit(url.strip())
    except ValueError:
        return None
    if parsed.scheme.lower() in ("http", "https") and parsed.netloc:
        return url.strip()
    return None


def _link_or_text(text: str, url: str) -> Inline:
    return Link(text, url) if url and _safe_href(url) else Text(text)


def _label(label: str, *parts: Inline) -> Para:
    return Para((Text(f"{label}: ", bold=True), *parts))


def _clip(text: str, limit: int = MAX_QUOTE_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _author_line(m: Mention) -> tuple[Inline, ...]:
    a = m.author
    who = f"@{a.handle}" + (f" ({a.name})" if a.name else "")
    parts: list[Inline] = [_link_or_text(who, a.profile_url)]
    parts.append(Text(f" on {m.network}, {a.followers:,} followers"
                      + (", verified" if a.verified else "")))
    return tuple(parts)


def ticket_document(draft: TicketDraft) -> Document:
    """Everything a support agent needs on a social ticket (see DESIGN.md)."""
    m = draft.mention
    blocks: list[Block] = [
        Heading(f"Social mention from @{m.author.handle} on {m.network}"),
        Quote(_clip(m.text) or "(no text)"),
        _label("Original post", _link_or_text(m.url or m.ref, m.url)),
        _label("Author", *_author_line(m)),
        _label("Posted", Text(m.created_at)),
        _label("Language", Text(draft.language or "unknown")),
        _label("Verdict", Text(draft.verdict)),
        _label("Model scores", Text(f"P(actionable) {draft.confidence:.2f} (support can help: "
                                    f"{draft.confidence:.0%}), P(hurtful) {draft.hurtful:.2f}")),
        _label("Category", Text(draft.category)),
        _label("Suggested priority", Text(draft.priority)),
        _label("Tags", Text(", ".join(draft.tags))),
    ]
    if draft.sensitive:
        blocks.append(Para((Text("Sensitive moment: ", bold=True),
                            Text("the post speaks of a death or a disaster; answer in person, "
                                 "the router sends no automatic reply."),)))
    reasons = [r for r in draft.reasons if r][:5]
    if reasons:
        blocks.append(Heading("Why the router escalated it", level=4))
        blocks.append(Bullets(tuple((Text(r),) for r in reasons)))
    thread = [t for t in draft.thread if t.ref != m.ref][:THREAD_LIMIT]
    if thread:
        blocks.append(Heading("The thread", level=4))
        for t in thread:
            link: tuple[Inline, ...] = (
                (Text(" "), Link("(link)", t.url)) if _safe_href(t.url) else ())
            blocks.append(Para((_link_or_text(f"@{t.author.handle}", t.author.profile_url),
                                Text(f" at {t.created_at}"), *link)))
            blocks.append(Quote(_clip(t.text, 1000)))
    if draft.problem:
        blocks.append(Para((Text("This is the problem ticket of an incident: each report is "
                                 "linked to it and every reporter is answered when it is "
                                 "solved."),)))
    blocks.append(Para((Text(f"Reference: {draft.external_id}"),)))
    return Document(tuple(blocks))


def comment_document(body: CommentBody) -> Document:
    """A comment: a reply text, or the mention that joined the ticket."""
    blocks: list[Block] = []
    if body.text:
        blocks.append(Quote(body.text) if body.mention is None else Para((Text(body.text),)))
    m = body.mention
    if m is not None:
        blocks.append(Para((Text("New mention from "), *_author_line(m))))
        blocks.append(Quote(_clip(m.text) or "(no text)"))
        blocks.append(_label("Post", _link_or_text(m.url or m.ref, m.url)))
    return Document(tuple(blocks))


# --- markers ------------------------------------------------------------------------------

_MARKER_RE = re.compile(r"<!-- escalation-router (?P<name>[a-z-]+)=(?P<value>[^ >]*) -->")


def marker(name: str, value: str) -> str:
    """A hidden HTML comment carrying ``value`` (percent-encoded: no ``--`` or ``>``)."""
    safe = urllib.parse.quote(value, safe="-._~:@")
    safe = re.sub(r"-(?=-)", "%2D", safe)  # an HTML comment may not contain "--"
    if safe.endswith("-"):
        safe = safe[:-1] + "%2D"
    return f"<!-- escalation-router {name}={safe} -->"


def find_marker(text: str | None, name: str) -> str | None:
    """The value of the first marker ``name`` in ``text``, or None."""
    for match in _MARKER_RE.finditer(text or ""):
        if match.group("name") == name:
            return urllib.parse.unquote(match.group("value"))
    return None


# --- renderers ----------------------------------------------------------------------------


def render(doc: Document, fmt: str) -> Any:
    """``doc`` in ``fmt`` (one of ``FORMATS``): a ``str``, or a ``dict`` for ``adf``."""
    if fmt == "plain":
        return to_plain(doc)
    if fmt == "markdown":
        return to_markdown(doc)
    if fmt == "html":
        return to_html(doc)
    if fmt == "adf":
        return to_adf(doc)
    raise ValueError(f"unknown body format {fmt!r}; use one of {', '.join(FORMATS)}")


def _plain_inline(parts: Sequence[Inline]) -> str:
    out = []
    for p in parts:
        if isinstance(p, Link) and _safe_href(p.href):
            out.append(p.text if p.text == p.href else f"{p.text} <{p.href}>")
        else:
            out.append(p.text)
    return "".join(out)


def to_plain(doc: Document) -> str:
    lines: list[str] = []
    for b in doc.blocks:
        if isinstance(b, Heading):
            lines += [b.text, "=" * min(len(b.text), 60) if b.level <= 3 else "-" * 20]
        elif isinstance(b, Para):
            lines.append(_plain_inline(b.parts))
        elif isinstance(b, Quote):
            lines += [f"> {line}" for line in b.text.splitlines() or [""]]
        else:
            lines += [f"- {_plain_inline(item)}" for item in b.items]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


_MD_PUNCT = re.compile(r"([!\"#$%&'()*+,\-./:;<=>?\[\\\]^_`{|}~])")


def escape_markdown(text: str) -> str:
    """Customer text made inert in (GitHub) Markdown: no markup, no HTML, no @-pings."""
    text = _MD_PUNCT.sub(r"\\\1", text)
    return text.replace("@", "@\u2060")


def _md_inline(parts: Sequence[Inline]) -> str:
    out = []
    for p in parts:
        if isinstance(p, Link) and (href := _safe_href(p.href)):
            target = href.replace("(", "%28").replace(")", "%29").replace(" ", "%20")
            out.append(f"[{escape_markdown(p.text)}](<{target.replace('>', '%3E')}>)")
        elif isinstance(p, Text) and p.bold:
            out.append(f"**{escape_markdown(p.text.rstrip())}** " if p.text.endswith(" ")
                       else f"**{escape_markdown(p.text)}**")
        else:
            out.append(escape_markdown(p.text))
    return "".join(out)


def to_markdown(doc: Document) -> str:
    chunks: list[str] = []
    for b in doc.blocks:
        if isinstance(b, Heading):
            chunks.append(f"{'#' * max(1, min(6, b.level))} {escape_markdown(b.text)}")
        elif isinstance(b, Para):
            chunks.append(_md_inline(b.parts))
        elif isinstance(b, Quote):
            lines = b.text.splitlines() or [""]
            chunks.append("\n".join(f"> {escape_markdown(line)}" if line.strip() else ">"
                                    for line in lines))
        else:
            chunks.append("\n".join(f"- {_md_inline(item)}" for item in b.items))
    return "\n\n".join(chunks) + "\n"


def _escape(value: Any) -> markupsafe.Markup:
    """Escape as ``html.escape`` does ("&quot;" where markupsafe writes "&#34;"), so bodies
    stay byte-identical to those written before the template; autoescape stays on."""
    if isinstance(value, markupsafe.Markup):
        return value  # a macro's output, already escaped
    return markupsafe.Markup(html.escape(str(value)))  # noqa: S704 - escaped right here


@lru_cache(maxsize=1)
def _templates() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("connectors.desks", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    env.finalize = _escape
    env.globals["safe_href"] = _safe_href
    env.tests.update({
        "link": lambda p: isinstance(p, Link),
        "bold": lambda p: isinstance(p, Text) and p.bold,
        "heading": lambda b: isinstance(b, Heading),
        "para": lambda b: isinstance(b, Para),
        "quote": lambda b: isinstance(b, Quote),
    })
    return env


def to_html(doc: Document) -> str:
    """``doc`` as HTML from ``templates/document.html`` (every customer string escaped)."""
    return _templates().get_template("document.html").render(blocks=doc.blocks)


def _adf_inline(parts: Sequence[Inline]) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    for p in parts:
        if not p.text:
            continue  # ADF forbids empty text nodes
        node: dict[str, Any] = {"type": "text", "text": p.text}
        if isinstance(p, Link) and (href := _safe_href(p.href)):
            node["marks"] = [{"type": "link", "attrs": {"href": href}}]
        elif isinstance(p, Text) and p.bold:
            node["marks"] = [{"type": "strong"}]
        nodes.append(node)
    return nodes


def _adf_lines(text: str) -> list[dict[str, Any]]:
    nodes: list[dict[str, Any]] = []
    for i, line in enumerate(text.splitlines() or [""]):
        if i:
            nodes.append({"type": "hardBreak"})
        if line:
            nodes.append({"type": "text", "text": line})
    return nodes


def to_adf(doc: Document) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for b in doc.blocks:
        if isinstance(b, Heading):
            content.append({"type": "heading", "attrs": {"level": max(1, min(6, b.level))},
                            "content": _adf_inline((Text(b.text),))})
        elif isinstance(b, Para):
            content.append({"type": "paragraph", "content": _adf_inline(b.parts)})
        elif isinstance(b, Quote):
            paragraphs = [{"type": "paragraph", "content": _adf_lines(chunk)}
                          for chunk in re.split(r"\n\s*\n", b.text)] or [
                              {"type": "paragraph", "content": []}]
            content.append({"type": "blockquote", "content": paragraphs})
        else:
            content.append({"type": "bulletList", "content": [
                {"type": "listItem",
                 "content": [{"type": "paragraph", "content": _adf_inline(item)}]}
                for item in b.items]})
    return {"version": 1, "type": "doc", "content": content}


def adf_text(node: Any) -> str:
    """The plain text inside an ADF node (for reading Jira bodies back)."""
    if isinstance(node, dict):
        if node.get("type") == "text":
            return str(node.get("text", ""))
        if node.get("type") == "hardBreak":
            return "\n"
        inner = "".join(adf_text(c) for c in node.get("content", []) or [])
        return inner + ("\n" if node.get("type") in ("paragraph", "heading") else "")
    if isinstance(node, list):
        return "".join(adf_text(c) for c in node)
    return ""
