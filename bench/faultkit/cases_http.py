"""Cases about what crosses HTTP: secrets echoed by a failing desk, replayed webhooks,
hostile requests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from kafka import KafkaConsumer

from router.broker import free_port

from .echo import EchoDesk
from .flows import Ctx, boot, customers
from .kit import Deadline, Result, Worker, account, read_topic, run, wait_until

# --- secrets --------------------------------------------------------------------------------

SECRET_LINE = re.compile(r"^\s+(?:\*\s+)?(ROUTER_[A-Z0-9_]+)\s+secret\b", re.M)
EMAIL = "agent@example.com"


def secret_settings(w: Worker) -> list[str]:
    """Every secret setting the router documents (`router connectors`), and its own."""
    rc, out = w.cli("connectors", timeout=60)
    found = SECRET_LINE.findall(out) if rc == 0 else []
    return sorted(set(found) | {"ROUTER_INGEST_TOKEN", "ROUTER_WEBHOOK_SECRET"})


def needles(mark: str) -> list[bytes]:
    """The marker as it could leak: itself, base64 of it, and inside Basic credentials."""
    out = [mark.encode()]
    for plain in (mark, f"{EMAIL}/token:{mark}", f"x-access-token:{mark}"):
        raw = plain.encode()
        for shift in range(3):  # base64 of it at any alignment inside a longer string
            enc = base64.b64encode(b"\0" * shift + raw)[4 if shift else 0:-4]
            if len(enc) > 8:
                out.append(enc)
    return out


def _leaks(data: bytes, marks: list[bytes]) -> bool:
    if any(m in data for m in marks):
        return True
    try:
        obj = json.loads(data)
    except ValueError:
        return False
    original = obj.get("original") if isinstance(obj, dict) else None
    if isinstance(original, str):
        try:
            return any(m in base64.b64decode(original) for m in marks)
        except ValueError:
            return False
    return False


def leaked_places(ctx: Ctx, workers: list[Worker], marks: list[bytes]) -> list[str]:
    """Files under the workers' folders and every topic of theirs holding a marker."""
    places: list[str] = []
    for w in workers:
        for path in sorted(Path(w.workdir).rglob("*")):
            if path.is_file() and path.stat().st_size < 64_000_000 \
                    and _leaks_file(path, marks):
                places.append(f"{w.workdir.name}/{path.relative_to(w.workdir)}")
    consumer = KafkaConsumer(bootstrap_servers=ctx.kafka.bootstrap)
    try:
        topics = consumer.topics()
    finally:
        consumer.close()
    ids = [w.prefix.rstrip(".") for w in workers]
    for topic in sorted(t for t in topics if any(i in t for i in ids)):
        if any(_leaks(v or b"", marks) for v in read_topic(ctx.kafka.bootstrap, topic)):
            places.append(f"topic {topic.split('.', 1)[-1]}")
    return places


def _leaks_file(path: Path, marks: list[bytes]) -> bool:
    data = path.read_bytes()
    return any(m in data for m in marks) or any(
        _leaks(line, marks) for line in data.splitlines() if line.startswith(b"{"))


def secrets(ctx: Ctx, res: Result, dl: Deadline) -> None:
    """Every secret setting set to a marker; Zendesk and GitHub pointed at a loopback desk
    that answers 500/400 echoing the request; a password in ROUTER_KAFKA_BOOTSTRAP. Then
    the worker logs, every topic and every file are searched for the marker."""
    mark = f"SeKr3t{uuid.uuid4().hex[:12]}"
    marks = needles(mark)
    probe = ctx.worker("probe")
    names = secret_settings(probe)
    if not any(n.startswith("ROUTER_ZENDESK_") for n in names):
        res.problem(f"`router connectors` named no desk secret (found {names}): the case "
                    "would test nothing")
        return
    all_secret = {n: mark for n in names}
    workers: list[Worker] = []
    with EchoDesk() as desk:
        desks: list[tuple[str, dict[str, str]]] = [
            ("zendesk", {"ROUTER_ZENDESK_BASE_URL": desk.url, "ROUTER_ZENDESK_EMAIL": EMAIL,
                         "ROUTER_ZENDESK_MAX_ATTEMPTS": "2",
                         "ROUTER_ZENDESK_MAX_ELAPSED_SECONDS": "5",
                         "ROUTER_ZENDESK_BACKOFF_INITIAL": "0.1",
                         "ROUTER_ZENDESK_BACKOFF_MAX": "0.5"}),
            ("github", {"ROUTER_GITHUB_API_URL": desk.url,
                        "ROUTER_GITHUB_REPOSITORY": "acme/support",
                        "ROUTER_GITHUB_MAX_ATTEMPTS": "2",
                        "ROUTER_GITHUB_MAX_ELAPSED_SECONDS": "5",
                        "ROUTER_GITHUB_BACKOFF_INITIAL": "0.1",
                        "ROUTER_GITHUB_BACKOFF_MAX": "0.5"}),
        ]
        for key, env in desks:
            if dl.left() < 40:
                res.problem(f"no time left for the {key} desk")
                break
            w = ctx.worker(key, ROUTER_DESK=key, **env, **all_secret)
            w.extra_env[f"ROUTER_{key.upper()}_STATE_PATH"] = str(w.workdir / "state.sqlite")
            workers.append(w)
            if not boot(res, w, dl):
                continue
            before = len(desk.requests)
            ms = customers(f"sec{key[:2]}", 3)
            w.send(ms)
            account(res, w, [m["id"] for m in ms], [], dl, 25)
            wait_until(lambda w=w: w.read("decisions-dlq"), dl, 20)  # type: ignore[misc]
            if len(desk.requests) == before:
                res.problem(f"the {key} desk was never called")
            w.stop()
    # A password in the Kafka address: printed back by an error?
    rc, out = run([*_router(), "topics"], env={
        **probe.env, "ROUTER_KAFKA_BOOTSTRAP": f"user:{mark}@127.0.0.1:{free_port()}"},
        cwd=probe.workdir, timeout=dl.cap(45))
    places = leaked_places(ctx, workers, marks)
    if _leaks(out.encode(), marks):
        places.append("`router topics` output (password in ROUTER_KAFKA_BOOTSTRAP)")
    res.secrets = len(places)
    if places:
        res.problem("found in " + ", ".join(places))


