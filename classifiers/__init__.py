"""classifiers: the actionable and hurtful judgements the router makes on every mention.

``load_default()`` returns the shipped ``TriageModel`` (see ``classifiers.api``);
``load_artifact(path)`` returns a model with the version decisions record
(``classifiers.store.version``). Nothing is loaded at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from classifiers.api import CATEGORIES, Scores, TriageModel

if TYPE_CHECKING:
    from classifiers.model import SocialTriageModel

__all__ = ["CATEGORIES", "Artifact", "Scores", "TriageModel", "load", "load_artifact",
           "load_default"]


@dataclass(frozen=True)
class Artifact:
    """A loaded, checked model and what identifies it."""

    model: SocialTriageModel
    #: sha256 prefix, then the card's name and date: ``3f9a1c2b7d4e (name, 2026-12-07)``
    version: str
    #: The artifact's full sha256 (what a promotion pins).
    sha256: str
    #: The joblib file it came from; None for the shipped model.
    path: Path | None


def load_artifact(path: str | Path | None = None) -> Artifact:
    """The shipped model (``path=None``, loaded once) or an artifact the user names
    explicitly (a ``.joblib`` file or its folder); raises ``ModelError`` with one line when
    it cannot be trusted (missing, changed, built with other library versions)."""
    if path is None:
        return _shipped()
    from classifiers.store import load_with_meta, target, version  # noqa: PLC0415

    model, meta = load_with_meta(path)
    return Artifact(model, version(meta), str(meta["sha256"]), target(path).resolve())


@lru_cache(maxsize=1)
def _shipped() -> Artifact:
    from classifiers.store import load_with_meta, version  # noqa: PLC0415

    model, meta = load_with_meta(None)
    return Artifact(model, version(meta), str(meta["sha256"]), None)


def load_default() -> SocialTriageModel:
    """The shipped model (loaded once, then cached); raises ModelError if it cannot be trusted."""
    return _shipped().model


def load(path: str | Path) -> SocialTriageModel:
    """A model artifact the user names explicitly (a ``.joblib`` file or its folder)."""
    return load_artifact(path).model
