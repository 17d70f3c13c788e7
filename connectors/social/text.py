"""Text helpers the network connectors share: HTML to text, lengths as each network counts
them, UTF-8 byte offsets for Bluesky facets, and strict field access on untrusted payloads.

Everything here is pure and never raises anything but ``InvalidPayload`` (field access) or
nothing at all (text helpers): payloads come from the outside world.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import regex

from connectors.errors import InvalidPayload

# --- HTML to text (Mastodon's ``content``) -----------------------------------------------

_BLOCKS = {"p", "div", "blockquote", "li", "ul", "ol", "pre", "h1", "h2", "h3", "h4", "h5",
           "h6"}


class _Text(HTMLParser):
    """Collects text; paragraphs and ``<br>`` become line breaks, scripts are dropped.

    Mastodon splits long links into ``<span class="invisible">`` parts; they are kept, so a
    link reads as its whole URL.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._hidden = 0

    def _break(self, tag: str) -> None:
        if tag in _BLOCKS and self.parts and not self.parts[-1].endswith("\n"):
            self.parts.append("\n\n" if tag == "p" else "\n")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self.parts.append("\n")
        elif tag in ("script", "style"):
            self._hidden += 1
        else:
            self._break(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._hidden = max(0, self._hidden - 1)
        else:
            self._break(tag)

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Plain text of a (Mastodon-sanitized) HTML fragment: paragraphs and line breaks kept,
    links as their full text, entities decoded. Never raises."""
    parser = _Text()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # noqa: BLE001 - html.parser is lenient; belt and braces on odd input
        return re.sub(r"<[^>]*>", " ", html).strip()
    text = "".join(parser.parts)
    lines = [" ".join(line.split()) for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# --- Lengths ------------------------------------------------------------------------------

URL_RE = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
_TRAILING = ".,;:!?)]}'\""


def find_urls(text: str) -> list[tuple[int, int]]:
    """(start, end) character spans of http(s) URLs, trailing punctuation left out."""
    spans = []
    for m in URL_RE.finditer(text):
        start, end = m.span()
        while end > start and text[end - 1] in _TRAILING:
            end -= 1
        spans.append((start, end))
    return spans


_GRAPHEME = regex.compile(r"\X")


def graphemes(text: str) -> list[str]:
    """User-perceived characters: Unicode extended grapheme clusters (UAX #29, the ``regex``
    module's ``\\X``), as Bluesky's ``Intl.Segmenter`` counts them."""
    clusters: list[str] = _GRAPHEME.findall(text)
    return clusters


def grapheme_len(text: str) -> int:
    """How many graphemes Bluesky (and Mastodon) count in ``text``."""
    return len(graphemes(text))


def _x_weight(cluster: str) -> int:
    cp = ord(cluster[0])
    if len(cluster) > 1 and unicodedata.category(cluster[-1]) not in ("Mn", "Me", "Mc"):
        return 2  # an emoji sequence counts as one emoji
    if (cp <= 0x10FF or 0x2000 <= cp <= 0x200D or 0x2010 <= cp <= 0x201F
            or 0x2032 <= cp <= 0x2037):
        return 1
    return 2


def x_length(text: str, *, url_length: int = 23) -> int:
    """Weighted length as X counts it (twitter-text v3): Latin 1, CJK and emoji 2, any URL
    ``url_length`` (t.co). The limit is 280."""
    text = unicodedata.normalize("NFC", text)
    total, pos = 0, 0
    for start, end in find_urls(text):
        total += sum(_x_weight(g) for g in graphemes(text[pos:start])) + url_length
        pos = end
    return total + sum(_x_weight(g) for g in graphemes(text[pos:]))


def mastodon_length(text: str, *, url_length: int = 23) -> int:
    """Length as Mastodon counts it: graphemes, any URL ``url_length``, ``@user@domain`` as
    ``@user``."""
    text = re.sub(r"(@[\w.-]+)@[\w.-]+\w", r"\1", text)
    total, pos = 0, 0
    for start, end in find_urls(text):
        total += grapheme_len(text[pos:start]) + url_length
        pos = end
    return total + grapheme_len(text[pos:])


def shorten(text: str, fits: Any) -> str:
    """The longest prefix of ``text`` (cut at a word, ending in an ellipsis) for which
    ``fits(candidate)`` is true; ``""`` if none. ``fits`` is monotonic in the length."""
    text = " ".join(text.split())
    if fits(text):
        return text
    parts = graphemes(text)
    lo, hi = 0, len(parts)
    while lo < hi:  # binary search on graphemes so a cut never splits an emoji or accent
        mid = (lo + hi + 1) // 2
        if fits("".join(parts[:mid]).rstrip() + "…"):
            lo = mid
        else:
            hi = mid - 1
    cut = "".join(parts[:lo])
    if " " in cut.strip():
        words = cut.rstrip().rsplit(" ", 1)[0]
        cut = words if len(words) >= len(cut) // 2 else cut
    cut = cut.rstrip(" ,;:.-—")
    return cut + "…" if cut else ""


# --- UTF-8 byte offsets (Bluesky facets) -------------------------------------------------


def byte_span(text: str, start: int, end: int) -> tuple[int, int]:
    """UTF-8 byte offsets of the character span ``text[start:end]``."""
    head = len(text[:start].encode("utf-8"))
    return head, head + len(text[start:end].encode("utf-8"))


def slice_bytes(text: str, byte_start: int, byte_end: int) -> str | None:
    """``text``'s UTF-8 bytes ``[byte_start, byte_end)`` as text, or None when the range is
    out of bounds or cuts a character in two."""
    data = text.encode("utf-8")
    if not (0 <= byte_start <= byte_end <= len(data)):
        return None
    try:
        return data[byte_start:byte_end].decode("utf-8")
    except UnicodeDecodeError:
        return None


def link_facets(text: str) -> list[dict[str, Any]]:
    """``app.bsky.richtext.facet`` link facets for every URL in ``text`` (byte offsets)."""
    facets = []
    for start, end in find_urls(text):
        b0, b1 = byte_span(text, start, end)
        facets.append({
            "index": {"byteStart": b0, "byteEnd": b1},
            "features": [{"$type": "app.bsky.richtext.facet#link", "uri": text[start:end]}],
        })
    return facets


def mention_facet(text: str, handle: str, did: str) -> dict[str, Any] | None:
    """A mention facet for the first ``@handle`` in ``text``, or None."""
    needle = "@" + handle.lstrip("@")
    at = text.find(needle)
    if at < 0 or not did.startswith("did:"):
        return None
    b0, b1 = byte_span(text, at, at + len(needle))
    return {"index": {"byteStart": b0, "byteEnd": b1},
            "features": [{"$type": "app.bsky.richtext.facet#mention", "did": did}]}


# --- Strict access to untrusted payloads --------------------------------------------------


def _missing(where: str, path: str) -> InvalidPayload:
    return InvalidPayload(f"{where}: field '{path}' is missing")


def _typename(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def get(obj: Any, path: str, kind: type | tuple[type, ...], *, where: str,
        required: bool = True, default: Any = None) -> Any:
    """``obj[a][b]...`` for ``path`` ``"a.b"``, checked to be ``kind``.

    A missing (or null) optional value gives ``default``; a missing required one, or any
    value of the wrong type, raises ``InvalidPayload`` naming the field.
    """
    current = obj
    walked: list[str] = []
    for part in path.split("."):
        if not isinstance(current, Mapping):
            raise InvalidPayload(
                f"{where}: '{'.'.join(walked) or 'payload'}' must be an object, "
                f"got {_typename(current)}")
        walked.append(part)
        if part not in current or current[part] is None:
            if required:
                raise _missing(where, path)
            return default
        current = current[part]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(current, bool) and bool not in kinds:
        ok = False
    else:
        ok = isinstance(current, kinds)
    if not ok:
        names = " or ".join(k.__name__ for k in kinds)
        raise InvalidPayload(f"{where}: field '{path}' must be {names}, got "
                             f"{_typename(current)}")
    return current


def get_str(obj: Any, path: str, *, where: str, required: bool = True,
            default: str | None = None, max_len: int = 100_000) -> Any:
    value = get(obj, path, str, where=where, required=required, default=default)
    if isinstance(value, str) and len(value) > max_len:
        raise InvalidPayload(f"{where}: field '{path}' is too long ({len(value)} characters, "
                             f"at most {max_len})")
    return value


def get_id(obj: Any, path: str, *, where: str, required: bool = True) -> str | None:
    """An id that may arrive as a string or an integer; returned as a non-empty string."""
    value = get(obj, path, (str, int), where=where, required=required)
    if value is None:
        return None
    text = str(value).strip()
    if not text or len(text) > 512:
        raise InvalidPayload(f"{where}: field '{path}' is not a usable id")
    return text


def get_int(obj: Any, path: str, *, where: str, default: int = 0) -> int:
    value = get(obj, path, int, where=where, required=False, default=default)
    return int(value)


def utc_stamp(when: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SSZ`` in UTC, the year always four digits (``strftime("%Y")``
    writes the year 999 as ``999``)."""
    w = when.astimezone(UTC)
    return (f"{w.year:04d}-{w.month:02d}-{w.day:02d}T"
            f"{w.hour:02d}:{w.minute:02d}:{w.second:02d}Z")


def iso_time(value: Any, *, where: str, field: str) -> str:
    """An ISO 8601 timestamp or epoch seconds, as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC)."""
    try:
        if isinstance(value, bool):
            raise ValueError("a boolean is not a time")
        if isinstance(value, int | float):
            when = datetime.fromtimestamp(float(value), tz=UTC)
        elif isinstance(value, str):
            when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
        else:
            raise ValueError(f"got {_typename(value)}")
        return utc_stamp(when)
    except (ValueError, OverflowError, OSError) as exc:
        raise InvalidPayload(f"{where}: field '{field}' is not a valid time ({exc})") from exc


def epoch(value: str) -> float | None:
    """Seconds since the epoch of an ISO 8601 timestamp, or None."""
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def clean_text(text: str) -> str:
    """Text without NUL and other C0 controls (except tab and newline)."""
    return "".join(ch for ch in text if ch in "\t\n" or unicodedata.category(ch) != "Cc")


def as_map(value: Any) -> Mapping[str, Any]:
    """``value`` if it is an object, else an empty one (for optional parts of a payload)."""
    return value if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    """``value`` if it is a list, else an empty one."""
    return value if isinstance(value, list) else []
