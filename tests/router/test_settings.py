"""Settings a newcomer meets first: safe defaults, and one clear line for a bad value."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

import classifiers
from router.classify import classify_lines
from router.demo import DEMO_ACCOUNTS
from router.settings import Settings, load_settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No ROUTER_* variable and no .env file: the settings a fresh production worker gets."""
    import os

    for key in list(os.environ):
        if key.startswith("ROUTER_") or key == "KAFKA_BOOTSTRAP":
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def _sample_lines(*ids: str) -> list[bytes]:
    sample = resources.files("router") / "sample" / "mentions.jsonl"
    lines = sample.read_bytes().splitlines()
    return [x for x in lines if any(f'"id": "{i}"' in x.decode() for i in ids)]


def test_production_defaults_contain_no_demo_handles(clean_env: None) -> None:
    s = Settings()
    assert s.own_accounts == [] and s.personas == [] and s.employees == []
    assert "acme" not in s.model_dump_json().lower()


def test_the_demo_still_silences_its_own_accounts(clean_env: None,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    model = classifiers.load_default()
    lines = _sample_lines("1004", "1017")  # posted by @acmecorp and by @acme_ceo
    assert len(lines) == 2

    def reasons(settings: Settings) -> list[str]:
        s = settings.with_model_defaults(getattr(model, "operating_point", {}))
        return [r["reasons"][0] for r in classify_lines(lines, s, model)]

    for key, value in DEMO_ACCOUNTS.items():
        monkeypatch.setenv(key, value)
    demo = reasons(load_settings())
    assert "own account" in demo[0] and "persona" in demo[1]
    for key in DEMO_ACCOUNTS:
        monkeypatch.delenv(key)
    production = reasons(load_settings())  # nobody is the company's own by default
    assert not any("own account" in r or "persona" in r for r in production)
