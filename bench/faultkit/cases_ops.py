"""Cases about operating the router: bad settings, kills, broker restarts, the desk CLI,
a locked desk, fresh starts, the kill switch."""

from __future__ import annotations

import contextlib
import re
import sqlite3
import threading
import time
from typing import Any

from .flows import Ctx, boot, customers, open_tickets, wait_replies
from .kit import (
    Deadline,
    Result,
    Worker,
    account,
    count_replies,
    count_tickets,
    first_error_line,
    opened_ids,
    wait_until,
)

# --- bad settings, then fixed ---------------------------------------------------------------


def _bad_setting(ctx: Ctx, res: Result, dl: Deadline, tag: str, bad: dict[str, str]) -> None:
    """Mentions wait in the topic; a worker starts with ``bad``: it must exit non-zero with
    one line (no traceback) before consuming. Then, fixed, every mention gets its verdict."""
    w = ctx.worker()
    w.create_topics()
    ms = customers(tag, 5)
    w.send(ms)
    w.start(env={**w.env, **bad})
    exited = wait_until(lambda: not w.alive(), dl, 20, every=0.5)
    log = w.log_text()
    if exited:
        rc = w.stop()
        if rc == 0:
            res.problem("the worker exited 0 on a bad setting")
        elif "Traceback" in log:
            res.problem(f"exited {rc} with a traceback: {first_error_line(log)}")
    else:
        up = w.health(2.0) is not None
        res.problem("the worker kept running with the bad setting"
                    + (" and /health answered 200" if up else ""))
        w.stop(kill=True)
    w.start()
    if not w.wait_healthy(dl, 45):
        res.problem("the fixed worker did not become healthy")
        return
    account(res, w, [m["id"] for m in ms], [], dl, 25)


def bad_desk_key(ctx: Ctx, res: Result, dl: Deadline) -> None:
    """ROUTER_DESK=zendsk (a typo), then fixed."""
    _bad_setting(ctx, res, dl, "bdk", {"ROUTER_DESK": "zendsk"})


def bad_desk_path(ctx: Ctx, res: Result, dl: Deadline) -> None:
    """ROUTER_EMBEDDED_DESK_PATH that cannot be created (under a file), then fixed."""
    blocker = ctx.tmp / "a-file"
    ctx.tmp.mkdir(parents=True, exist_ok=True)
    blocker.write_text("not a folder")
    _bad_setting(ctx, res, dl, "bdp",
                 {"ROUTER_EMBEDDED_DESK_PATH": str(blocker / "desk.sqlite")})


def bad_reply_log(ctx: Ctx, res: Result, dl: Deadline) -> None:
    """ROUTER_REPLY_LOG_PATH that is a folder, then fixed."""
    folder = ctx.tmp / "replies-folder"
    folder.mkdir(parents=True, exist_ok=True)
    _bad_setting(ctx, res, dl, "brl", {"ROUTER_REPLY_LOG_PATH": str(folder)})


def bad_zendesk_group(ctx: Ctx, res: Result, dl: Deadline) -> None:
    """ROUTER_DESK=zendesk with ROUTER_ZENDESK_GROUP_ID=abc, then fixed (embedded)."""
    _bad_setting(ctx, res, dl, "bzg", {
        "ROUTER_DESK": "zendesk", "ROUTER_ZENDESK_BASE_URL": "http://127.0.0.1:9",
        "ROUTER_ZENDESK_EMAIL": "agent@example.com", "ROUTER_ZENDESK_API_TOKEN": "t",
        "ROUTER_ZENDESK_GROUP_ID": "abc"})


# --- kills and restarts while tickets open and get solved ---------------------------------


def _chunks(ids: list[str], n: int) -> list[list[str]]:
    return [ids[i::n] for i in range(n) if ids[i::n]]


def _solve(res: Result, w: Worker, ids: list[str]) -> None:
    rc, out = w.cli("desk", "solve", *ids, timeout=60)
    if rc != 0:
        res.problem(f"desk solve rc {rc}: {first_error_line(out)}")


