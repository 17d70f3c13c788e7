"""The ops dashboard, ``GET /dashboard``: one server-rendered page, no script, no CDN.

What it shows, each read from Kafka (off the event loop, cached ``CACHE_S`` seconds):

- verdict volumes over the last 24 hours, per verdict and network, across every worker:
  each worker publishes its counts to the ``volumes`` topic every ``PUBLISH_S`` seconds
  (``router.volumes``, a timer registered here), and the page sums them;
- the review queue: the embedded desk's open tickets tagged for review when that desk is
  embedded (a queue: a ticket leaves it when a person solves it); with another desk the
  tickets live there, so the page shows the day's review verdicts and says where to look;
- the audit queue (``router.audit``) with a yes/no button per item and the count of items
  nobody has labelled; a click writes the same label as ``router audit label``;
- dead letters per topic (how many, and the latest reasons);
- the effective thresholds, kill switch and quiet hours with their source
  (``router.status.effective``), and the live (and shadow) model of each worker
  (``router.model_cli.models_from``), all read from Kafka in one pass;
- precision, recall and label volume estimated from the feedback labels
  (``router.estimates``), each with the number of labels it rests on.

Access: ``ROUTER_DASHBOARD_TOKEN`` turns the page on (404 without it). ``GET
/dashboard?token=...`` sets an HttpOnly, SameSite=Strict cookie and redirects to
``/dashboard``; a POST needs that cookie and the CSRF token of the page's forms. Only
loopback peers are served unless ``ROUTER_DASHBOARD_REMOTE=true``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, cast

from faust import web
from markupsafe import Markup

from .audit import latest_values
from .charts import OTHER_COLOUR, VERDICT_COLOURS, Bar, Series, share_bars, stacked_bars
from .control import KILL_SWITCH, Control
from .estimates import Quality, quality
from .pages import when
from .settings import Settings
from .status import Effective
from .topics import SOURCES, SPECS, name, shown_bootstrap
from .volumes import PUBLISH_S, WINDOW_S, VolumePublisher, Volumes, verdict_totals, volumes

if TYPE_CHECKING:
    from .runtime import Runtime

log = logging.getLogger(__name__)

CACHE_S = 5.0  # how long one read of Kafka serves the page
LETTERS_SHOWN = 5  # latest dead letters per topic
SHADOW_READ = 2000  # latest shadow records per partition compared on the page
AUDIT_SHOWN = 50  # audit items listed (the count covers them all)
READ_BOUND_S = 10.0
COOKIE = "router_dashboard"

# --- what one read of Kafka finds ---------------------------------------------------------


@dataclass
class Reads:
    """The records the page needs, read in one pass."""

    audit: dict[str, dict[str, Any]] = field(default_factory=dict)
    feedback: dict[str, dict[str, Any]] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    volumes: list[dict[str, Any]] = field(default_factory=list)
    letters: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # newest first
    dead_letters: dict[str, int] = field(default_factory=dict)  # how many, per topic
    shadow: list[dict[str, Any]] = field(default_factory=list)  # the latest, per mention
    complete: bool = True


def read_kafka(settings: Settings, now: float) -> Reads:
    """One consumer, one pass: the compacted audit, feedback and config topics whole, the
    volumes of the window (from the offset of its start), the last dead letters of each
    dead-letter topic, the latest shadow verdicts. Blocking: run it in a thread."""
    from kafka import KafkaConsumer, TopicPartition

    whole = ("audit", "feedback", "config")
    dlqs = [f"{s}_dlq" for s in SOURCES]
    keys = {name(settings, k): k for k in (*whole, "volumes", "shadow", *dlqs)}
    consumer = KafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                             enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for topic, k in keys.items()
               for p in range(SPECS[k].partitions or settings.partitions)]
        consumer.assign(tps)
        begin, end = consumer.beginning_offsets(tps), consumer.end_offsets(tps)
        since = consumer.offsets_for_times({tp: int((now - WINDOW_S) * 1000)
                                            for tp in tps if keys[tp.topic] == "volumes"})
        for tp in tps:
            k = keys[tp.topic]
            if k == "volumes":
                found = since.get(tp)
                consumer.seek(tp, found.offset if found is not None else end[tp])
            elif k in dlqs:
                consumer.seek(tp, max(begin[tp], end[tp] - LETTERS_SHOWN))
            elif k == "shadow":  # one record per mention: the latest ones are enough
                consumer.seek(tp, max(begin[tp], end[tp] - SHADOW_READ))
            else:
                consumer.seek(tp, begin[tp])
        got: dict[str, list[Any]] = defaultdict(list)
        deadline = time.monotonic() + READ_BOUND_S
        todo = [tp for tp in tps if end[tp] > begin[tp]]
        while todo and time.monotonic() < deadline:
            for tp, records in consumer.poll(timeout_ms=200, max_records=5000).items():
                got[keys[tp.topic]].extend(r for r in records if r.offset < end[tp])
            todo = [tp for tp in todo if consumer.position(tp) < end[tp]]
    finally:
        consumer.close()
    config = Control(settings)
    for rec in got["config"]:
        config.apply(rec.key, rec.value)
    letters = {}
    counts = {name(settings, k): sum(end[tp] - begin[tp] for tp in tps if keys[tp.topic] == k)
              for k in dlqs}
    for k in dlqs:
        found_letters = [v for v in (_json(r.value) for r in got[k]) if v is not None]
        letters[name(settings, k)] = sorted(found_letters, key=lambda v: -float(
            v.get("at") or 0))[:LETTERS_SHOWN]
    if todo:
        log.warning("dashboard: Kafka did not hand over every record within %.0f s",
                    READ_BOUND_S)
    return Reads(audit=latest_values(got["audit"]), feedback=latest_values(got["feedback"]),
                 config=config.values, letters=letters, dead_letters=counts,
                 complete=not todo,
                 shadow=list(latest_values(got["shadow"]).values()),
                 volumes=[v for v in (_json(r.value) for r in got["volumes"]) if v])


def _json(raw: bytes | None) -> dict[str, Any] | None:
    try:
        value = json.loads(raw or b"")
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


# --- the page -------------------------------------------------------------------------


@dataclass(frozen=True)
class Review:
    """The review queue: open review tickets (embedded desk), else the day's count."""

    tickets: list[dict[str, Any]] | None  # None: the desk is not the embedded one
    verdicts_24h: int
    desk: str


