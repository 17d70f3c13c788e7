from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.registry import network_paths
from connectors.social.base import Posted
from connectors.social.compose import (
    DEFAULT_TEMPLATE,
    compose_reply,
    fit_text,
    network_length,
    pick_template,
    render,
)
from connectors.social.ledger import MemoryLedger, ReplyLedger, SqliteLedger
from connectors.social.text import grapheme_len, html_to_text, link_facets, x_length

TEMPLATES = {"mastodon": "Hello @{handle}! Done: {link}",
             "x:fr": "Bonjour @{handle}, c'est réglé : {link}",
             "x:pt": "Olá @{handle}, resolvido: {link}"}
LINK = "https://help.acme.example/hc/requests/4411"


def test_template_choice_network_lang_then_network_then_default() -> None:
    assert pick_template("x", "fr-CA", TEMPLATES).startswith("Bonjour")
    assert pick_template("x", "pt-BR", TEMPLATES).startswith("Olá")
    assert pick_template("x", "de", TEMPLATES) == DEFAULT_TEMPLATE
    assert pick_template("mastodon", "de", TEMPLATES).startswith("Hello")


def test_render_fills_only_known_placeholders_and_always_links() -> None:
    assert render("Hi @{handle} {0} {link} {other}", handle="@ann", link=LINK) == \
        f"Hi @ann {{0}} {LINK} {{other}}"
    assert render("Fixed, thanks @{handle}.", handle="ann", link=LINK).endswith(LINK)


def test_default_reply_reads_like_a_person_wrote_it() -> None:
    text = compose_reply(network="mastodon", handle="ann@fosstodon.org", link=LINK)
    assert text == ("Hi @ann@fosstodon.org, thanks for your patience: we've sorted this out. "
                    f"Here is what we did: {LINK}")


def test_x_counts_the_link_as_23_and_keeps_it_whole() -> None:
    link = LINK + "?" + "x" * 400
    text = compose_reply(network="x", handle="ann", link=link, lang="fr",
                         templates={"x:fr": "Bonjour @{handle}, " + "nous avons tout vérifié. "
                                    * 20 + "{link}"})
    assert text.endswith(link) and x_length(text) <= 280 and "…" in text


@settings(max_examples=80, deadline=None)
@given(words=st.text(min_size=0, max_size=600),
       path=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789/-_", max_size=80),
       network=st.sampled_from(sorted(network_paths())), tail=st.text(max_size=40))
def test_the_link_is_never_cut_and_the_limit_always_holds(words: str, path: str,
                                                         network: str, tail: str) -> None:
    link = f"https://status.acme.example/{path}"
    length, limit = network_length(network)
    out = fit_text(f"{words} {link} {tail}", link, limit, length)
    assert link in out and length(out) <= limit


def test_fit_prefers_dropping_what_follows_the_link() -> None:
    out = fit_text(f"Sorted, see {LINK}. Thanks again for your patience!", LINK,
                   len(f"Sorted, see {LINK}") + 3)
    assert out == f"Sorted, see {LINK}"


def test_graphemes_and_facets_in_bytes() -> None:
    assert grapheme_len("👩🏽‍💻 🇯🇵 e\u0301") == 5
    # Counted as Bluesky counts them (UAX #29): a Devanagari conjunct, a Hangul syllable
    # with a trailing consonant, Thai sara am are one each; a stray joiner joins no letters.
    assert [grapheme_len(t) for t in ("क्षि", "\uac00\u11a8", "กำ", "a\u200db")] == [1, 1, 1, 2]
    (facet,) = link_facets(f"修理済み ✨ {LINK}")
    start = len("修理済み ✨ ".encode())
    assert facet["index"] == {"byteStart": start, "byteEnd": start + len(LINK)}


def test_html_to_text_keeps_paragraphs_and_drops_scripts() -> None:
    assert html_to_text("<p>a&amp;b</p><p>c<br>d</p><script>x()</script>") == "a&b\n\nc\nd"


def _ledger_contract(ledger: ReplyLedger) -> None:
    assert not ledger.seen("r") and ledger.get("r") is None
    assert ledger.begin("r") is False  # first attempt
    assert ledger.begin("r") is True  # began before, never recorded: in doubt
    ledger.record("r", Posted(id="9", url="u"))
    assert ledger.seen("r") and ledger.get("r") == Posted(id="9", url="u")
    assert ledger.begin("r") is False


def test_memory_ledger() -> None:
    _ledger_contract(MemoryLedger())


def test_sqlite_ledger_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "replies.sqlite"
    first = SqliteLedger(path)
    _ledger_contract(first)
    first.begin("crashed")
    first.close()
    second = SqliteLedger(path)
    assert second.get("r") == Posted(id="9", url="u")
    assert second.begin("crashed") is True
    second.close()


def test_a_time_before_the_year_1000_keeps_its_four_digit_year() -> None:
    """Found by the mutation fuzz (test_garbage): strftime wrote the year 999 as '999', so a
    mention's created_at broke its own YYYY-MM-DDTHH:MM:SSZ form."""
    from connectors.social.text import iso_time

    assert iso_time(-30_610_224_001, where="t", field="created_at") == "0999-12-31T23:59:59Z"
    assert iso_time("0999-12-31T23:59:59Z", where="t", field="created_at") == \
        "0999-12-31T23:59:59Z"
