"""The router's topics: names, partition counts, and their creation before any worker starts.

Faust would auto-create a missing source topic with the broker's default partition count,
which then mismatches the tables fed from it (``PartitionsMismatch``); so every topic is
created here, up front, with ``settings.partitions`` partitions.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import BrokerError
from .settings import Settings


@dataclass(frozen=True)
class TopicSpec:
    name: str
    compacted: bool = False
    partitions: int | None = None  # None: settings.partitions


# key -> (base name, compacted?)
SPECS: dict[str, TopicSpec] = {
    "mentions": TopicSpec("mentions"),  # raw mention JSON, keyed by author
    "decisions": TopicSpec("decisions"),  # every verdict, keyed by author
    # decisions the desk could not take yet, tried again after a delay (keyed by author)
    "decisions_retry": TopicSpec("decisions-retry"),
    "ticket_events": TopicSpec("ticket-events"),  # keyed by desk:ticket
    "replies": TopicSpec("replies"),  # keyed by reply id
    "config": TopicSpec("router-config", compacted=True, partitions=1),
    "mentions_dlq": TopicSpec("mentions-dlq"),
    "decisions_dlq": TopicSpec("decisions-dlq"),
    "ticket_events_dlq": TopicSpec("ticket-events-dlq"),
    "replies_dlq": TopicSpec("replies-dlq"),
}


def name(settings: Settings, key: str) -> str:
    return settings.topic(SPECS[key].name)


def ensure_topics(settings: Settings, *, timeout_s: float = 30.0) -> list[str]:
    """Create the router's topics that do not exist yet; return the names created.

    A topic that exists with another partition count is an error that names the fix.
    """
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    try:
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap,
                                 client_id="router-admin",
                                 request_timeout_ms=int(timeout_s * 1000))
    except KafkaError as exc:
        raise BrokerError(
            f"cannot reach Kafka at {settings.kafka_bootstrap}: start it with "
            "`router broker start` or set KAFKA_BOOTSTRAP"
        ) from exc
    try:
        existing = set(admin.list_topics())
        wanted = []
        for spec in SPECS.values():
            topic = settings.topic(spec.name)
            parts = spec.partitions or settings.partitions
            if topic in existing:
                meta = admin.describe_topics([topic])[0]
                have = len(meta.get("partitions", []))
                if have and have != parts:
                    raise BrokerError(
                        f"topic {topic} has {have} partitions but the router needs {parts}: "
                        f"set ROUTER_PARTITIONS={have} or recreate the topic"
                    )
                continue
            configs = {"cleanup.policy": "compact"} if spec.compacted else {}
            wanted.append(NewTopic(topic, num_partitions=parts, replication_factor=1,
                                   topic_configs=configs))
        created = []
        for new in wanted:
            try:
                admin.create_topics([new], timeout_ms=int(timeout_s * 1000))
                created.append(new.name)
            except TopicAlreadyExistsError:
                pass
        return created
    finally:
        admin.close()