@dataclass(frozen=True)
class Board:
    """Everything the page shows, ready for the template."""

    volumes: Volumes
    review: Review
    audit: list[dict[str, Any]]  # unlabelled items, oldest first (the first AUDIT_SHOWN)
    audit_open: int
    audit_labelled: int
    dead_letters: dict[str, int]
    letters: dict[str, list[dict[str, Any]]]
    settings: list[Effective]
    quiet_now: bool
    models: dict[str, Any]
    quality: Quality
    complete: bool
    at: float
    #: How often the shadow model agrees with the live one on the latest mentions both
    #: judged (``router.shadow.compare``), in one line; None without shadow verdicts.
    shadow_agreement: str | None = None


def board(settings: Settings, reads: Reads, *, models: Mapping[str, Any],
          dead_letters: Mapping[str, int], operating_point: Mapping[str, Any],
          review_tickets: list[dict[str, Any]] | None, now: float) -> Board:
    """The page's content from what was read (pure). ``settings`` are the worker's own
    (before the model's card), so each setting's source is told right."""
    from .status import effective

    vols = volumes(reads.volumes, now)
    items = sorted(reads.audit.items(), key=lambda kv: float(kv[1].get("at") or 0))
    open_items = [{"ref": ref, **item} for ref, item in items if ref not in reads.feedback]
    control = Control(settings)
    control.values = dict(reads.config)
    return Board(
        volumes=vols,
        review=Review(review_tickets, vols.total("review"), settings.desk),
        audit=open_items[:AUDIT_SHOWN], audit_open=len(open_items),
        audit_labelled=len(items) - len(open_items),
        dead_letters=dict(dead_letters), letters=reads.letters,
        settings=effective(settings, reads.config, operating_point),
        quiet_now=control.quiet_now(now), models=dict(models),
        quality=quality(reads.feedback.values()), complete=reads.complete, at=now,
        shadow_agreement=agreement_line(reads.shadow))


