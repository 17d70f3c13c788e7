"""A text normalizer made for social posts.

``normalize(text)`` turns any post into a short string of space-separated tokens that the
vectorizers and lexicons share:

- handles become ``xuser``, links ``xurl``, long numbers ``xnum``;
- ``#CustomerServiceFail`` becomes ``xhashtag customer service fail``;
- emoji become ``emo_<unicode name>`` tokens (``emo_face_with_tears_of_joy``);
- elongated words are shortened (``sooooo`` -> ``soo``) and flagged with ``xelong``;
- a shouted word (``BROKEN``) is followed by ``xcaps``;
- words after a negation (``not``, ``never``, ``can't`` ...) up to the next punctuation, link,
  handle or "but/and/so/because/though" get
  the suffix ``_neg`` (``not working`` -> ``not working_neg``);
- ``!`` and ``?`` are kept as tokens; other punctuation ends a negation scope and is dropped.

It never raises: ``None``, bytes, 1 MB strings (cut to ``MAX_CHARS``), control characters,
lone surrogates, emoji-only and mixed-script text all give a (possibly empty) string.
"""

from __future__ import annotations

import re
import unicodedata

from sklearn.base import BaseEstimator, TransformerMixin

MAX_CHARS = 4000  # longer posts are cut; a tweet is 280, a Mastodon post 500
NEG_SUFFIX = "_neg"
MARKERS = frozenset("xuser xurl xnum xhashtag xcaps xelong".split())
NEGATORS = frozenset(
    "not no never nothing nobody nowhere neither nor cannot cant wont dont didnt doesnt "
    "isnt arent wasnt werent havent hasnt hadnt couldnt shouldnt wouldnt aint without".split()
)
_CLAUSE_END = frozenset(".,;:!?")
_SCOPE_END = frozenset(("xurl", "xuser", "xhashtag", "but", "and", "so", "because", "though"))

_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
_INVISIBLE = re.compile(
    "[\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff\ufe0e\ufe0f\u20e3\U0001f3fb-\U0001f3ff]"
)
_EMOJI = re.compile(
    "[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u2300-\u23ff\u3030\u303d\u3297\u3299]"
)
_APOS = re.compile("[\u2018\u2019\u02bc`]")
_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_HANDLE = re.compile(r"@\w+")
_HASHTAG = re.compile(r"#(\w+)")
_CAMEL = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
# a raw token: a marker or emoji token, a word in any script (inner apostrophes kept), or
# punctuation that ends a clause
_TOKEN = re.compile(r"emo_[a-z_]+|[^\W_]+(?:'[^\W_]+)*|[!?.,;:]")
_ELONG = re.compile(r"(\w)\1\1+")
_DIGITS = re.compile(r"\d{4,}")
_CACHE_LIMIT = 200_000
_token_cache: dict[str, tuple[str, bool]] = {}


def _emoji_token(match: re.Match[str]) -> str:
    name = unicodedata.name(match.group(0), "")
    return " emo_" + re.sub(r"[^a-z]+", "_", name.lower()).strip("_") + " " if name else " "


def _hashtag(match: re.Match[str]) -> str:
    return " xhashtag " + _CAMEL.sub(" ", match.group(1)) + " "


def _token(raw: str) -> tuple[str, bool]:
    """One raw token -> (normalized token(s), elongated?)."""
    tok = raw.replace("'", "").lower()
    shout = len(raw) >= 3 and raw.isupper() and raw.isalpha()
    tok, n_elong = _ELONG.subn(r"\1\1", tok)
    if tok.isdigit() and len(tok) >= 4 or _DIGITS.search(tok):
        tok = "xnum"
    return (tok + " xcaps" if shout else tok), n_elong > 0


def _safe_str(text: object) -> str:
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text[: MAX_CHARS * 4].decode("utf-8", errors="replace")
    elif not isinstance(text, str):
        text = str(text)
    return text[:MAX_CHARS]


def normalize(text: object) -> str:
    """Normalize one post into space-separated tokens (see the module docstring)."""
    s = _safe_str(text)
    if not s.isprintable():
        s = _CONTROL.sub(" ", s)
    if not s.isascii():
        s = _INVISIBLE.sub("", s)
        s = _APOS.sub("'", s)
        s = _EMOJI.sub(_emoji_token, s)
    if "http" in s or "www" in s or "HTTP" in s:
        s = _URL.sub(" xurl ", s)
    if "@" in s:
        s = _HANDLE.sub(" xuser ", s)
    if "#" in s:
        s = _HASHTAG.sub(_hashtag, s)
    cache = _token_cache
    if len(cache) > _CACHE_LIMIT:
        cache.clear()
    out: list[str] = []
    negated = elongated = False
    for raw in _TOKEN.findall(s):
        if raw in _CLAUSE_END:
            negated = False
            if raw == "!" or raw == "?":
                out.append(raw)
            continue
        hit = cache.get(raw)
        if hit is None:
            hit = cache[raw] = _token(raw)
        tok, elong = hit
        elongated = elongated or elong
        if tok in _SCOPE_END:
            negated = False
            out.append(tok)
        elif negated and tok not in MARKERS and not tok.startswith("emo_"):
            out.append(tok + NEG_SUFFIX)
        else:
            out.append(tok)
            if tok in NEGATORS:
                negated = True
    if elongated:
        out.append("xelong")
    return " ".join(out)


def normalize_all(texts: object) -> list[str]:
    """Normalize a batch; anything that is not a sequence of strings is coerced, never fails."""
    if isinstance(texts, str | bytes):
        return [normalize(texts)]
    try:
        items = list(texts)  # type: ignore[call-overload]
    except TypeError:
        return [normalize(texts)]
    return [normalize(t) for t in items]


class SocialNormalizer(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Pipeline step: raw posts in, normalized token strings out (stateless)."""

    def fit(self, X: object, y: object = None) -> SocialNormalizer:  # noqa: N803
        self.n_features_in_ = 1
        return self

    def transform(self, X: object) -> list[str]:  # noqa: N803
        return normalize_all(X)

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.requires_fit = False
        return tags