def worker_kill9(ctx: Ctx, res: Result, dl: Deadline) -> None:
    """kill -9 of the worker while tickets open and while solved tickets are answered."""
    # A killed member holds its partitions until its session times out: keep that short.
    w = ctx.worker(orchestrated=True, ROUTER_SESSION_TIMEOUT="10", ROUTER_STALL_SECONDS="15")
    if not boot(res, w, dl):
        return
    ms = customers("k9", 10 if ctx.quick else 24)
    w.send(ms)
    wait_until(lambda: len(w.tickets()) >= 3, dl, 20, every=0.3)
    w.stop(kill=True)
    w.start()
    ds, _ = account(res, w, [m["id"] for m in ms], [], dl, 45)
    want = {m["author"]["handle"] for m in ms if ds.get(m["id"]) == "open"}
    ids = wait_until(lambda: len(opened_ids(w, want)) >= len(want) and opened_ids(w, want),
                     dl, 50) or opened_ids(w, want)
    if len(ids) < len(want):
        res.problem(f"{len(want) - len(ids)} 'open' mentions got no ticket")
    first, second = _chunks(list(ids.values()), 2) or ([], [])
    _solve(res, w, first)
    time.sleep(1.0)
    w.stop(kill=True)
    w.start()
    _solve(res, w, second)
    wait_replies(res, w, list(ids), dl, 45)
    count_tickets(res, w, want)
    restarted(res, w)
    guarded(res, w)


def restarted(res: Result, w: Worker) -> None:
    """Say why the orchestrator had to start the worker again, if it did."""
    for why in w.restarts:
        res.notes.append(f"restarted by the orchestrator after: {why}")


def guarded(res: Result, w: Worker) -> None:
    """Say how often the consumer held a commit or read records again (router.consumer):
    each is a place where Faust alone would have lost or stalled on a record."""
    text = w.log_text()
    holds, rereads = text.count("holding the commit of"), text.count("re-reading ")
    if holds or rereads:
        res.notes.append(f"commit held {holds}x, re-read {rereads}x")


def broker_restart(ctx: Ctx, res: Result, dl: Deadline) -> None:
    """The broker restarts while tickets open, and again while solved ones are answered."""
    w = ctx.worker(orchestrated=True, ROUTER_STALL_SECONDS="15")
    if not boot(res, w, dl):
        return
    ms = customers("br", 10 if ctx.quick else 24)
    w.send(ms)
    wait_until(lambda: len(w.tickets()) >= 3, dl, 20, every=0.3)
    ctx.kafka.stop()
    time.sleep(2.0)
    ctx.kafka.restart_start()
    ds, _ = account(res, w, [m["id"] for m in ms], [], dl, 60)
    want = {m["author"]["handle"] for m in ms if ds.get(m["id"]) == "open"}
    ids = wait_until(lambda: len(opened_ids(w, want)) >= len(want) and opened_ids(w, want),
                     dl, 30) or opened_ids(w, want)
    if len(ids) < len(want):
        res.problem(f"{len(want) - len(ids)} 'open' mentions got no ticket")
    first, second = _chunks(list(ids.values()), 2) or ([], [])
    _solve(res, w, first)
    ctx.kafka.stop()
    time.sleep(2.0)
    ctx.kafka.restart_start()
    _solve(res, w, second)
    wait_replies(res, w, list(ids), dl, 60)
    count_tickets(res, w, want)
    restarted(res, w)


# --- the desk CLI -------------------------------------------------------------------------


def desk_solve_bad_id(ctx: Ctx, res: Result, dl: Deadline) -> None:
    """`router desk solve A B 99`: A and B are answered although 99 does not exist."""
    w = ctx.worker()
    if not boot(res, w, dl):
        return
    ids = open_tickets(res, w, customers("dsb", 2), dl)
    rc, _ = w.cli("desk", "solve", *ids.values(), "99", timeout=60)
    wait_replies(res, w, list(ids), dl, 30)
    if res.replies_missing:
        res.problem(f"rc {rc}; the good ids were solved but never answered")