def agreement_line(records: list[dict[str, Any]]) -> str | None:
    """The shadow comparison in one line (``router model compare`` has the whole of it)."""
    from .shadow import compare

    found = compare(records, limit=0)
    if not found["compared"]:
        return None
    acted = found["acted"]
    return (f"{found['agreement']:.1%} of the latest {found['compared']} mentions (shadow "
            f"{found['shadow_version']}); acted on: live {acted['live']:.1%}, shadow "
            f"{acted['shadow']:.1%}; `router model compare` lists where they disagree")


def _hour(epoch: float) -> str:
    return time.strftime("%H:00", time.gmtime(epoch))


def _version(value: Any) -> str | None:
    """A model version from a report's entry (a dict with ``version``, or the text)."""
    if isinstance(value, dict):
        return str(value.get("version") or value.get("path") or "?")
    return None if value in (None, "") else str(value)


def _refused(value: Any) -> str | None:
    """A worker's refused promotion, as one line."""
    if not isinstance(value, dict):
        return None
    return f"{value.get('version') or value.get('path') or '?'}: {value.get('error') or '?'}"


def volume_charts(vols: Volumes) -> list[tuple[str, int, Markup]]:
    """One chart per network (busiest first), each hour's bar stacked by verdict."""
    labels = [_hour(h) for h in vols.hours]
    out = []
    for network, per in sorted(vols.series.items(), key=lambda kv: -sum(map(sum,
                                                                           kv[1].values()))):
        series = [Series(v, VERDICT_COLOURS.get(v, OTHER_COLOUR), per[v])
                  for v in (*VERDICT_COLOURS, *sorted(set(per) - set(VERDICT_COLOURS)))
                  if v in per]
        total = sum(map(sum, per.values()))
        out.append((network, total, stacked_bars(
            labels, series, title=f"{network}: verdicts per hour, last 24 h")))
    return out


def render(b: Board, *, csrf: str) -> str:
    """The page's HTML (autoescaped; the charts are SVG built by ``router.charts``)."""
    from .pages import environment

    q = b.quality
    quality_chart = share_bars([
        Bar("precision", q.precision.value,
            f"{q.precision.hits} of {q.precision.n} labels"),
        Bar("recall", q.recall.value, f"{q.recall.hits} of {q.recall.n} labels")],
        title="precision and recall from the feedback labels")
    models = b.models
    workers = [{"worker": w, "version": _version(live), "reported": when(live.get("at")),
                "refused": _refused(live.get("refused")),
                "shadow": _version(live.get("shadow"))}
               for w, live in sorted((models.get("workers") or {}).items())
               if isinstance(live, dict)]
    settings = [asdict(e) for e in b.settings]
    kill = next((e for e in settings if e["name"] == KILL_SWITCH), None)
    quiet = next((e for e in settings if e["name"] == "quiet_hours"), None)
    thresholds = [e for e in settings if e["name"] not in (KILL_SWITCH, "quiet_hours")]
    verdict_totals = Counter[str]()
    for per in b.volumes.series.values():
        for v, counts in per.items():
            verdict_totals[v] += sum(counts)
    audit = []
    for item in b.audit:
        m = item.get("mention") or {}
        audit.append({"ref": item["ref"], "text": str(m.get("text", "")),
                      "handle": str((m.get("author") or {}).get("handle", "?")),
                      "url": str(m.get("url") or ""), "at": when(item.get("at")),
                      "reason": str((item.get("reasons") or ["?"])[0])})
    letters = {topic: [{"at": when(x.get("at")), "reason": str(x.get("reason", "?"))}
                       for x in found] for topic, found in b.letters.items()}
    return environment().get_template("dashboard.html").render(
        b=b, csrf=csrf, audit=audit, letters=letters, charts=volume_charts(b.volumes),
        verdict_totals=sorted(verdict_totals.items(), key=lambda kv: -kv[1]),
        colours=VERDICT_COLOURS, quality_chart=quality_chart, workers=workers,
        promoted=_version(models.get("promoted")), shadow=_version(models.get("shadow")),
        kill=kill, quiet=quiet, thresholds=thresholds, updated=when(b.at))


# --- access -----------------------------------------------------------------------------


