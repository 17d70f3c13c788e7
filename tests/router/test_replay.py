"""``router replay`` on a real broker: every line is checked against the router's own limits
before it is sent, a bad line is dead-lettered with its reason and the rest keep going, every
send is checked, and a file that is not JSON lines is refused whole with a hint."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient

from router.cli import main
from router.replay import read_to_end

from .stream import RouterProcess, encode, mention

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


@pytest.fixture
def rp(kafka_bootstrap: str, tmp_path: Path) -> RouterProcess:
    r = RouterProcess(kafka_bootstrap, tmp_path / "w")
    r.workdir.mkdir(parents=True)
    r.create_topics()
    return r


def topic(rp: RouterProcess, key: str) -> list[Any]:
    return read_to_end(rp.settings, key)


def valid(i: int) -> bytes:
    return encode(mention(f"r{i}", f"@acmesupport order {i} never arrived", f"c{i}"))


def test_bad_lines_are_dead_lettered_and_every_valid_line_is_sent(rp: RouterProcess) -> None:
    ten_mib = encode(mention("huge", "z" * (10 * 1024 * 1024), "hugo"))
    one_mib = encode(mention("mib", "m" * (1024 * 1024), "mia"))
    nested = b'{"id": "n", "a": ' + b"[" * 3000 + b"]" * 3000 + b"}"
    big_int = b'{"id": "i", "network": "generic", "n": ' + b"9" * 5000 + b"}"
    lines = [valid(0), ten_mib, valid(1), nested, valid(2), one_mib, valid(3), big_int]
    lines += [valid(i) for i in range(4, 10)]
    src = rp.workdir / "history.jsonl"
    src.write_bytes(b"\n".join(lines) + b"\n")

    result = rp.cli("replay", str(src))

    assert result.returncode == 0, result.stderr
    assert "replayed 10 mentions" in result.stdout
    assert "4 of 14 lines refused" in result.stdout
    assert "line 2: message too large" in result.stdout
    assert "line 4: malformed JSON: nested too deeply" in result.stdout
    sent = sorted(json.loads(m.value)["id"] for m in topic(rp, "mentions"))
    assert sent == sorted(f"r{i}" for i in range(10))
    letters = {x["offset"]: x for x in (json.loads(m.value) for m in topic(rp, "mentions_dlq"))}
    assert sorted(letters) == [2, 4, 6, 8]  # the line numbers
    assert "too large" in letters[2]["reason"] and "too large" in letters[6]["reason"]
    assert "number too large" in letters[8]["reason"]
    big = letters[2]
    assert big["truncated"] is True and big["original_size"] == len(ten_mib)
    assert big["original_sha256"] == hashlib.sha256(ten_mib).hexdigest()
    assert ten_mib.startswith(base64.b64decode(big["original"]))
    assert base64.b64decode(letters[4]["original"]) == nested  # small ones are kept whole


def test_a_csv_file_is_refused_whole_with_a_hint(rp: RouterProcess) -> None:
    src = rp.workdir / "export.csv"
    rows = ["id,created_at,text,author"] + [
        f"{i},2026-11-23T10:00:00Z,my order {i} never arrived,c{i}" for i in range(600)]
    src.write_text("\n".join(rows) + "\n")

    result = rp.cli("replay", str(src))

    assert result.returncode == 1
    assert "looks like CSV" in result.stderr
    assert "nothing was sent" in result.stderr
    assert "Traceback" not in result.stderr
    assert topic(rp, "mentions") == [] and topic(rp, "mentions_dlq") == []


def test_a_line_the_broker_refuses_is_reported_and_the_exit_status_says_so(
        rp: RouterProcess) -> None:
    # A broker whose topic takes less than the router would: the send fails after it left
    # the client, which only a checked result can tell.
    admin = KafkaAdminClient(bootstrap_servers=rp.bootstrap)
    try:
        admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, rp.topic("mentions"),
                                            configs={"max.message.bytes": "2000"})])
    finally:
        admin.close()
    long_ok = encode(mention("long", "@acmesupport " + "my parcel is late. " * 400, "lou"))
    assert 2000 < len(long_ok) < rp.settings.max_message_bytes
    src = rp.workdir / "mixed.jsonl"
    src.write_bytes(b"\n".join([valid(0), long_ok, valid(1)]) + b"\n")

    result = rp.cli("replay", str(src))

    assert result.returncode == 1, result.stdout
    assert "1 not accepted by Kafka" in result.stderr
    assert "line 2: not sent" in result.stderr
    sent = sorted(json.loads(m.value)["id"] for m in topic(rp, "mentions"))
    assert sent == ["r0", "r1"]


def test_mostly_bad_lines_after_good_ones_exit_non_zero_with_a_summary(
        rp: RouterProcess, monkeypatch: pytest.MonkeyPatch) -> None:
    # The first lines look fine, so the valid ones are sent; most of the file is not
    # mentions, which the exit status and the summary say.
    import router.replay

    monkeypatch.setattr(router.replay, "PROBE_LINES", 2)
    src = rp.workdir / "half.jsonl"
    src.write_bytes(b"\n".join([valid(0), valid(1)] + [b"not json %d" % i for i in range(30)])
                    + b"\n")

    result = CliRunner().invoke(main, ["replay", str(src)], env=rp.env)

    assert result.exit_code == 1
    assert "replayed 2 mentions" in result.output
    assert "30 of 32 lines refused" in result.output
    assert "line 3: malformed JSON" in result.output and "... and 20 more" in result.output
    assert len(topic(rp, "mentions_dlq")) == 30
