"""Every kind of bad input gets a clear reason; good input keeps what the customer wrote."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from router.cli import main
from router.validate import mention_schema, parse_mention
from vocab.errors import BadInput
from vocab.records import Author, Mention

ROOT = Path(__file__).resolve().parents[2]

NETS = ["generic", "x"]


def parse(raw: bytes):  # type: ignore[no-untyped-def]
    return parse_mention(raw, networks=NETS, max_text_bytes=1000, max_message_bytes=5000)


def good(**kw: object) -> dict[str, object]:
    obj: dict[str, object] = {"id": "1", "network": "generic", "text": "hi",
                              "author": {"id": "u1", "handle": "@Ann"},
                              "created_at": "2026-11-23T10:00:00Z"}
    obj.update(kw)
    return obj


def test_minimal_generic_form_is_accepted() -> None:
    m = parse(json.dumps(good()).encode())
    assert m.ref == "generic:1" and m.author.handle == "Ann" and m.thread_key == "generic:1"


def test_emoji_and_mixed_scripts_survive() -> None:
    m = parse(json.dumps(good(text="ошибка 支付 失败 😡🔥"), ensure_ascii=False).encode())
    assert m.text == "ошибка 支付 失败 😡🔥"


@pytest.mark.parametrize("raw,reason", [
    (b"{not json", "malformed JSON"),
    (b"[]", "must be a JSON object"),
    (b"\xff\xfe", "invalid UTF-8"),
    (b'{"a": "\x00"}', "binary content"),
    (json.dumps(good(network="myspace")).encode(), "unknown network"),
    (json.dumps(good(text=5)).encode(), "wrong type: text"),
    (json.dumps(good(author="ann")).encode(), "wrong type: author"),
    (json.dumps(good(author={"id": "u1"})).encode(), "missing field: author.handle"),
    (json.dumps({k: v for k, v in good().items() if k != "created_at"}).encode(),
     "missing field: created_at"),
    (json.dumps(good(text="é" * 600)).encode(), "text too long"),
    (b"{" + b" " * 6000 + b"}", "message too large"),
    (json.dumps(good(is_repost="yes")).encode(), "is_repost must be true or false"),
    (json.dumps(good(schema=99)).encode(), "unsupported schema version"),
    (json.dumps(good(text="\x01\x02\x03\x04")).encode(), "mostly control characters"),
])
def test_bad_input_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(BadInput) as err:
        parse(raw)
    assert reason in err.value.reason


def reason_for(raw: bytes | None) -> str:
    with pytest.raises(BadInput) as err:
        parse_mention(raw, networks=NETS, max_text_bytes=1000, max_message_bytes=50_000)
    return err.value.reason


def test_every_problem_of_a_mention_is_reported_at_once() -> None:
    reason = reason_for(json.dumps({"id": "1", "text": 5, "author": {"id": "u1"},
                                    "is_repost": "yes"}).encode())
    for part in ("missing field: network", "wrong type: text must be a string, got a number",
                 "missing field: author.handle", "missing field: created_at",
                 "wrong type: is_repost must be true or false, got a string"):
        assert part in reason, reason
    assert reason.count("; ") == 4


@pytest.mark.parametrize("value", ["yesterday", "2026-13-45T10:00:00Z", "", "now"])
def test_created_at_must_be_a_real_timestamp(value: str) -> None:
    reason = reason_for(json.dumps(good(created_at=value)).encode())
    assert "created_at must be an ISO 8601 timestamp" in reason
    assert repr(value) in reason


@pytest.mark.parametrize("value", ["2026-11-23T10:00:00Z", "2026-11-23T10:00:00.123+02:00",
                                   "2026-11-23 10:00:00", "2026-11-23T10:00:00"])
def test_iso_timestamps_are_accepted_as_written(value: str) -> None:
    assert parse(json.dumps(good(created_at=value)).encode()).created_at == value


@pytest.mark.parametrize("field,value,reason", [
    ("created_at", 1_700_000_000, "created_at must be an ISO 8601 timestamp string"),
    ("id", True, "id must be a string or an integer, got a boolean"),
    ("is_quote", 1, "is_quote must be true or false, got a number"),
    ("author", {"id": "u1", "handle": "ann", "followers": "10"},
     "author.followers must be a non-negative integer, got a string"),
    ("author", {"id": "u1", "handle": "ann", "followers": -1},
     "author.followers must be a non-negative integer, got -1"),
    ("author", {"id": "u1", "handle": "ann", "verified": "true"},
     "author.verified must be true or false"),
    ("lang", ["en"], "lang must be a string, got an array"),
    ("id", None, "missing field: id"),
])
def test_a_wrong_type_is_refused_not_coerced(field: str, value: object, reason: str) -> None:
    assert reason in reason_for(json.dumps(good(**{field: value})).encode())


@pytest.mark.parametrize("raw,reason", [
    (None, "tombstone"),
    (b"", "malformed JSON"),
    (b'{"id": "n", "a": ' + b"[" * 3000 + b"]" * 3000 + b"}", "nested too deeply"),
    (b'{"id": "i", "n": ' + b"9" * 5000 + b"}", "number too large"),
    (json.dumps(good(text="\ud800 lone surrogate")).encode(), "malformed JSON"),
    (json.dumps(good(network="x" * 10_000)).encode(), "unknown network"),
])
def test_hostile_input_is_that_message_s_bad_input_never_another_error(
        raw: bytes | None, reason: str) -> None:
    got = reason_for(raw)
    assert reason in got
    assert len(got) < 500  # a reason quotes the input, it does not carry it


def test_a_newer_schema_version_is_the_only_reason_given() -> None:
    reason = reason_for(json.dumps({"schema": 2, "id": 5, "payload": {}}).encode())
    assert reason == "unsupported schema version 2 (this router reads <= 1)"


def test_the_record_built_is_the_mention_the_router_always_built() -> None:
    raw = json.dumps(good(
        id=1234, text="hi", url="https://x/1", in_reply_to=99, conversation_id="c9",
        lang="en", is_repost=False, is_quote=True, unknown_field={"kept": "out"},
        author={"id": 7, "handle": "@Ann", "name": "Ann", "profile_url": "https://x/@Ann",
                "followers": 3, "verified": True})).encode()
    assert parse(raw) == Mention(
        id="1234", network="generic", text="hi",
        author=Author(id="7", handle="Ann", name="Ann", profile_url="https://x/@Ann",
                      followers=3, verified=True),
        created_at="2026-11-23T10:00:00Z", url="https://x/1", in_reply_to="99",
        conversation_id="c9", lang="en", is_quote=True)
    bare = parse(json.dumps(good(url=None, lang=None)).encode())
    assert (bare.url, bare.lang, bare.author.name, bare.author.followers) == ("", None, "", 0)


def test_the_committed_json_schema_is_the_validator_s() -> None:
    committed = json.loads((ROOT / "docs" / "mention.schema.json").read_text())
    assert committed == mention_schema()
    assert committed["required"] == ["id", "network", "text", "author", "created_at"]
    assert committed["properties"]["created_at"]["format"] == "date-time"


def test_router_schema_prints_it() -> None:
    result = CliRunner().invoke(main, ["schema"])
    assert result.exit_code == 0
    assert json.loads(result.output) == mention_schema()
