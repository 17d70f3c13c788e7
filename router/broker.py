"""A local, single-node Apache Kafka broker (KRaft) run from the Maven Central jars.

The jars of ``org.apache.kafka:kafka_2.13`` (pinned: ``KAFKA_VERSION``) and a Log4j 2
binding are fetched once with Maven into a cache folder shared by every checkout; the broker
then runs with ``java -cp`` on 127.0.0.1 only, formatted with
``kafka.tools.StorageTool format --standalone``, logging to a file in its data folder.

Used by ``router broker start|stop|status``, ``make demo`` and the test suite.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from vocab.errors import BrokerError

# Kafka 4.1: KRaft only (no ZooKeeper), Java 17, the current stable line; faust-streaming
# (aiokafka >= 0.13) and kafka-python 3 both speak its protocol versions.
KAFKA_VERSION = "4.1.1"
LOG4J_VERSION = "2.24.3"

POM = """<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>escalation-router</groupId><artifactId>local-kafka</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId>
      <version>{kafka}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId>
      <version>{log4j}</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId>
      <version>{log4j}</version></dependency>
  </dependencies>
</project>
"""

LOG4J2 = """Configuration:
  Appenders:
    File:
      name: FILE
      fileName: "{log}"
      PatternLayout:
        pattern: "[%d] %p %m (%c)%n"
  Loggers:
    Root:
      level: INFO
      AppenderRef:
        - ref: FILE
    Logger:
      - name: kafka.request.logger
        level: WARN
      - name: org.apache.kafka.controller
        level: WARN
"""


def cache_dir() -> Path:
    base = os.environ.get("ROUTER_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "escalation-router"
    )
    return Path(base)


def jars_dir(version: str = KAFKA_VERSION) -> Path:
    return cache_dir() / f"kafka-{version}" / "lib"


def fetch_jars(version: str = KAFKA_VERSION, *, quiet: bool = True) -> Path:
    """Download the broker's jars with Maven once; later calls reuse the cache."""
    lib = jars_dir(version)
    marker = lib / ".complete"
    if marker.exists():
        return lib
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError("Maven (mvn) is not installed: apt-get install maven")
    work = lib.parent
    work.mkdir(parents=True, exist_ok=True)
    (work / "pom.xml").write_text(POM.format(kafka=version, log4j=LOG4J_VERSION))
    tmp = work / "lib.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    cmd = [mvn, "-B", "-f", str(work / "pom.xml"), "dependency:copy-dependencies",
           f"-DoutputDirectory={tmp}", "-DincludeScope=runtime"]
    if quiet:
        cmd.insert(1, "-q")
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)  # noqa: S603
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-15:])
        raise BrokerError(f"Maven could not fetch Kafka {version}:\n{tail}")
    shutil.rmtree(lib, ignore_errors=True)
    tmp.rename(lib)
    marker.write_text(version)
    return lib


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """Whether ``host:port`` accepts a TCP connection (any address family)."""
    try:
        socket.create_connection((host, port), timeout=timeout_s).close()
    except OSError:
        return False
    return True


