"""Producing to the router's topics from outside a worker: replayed files, desk events."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from vocab.errors import BadInput, BrokerError
from vocab.records import DeadLetter

from .ingest import to_message
from .settings import Settings
from .topics import SPECS, name
from .validate import parse_mention


def producer(settings: Settings):  # type: ignore[no-untyped-def]
    from kafka import KafkaProducer
    from kafka.errors import KafkaError

    try:
        return KafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                             linger_ms=20, max_request_size=4 * 1024 * 1024)
    except KafkaError as exc:
        raise BrokerError(f"cannot reach Kafka at {settings.kafka_bootstrap}: start it with "
                          "`router broker start` or set KAFKA_BOOTSTRAP") from exc


PROBE_LINES = 100  # lines checked before anything is sent (a CSV is refused whole)
CHECK_EVERY = 5000  # sends between two flushes that check every result
SHOWN_PROBLEMS = 10


@dataclass
class ReplayReport:
    """What ``replay_file`` did with each line of a file."""

    path: Path
    lines: int = 0  # non-empty lines read
    sent: int = 0  # mentions the broker acknowledged
    refused: int = 0  # bad lines, each in mentions-dlq with its reason
    failed: int = 0  # lines (or their dead letters) the broker did not take
    aborted: bool = False  # most of the first lines were bad: nothing was sent
    problems: list[str] = field(default_factory=list)  # "line 3: reason", the first few
    hint: str = ""  # what the file looks like when it is not JSON lines

    @property
    def mostly_bad(self) -> bool:
        return self.lines > 0 and self.refused * 2 > self.lines

    @property
    def ok(self) -> bool:
        return not (self.aborted or self.failed or self.mostly_bad)

    def note(self, lineno: int, reason: str) -> None:
        if len(self.problems) < SHOWN_PROBLEMS:
            self.problems.append(f"line {lineno}: {reason}")

    def summary(self) -> str:
        """What happened, in a few lines for the operator."""
        if self.aborted:
            head = (f"{self.path}: {self.refused} of the first {self.lines} lines are not "
                    f"mentions; nothing was sent")
        else:
            head = f"replayed {self.sent} mentions from {self.path}"
            if self.refused:
                head += f"; {self.refused} of {self.lines} lines refused to the dead-letter topic"
            if self.failed:
                head += f"; {self.failed} not accepted by Kafka (not sent: replay them again)"
        out = [head + (f"\n{self.hint}" if self.hint else "")]
        out += [f"  {p}" for p in self.problems]
        hidden = self.refused + self.failed - len(self.problems)
        if hidden > 0:
            out.append(f"  ... and {hidden} more")
        return "\n".join(out)


def replay_file(settings: Settings, path: Path, network: str = "generic") -> ReplayReport:
    """Send each line of ``path`` to ``mentions``, checked first against the router's own
    limits; a bad line goes to ``mentions-dlq`` with its reason and the rest keep going.

    When most of the first ``PROBE_LINES`` lines are bad (a CSV, a pretty-printed JSON
    document), nothing at all is sent. Every send is flushed and its result checked.
    """
    report = ReplayReport(path=path)
    limit = settings.max_message_bytes
    with path.open("rb") as fh:
        lines = _lines(fh, limit)
        probe: list[_Checked] = []
        for item in lines:
            probe.append(_check(settings, network, item))
            if len(probe) >= PROBE_LINES:
                break
        bad = sum(1 for c in probe if c.reason)
        if probe and bad * 2 > len(probe):
            report.aborted = True
            report.lines, report.refused = len(probe), bad
            for c in probe:
                if c.reason:
                    report.note(c.lineno, c.reason)
            report.hint = _looks_like(probe[0].head)
            return report
        p = producer(settings)
        try:
            sender = _Sender(p, settings, path, report)
            for c in probe:
                sender.send(c)
            for item in lines:
                sender.send(_check(settings, network, item))
            sender.check()
        finally:
            p.close()
    if report.mostly_bad:
        report.hint = _looks_like(_first_line(path, limit))
    return report


@dataclass
class _Checked:
    lineno: int
    head: bytes  # the line, or its first bytes when it is over the limit
    size: int
    sha256: str = ""  # of the whole line, when only its head is kept
    reason: str = ""  # why it is refused ("" when it is a mention)
    key: bytes = b""
    value: bytes = b""


def _lines(fh: BinaryIO, limit: int) -> Iterator[tuple[int, bytes, int, str]]:
    """``(line number, line or its first bytes, size, sha256 when cut)`` of each non-empty
    line, reading at most ``limit`` + 1 bytes of any line into memory."""
    lineno = 0
    while True:
        chunk = fh.readline(limit + 1)
        if not chunk:
            return
        lineno += 1
        if len(chunk) > limit and not chunk.endswith(b"\n"):
            digest, size = hashlib.sha256(chunk), len(chunk)
            while True:  # the rest of an oversized line, counted and hashed, not kept
                more = fh.readline(1 << 20)
                end = not more or more.endswith(b"\n")
                more = more.rstrip(b"\r\n") if end else more
                digest.update(more)
                size += len(more)
                if end:
                    break
            yield lineno, chunk, size, digest.hexdigest()
            continue
        line = chunk.rstrip(b"\r\n")
        if line.strip():
            yield lineno, line, len(line), ""


def _check(settings: Settings, network: str, item: tuple[int, bytes, int, str]) -> _Checked:
    lineno, head, size, sha = item
    c = _Checked(lineno=lineno, head=head, size=size, sha256=sha)
    if size > settings.max_message_bytes:
        c.reason = f"message too large: {size} bytes > {settings.max_message_bytes}"
        return c
    try:
        # The generic form is checked as the worker checks it before anything else reads it.
        key, value = (b"", head) if network == "generic" else to_message(network, head)
        m = parse_mention(value, networks=settings.networks,
                          max_text_bytes=settings.max_text_bytes,
                          max_message_bytes=settings.max_message_bytes)
    except BadInput as exc:
        c.reason = exc.reason
        return c
    except Exception as exc:  # noqa: BLE001 - one line's problem stays that line's
        c.reason = f"unreadable line: {type(exc).__name__}: {str(exc)[:200]}"
        return c
    c.key, c.value = key or f"{m.network}:{m.author.id}".encode(), value
    return c


class _Sender:
    """Sends checked lines and dead letters, and checks that the broker took each one."""

    def __init__(self, p: Any, settings: Settings, path: Path, report: ReplayReport) -> None:
        self.p, self.report, self.path = p, report, path
        self.mentions = name(settings, "mentions")
        self.dlq = name(settings, "mentions_dlq")
        self.pending: list[tuple[int, bool, Any]] = []  # (line, is a mention, future)

    def send(self, c: _Checked) -> None:
        from kafka.errors import KafkaError

        self.report.lines += 1
        if c.reason:
            self.report.refused += 1
            self.report.note(c.lineno, c.reason)
            letter = DeadLetter.of(c.head, c.reason, source_topic=f"replay:{self.path.name}",
                                   key="", offset=c.lineno, at=time.time())
            if c.sha256:  # only the head of the line was read
                letter.original_size, letter.original_sha256 = c.size, c.sha256
                letter.truncated = True
            topic, key, value = self.dlq, b"", letter.dumps()
        else:
            topic, key, value = self.mentions, c.key or b"", c.value
        try:
            fut = self.p.send(topic, key=key or None, value=value)
        except KafkaError as exc:
            self._failed(c.lineno, exc)
        else:
            self.pending.append((c.lineno, not c.reason, fut))
        if len(self.pending) >= CHECK_EVERY:
            self.check()

    def check(self) -> None:
        """Flush, then count what the broker acknowledged and report what it did not."""
        from kafka.errors import KafkaError

        try:
            self.p.flush(timeout=60)
        except KafkaError:
            pass  # each unfinished send is counted as failed below
        for lineno, is_mention, fut in self.pending:
            if fut.is_done and fut.succeeded():
                self.report.sent += is_mention
            else:
                self._failed(lineno, fut.exception)
        self.pending.clear()

    def _failed(self, lineno: int, exc: BaseException | None) -> None:
        self.report.failed += 1
        why = type(exc).__name__ if exc is not None else "no answer from Kafka in 60 s"
        self.report.note(lineno, f"not sent: {why}")


def _first_line(path: Path, limit: int) -> bytes:
    with path.open("rb") as fh:
        for _, head, _, _ in _lines(fh, limit):
            return head
    return b""


def _looks_like(first: bytes) -> str:
    """A hint when a file is not JSON lines, from its first non-empty line."""
    line = first.strip()
    if line in (b"[", b"{") or line.startswith(b'"'):
        return ("this looks like one JSON document spread over several lines, not JSON "
                "lines: write one JSON object per line (e.g. `jq -c '.[]'`)")
    if not line.startswith((b"{", b"[")) and any(sep in line for sep in (b",", b"\t", b";")):
        return ("this looks like CSV, not JSON lines: each line must be one JSON object "
                "(`router schema` prints the format)")
    return ("each line must be one JSON object in the router's input format "
            "(`router schema` prints it)")


def read_to_end(settings: Settings, topic_key: str, *, timeout_s: float = 10.0) -> list[Any]:
    """Every record a router topic holds now, from its beginning to its current end."""
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError

    spec = SPECS[topic_key]
    topic = name(settings, topic_key)
    try:
        consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                                 enable_auto_commit=False, consumer_timeout_ms=500)
    except KafkaError as exc:
        raise BrokerError(f"cannot reach Kafka at {settings.kafka_bootstrap}: start it with "
                          "`router broker start` or set KAFKA_BOOTSTRAP") from exc
    records: list[Any] = []
    try:
        tps = [TopicPartition(topic, p)
               for p in range(spec.partitions or settings.partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        end = consumer.end_offsets(tps)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and any(
                consumer.position(tp) < end[tp] for tp in tps):
            records.extend(consumer)
        return records
    except KafkaError as exc:
        raise BrokerError(f"cannot read {topic}: create the topics with `router topics`") \
            from exc
    finally:
        consumer.close()
