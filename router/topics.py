"""The router's topics: names, partition counts, and their creation before any worker starts.

Faust would auto-create a missing source topic with the broker's default partition count,
which then mismatches the tables fed from it (``PartitionsMismatch``); so every topic is
created here, up front, with ``settings.partitions`` partitions: the router's own topics,
the tables' changelogs (``<app id>-<table>-changelog``, compacted) and Faust's leader topic
(``<app id>-__assignor-__leader``). A worker then never starts on a missing topic.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass
from typing import Literal, get_args

from vocab.errors import BrokerError

from .broker import port_open
from .settings import Settings

#: How long ``router worker`` and ``router topics`` wait for the broker to answer at all.
REACH_BOUND_S = 3.0


@dataclass(frozen=True)
class TopicSpec:
    name: str
    compacted: bool = False
    partitions: int | None = None  # None: settings.partitions
    retention_hours: int | None = None  # None: the broker's default (7 days by default)


#: Where a dead letter comes from: the topic (or the step reading it) it was refused from.
Source = Literal["mentions", "decisions", "ticket_events", "replies"]
SOURCES: tuple[Source, ...] = get_args(Source)


# key -> (base name, compacted?)
SPECS: dict[str, TopicSpec] = {
    "mentions": TopicSpec("mentions"),  # raw mention JSON, keyed by author
    "decisions": TopicSpec("decisions"),  # every verdict, keyed by author
    # decisions the desk could not take yet, tried again after a delay (keyed by author)
    "decisions_retry": TopicSpec("decisions-retry"),
    "ticket_events": TopicSpec("ticket-events"),  # keyed by desk:ticket
    # outage reports whose ticket is open, keyed by wave (outage:<window>), not by author
    "outages": TopicSpec("outages"),
    # outage reports the desk could not take yet, tried again after a delay (keyed by wave;
    # apart from ``outages`` so that a report waiting never holds the next ones back)
    "outages_retry": TopicSpec("outages-retry"),
    "replies": TopicSpec("replies"),  # keyed by reply id
    "config": TopicSpec("router-config", compacted=True, partitions=1),
    # thread key -> the case its conversation leads to, whoever opened it (router.threads)
    "threads": TopicSpec("threads", compacted=True, partitions=1),
    # desk webhook deliveries already accepted (replay protection across restarts)
    "webhook_deliveries": TopicSpec("webhook-deliveries", compacted=True, partitions=1),
    # silent verdicts sampled for a person to check, keyed by mention (router audit)
    "audit": TopicSpec("audit", compacted=True),
    # labels by people (audits, agents' desk feedback), keyed by mention: one per mention
    "feedback": TopicSpec("feedback", compacted=True),
    # what a candidate model would decide beside the live one, keyed by mention (compacted)
    "shadow": TopicSpec("shadow", compacted=True),
    # each worker's verdict counts per minute (deltas), keyed worker|minute (dashboard)
    "volumes": TopicSpec("volumes", partitions=1, retention_hours=72),
    "mentions_dlq": TopicSpec("mentions-dlq"),
    "decisions_dlq": TopicSpec("decisions-dlq"),
    "ticket_events_dlq": TopicSpec("ticket-events-dlq"),
    "replies_dlq": TopicSpec("replies-dlq"),
}


def name(settings: Settings, key: str) -> str:
    return settings.topic(SPECS[key].name)


def all_topics(settings: Settings) -> list[tuple[str, TopicSpec]]:
    """(full name, spec) of every topic a worker reads or writes, Faust's own included."""
    from .tables import TABLE_NAMES

    out = [(settings.topic(spec.name), spec) for spec in SPECS.values()]
    out += [(f"{settings.app_id}-{table}-changelog", TopicSpec(table, compacted=True))
            for table in TABLE_NAMES]
    out.append((f"{settings.app_id}-__assignor-__leader", TopicSpec("leader", partitions=1)))
    return out


def shown_bootstrap(settings: Settings) -> str:
    """The bootstrap servers as printed: any ``user:password@`` part as ``***@``."""
    from vocab.redact import mask_url

    return mask_url(settings.kafka_bootstrap)


def unreachable(settings: Settings) -> BrokerError:
    return BrokerError(f"cannot reach Kafka at {shown_bootstrap(settings)}: start it with "
                       "`router broker start` or set KAFKA_BOOTSTRAP")


