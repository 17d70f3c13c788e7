"""The token-additive features: the fast per-token table gives exactly the matrix's scores."""

from __future__ import annotations

import numpy as np
import pytest

from classifiers.model import SocialTriageModel
from classifiers.tokens import TokenFeatures, TokenTable, dense_columns, tokens
from tests.classifiers.test_normalize import HOSTILE

TEXTS = [
    "@AcmeCorp I can't log in, password reset never arrives!!",
    "my order never arrived 😡 #fail http://t.co/x 123456",
    "sooooo happy with the new app, thanks @acmecorp",
    "you are useless idiots",
    "",
]


def test_tokens() -> None:
    assert tokens("@AcmeCorp can't LOG in 💔 sooooo http://x.co #fail 123456 ok?") == [
        "@acmecorp", "@user", "cant", "log", "in", "emo_broken_heart", "soo", "xurl", "#",
        "fail", "xnum", "ok", "?",
    ]


def test_table_margins_equal_the_feature_matrix() -> None:
    feats = TokenFeatures().fit(TEXTS * 2)
    n = feats.n_word_ + feats.n_char_
    rng = np.random.default_rng(0)
    coef = rng.normal(size=(n + 4, 2))
    X = feats.transform(TEXTS + ["unseen wording here"])  # noqa: N806
    table = TokenTable(feats, coef[:n])
    m, z = table.margins(table.counts(TEXTS + ["unseen wording here"]))
    fast = m + dense_columns(z[:, 2:5]) @ coef[n:]
    assert np.allclose(fast, X @ coef)


def test_hostile_input_is_scored(model: SocialTriageModel) -> None:
    assert len(model.hurtful(HOSTILE)) == len(HOSTILE)  # type: ignore[arg-type]
    assert all(0.0 <= p <= 1.0 for p in model.hurtful(HOSTILE))  # type: ignore[arg-type]


def test_gate_agrees_with_score(model: SocialTriageModel) -> None:
    assert np.allclose(model.hurtful(TEXTS), [s.hurtful for s in model.score(TEXTS)])


def test_training_without_the_profanity_lexicon_is_refused_with_the_fix(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Without alt-profanity-check a model used to be fitted without its profanity column,
    silently: another model (a weaker hurtful gate) under the same command."""
    import sys

    from vocab.errors import ModelError

    monkeypatch.setitem(sys.modules, "profanity_check", None)  # as if not installed
    with pytest.raises(ModelError, match=r"pip install 'escalation-router\[profanity\]'"):
        TokenFeatures(min_df=1).fit(["my order never arrived", "love the new update"])