def _router() -> list[str]:
    import sys

    return [sys.executable, "-m", "router"]


# --- webhooks -------------------------------------------------------------------------------

WEBHOOK_SECRET = "whsec-harness"


def _post(url: str, body: bytes, headers: dict[str, Any]) -> int:
    try:
        return httpx.post(url, content=body, headers=headers, timeout=10).status_code
    except httpx.HTTPError:
        return -1  # the connection dropped: counted with the 500s


def _count_5xx(res: Result, statuses: dict[str, int]) -> None:
    bad = [k for k, s in statuses.items() if s >= 500 or s < 0]
    res.http_500 += len(bad)
    if bad:
        res.problem("5xx on " + ", ".join(bad))


def _zendesk_headers(body: bytes, ts: str, invocation: str) -> dict[str, str]:
    sig = base64.b64encode(hmac.new(WEBHOOK_SECRET.encode(), ts.encode() + body,
                                    hashlib.sha256).digest()).decode()
    return {"Content-Type": "application/json", "X-Zendesk-Webhook-Signature": sig,
            "X-Zendesk-Webhook-Signature-Timestamp": ts,
            "X-Zendesk-Webhook-Invocation-Id": invocation}


def webhook_zendesk_replay(ctx: Ctx, res: Result, dl: Deadline) -> None:
    """One genuine signed Zendesk delivery sent 3 times (same and new invocation id), again
    after a worker restart, and a delivery with a `nan` timestamp: only the first counts."""
    with EchoDesk("404") as desk:
        w = ctx.worker(ROUTER_DESK="zendesk", ROUTER_ZENDESK_BASE_URL=desk.url,
                       ROUTER_ZENDESK_EMAIL=EMAIL, ROUTER_ZENDESK_API_TOKEN="t",
                       ROUTER_ZENDESK_WEBHOOK_SECRET=WEBHOOK_SECRET)
        w.extra_env["ROUTER_ZENDESK_STATE_PATH"] = str(w.workdir / "state.sqlite")
        if not boot(res, w, dl):
            return
        url = f"http://127.0.0.1:{w.web_port}/webhooks/zendesk"
        now = datetime.now(UTC)
        body = json.dumps({"type": "zen:event-type:ticket.status_changed",
                           "detail": {"id": "4321", "status": "SOLVED"},
                           "event": {"current": "SOLVED", "previous": "OPEN"},
                           "time": now.isoformat()}).encode()
        ts = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        st = {"first": _post(url, body, _zendesk_headers(body, ts, "inv-1")),
              "same again": _post(url, body, _zendesk_headers(body, ts, "inv-1")),
              "new invocation id": _post(url, body, _zendesk_headers(body, ts, "inv-2"))}
        w.stop()
        w.start()
        if w.wait_healthy(dl, 45):
            st["after restart"] = _post(url, body, _zendesk_headers(body, ts, "inv-1"))
        else:
            res.problem("the restarted worker did not become healthy")
        st["nan timestamp"] = _post(url, body, _zendesk_headers(body, "nan", "inv-3"))
        st["inf timestamp"] = _post(url, body, _zendesk_headers(body, "inf", "inv-4"))
    _count_5xx(res, st)
    if st["first"] != 202:
        res.problem(f"the genuine delivery got {st['first']}")
    replays = [k for k, s in st.items() if k != "first" and 200 <= s < 300]
    if replays:
        res.problem("accepted: " + ", ".join(replays))


