"""Every kind of bad input gets a clear reason; good input keeps what the customer wrote."""

from __future__ import annotations

import json

import pytest

from router.errors import BadInput
from router.validate import parse_mention

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