@dataclass
class LocalBroker:
    """One KRaft broker+controller on loopback, its data and log in ``data_dir``."""

    data_dir: Path
    port: int = 19092
    controller_port: int = 19093
    partitions: int = 4
    heap: str = "512m"
    #: The address the broker gives clients (advertised.listeners); default: where it listens.
    #: Tests set another to reproduce a broker that advertises an address clients cannot reach.
    advertised: str | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "broker.pid"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "broker.log"

    def _properties(self) -> Path:
        props = self.data_dir / "server.properties"
        props.write_text(
            "\n".join([
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.bootstrap.servers=127.0.0.1:{self.controller_port}",
                f"listeners=PLAINTEXT://127.0.0.1:{self.port},"
                f"CONTROLLER://127.0.0.1:{self.controller_port}",
                f"advertised.listeners=PLAINTEXT://{self.advertised or self.bootstrap}",
                "controller.listener.names=CONTROLLER",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                f"log.dirs={self.data_dir / 'logs'}",
                f"num.partitions={self.partitions}",
                "offsets.topic.replication.factor=1",
                "offsets.topic.num.partitions=4",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "group.initial.rebalance.delay.ms=0",
                "share.coordinator.state.topic.replication.factor=1",
                "share.coordinator.state.topic.min.isr=1",
                "log.retention.hours=168",
                "",
            ])
        )
        (self.data_dir / "log4j2.yaml").write_text(LOG4J2.format(log=self.log_file))
        return props

    def _java(self, lib: Path, *args: str) -> list[str]:
        java = shutil.which("java")
        if java is None:
            raise BrokerError("Java is not installed: apt-get install openjdk-17-jre-headless")
        return [java, f"-Xmx{self.heap}", "-Xms128m",
                f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.yaml'}",
                "-cp", f"{lib}/*", *args]

    def pid(self) -> int | None:
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        return pid

    def running(self) -> bool:
        return self.pid() is not None and port_open("127.0.0.1", self.port)

    def start(self, *, timeout: float = 90.0) -> None:
        """Format storage on first use, start the broker and wait until it serves."""
        if self.running():
            return
        if port_open("127.0.0.1", self.port):
            raise BrokerError(
                f"port {self.port} is taken by another program; stop it or set another port"
            )
        lib = fetch_jars()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        props = self._properties()
        if not (self.data_dir / "logs" / "meta.properties").exists():
            self.format_storage(_kafka_uuid())
        out = open(self.data_dir / "broker.stdout", "ab")  # noqa: SIM115
        proc2 = subprocess.Popen(  # noqa: S603
            self._java(lib, "kafka.Kafka", str(props)),
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
        out.close()
        self.pid_file.write_text(str(proc2.pid))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc2.poll() is not None:
                raise BrokerError(
                    f"the Kafka broker exited with {proc2.returncode}; see {self.log_file}"
                )
            if port_open("127.0.0.1", self.port) and self._serves():
                return
            time.sleep(0.5)
        self.stop()
        raise BrokerError(f"the Kafka broker did not serve within {timeout:.0f}s; "
                          f"see {self.log_file}")

    def _serves(self) -> bool:
        if self.advertised in (None, self.bootstrap):
            return _serves(self.bootstrap)
        # Clients that follow the advertised address cannot reach this broker: ask it for
        # metadata only.
        from .topics import advertised_brokers

        return bool(advertised_brokers(self.bootstrap, timeout_s=3.0))

    def format_storage(self, cluster_id: str) -> None:
        """Format the data folder for a new single-node cluster named ``cluster_id``."""
        lib = fetch_jars()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        props = self._properties()
        proc = subprocess.run(  # noqa: S603
            # "--cluster-id=<id>" in one word: an id starting with '-' is not read as a flag.
            self._java(lib, "kafka.tools.StorageTool", "format", "--standalone",
                       f"--cluster-id={cluster_id}", "-c", str(props)),
            capture_output=True, text=True, timeout=120,
        )
        if proc.returncode != 0:
            raise BrokerError(f"formatting Kafka storage failed: {proc.stdout}{proc.stderr}")

    def stop(self, *, timeout: float = 30.0) -> None:
        """Stop the broker cleanly (SIGTERM), then forcefully if it lingers."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.2)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)


# Kafka's reserved ids (Uuid.ZERO_UUID, Uuid.METADATA_TOPIC_ID), never a cluster's.
_RESERVED_IDS = frozenset({"AAAAAAAAAAAAAAAAAAAAAA", "AAAAAAAAAAAAAAAAAAAAAQ"})


def _random_bytes() -> bytes:
    return uuid.uuid4().bytes


def _kafka_uuid() -> str:
    """A random Kafka cluster id (base64url of 16 random bytes, no padding).

    Like Kafka's ``Uuid.randomUuid()``, draws again when the text would start with '-'
    (about 1 in 64; command-line tools read such an id as a flag) or is a reserved id.
    """
    import base64

    for _ in range(1000):
        text = base64.urlsafe_b64encode(_random_bytes()).decode().rstrip("=")
        if not text.startswith("-") and text not in _RESERVED_IDS:
            return text
    raise BrokerError("could not draw a usable Kafka cluster id")  # pragma: no cover


def _serves(bootstrap: str) -> bool:
    """True once the broker answers a metadata request."""
    try:
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000,
                                 client_id="router-probe")
    except Exception:  # noqa: BLE001 - any failure means "not yet"
        return False
    try:
        admin.list_topics()
        return True
    except Exception:  # noqa: BLE001
        return False
    finally:
        admin.close()
