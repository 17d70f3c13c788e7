"""Shared fixtures: a real Kafka broker for the session, and router workers as processes.

The broker is started by the suite itself from the Maven Central jars (``router.broker``),
on free loopback ports in a temporary folder, unless ``KAFKA_BOOTSTRAP`` names one already
running. Each test that runs a worker gets its own topic prefix, app id and files, so tests
never see each other's messages or state.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from router.broker import LocalBroker, free_port

from .rt_live import live_rt  # noqa: F401 - the session's real Request Tracker


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    given = os.environ.get("KAFKA_BOOTSTRAP")
    if given:
        yield given
        return
    broker = LocalBroker(tmp_path_factory.mktemp("kafka"), port=free_port(),
                         controller_port=free_port(), partitions=4)
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()
