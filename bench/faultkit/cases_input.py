"""Cases about what comes in: a baseline, poison messages, odd text, replayed files."""

from __future__ import annotations

import json
import re
from typing import Any

from .flows import Ctx, boot, customers, open_tickets, wait_replies
from .kit import Deadline, Result, Worker, account, encode, mention, opened_ids, wait_until


def baseline(ctx: Ctx, res: Result, dl: Deadline) -> None:
    """Valid requests open one ticket each; solving them answers each customer once."""
    w = ctx.worker()
    if not boot(res, w, dl):
        return
    ids = open_tickets(res, w, customers("base", 6 if ctx.quick else 12), dl)
    rc, out = w.cli("desk", "solve", *ids.values())
    if rc != 0:
        res.problem(f"desk solve rc {rc}: {out.strip()[-100:]}")
    wait_replies(res, w, list(ids), dl)


def _batch_with(ctx: Ctx, res: Result, dl: Deadline, tag: str,
                poison: list[tuple[str | None, bytes | None]]) -> Worker | None:
    """3 valid mentions, the poison, 3 valid, all on one partition (one batch), then count:
    every valid one must be decided, every poison one decided or dead-lettered."""
    w = ctx.worker()
    if not boot(res, w, dl):
        return None
    before, after = customers(tag, 3), customers(tag, 3, start=3)
    values = [encode(m) for m in before] + [v for _, v in poison] + [encode(m) for m in after]
    w.produce(values, [b"generic:u-batch"] * len(values))
    valid = [m["id"] for m in before + after]
    account(res, w, valid, [mid for mid, _ in poison if mid], dl, 30)
    return w


def huge_mention(ctx: Ctx, res: Result, dl: Deadline) -> None:
    """A ~900 KB mention (over the router's limit, under Kafka's) among valid ones."""
    big = encode(mention("huge-x", "huge", 0, text="please help " + "a" * 900_000))
    _batch_with(ctx, res, dl, "huge", [("huge-x", big)])


def _nested(mid: str, depth: int = 3000) -> bytes:
    return (f'{{"id": "{mid}", "network": "generic", "text": "hi", "x": '
            + "[" * depth + "]" * depth + "}").encode()


def poison_nested(ctx: Ctx, res: Result, dl: Deadline) -> None:
    """Deeply nested JSON (3,000 levels) in a batch of valid mentions."""
    _batch_with(ctx, res, dl, "nest", [("nest-x", _nested("nest-x"))])


def poison_bigint(ctx: Ctx, res: Result, dl: Deadline) -> None:
    """An integer of 4,301 digits in a batch of valid mentions."""
    raw = encode(mention("bigint-x", "bigint", 0)).replace(
        b'"followers": 10', b'"followers": ' + b"9" * 4301)
    _batch_with(ctx, res, dl, "bigint", [("bigint-x", raw)])


def poison_tombstone(ctx: Ctx, res: Result, dl: Deadline) -> None:
    """A null value (a tombstone) in a batch of valid mentions."""
    _batch_with(ctx, res, dl, "tomb", [(None, None)])


def lone_surrogate(ctx: Ctx, res: Result, dl: Deadline) -> None:
    """A lone surrogate (\\ud800) in a support request's text, then valid requests."""
    w = ctx.worker()
    if not boot(res, w, dl):
        return
    odd = mention("surr-x", "surrx", 0,
                  text="@acmesupport my order 4411 never arrived \ud800 please refund it")
    raw = json.dumps(odd, ensure_ascii=True).encode()  # "\ud800" as an escape: valid UTF-8
    rest = customers("surr", 3)
    w.produce([raw] + [encode(m) for m in rest],
              [b"generic:u-surrx"] + [b"generic:u-" + m["author"]["handle"].encode()
                                      for m in rest])
    ds, letters = account(res, w, [m["id"] for m in rest], ["surr-x"], dl, 30)
    want = {m["author"]["handle"] for m in rest if ds.get(m["id"]) == "open"}
    if ds.get("surr-x") == "open":
        want.add("surrx")
    got = wait_until(lambda: set(opened_ids(w, want)) >= want, dl, 20)
    if not got:
        missing = sorted(want - set(opened_ids(w, want)))
        res.problem(f"'open' without a ticket for {', '.join(missing)}")
    desk_dlq = w.read("decisions-dlq")
    if desk_dlq:
        res.problem(f"{len(desk_dlq)} decisions in decisions-dlq")


REPORTED = re.compile(r"(refused|rejected|skipped|bad|invalid|dead)", re.I)


def replay_bad_lines(ctx: Ctx, res: Result, dl: Deadline) -> None:
    """`router replay` of a 10 MiB, a deeply nested and a 1 MiB line among valid ones.

    Every valid line decided, every bad one reported or dead-lettered, no traceback."""
    w = ctx.worker()
    if not boot(res, w, dl):
        return
    valid = customers("rpl", 4)
    bad: list[tuple[str, bytes]] = [
        ("rpl-10m", encode(mention("rpl-10m", "rpl10m", 0, text="x" * (10 * 1024 * 1024)))),
        ("rpl-nest", _nested("rpl-nest", 5000)),
        ("rpl-1m", encode(mention("rpl-1m", "rpl1m", 0, text="y" * (1024 * 1024)))),
    ]
    lines = [encode(valid[0])]
    for i, (_, raw) in enumerate(bad):
        lines += [raw, encode(valid[i + 1])]
    path = w.workdir / "mixed.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    rc, out = w.cli("replay", str(path), timeout=dl.cap(90))
    if "Traceback" in out:
        res.problem(f"traceback (rc {rc}): {out.strip().splitlines()[-1][:90]}")
    account(res, w, [m["id"] for m in valid], [], dl, 30)
    in_dlq = {mid for mid, _ in w.dead_letters()}
    unreported = [mid for mid, _ in bad if mid not in in_dlq]
    if unreported and not REPORTED.search(out):
        res.problem(f"bad lines neither dead-lettered nor reported: {', '.join(unreported)}")


def replay_csv(ctx: Ctx, res: Result, dl: Deadline) -> None:
    """A CSV replayed by mistake: `router replay` must exit non-zero with a summary."""
    w = ctx.worker()
    w.create_topics()
    path = w.workdir / "export.csv"
    rows = ["id,network,handle,text"] + [f"{i},generic,user{i},my order {i} is late"
                                         for i in range(200)]
    path.write_text("\n".join(rows) + "\n")
    rc, out = w.cli("replay", str(path), timeout=dl.cap(60))
    letters = w.read("mentions-dlq")
    res.dlq += len(letters)
    if rc == 0:
        said = out.strip().splitlines()[-1].split(" from ")[0] if out.strip() else ""
        res.problem(f"rc 0 for a CSV ({said!r})")
    elif "Traceback" in out:
        res.problem("non-zero, but with a traceback")


CASES: dict[str, Any] = {
    "baseline": baseline,
    "huge-mention": huge_mention,
    "poison-nested": poison_nested,
    "poison-bigint": poison_bigint,
    "poison-tombstone": poison_tombstone,
    "lone-surrogate": lone_surrogate,
    "replay-bad-lines": replay_bad_lines,
    "replay-csv": replay_csv,
}
