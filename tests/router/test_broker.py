"""The local broker's storage format, with the real Kafka StorageTool (issue #14).

About one random cluster id in 64 starts with '-'; Kafka's command line then read it as a flag
and ``make demo`` failed. These run the real tool from the cached jars on a temp folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from router.broker import LocalBroker, _kafka_uuid, free_port, jars_dir


def _broker(tmp_path: Path) -> LocalBroker:
    if not (jars_dir() / ".complete").exists():
        pytest.skip("the Kafka jars are not cached yet: run `make install` then "
                    "`.venv/bin/python -c 'from router.broker import fetch_jars; fetch_jars()'`")
    return LocalBroker(tmp_path, port=free_port(), controller_port=free_port())


def test_storage_format_accepts_a_cluster_id_starting_with_a_dash(tmp_path: Path) -> None:
    broker = _broker(tmp_path)
    cluster_id = "-" + _kafka_uuid()[1:]  # still 22 base64url characters: a valid Kafka id
    broker.format_storage(cluster_id)
    meta = (tmp_path / "logs" / "meta.properties").read_text()
    assert f"cluster.id={cluster_id}" in meta


def test_random_cluster_ids_never_start_with_a_dash(monkeypatch: pytest.MonkeyPatch) -> None:
    # Kafka's Uuid.randomUuid() draws again when the text starts with '-'; so do we.
    draws = iter([bytes([0xF8]) + bytes(15), bytes([0x11]) * 16])  # '-' first, then fine
    monkeypatch.setattr("router.broker._random_bytes", lambda: next(draws))
    assert _kafka_uuid() == "EREREREREREREREREREREQ"