def _github_headers(body: bytes, delivery: str) -> dict[str, str]:
    sig = "sha256=" + hmac.new(WEBHOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Hub-Signature-256": sig,
            "X-GitHub-Event": "issues", "X-GitHub-Delivery": delivery}


def _github_worker(ctx: Ctx, desk: EchoDesk, **env: str) -> Worker:
    w = ctx.worker(ROUTER_DESK="github", ROUTER_GITHUB_API_URL=desk.url,
                   ROUTER_GITHUB_REPOSITORY="acme/support", ROUTER_GITHUB_TOKEN="t",
                   ROUTER_GITHUB_WEBHOOK_SECRET=WEBHOOK_SECRET, **env)
    w.extra_env["ROUTER_GITHUB_STATE_PATH"] = str(w.workdir / "state.sqlite")
    return w


def webhook_github_replay(ctx: Ctx, res: Result, dl: Deadline) -> None:
    """One signed GitHub delivery, then the same body under a new delivery id, then the
    same delivery id again: only the first counts."""
    with EchoDesk("404") as desk:
        w = _github_worker(ctx, desk)
        if not boot(res, w, dl):
            return
        url = f"http://127.0.0.1:{w.web_port}/webhooks/github"
        body = json.dumps({"action": "closed", "issue": {
            "number": 7, "state": "closed", "state_reason": "completed", "body": "",
            "html_url": "https://github.com/acme/support/issues/7",
            "updated_at": datetime.now(UTC).isoformat()}}).encode()
        d1, d2 = str(uuid.uuid4()), str(uuid.uuid4())
        st = {"first": _post(url, body, _github_headers(body, d1)),
              "same body, new delivery id": _post(url, body, _github_headers(body, d2)),
              "same delivery again": _post(url, body, _github_headers(body, d1))}
    _count_5xx(res, st)
    if st["first"] != 202:
        res.problem(f"the genuine delivery got {st['first']}")
    replays = [k for k, s in st.items() if k != "first" and 200 <= s < 300]
    if replays:
        res.problem("accepted: " + ", ".join(replays))


# --- hostile HTTP ---------------------------------------------------------------------------

INGEST_TOKEN = "ingest-harness"


def hostile_http(ctx: Ctx, res: Result, dl: Deadline) -> None:
    """Non-ASCII Authorization on /ingest, nested JSON and a 4,301-digit integer on
    /ingest and on a signed webhook: each a 4xx (or a 202 that dead-letters), never a 500;
    a valid mention pushed after them is still decided."""
    nested = b'{"id": "hh-n", "network": "generic", "x": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    bigint = b'{"id": "hh-b", "network": "generic", "followers": ' + b"9" * 4301 + b"}"
    with EchoDesk("404") as desk:
        w = _github_worker(ctx, desk, ROUTER_INGEST_TOKEN=INGEST_TOKEN)
        if not boot(res, w, dl):
            return
        base = f"http://127.0.0.1:{w.web_port}"
        auth = {"Authorization": f"Bearer {INGEST_TOKEN}"}
        st = {
            "non-ASCII Authorization": _post(f"{base}/ingest/generic", b"{}",
                                             {"Authorization": "Bearer \u00e9\u00ff".encode(
                                                 "latin-1")}),
            "UTF-8 Authorization": _post(f"{base}/ingest/generic", b"{}",
                                         {"Authorization": "Bearer \u2603".encode()}),
            "nested JSON on /ingest/generic": _post(f"{base}/ingest/generic", nested, auth),
            "nested JSON on /ingest/mastodon": _post(f"{base}/ingest/mastodon", nested, auth),
            "big integer on /ingest/generic": _post(f"{base}/ingest/generic", bigint, auth),
            "nested JSON on a signed webhook": _post(
                f"{base}/webhooks/github", nested, _github_headers(nested, str(uuid.uuid4()))),
            "big integer on a signed webhook": _post(
                f"{base}/webhooks/github", bigint, _github_headers(bigint, str(uuid.uuid4()))),
        }
        ok = customers("hh", 1)[0]
        st["a valid mention after"] = _post(f"{base}/ingest/generic",
                                            json.dumps(ok).encode(), auth)
        account(res, w, [ok["id"]], [], dl, 25)
        if not w.alive() or w.health() is None:
            res.problem("the worker is down after the hostile requests")
    _count_5xx(res, st)


CASES: dict[str, Any] = {
    "secrets": secrets,
    "webhook-zendesk-replay": webhook_zendesk_replay,
    "webhook-github-replay": webhook_github_replay,
    "hostile-http": hostile_http,
}
BUDGETS: dict[str, float] = {"secrets": 150, "webhook-zendesk-replay": 90}
