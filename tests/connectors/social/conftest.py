from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

PAYLOADS = Path(__file__).parent / "payloads"


def load(network: str, name: str) -> dict[str, Any]:
    data = json.loads((PAYLOADS / network / f"{name}.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(autouse=True)
def _no_router_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Connector settings come from each test, never from the developer's environment."""
    import os

    for name in list(os.environ):
        if name.startswith(("ROUTER_GENERIC_", "ROUTER_MASTODON_", "ROUTER_BLUESKY_",
                            "ROUTER_X_", "ROUTER_REDDIT_")):
            monkeypatch.delenv(name)


def never_hurtful(text: str) -> float:
    return 0.0