def desk_solve_kafka_down(ctx: Ctx, res: Result, dl: Deadline) -> None:
    """`router desk solve A` with Kafka down: either nothing changes (and it says so), or
    A is solved and its customer is answered once Kafka is back."""
    # Kafka stays away longer than the session timeout: the worker stops non-zero, by
    # design, and the orchestrator starts it again.
    w = ctx.worker(orchestrated=True)
    if not boot(res, w, dl):
        return
    ids = open_tickets(res, w, customers("dsk", 2), dl)
    if not ids:
        return
    handle, tid = next(iter(ids.items()))
    ctx.kafka.stop()
    rc, out = w.cli("desk", "solve", tid, timeout=60)
    ctx.kafka.restart_start()
    wait_until(lambda: w.health(2.0) is not None, dl, 90)  # through a restart, if any
    if any("lost Kafka at" not in why for why in w.restarts):
        res.problem(f"the worker stopped for another reason: {w.restarts}")
    restarted(res, w)
    status = {str(t["id"]): t["status"] for t in w.tickets()}.get(tid)
    if status not in ("solved", "closed"):
        if rc == 0:
            res.problem("rc 0 but the ticket is not solved")
        return
    w.cli("desk", "list", timeout=60)  # any later desk command may flush an outbox
    wait_replies(res, w, [handle], dl, 40)
    if res.replies_missing:
        res.problem(f"ticket solved (rc {rc}) with Kafka down: its event was never sent")


# --- the embedded desk's SQLite locked ----------------------------------------------------


def _lock(path: Any, seconds: float, held: threading.Event) -> None:
    db = sqlite3.connect(path, timeout=10, isolation_level=None)
    try:
        db.execute("BEGIN EXCLUSIVE")
        held.set()
        time.sleep(seconds)
        db.execute("ROLLBACK")
    finally:
        held.set()
        db.close()


def _locked_flow(ctx: Ctx, res: Result, dl: Deadline, tag: str, lock_s: float,
                 n: int) -> tuple[Worker, set[str], dict[str, Any]] | None:
    w = ctx.worker()
    if not boot(res, w, dl):
        return None
    open_tickets(res, w, customers(tag, 2), dl)  # the desk file exists and is warm
    held = threading.Event()
    locker = threading.Thread(target=_lock, args=(w.workdir / "desk.sqlite", lock_s, held),
                              daemon=True)
    locker.start()
    held.wait(15)
    ms = customers(tag, n, start=2)
    w.send(ms)
    worst, fails, end = 0.0, 0, time.monotonic() + lock_s
    while time.monotonic() < end and dl.left() > 5:
        took = w.health(5.0)
        if took is None:
            fails += 1
        worst = max(worst, took or 5.0)
        time.sleep(0.5)
    locker.join(timeout=dl.cap(lock_s + 15))
    ds, _ = account(res, w, [m["id"] for m in ms], [], dl, 30)
    want = {m["author"]["handle"] for m in ms if ds.get(m["id"]) == "open"}
    health = {"worst": worst, "fails": fails}
    return w, want, health


def sqlite_locked(ctx: Ctx, res: Result, dl: Deadline) -> None:
    """The embedded desk's SQLite held by BEGIN EXCLUSIVE while mentions flow; /health
    polled meanwhile: every 'open' gets its ticket after, /health stays quick."""
    lock_s = 10.0 if ctx.quick else 18.0
    got = _locked_flow(ctx, res, dl, "lck", lock_s, 10)
    if got is None:
        return
    w, want, health = got
    if health["fails"] or health["worst"] > 3.0:
        res.problem(f"/health slow during the lock (worst {health['worst']:.1f}s, "
                    f"{health['fails']} failed)")
    ids = wait_until(lambda: len(opened_ids(w, want)) >= len(want) and opened_ids(w, want),
                     dl, 40) or opened_ids(w, want)
    if len(ids) < len(want):
        parked = len(w.read("decisions-dlq"))
        res.problem(f"{len(want) - len(ids)} of {len(want)} 'open' got no ticket "
                    f"({parked} in decisions-dlq)")
    count_tickets(res, w, want)


def _has_command(w: Worker, *words: str) -> bool:
    rc, out = w.cli(*words, "--help", timeout=60)
    return rc == 0 and "No such command" not in out


