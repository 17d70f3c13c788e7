"""The sensitive-moment signal: death, disaster, tragedy.

A cheerful brand reply under a post about a funeral or an earthquake is mistimed even when
the post also asks for help. This is a transparent lexicon rule, not a trained model: the
score is the noisy-OR of the weights (``lexicons/sensitive.tsv``) of the terms a post
contains, ``1 - prod(1 - w)``, so one strong term ("passed away", 0.9) is enough and weak
colloquial ones ("dead", 0.2) need company. Ops tune it with ``sensitive_threshold``.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from classifiers.normalize import NEG_SUFFIX, normalize


@lru_cache(maxsize=1)
def load_sensitive() -> dict[str, float]:
    """term -> weight from the shipped lexicon (terms are normalized tokens)."""
    text = resources.files("classifiers").joinpath("lexicons/sensitive.tsv").read_text("utf-8")
    out: dict[str, float] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        term, weight = line.rsplit("\t", 1)
        out[term.strip()] = float(weight)
    return out


def sensitive_terms(tokens: list[str]) -> list[tuple[str, float]]:
    """The lexicon terms found in a normalized token list, strongest first."""
    lexicon = load_sensitive()
    bare = [t[: -len(NEG_SUFFIX)] if t.endswith(NEG_SUFFIX) else t for t in tokens]
    found: dict[str, float] = {}
    for n in (1, 2, 3):
        for i in range(len(bare) - n + 1):
            term = " ".join(bare[i : i + n])
            weight = lexicon.get(term)
            if weight is not None:
                found[term] = weight
    return sorted(found.items(), key=lambda tw: -tw[1])


def sensitive_score(tokens: list[str]) -> tuple[float, list[tuple[str, float]]]:
    """(P(sensitive moment), the terms behind it) for a normalized token list."""
    terms = sensitive_terms(tokens)
    keep = 1.0
    for _, weight in terms:
        keep *= 1.0 - weight
    return 1.0 - keep, terms


def sensitive(text: str) -> float:
    """P(sensitive moment) for one raw post."""
    return sensitive_score(normalize(text).split())[0]
