"""The normalizer on hostile and typical social text."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from classifiers.normalize import MAX_CHARS, normalize, normalize_all

HOSTILE = [
    "",
    None,
    b"\xff\xfe\x00bytes",
    "a" * 1_000_000,
    "🎉🔥😂👍🏽❤️",
    "\x00\x01\x02\x1b[31m red \x7f\x9f",
    "lone surrogate \ud800 here",
    "Привет, 你好, مرحبا, שלום, नमस्ते and hello",
    "\u200b\u200e\ufeff",
    "@" * 5000,
    "#" * 5000,
    "http://" * 1000,
    12345,
]


def test_hostile_text_never_raises_and_stays_bounded() -> None:
    for text in HOSTILE:
        out = normalize(text)
        assert isinstance(out, str)
        assert len(out) <= 2 * MAX_CHARS + 100
        out.encode("utf-8")  # no lone surrogates left


def test_emoji_only_becomes_named_tokens() -> None:
    assert normalize("🔥😂").split() == ["emo_fire", "emo_face_with_tears_of_joy"]


def test_mixed_scripts_are_kept() -> None:
    assert normalize("Привет 你好 hello").split() == ["привет", "你好", "hello"]


def test_social_markup() -> None:
    out = normalize(
        "@AcmeSupport my order STILL hasn't come sooooo annoying http://x.co/a #FailWhale"
    )
    assert out.startswith("xuser my order still xcaps")
    assert "xurl" in out and "xhashtag fail whale" in out
    assert "soo" in out and out.endswith("xelong")


def test_negation_scope_ends_at_punctuation() -> None:
    assert normalize("I can't log in. Help?") == "i cant log_neg in_neg help ?"


def test_batch_helper_accepts_odd_containers() -> None:
    assert normalize_all("one") == ["one"]
    assert normalize_all(None) == [""]
    assert normalize_all(["a", None, 3]) == ["a", "", "3"]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_any_unicode_text(text: str) -> None:
    out = normalize(text)
    out.encode("utf-8")
    assert "  " not in out