def addresses(settings: Settings) -> list[tuple[str, int]]:
    out = []
    for server in settings.kafka_bootstrap.split(","):
        server = server.strip().rpartition("://")[2].rpartition("@")[2]
        host, _, port = server.rpartition(":")
        try:
            out.append((host.strip("[]") or "localhost", int(port)))
        except ValueError:
            continue
    return out


def advertised_brokers(bootstrap: str, *, timeout_s: float = 5.0) -> list[tuple[str, int]] | None:
    """The brokers' addresses as Kafka hands them to clients (its ``advertised.listeners``),
    read with one metadata request to ``bootstrap``; None when that request does not succeed
    (for instance a listener that wants credentials this plain probe does not send)."""
    import asyncio

    from aiokafka.client import AIOKafkaClient

    async def probe() -> list[tuple[str, int]]:
        client = AIOKafkaClient(bootstrap_servers=bootstrap, client_id="router-probe",
                                request_timeout_ms=int(timeout_s * 1000))
        try:
            await asyncio.wait_for(client.bootstrap(), timeout_s)
            return [(b.host, b.port) for b in client.cluster.brokers()]
        finally:
            await client.close()

    found: list[list[tuple[str, int]]] = []

    def run() -> None:  # in a thread of its own: callers may be inside an event loop
        with contextlib.suppress(Exception):  # any failure: no answer to read
            found.append(asyncio.run(probe()))

    thread = threading.Thread(target=run, name="router-kafka-probe", daemon=True)
    thread.start()
    thread.join(timeout_s + 5.0)
    return found[0] if found else None


def advertised_unreachable(settings: Settings, brokers: list[tuple[str, int]]) -> BrokerError:
    shown = ", ".join(f"{h}:{p}" for h, p in brokers)
    return BrokerError(
        f"Kafka at {shown_bootstrap(settings)} answers, but it sends clients to {shown}, "
        "which this machine cannot reach: set the brokers' advertised.listeners to an "
        "address reachable from here")


def check_reachable(settings: Settings, *, bound_s: float = REACH_BOUND_S) -> None:
    """Return once one bootstrap server accepts a connection and the brokers it hands out
    (``advertised.listeners``) do too; BrokerError naming which is not, after ``bound_s``."""
    _check_bootstrap(settings, bound_s=bound_s)
    brokers = advertised_brokers(settings.kafka_bootstrap)
    if brokers and not any(port_open(h, p, 1.0) for h, p in brokers):
        raise advertised_unreachable(settings, brokers)


def _check_bootstrap(settings: Settings, *, bound_s: float) -> None:
    found = addresses(settings)
    if not found:
        raise BrokerError(f"ROUTER_KAFKA_BOOTSTRAP={shown_bootstrap(settings)!r} is not "
                          "host:port[,host:port]: fix KAFKA_BOOTSTRAP")
    deadline = time.monotonic() + bound_s
    while True:
        if any(port_open(host, port, 1.0) for host, port in found):
            return
        if time.monotonic() >= deadline:
            raise unreachable(settings)
        time.sleep(0.25)


def ensure_topics(settings: Settings, *, timeout_s: float = 30.0) -> list[str]:
    """Create the topics that do not exist yet; return the names created.

    A topic that exists with another partition count is an error that names the fix.
    """
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import KafkaError, TopicAlreadyExistsError

    check_reachable(settings)
    try:
        admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap,
                                 client_id="router-admin",
                                 request_timeout_ms=int(timeout_s * 1000))
    except KafkaError as exc:
        raise unreachable(settings) from exc
    try:
        existing = set(admin.list_topics())
        wanted = []
        for topic, spec in all_topics(settings):
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
            if spec.retention_hours is not None:
                configs["retention.ms"] = str(spec.retention_hours * 3_600_000)
            wanted.append(NewTopic(topic, num_partitions=parts, replication_factor=1,
                                   topic_configs=configs))
        created = []
        for new in wanted:
            try:
                admin.create_topics([new], timeout_ms=int(timeout_s * 1000))
                created.append(new.name)
            except TopicAlreadyExistsError:
                pass
        # Created is not yet known: the broker's metadata can lag the controller, and a
        # worker started now would find the newest topics missing (seen with the last one,
        # Faust's leader topic, on a loaded machine).
        deadline = time.monotonic() + timeout_s
        while missing := set(created) - set(admin.list_topics()):
            if time.monotonic() > deadline:
                raise BrokerError(f"created but not yet listed by the broker after "
                                  f"{timeout_s:.0f}s: {', '.join(sorted(missing))}; run "
                                  "`router topics` again")
            time.sleep(0.2)
        return created
    finally:
        admin.close()
