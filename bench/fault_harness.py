"""A fault harness: reproduce, one named case each, the faults of issue #13 on loopback.

It starts its own Kafka broker (``router.broker.LocalBroker``, free loopback ports, a temp
folder; some cases restart it) and runs router workers as subprocesses, driving them only
through the CLI, ``ROUTER_*`` settings, HTTP and topics. Per case it prints one row:

  produced  mentions produced          decided  mentions with a verdict
  dlq       in a dead-letter topic     lost     produced - decided - dlq
  dupT/dupR duplicate tickets/replies  missR    solved customers never answered
  secrets   places a secret was found  500s     unexpected HTTP 500s

and a verdict against what is right for the case (zeros where zero is right, plus the
case's own checks, named in the last column). Exit code 1 if any case fails.

    python bench/fault_harness.py [--cases a,b] [--quick] [--list] [--bootstrap HOST:PORT]

Bounded: each case has a budget (60 s, more for the few that restart the broker), every
wait inside it is capped by that budget, and a timer stops a case that overruns it. Every
process it starts is killed at the end, on Ctrl-C or an exception too.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from faultkit import cases_http, cases_input, cases_ops  # noqa: E402
from faultkit.flows import Ctx  # noqa: E402
from faultkit.kit import CaseTimeout, Deadline, Kafka, Result, kill_all  # noqa: E402

CaseFn = Callable[[Ctx, Result, Deadline], None]


@dataclass(frozen=True)
class Case:
    name: str
    fn: CaseFn
    budget: float = 60.0
    quick: bool = False
    restarts_broker: bool = False

    @property
    def doc(self) -> str:
        return (self.fn.__doc__ or "").strip().splitlines()[0]


def all_cases() -> list[Case]:
    budgets = {**cases_ops.BUDGETS, **cases_http.BUDGETS}
    quick = {"baseline", "bad-desk-key", "poison-nested", "hostile-http", "replay-csv"}
    restarts = cases_ops.RESTARTS_BROKER
    out = []
    for table in (cases_input.CASES, cases_ops.CASES, cases_http.CASES):
        for name, fn in table.items():
            out.append(Case(name, fn, budgets.get(name, 60.0), name in quick,
                            name in restarts))
    return out


COLUMNS = ("produced", "decided", "dlq", "lost", "dup_tickets", "dup_replies",
           "replies_missing", "secrets", "http_500")
HEADS = ("prod", "decid", "dlq", "lost", "dupT", "dupR", "missR", "secr", "500s")


def row(name: str, values: list[int], verdict: str, secs: float, note: str) -> str:
    cells = "".join(f"{v:>6}" for v in values)
    return f"{name:<24}{cells}  {verdict:<5}{secs:>6.0f}s  {note}"


def _alarm(_sig: int, _frame: FrameType | None) -> None:
    raise CaseTimeout("the case ran past its budget")


def run_case(case: Case, kafka: Kafka, tmp: Path, quick: bool) -> Result:
    res = Result(case.name)
    if case.restarts_broker and not kafka.restartable:
        res.na = "restarts the broker: needs the harness's own (drop --bootstrap)"
        return res
    dl = Deadline.after(case.budget)
    t0 = time.monotonic()
    signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, case.budget + 30)  # backstop over the waits' caps
    try:
        case.fn(Ctx(kafka, tmp / case.name, quick), res, dl)
    except CaseTimeout:
        res.problem(f"timed out after {case.budget + 30:.0f}s")
    except Exception as exc:  # noqa: BLE001 - one broken case must not stop the others
        tb = traceback.extract_tb(exc.__traceback__)[-1]
        res.problem(f"harness error {type(exc).__name__}: {str(exc)[:80]} "
                    f"({Path(tb.filename).name}:{tb.lineno})")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        kill_all()
        if case.restarts_broker and kafka.restartable:
            with contextlib.suppress(Exception):
                kafka.restart_start()  # a case that stopped it leaves it running
    res.seconds = time.monotonic() - t0
    return res


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", default="", help="comma-separated case names (default: all)")
    ap.add_argument("--quick", action="store_true", help="a fast subset, smaller counts")
    ap.add_argument("--list", action="store_true", help="list the cases and exit")
    ap.add_argument("--bootstrap", default="",
                    help="use this broker instead of starting one (broker-restart cases "
                    "become n/a)")
    ap.add_argument("--keep", action="store_true", help="keep the temp folder (logs)")
    args = ap.parse_args(argv)
    cases = all_cases()
    if args.list:
        for c in cases:
            flag = "quick" if c.quick else ""
            print(f"{c.name:<24}{c.budget:>5.0f}s {flag:<6} {c.doc}")
        return 0
    if args.cases:
        names = [n.strip() for n in args.cases.split(",") if n.strip()]
        unknown = [n for n in names if n not in {c.name for c in cases}]
        if unknown:
            print(f"unknown case {unknown[0]!r}; see --list", file=sys.stderr)
            return 2
        cases = [c for c in cases if c.name in names]
    elif args.quick:
        cases = [c for c in cases if c.quick]

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    tmpdir = tempfile.mkdtemp(prefix="fault-harness-")
    tmp = Path(tmpdir)
    kafka = Kafka(tmp, given=args.bootstrap or None)
    t0 = time.monotonic()
    results: list[Result] = []
    try:
        kafka.start()
        print(f"broker {kafka.bootstrap}; work folder {tmp}", flush=True)
        print(row("case", [], "", 0, "").split("  ")[0].ljust(24)
              + "".join(f"{h:>6}" for h in HEADS) + "  verdict  time  notes", flush=True)
        for case in cases:
            res = run_case(case, kafka, tmp, args.quick)
            results.append(res)
            note = f"n/a: {res.na}" if res.na else "; ".join(res.problems + res.notes)
            print(row(res.name, [getattr(res, c) for c in COLUMNS], res.verdict,
                      res.seconds, note[:160]), flush=True)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        kill_all()
        kafka.stop()
        if not args.keep:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
    failed = [r for r in results if r.verdict == "FAIL"]
    total = [sum(getattr(r, c) for r in results) for c in COLUMNS]
    print(row("TOTAL", total, "FAIL" if failed else "pass", time.monotonic() - t0,
              f"{len(results) - len(failed)} of {len(results)} cases pass or n/a"
              + (f"; failing: {', '.join(r.name for r in failed)}" if failed else "")))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