def _derived(token: str, purpose: str) -> str:
    return hmac.new(token.encode(), f"router-dashboard:{purpose}".encode(),
                    hashlib.sha256).hexdigest()


def session_cookie(token: str) -> str:
    """The cookie's value: derived from the token (the token itself never sits in the
    browser), so a new token signs every browser out."""
    return _derived(token, "session")


def csrf_token(token: str) -> str:
    """The token every form carries (a cross-site form cannot know it)."""
    return _derived(token, "csrf")


def same(given: str | None, expected: str) -> bool:
    """Constant-time equality on bytes (any text given, even not UTF-8, is just unequal)."""
    return hmac.compare_digest((given or "").encode("utf-8", "surrogateescape"),
                               expected.encode())


def loopback(peer: str | None) -> bool:
    """Whether the peer address is this host (an IPv4-mapped IPv6 loopback too)."""
    try:
        ip = ipaddress.ip_address((peer or "").split("%", 1)[0])
    except ValueError:
        return False
    mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
    return ip.is_loopback or (mapped is not None and mapped.is_loopback)


def refusal(settings: Settings, peer: str | None) -> tuple[int, str] | None:
    """Why this request gets no dashboard at all (status, one line), or None."""
    if settings.dashboard_token is None:
        return 404, "no dashboard: set ROUTER_DASHBOARD_TOKEN to turn it on\n"
    if not settings.dashboard_remote and not loopback(peer):
        return 403, ("the dashboard answers this host only: set ROUTER_DASHBOARD_REMOTE=true "
                     "to serve other hosts (with TLS in front)\n")
    return None


class Snapshot:
    """The board, rebuilt at most every ``CACHE_S`` seconds whoever asks (one build at a
    time; the others wait for it)."""

    def __init__(self, build: Callable[[], Awaitable[Board]], ttl: float = CACHE_S) -> None:
        self.build = build
        self.ttl = ttl
        self.value: tuple[float, Board] | None = None
        self.lock = asyncio.Lock()

    async def get(self) -> Board:
        async with self.lock:
            if self.value is None or time.monotonic() - self.value[0] > self.ttl:
                self.value = (time.monotonic(), await self.build())
            return self.value[1]

    def clear(self) -> None:
        self.value = None


async def review_tickets(rt: Runtime) -> list[dict[str, Any]] | None:
    """The embedded desk's open tickets tagged for review (oldest first); None with
    another desk, whose tickets live in its own app."""
    from connectors.desks.embedded import EmbeddedDesk

    from .drafts import REVIEW_TAG

    desk = rt.desk
    if not isinstance(desk, EmbeddedDesk):
        return None

    def find() -> list[dict[str, Any]]:
        out = []
        for t in desk.tickets(status="active"):
            if REVIEW_TAG in desk.tags_of(t):
                out.append({k: t.get(k) for k in ("id", "subject", "status", "priority",
                                                  "requester", "created_at")})
        return out

    return await desk.run(find)


async def gather(rt: Runtime) -> Board:
    """Read everything the page shows, off the event loop."""
    from .model_cli import models_from
    from .status import card_of

    settings = rt.own_settings
    now = time.time()
    reads = await asyncio.to_thread(read_kafka, settings, now)  # one consumer, one pass
    card = await asyncio.to_thread(card_of, settings, reads.config)
    try:
        review = await review_tickets(rt)
    except Exception as exc:  # noqa: BLE001 - the rest of the page still shows
        log.warning("dashboard: cannot list the review tickets: %s", exc)
        review = None
    return board(settings, reads, models=models_from(reads.config),
                 dead_letters=reads.dead_letters,
                 operating_point=card.get("operating_point", {}), review_tickets=review,
                 now=now)


