"""classifiers: the actionable and hurtful judgements the router makes on every mention.

``load_default()`` returns the shipped ``TriageModel`` (see ``classifiers.api``); nothing is
loaded at import time.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from classifiers.api import CATEGORIES, Scores, TriageModel

if TYPE_CHECKING:
    from classifiers.model import SocialTriageModel

__all__ = ["CATEGORIES", "Scores", "TriageModel", "load", "load_default"]


@lru_cache(maxsize=1)
def load_default() -> SocialTriageModel:
    """The shipped model (loaded once, then cached); raises ModelError if it cannot be trusted."""
    from classifiers.store import load as _load  # noqa: PLC0415 - no model work at import

    return _load(None)  # type: ignore[no-any-return]


def load(path: str | Path) -> SocialTriageModel:
    """A model artifact the user names explicitly (a ``.joblib`` file or its directory)."""
    from classifiers.store import load as _load  # noqa: PLC0415

    return _load(path)  # type: ignore[no-any-return]
