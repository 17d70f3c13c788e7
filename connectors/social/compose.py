"""The words of the one public reply, and the door every raw social payload comes in by.

``compose_reply`` picks the template for a network and language, fills ``{handle}`` and
``{link}``, and keeps the result within the network's limit as that network counts it, never
cutting the link. Templates are a default plus overrides keyed ``"network"`` or
``"network:lang"`` (``ROUTER_REPLY_TEMPLATE`` / ``ROUTER_REPLY_TEMPLATES``)::

    {"mastodon": "Hi @{handle}, this is fixed. What we did: {link}",
     "x:fr": "Bonjour @{handle}, c'est réglé ! Le détail : {link}"}

``parse_payload(network_key, raw)`` turns the bytes of one payload into a ``Mention`` or
raises ``InvalidPayload`` whose message is the reason the dead-letter record gets.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from connectors.errors import ConnectorError, InvalidPayload
from vocab.records import Mention

from .text import shorten

if TYPE_CHECKING:
    from .base import Network

DEFAULT_TEMPLATE = (
    "Hi @{handle}, thanks for your patience: we've sorted this out. "
    "Here is what we did: {link}"
)

Length = Callable[[str], int]

def network_length(network: str) -> tuple[Length, int]:
    """How ``network`` counts a post, and its limit, as its connector declares them
    (``Network.text_length``, ``Network.max_length``); an unknown network counts characters
    up to 2,000."""
    from connectors.registry import network_paths

    if network not in network_paths():
        return len, 2_000
    from connectors.registry import network_class

    cls = network_class(network)
    return cls.text_length, int(cls.max_length)

_PLACEHOLDER = re.compile(r"\{(handle|link)\}")


def pick_template(network: str, lang: str | None, templates: Mapping[str, str],
                  default: str = DEFAULT_TEMPLATE) -> str:
    """``network:lang`` (full tag, then primary subtag), then ``network``, then the default."""
    keys = []
    if lang:
        tag = lang.strip().lower().replace("_", "-")
        keys += [f"{network}:{tag}", f"{network}:{tag.split('-')[0]}"]
    keys.append(network)
    lowered = {k.lower(): v for k, v in templates.items()}
    for key in keys:
        if key in lowered:
            return lowered[key]
    return default


def render(template: str, *, handle: str, link: str) -> str:
    """Fill ``{handle}`` and ``{link}``; every other brace stays as written. A template
    without ``{link}`` gets the link at the end (a reply always links the resolution)."""
    values = {"handle": handle.lstrip("@"), "link": link}
    text = _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)
    if "{link}" not in template and link:
        text = f"{text.rstrip()} {link}"
    return text.strip()


def fit_text(text: str, link: str, limit: int, length: Length = len) -> str:
    """``text`` (which contains ``link``) within ``limit`` as ``length`` counts it.

    What follows the link goes first, then the words before it are shortened at a word
    with an ellipsis; the link itself is never cut. Only the link is left when nothing
    else fits.
    """
    if length(text) <= limit:
        return text
    at = text.find(link) if link else -1
    if at < 0:  # no link to protect: shorten the whole text
        return shorten(text, lambda t: length(t) <= limit) or text[:0]
    before = text[:at].rstrip()
    candidate = f"{before} {link}".strip()
    if length(candidate) <= limit:
        return candidate
    head = shorten(before, lambda t: length(f"{t} {link}") <= limit)
    return f"{head} {link}" if head else link


def compose_reply(
    *,
    network: str,
    handle: str,
    link: str,
    lang: str | None = None,
    templates: Mapping[str, str] | None = None,
    default: str = DEFAULT_TEMPLATE,
    limit: int | None = None,
    length: Length | None = None,
) -> str:
    """The reply text for one customer, within the network's limit, the link whole."""
    count, network_limit = network_length(network)
    text = render(pick_template(network, lang, templates or {}, default),
                  handle=handle, link=link)
    return fit_text(text, link, limit or network_limit, length or count)


# --- Raw payloads in ----------------------------------------------------------------------

MAX_PAYLOAD_BYTES = 262_144
MAX_TEXT_BYTES = 16_384


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def decode_json(raw: bytes, *, max_bytes: int = MAX_PAYLOAD_BYTES) -> dict[str, Any]:
    """One JSON object from UTF-8 bytes, or ``InvalidPayload`` saying what is wrong."""
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise InvalidPayload(f"payload must be bytes, got {type(raw).__name__}")
    raw = bytes(raw)
    if len(raw) > max_bytes:
        raise InvalidPayload(f"payload is {len(raw)} bytes, over the {max_bytes}-byte limit")
    if not raw.strip():
        raise InvalidPayload("payload is empty")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidPayload(
            f"payload is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start})"
        ) from exc
    try:
        data = json.loads(text, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise InvalidPayload(
            f"payload is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    except (ValueError, RecursionError) as exc:
        raise InvalidPayload(f"payload is not valid JSON: {str(exc)[:100] or 'too deep'}"
                             ) from exc
    if not isinstance(data, dict):
        kind = "null" if data is None else type(data).__name__
        raise InvalidPayload(f"payload must be a JSON object, got {kind}")
    return data


def parse_payload(
    network_key: str,
    raw: bytes,
    *,
    networks: Mapping[str, Network] | None = None,
    max_bytes: int = MAX_PAYLOAD_BYTES,
    max_text_bytes: int = MAX_TEXT_BYTES,
) -> Mention:
    """The ``Mention`` in one raw payload from ``network_key``, or ``InvalidPayload``.

    ``networks`` maps keys to ready connector instances (their account lists mark own,
    persona and employee accounts); a key not in it is built from the registry with its
    settings from the environment.
    """
    from connectors.registry import network_paths

    if networks is not None and network_key in networks:
        network = networks[network_key]
    else:
        known = network_paths()
        if not isinstance(network_key, str) or network_key not in known:
            raise InvalidPayload(
                f"unknown network {str(network_key)[:40]!r} (known: {', '.join(sorted(known))})"
            )
        from connectors.registry import network_class

        network = network_class(network_key)()
    return normalize_payload(network, decode_json(raw, max_bytes=max_bytes),
                             max_text_bytes=max_text_bytes)


def normalize_payload(network: Network, data: Mapping[str, Any], *,
                      max_text_bytes: int = MAX_TEXT_BYTES) -> Mention:
    """``network.normalize(data)``, guarded: whatever goes wrong in a normalizer (its
    refusal, or its bug on a shape nobody foresaw) is this payload's ``InvalidPayload``, never
    an error that takes its batch or the worker with it. Every payload that becomes a
    mention (pushed, replayed, polled) comes through here."""
    try:
        mention = network.normalize(data)
    except InvalidPayload:
        raise
    except (ConnectorError, ValueError, TypeError, KeyError, AttributeError, IndexError,
            RecursionError) as exc:  # a normalizer bug must not stop the worker
        raise InvalidPayload(
            f"{network.key} payload could not be read ({type(exc).__name__})") from exc
    size = len(mention.text.encode("utf-8", errors="replace"))
    if size > max_text_bytes:
        raise InvalidPayload(f"text is {size} bytes, over the {max_text_bytes}-byte limit")
    return mention