def register(rt: Runtime) -> None:
    """The dashboard's routes, and the timer publishing this worker's verdict counts."""
    from .audit import label_item
    from .live_model import worker_id

    app = rt.app
    snapshot = Snapshot(lambda: gather(rt))
    volumes_topic = name(rt.settings, "volumes")

    async def send(key: bytes, value: bytes) -> None:
        await app.producer.send_and_wait(volumes_topic, key, value, partition=None,
                                         timestamp=None, headers=None)

    publisher = VolumePublisher(worker_id(rt.settings), lambda: verdict_totals(rt.metrics),
                                send)

    @app.timer(PUBLISH_S, name="dashboard_volumes")
    async def _publish_volumes() -> None:  # pragma: no cover - worker
        try:
            await publisher.tick(time.time())
        except Exception as exc:  # noqa: BLE001 - never out of the timer: next tick retries
            log.warning("dashboard: cannot publish verdict counts: %s", exc)

    async def publish_last(*args: Any, **kwargs: Any) -> None:  # pragma: no cover - worker
        try:  # what was decided since the last tick, before the producer stops
            await asyncio.wait_for(publisher.tick(time.time()), PUBLISH_S)
        except Exception as exc:  # noqa: BLE001 - shutting down: log it, go on
            log.warning("dashboard: cannot publish the last verdict counts: %s", exc)

    app.on_before_shutdown.connect(cast(Any, publish_last))

    def token() -> str:
        secret = rt.settings.dashboard_token
        return secret.get_secret_value() if secret is not None else ""

    def refused(view: web.View, request: web.Request) -> web.Response | None:
        peer = cast(Any, request).remote  # aiohttp's request, Faust's web driver
        why = refusal(rt.settings, peer)
        if why is not None:
            return view.text(why[1], status=why[0])
        if not same(request.cookies.get(COOKIE), session_cookie(token())):
            return view.text("sign in: open /dashboard?token=<ROUTER_DASHBOARD_TOKEN> once "
                             "(it sets a cookie)\n", status=403)
        return None

    def headers() -> dict[str, str]:
        return {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff",
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; "
                "img-src data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"}

    def back(view: web.View, location: str, **extra: str) -> web.Response:
        return view.text("", status=303, headers={**headers(), "Location": location, **extra})

    @app.page("/dashboard")
    class Dashboard(web.View):
        async def get(self, request: web.Request) -> web.Response:
            given = request.query.get("token")
            if given is not None:  # signing in: the token becomes a cookie, off the URL
                why = refusal(rt.settings, cast(Any, request).remote)
                if why is not None:
                    return self.text(why[1], status=why[0])
                if not same(given, token()):
                    return self.text("wrong token: use ROUTER_DASHBOARD_TOKEN\n", status=403)
                secure = "; Secure" if request.url.scheme == "https" else ""
                return back(self, "/dashboard", **{"Set-Cookie": (
                    f"{COOKIE}={session_cookie(token())}; Path=/dashboard; HttpOnly; "
                    f"SameSite=Strict; Max-Age=43200{secure}")})
            no = refused(self, request)
            if no is not None:
                return no
            await rt.ready()
            try:
                found = await snapshot.get()
            except Exception as exc:  # noqa: BLE001 - one line, not a stack trace page
                log.warning("dashboard: cannot read Kafka: %s", exc)
                return self.text(f"cannot read Kafka at {shown_bootstrap(rt.settings)}: "
                                 "is the broker up? (`router status`)\n", status=503)
            html = render(found, csrf=csrf_token(token()))
            return self.html(html, headers=headers())

    @app.page("/dashboard/audit")
    class AuditLabel(web.View):
        async def post(self, request: web.Request) -> web.Response:
            no = refused(self, request)
            if no is not None:
                return no
            form = await request.post()
            given = form.get("csrf")
            if not isinstance(given, str) or not same(given, csrf_token(token())):
                return self.text("stale form: reload /dashboard and click again\n",
                                 status=403)
            ref, answer = str(form.get("ref", "")), form.get("answer")
            if answer not in ("yes", "no") or not ref:
                return self.text("answer yes or no about one audit item (ref)\n", status=400)
            try:
                label = await asyncio.to_thread(label_item, rt.own_settings, ref,
                                                answer == "yes", by="dashboard")
            except Exception as exc:  # noqa: BLE001 - Kafka unreachable: say so, no crash
                log.warning("dashboard: cannot write a label: %s", exc)
                return self.text("Kafka did not take the label: try again\n", status=503)
            if label is None:
                return self.text(f"no audit item {ref}\n", status=404)
            snapshot.clear()  # the next page shows the item gone
            return back(self, "/dashboard#audit")

