"""Builds the ``faust.App`` from settings, and nothing else."""

from __future__ import annotations

import faust

from .settings import Settings


def create_app(settings: Settings) -> faust.App:
    """A Faust app for these settings (no network until a worker starts it)."""
    return faust.App(
        settings.app_id,
        broker=f"kafka://{settings.kafka_bootstrap.replace(',', ';kafka://')}",
        store="memory://",  # tables are rebuilt from their Kafka changelogs on start
        topic_partitions=settings.partitions,
        topic_replication_factor=1,
        topic_allow_declare=True,
        datadir=str(settings.data_dir / "faust"),
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_in_thread=False,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        broker_session_timeout=settings.session_timeout,
        broker_heartbeat_interval=min(3.0, settings.session_timeout / 3),
        broker_commit_every=200,
        broker_commit_interval=1.0,
        stream_wait_empty=False,
        worker_redirect_stdouts=False,
        autodiscover=False,
        version=1,
    )