def dlq_replay_decisions(ctx: Ctx, res: Result, dl: Deadline) -> None:
    """Decisions parked by a long desk outage are re-driven by `router dlq replay
    decisions`, at most once per mention."""
    probe = ctx.worker("probe")
    if not _has_command(probe, "dlq", "replay"):
        res.na = "no `router dlq replay` command yet"
        return
    got = _locked_flow(ctx, res, dl, "dlr", 30.0, 4)
    if got is None:
        return
    w, want, _ = got
    for _ in range(2):  # twice: the second must change nothing
        rc, out = w.cli("dlq", "replay", "decisions", timeout=60)
        if rc != 0:
            res.problem(f"dlq replay rc {rc}: {first_error_line(out)}")
    ids = wait_until(lambda: len(opened_ids(w, want)) >= len(want) and opened_ids(w, want),
                     dl, 40) or opened_ids(w, want)
    if len(ids) < len(want):
        res.problem(f"{len(want) - len(ids)} of {len(want)} 'open' got no ticket")
    count_tickets(res, w, want)


# --- fresh starts -------------------------------------------------------------------------


def fresh_starts(ctx: Ctx, res: Result, dl: Deadline) -> None:
    """N fresh starts (new topics, new group): each decides its first mentions; none
    stalls or floods its log with errors."""
    n = 2 if ctx.quick else 5
    stalls = floods = 0
    for i in range(n):
        if dl.left() < 35:
            res.problem(f"only {i} of {n} starts fitted the budget")
            break
        w = ctx.worker(f"start{i}")
        if not boot(res, w, dl):
            stalls += 1
            continue
        ms = customers(f"fs{i}x", 2)
        w.send(ms)
        before = res.lost
        account(res, w, [m["id"] for m in ms], [], dl, 25)
        stalls += res.lost > before
        errors = sum(1 for ln in w.log_text().splitlines() if "ERROR" in ln)
        floods += errors > 200
        w.stop(kill=True)
    if stalls:
        res.problem(f"{stalls} of {n} fresh starts stalled")
    if floods:
        res.problem(f"{floods} of {n} logs flooded with ERROR lines")


# --- the kill switch ----------------------------------------------------------------------

RELEASED = re.compile(r"released ([1-9]\d*)")


def release_killswitch(ctx: Ctx, res: Result, dl: Deadline) -> None:
    """`router release` while the kill switch is on must not claim it released replies;
    nor when nothing is pending; the held reply goes out once, after the switch is off."""
    w = ctx.worker()
    if not boot(res, w, dl):
        return
    ids = open_tickets(res, w, customers("rks", 1), dl)
    if not ids:
        return
    try:
        w.cli("killswitch", "on", timeout=60)
        time.sleep(2.0)
        _solve(res, w, list(ids.values()))
        wait_until(lambda: w.read("replies-dlq"), dl, 20)
        rc, out = w.cli("release", timeout=60)
        said = RELEASED.search(out)
        if said:
            res.problem(f"kill switch on, yet 'released {said.group(1)}'")
    finally:
        with contextlib.suppress(Exception):
            w.cli("killswitch", "off", timeout=60)
    time.sleep(2.0)
    w.cli("release", timeout=60)
    wait_replies(res, w, list(ids), dl, 20)
    rc, out = w.cli("release", timeout=60)
    said = RELEASED.search(out)
    if said:
        res.problem(f"nothing pending, yet 'released {said.group(1)}'")
    time.sleep(2.0)
    res.dup_replies = res.replies_missing = 0
    count_replies(res, w, list(ids))


CASES: dict[str, Any] = {
    "bad-desk-key": bad_desk_key,
    "bad-desk-path": bad_desk_path,
    "bad-reply-log": bad_reply_log,
    "bad-zendesk-group": bad_zendesk_group,
    "worker-kill9": worker_kill9,
    "broker-restart": broker_restart,
    "desk-solve-bad-id": desk_solve_bad_id,
    "desk-solve-kafka-down": desk_solve_kafka_down,
    "sqlite-locked": sqlite_locked,
    "dlq-replay-decisions": dlq_replay_decisions,
    "fresh-starts": fresh_starts,
    "release-killswitch": release_killswitch,
}
BUDGETS: dict[str, float] = {
    "worker-kill9": 180, "broker-restart": 200, "desk-solve-kafka-down": 150,
    "sqlite-locked": 120, "dlq-replay-decisions": 150, "fresh-starts": 200,
    "release-killswitch": 90, "bad-desk-key": 90, "bad-desk-path": 90, "bad-reply-log": 90,
    "bad-zendesk-group": 90,
}
RESTARTS_BROKER: set[str] = {"broker-restart", "desk-solve-kafka-down"}
