"""Garbage in never crashes: every payload becomes a Mention or InvalidPayload with a reason."""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.errors import InvalidPayload
from connectors.social.base import Network
from connectors.social.bluesky import Bluesky, BlueskyConfig
from connectors.social.compose import parse_payload
from connectors.social.generic import Generic, GenericConfig
from connectors.social.mastodon import Mastodon, MastodonConfig
from connectors.social.reddit import Reddit, RedditConfig
from connectors.social.x import X, XConfig
from vocab.records import Mention

from .conftest import PAYLOADS

NETWORKS: dict[str, Network] = {
    "generic": Generic(GenericConfig()),
    "mastodon": Mastodon(MastodonConfig(account="acmesupport")),
    "bluesky": Bluesky(BlueskyConfig(account="acme.example.com")),
    "x": X(XConfig(account="AcmeSupport")),
    "reddit": Reddit(RedditConfig(account="AcmeSupport")),
}
FIXTURES = sorted(PAYLOADS.glob("*/*.json"))
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
# SOCIAL_FUZZ=500 runs a longer search (the default keeps the suite fast).
SCALE = int(os.environ.get("SOCIAL_FUZZ", "1"))
FAST = settings(max_examples=60 * SCALE, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
PER_FIXTURE = settings(FAST, max_examples=12 * SCALE)

scalars = st.none() | st.booleans() | st.integers(-2**70, 2**70) | \
    st.floats(allow_nan=False) | st.text(max_size=40)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                 max_size=5),
    max_leaves=20,
)


def check(mention: Mention, network: str) -> None:
    assert isinstance(mention, Mention)
    assert isinstance(mention.id, str) and mention.id
    assert isinstance(mention.text, str) and "\x00" not in mention.text
    assert isinstance(mention.author.handle, str) and mention.author.handle
    assert ISO.match(mention.created_at)
    assert Mention.loads(mention.dumps()) == mention  # travels through the topic


def outcome(network: str, payload: Any) -> None:
    try:
        mention = NETWORKS[network].normalize(payload)
    except InvalidPayload as exc:
        assert str(exc).strip()  # a reason for the dead-letter record
        return
    check(mention, network)


@pytest.mark.parametrize("network", sorted(NETWORKS))
@FAST
@given(payload=json_values)
def test_arbitrary_json_never_crashes(network: str, payload: Any) -> None:
    outcome(network, payload)


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out += _paths(v, (*prefix, i))
    return out


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: f"{p.parent.name}/{p.stem}")
@PER_FIXTURE
@given(data=st.data())
def test_mutated_fixtures_never_crash(fixture: Path, data: st.DataObject) -> None:
    payload = json.loads(fixture.read_text(encoding="utf-8"))
    paths = [p for p in _paths(payload) if p]
    mutated = copy.deepcopy(payload)
    for _ in range(data.draw(st.integers(1, 3))):
        path = data.draw(st.sampled_from(paths))
        target = mutated
        try:
            for step in path[:-1]:
                target = target[step]
            if data.draw(st.booleans()) and isinstance(target, dict):
                target.pop(path[-1], None)
            else:
                target[path[-1]] = data.draw(json_values)
        except (KeyError, IndexError, TypeError):
            continue
    outcome(fixture.parent.name, mutated)


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda p: f"{p.parent.name}/{p.stem}")
@PER_FIXTURE
@given(cut=st.floats(0, 1, exclude_max=True))
def test_truncated_bytes_are_refused_with_a_reason(fixture: Path, cut: float) -> None:
    raw = fixture.read_bytes()
    raw = raw[: int(len(raw.rstrip()) * cut)]
    with pytest.raises(InvalidPayload, match=r"\w"):
        parse_payload(fixture.parent.name, raw, networks=NETWORKS)


@FAST
@given(raw=st.binary(max_size=300), network=st.sampled_from(sorted(NETWORKS)))
def test_random_bytes(raw: bytes, network: str) -> None:
    try:
        check(parse_payload(network, raw, networks=NETWORKS), network)
    except InvalidPayload as exc:
        assert str(exc)


def test_every_good_fixture_parses_from_bytes() -> None:
    good = 0
    for fixture in FIXTURES:
        try:
            mention = parse_payload(fixture.parent.name, fixture.read_bytes(), networks=NETWORKS)
        except InvalidPayload:
            continue
        check(mention, fixture.parent.name)
        good += 1
    assert good >= 25


@pytest.mark.parametrize(("raw", "reason"), [
    (b"\xff\xfe{}", "not valid UTF-8"),
    (b'{"id": 1,', "not valid JSON"),
    (b"[1, 2]", "must be a JSON object, got list"),
    (b"null", "got null"),
    (b"", "empty"),
    (b'{"id": NaN}', "not valid JSON"),
    (b"[" * 5000 + b"]" * 5000, "not valid JSON|JSON object"),
    (b'{"x": "' + b"a" * 300_000 + b'"}', "over the 262144-byte limit"),
])
def test_parse_payload_reasons(raw: bytes, reason: str) -> None:
    with pytest.raises(InvalidPayload, match=reason):
        parse_payload("generic", raw, networks=NETWORKS)


def test_unknown_network_and_oversized_text() -> None:
    with pytest.raises(InvalidPayload, match="unknown network 'myspace'"):
        parse_payload("myspace", b"{}")
    big = {"id": "1", "text": "é" * 9000, "author": {"id": "u", "handle": "h"},
           "created_at": "2026-11-23T10:00:00Z"}
    with pytest.raises(InvalidPayload, match="text is 18000 bytes"):
        parse_payload("generic", json.dumps(big).encode(), networks=NETWORKS)


def test_registry_default_instance_is_used_without_networks() -> None:
    raw = (PAYLOADS / "generic" / "minimal.json").read_bytes()
    assert parse_payload("generic", raw).author.handle == "ann"
