"""In-memory networks behind ``httpx.MockTransport``: each answers like the vendor documents
and enforces its rules (auth, length, reply refs, idempotency, 429 with its headers,
pagination), so the connectors are tested against behaviour rather than against mocks of
our own calls."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import httpx

from connectors.social.text import find_urls, grapheme_len, mastodon_length, x_length
from connectors.social.x import now_id


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers or {})


def _body(request: httpx.Request) -> dict[str, Any]:
    ctype = request.headers.get("content-type", "")
    raw = request.content.decode()
    if "application/json" in ctype:
        data = json.loads(raw)
        assert isinstance(data, dict)
        return data
    return {k: v[-1] for k, v in parse_qs(raw).items()}


@dataclass
class RateLimiter:
    """Answer the next ``fail`` requests with a 429 carrying ``headers()``."""

    fail: int = 0
    served_429: int = 0

    def take(self) -> bool:
        if self.fail > 0:
            self.fail -= 1
            self.served_429 += 1
            return True
        return False


# --- Mastodon -------------------------------------------------------------------------------


def mastodon_id(n: int) -> str:
    return str(113_526_000_000_000_000 + n)


@dataclass
class FakeMastodon:
    token: str = "tok-mastodon"
    username: str = "acmesupport"
    max_chars: int = 500
    notifications: list[dict[str, Any]] = field(default_factory=list)
    statuses: dict[str, dict[str, Any]] = field(default_factory=dict)
    posted: list[dict[str, Any]] = field(default_factory=list)
    idempotency: dict[str, dict[str, Any]] = field(default_factory=dict)
    stream_events: list[str] = field(default_factory=list)
    limiter: RateLimiter = field(default_factory=RateLimiter)
    requests: list[httpx.Request] = field(default_factory=list)
    next_id: int = 1000

    def add_mention(self, text: str = "help", *, acct: str = "ann@fosstodon.org") -> dict[str, Any]:
        self.next_id += 1
        status = {
            "id": mastodon_id(self.next_id), "created_at": "2026-11-23T10:00:00.000Z",
            "in_reply_to_id": None, "content": f"<p>@{self.username} {text}</p>",
            "language": "en", "url": f"https://fosstodon.org/@ann/{mastodon_id(self.next_id)}",
            "reblog": None, "media_attachments": [], "spoiler_text": "",
            "account": {"id": "109302", "username": acct.split("@")[0], "acct": acct,
                        "url": "https://fosstodon.org/@ann", "followers_count": 4},
        }
        self.statuses[status["id"]] = status
        note = {"id": str(40_000_000 + self.next_id), "type": "mention",
                "created_at": status["created_at"], "account": status["account"],
                "status": status}
        self.notifications.append(note)
        return note

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def _rate_headers(self, remaining: int) -> dict[str, str]:
        reset = (datetime.now(UTC) + timedelta(seconds=0.2)).isoformat().replace("+00:00", "Z")
        return {"X-RateLimit-Limit": "300", "X-RateLimit-Remaining": str(remaining),
                "X-RateLimit-Reset": reset}

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return _json(401, {"error": "The access token is invalid"})
        if self.limiter.take():
            return _json(429, {"error": "Too many requests"}, self._rate_headers(0))
        headers = self._rate_headers(299)
        if path == "/api/v1/accounts/verify_credentials":
            return _json(200, {"id": "1", "username": self.username, "acct": self.username,
                               "url": f"https://mastodon.social/@{self.username}"}, headers)
        if path == "/api/v2/instance":
            return _json(200, {"domain": "mastodon.social", "configuration": {"statuses": {
                "max_characters": self.max_chars, "characters_reserved_per_url": 23}}}, headers)
        if path == "/api/v1/notifications":
            return self._notifications(request, headers)
        if path == "/api/v1/statuses" and request.method == "POST":
            return self._post(request, headers)
        if path == "/api/v1/accounts/1/statuses":
            return _json(200, list(reversed(self.posted)), headers)
        if path == "/api/v1/streaming/user/notification":
            body = "".join(self.stream_events).encode()
            return httpx.Response(200, content=body,
                                  headers={"content-type": "text/event-stream"})
        return _json(404, {"error": "Record not found"})

    def _notifications(self, request: httpx.Request, headers: dict[str, str]) -> httpx.Response:
        q = request.url.params
        types = q.get_list("types[]")
        limit = min(int(q.get("limit", "40")), 80)
        items = [n for n in self.notifications if not types or n["type"] in types]
        key = lambda n: (len(n["id"]), n["id"])  # noqa: E731
        items.sort(key=key)
        if "max_id" in q:
            items = [n for n in items if key(n) < (len(q["max_id"]), q["max_id"])]
        if "min_id" in q:  # the page immediately after min_id
            items = [n for n in items if key(n) > (len(q["min_id"]), q["min_id"])][:limit]
        else:
            if "since_id" in q:
                items = [n for n in items if key(n) > (len(q["since_id"]), q["since_id"])]
            items = items[-limit:]
        page = list(reversed(items))
        if page:
            base = "https://mastodon.social/api/v1/notifications"
            headers["Link"] = (f'<{base}?max_id={page[-1]["id"]}>; rel="next", '
                               f'<{base}?min_id={page[0]["id"]}>; rel="prev"')
        return _json(200, page, headers)

    def _post(self, request: httpx.Request, headers: dict[str, str]) -> httpx.Response:
        key = request.headers.get("idempotency-key")
        if key and key in self.idempotency:
            return _json(200, self.idempotency[key], headers)
        body = _body(request)
        text = body.get("status") or ""
        if not text:
            return _json(422, {"error": "Validation failed: Text can't be blank"})
        if mastodon_length(text) > self.max_chars:
            return _json(422, {"error": f"Validation failed: Text character limit of "
                                        f"{self.max_chars} exceeded"})
        parent = body.get("in_reply_to_id")
        if parent and parent not in self.statuses:
            return _json(404, {"error": "The post you are trying to reply to does not "
                                        "appear to exist."})
        self.next_id += 1
        sid = mastodon_id(self.next_id)
        status = {"id": sid, "in_reply_to_id": parent, "url": f"https://mastodon.social/@"
                  f"{self.username}/{sid}", "content": f"<p>{text}</p>",
                  "visibility": body.get("visibility", "public"),
                  "language": body.get("language"),
                  "account": {"id": "1", "username": self.username, "acct": self.username}}
        self.statuses[sid] = status
        self.posted.append(status)
        if key:
            self.idempotency[key] = status
        return _json(200, status, headers)


def sse(event: str, data: Any) -> str:
    payload = data if isinstance(data, str) else json.dumps(data)
    return f"event: {event}\ndata: {payload}\n\n"


def now_epoch() -> float:
    return time.time()


# --- Bluesky ------------------------------------------------------------------------------

TID_RE = __import__("re").compile(r"^[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}$")


@dataclass
class FakeBluesky:
    """A PDS + appview: sessions, listNotifications (newest first, cursor), getPosts,
    createRecord (validating reply refs, facets in UTF-8 bytes, 300 graphemes, TID keys; an
    existing key is a 500 as real PDSes answered), getRecord, and RateLimit-* headers."""

    handle: str = "acme.example.com"
    did: str = "did:plc:acme7lbxz3qjjyyfvsxkm2p5"
    password: str = "app-pass-1234"
    notifications: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    posts: dict[str, dict[str, Any]] = field(default_factory=dict)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)  # rkey -> record
    limiter: RateLimiter = field(default_factory=RateLimiter)
    requests: list[httpx.Request] = field(default_factory=list)
    expire_next: bool = False
    lose_answer: int = 0  # createRecord stores the record, then answers 502
    clock: float = 1_795_400_000.0
    sessions: int = 0

    def add_post(self, text: str = "@acme.example.com help", *, author: str = "ann.bsky.social",
                 did: str = "did:plc:ann4yq2xjxwbx7ijkhvsvlqc", reason: str = "mention",
                 root: dict[str, str] | None = None, ts: float | None = None) -> dict[str, Any]:
        self.clock = ts if ts is not None else self.clock + 1
        n = len(self.posts) + 1
        uri = f"at://{did}/app.bsky.feed.post/3lbq{n:09d}"
        record: dict[str, Any] = {"$type": "app.bsky.feed.post", "text": text,
                                  "createdAt": _iso(self.clock)}
        if root:
            record["reply"] = {"root": root, "parent": root}
        post = {"uri": uri, "cid": f"bafyrei{n:08d}", "author": {"did": did, "handle": author},
                "record": record, "indexedAt": _iso(self.clock)}
        self.posts[uri] = post
        self.notifications.append({**post, "reason": reason, "isRead": False})
        return post

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle_request)

    def _limits(self, remaining: int) -> dict[str, str]:
        return {"RateLimit-Limit": "3000", "RateLimit-Remaining": str(remaining),
                "RateLimit-Reset": str(int(time.time())), "RateLimit-Policy": "3000;w=300"}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        nsid = request.url.path.removeprefix("/xrpc/")
        if nsid == "com.atproto.server.createSession":
            body = json.loads(request.content)
            if body.get("identifier") not in (self.handle, self.did) or \
                    body.get("password") != self.password:
                return _json(401, {"error": "AuthenticationRequired",
                                   "message": "Invalid identifier or password"})
            self.sessions += 1
            return _json(200, {"accessJwt": f"access-{self.sessions}",
                               "refreshJwt": f"refresh-{self.sessions}",
                               "handle": self.handle, "did": self.did})
        auth = request.headers.get("authorization", "")
        if nsid == "com.atproto.server.refreshSession":
            if auth != f"Bearer refresh-{self.sessions}":
                return _json(400, {"error": "ExpiredToken", "message": "Token has expired"})
            self.sessions += 1
            return _json(200, {"accessJwt": f"access-{self.sessions}",
                               "refreshJwt": f"refresh-{self.sessions}",
                               "handle": self.handle, "did": self.did})
        if auth != f"Bearer access-{self.sessions}" or self.expire_next:
            self.expire_next = False
            return _json(400, {"error": "ExpiredToken", "message": "Token has expired"})
        if self.limiter.take():
            return _json(429, {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
                         self._limits(0))
        headers = self._limits(2999)
        q = request.url.params
        if nsid == "com.atproto.server.getSession":
            return _json(200, {"handle": self.handle, "did": self.did}, headers)
        if nsid == "app.bsky.notification.listNotifications":
            limit = int(q.get("limit", "50"))
            if not 1 <= limit <= 100:
                return _json(400, {"error": "InvalidRequest", "message": "limit out of range"})
            reasons = q.get_list("reasons")
            items = [n for n in reversed(self.notifications)
                     if not reasons or n["reason"] in reasons]
            start = int(q["cursor"]) if "cursor" in q else 0
            page = items[start:start + limit]
            body: dict[str, Any] = {"notifications": page}
            if start + limit < len(items):
                body["cursor"] = str(start + limit)
            return _json(200, body, headers)
        if nsid == "app.bsky.feed.getPosts":
            return _json(200, {"posts": [self.posts[u] for u in q.get_list("uris")
                                         if u in self.posts]}, headers)
        if nsid == "com.atproto.repo.getRecord":
            rkey = q.get("rkey", "")
            if q.get("repo") != self.did or rkey not in self.records:
                return _json(400, {"error": "RecordNotFound",
                                   "message": f"Could not locate record: {rkey}"})
            return _json(200, {"uri": self._uri(rkey), "cid": "bafyreimine",
                               "value": self.records[rkey]}, headers)
        if nsid == "com.atproto.repo.createRecord":
            return self._create(json.loads(request.content), headers)
        return _json(501, {"error": "MethodNotImplemented"})

    def _uri(self, rkey: str) -> str:
        return f"at://{self.did}/app.bsky.feed.post/{rkey}"

    def _create(self, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
        def bad(message: str) -> httpx.Response:
            return _json(400, {"error": "InvalidRequest", "message": message})

        if body.get("repo") not in (self.did, self.handle):
            return _json(401, {"error": "AuthRequiredError", "message": "Unauthorized"})
        if body.get("collection") != "app.bsky.feed.post":
            return bad("Invalid collection")
        rkey = body.get("rkey")
        if rkey is not None and not TID_RE.match(rkey):
            return bad("Invalid record key: must be a TID")
        if rkey in self.records:
            return _json(500, {"error": "InternalServerError", "message": "Internal Server Error"})
        record = body.get("record") or {}
        text = record.get("text", "")
        if record.get("$type") != "app.bsky.feed.post" or "createdAt" not in record:
            return bad("Invalid app.bsky.feed.post record")
        if grapheme_len(text) > 300 or len(text.encode()) > 3000:
            return bad("Invalid app.bsky.feed.post record: Record/text must not be longer "
                       "than 300 graphemes")
        reply = record.get("reply")
        if reply is not None:
            for side in ("root", "parent"):
                ref = reply.get(side) or {}
                known = self.posts.get(ref.get("uri", ""))
                if not known or known["cid"] != ref.get("cid"):
                    return bad(f"Invalid app.bsky.feed.post record: reply/{side} must be a "
                               "strong ref to an existing post")
        data = text.encode()
        for facet in record.get("facets", []):
            start, end = facet["index"]["byteStart"], facet["index"]["byteEnd"]
            if not 0 <= start < end <= len(data):
                return bad("facet index out of range")
            data[start:end].decode()  # raises on a cut character: a test failure
            for feature in facet["features"]:
                if feature["$type"].endswith("#link") and \
                        data[start:end].decode() != feature["uri"]:
                    return bad("link facet does not cover its URL")
                if feature["$type"].endswith("#mention") and \
                        not feature["did"].startswith("did:"):
                    return bad("mention facet needs a DID")
        rkey = rkey or f"3lbz{len(self.records):09d}"
        self.records[rkey] = record
        if self.lose_answer > 0:
            self.lose_answer -= 1
            return _json(502, {"error": "UpstreamFailure"})
        return _json(200, {"uri": self._uri(rkey), "cid": "bafyreimine",
                           "validationStatus": "valid"}, headers)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


# --- X ------------------------------------------------------------------------------------


@dataclass
class FakeX:
    """API v2: users/me, the mentions timeline (since_id + pagination_token bound to it),
    POST /2/tweets (280 weighted, reply refs, duplicate content 403), the user's own posts
    with t.co-wrapped links, and x-rate-limit-* headers."""

    token: str = "tok-x-user"
    user_id: str = "783214"
    username: str = "AcmeSupport"
    tweets: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    mentions: list[str] = field(default_factory=list)
    posted: list[dict[str, Any]] = field(default_factory=list)
    limiter: RateLimiter = field(default_factory=RateLimiter)
    requests: list[httpx.Request] = field(default_factory=list)
    lose_answer: int = 0
    next_id: int = field(default_factory=lambda: int(now_id()) + (1 << 22))

    def add_mention(self, text: str = "@AcmeSupport help", *, author: str = "ann_example",
                    author_id: str = "1460323737035677698") -> dict[str, Any]:
        self.next_id = max(self.next_id + 1000, int(now_id()) + 1000)  # ids carry the time
        tid = str(self.next_id)
        self.users[author_id] = {"id": author_id, "username": author, "name": author.title()}
        tweet = {"id": tid, "text": text, "author_id": author_id, "conversation_id": tid,
                 "created_at": "2026-11-23T10:00:00.000Z", "lang": "en",
                 "edit_history_tweet_ids": [tid]}
        self.tweets[tid] = tweet
        self.mentions.append(tid)
        return tweet

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def _limits(self, remaining: int) -> dict[str, str]:
        return {"x-rate-limit-limit": "180", "x-rate-limit-remaining": str(remaining),
                "x-rate-limit-reset": str(int(time.time()))}

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return _json(401, {"title": "Unauthorized", "type": "about:blank",
                               "status": 401, "detail": "Unauthorized"})
        if self.limiter.take():
            return _json(429, {"title": "Too Many Requests", "detail": "Too Many Requests",
                               "type": "about:blank", "status": 429}, self._limits(0))
        headers = self._limits(179)
        path = request.url.path
        if path == "/2/users/me":
            return _json(200, {"data": {"id": self.user_id, "name": "Acme Support",
                                        "username": self.username}}, headers)
        if path == f"/2/users/{self.user_id}/mentions":
            return self._mentions(request, headers)
        if path == f"/2/users/{self.user_id}/tweets":
            return _json(200, {"data": list(reversed(self.posted)),
                               "meta": {"result_count": len(self.posted)}}, headers)
        if path == "/2/tweets" and request.method == "POST":
            return self._create(json.loads(request.content), headers)
        return _json(404, {"title": "Not Found Error", "detail": "not found"})

    def _mentions(self, request: httpx.Request, headers: dict[str, str]) -> httpx.Response:
        q = request.url.params
        size = int(q.get("max_results", "10"))
        if not 5 <= size <= 100:
            return _json(400, {"title": "Invalid Request",
                               "detail": "max_results must be between 5 and 100"})
        since = int(q.get("since_id", "0"))
        ids = sorted((int(t) for t in self.mentions if int(t) > since), reverse=True)
        start = 0
        if "pagination_token" in q:
            token = q["pagination_token"]
            offset, _, bound = token.partition(":")
            if bound != str(since):
                return _json(400, {"title": "Invalid Request",
                                   "detail": "pagination_token does not match the query"})
            anchor = int(offset)  # the token anchors on an id, so new posts do not shift it
            ids = [i for i in ids if i < anchor]
        page = ids[start:start + size]
        meta: dict[str, Any] = {"result_count": len(page)}
        if page:
            meta["newest_id"], meta["oldest_id"] = str(page[0]), str(page[-1])
        if len(ids) > size:
            meta["next_token"] = f"{page[-1]}:{since}"
        body: dict[str, Any] = {"meta": meta}
        if page:
            data = [self.tweets[str(i)] for i in page]
            body["data"] = data
            body["includes"] = {"users": [self.users[t["author_id"]] for t in data]}
        return _json(200, body, headers)

    def _create(self, body: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
        text = body.get("text", "")
        if not text or x_length(text) > 280:
            return _json(400, {"errors": [{"parameters": {"text": [text[:20]]},
                                           "message": "Your Tweet text is too long."}],
                               "title": "Invalid Request", "type": "https://api.twitter.com"
                               "/2/problems/invalid-request", "detail": "One or more "
                               "parameters to your request was invalid."})
        parent = (body.get("reply") or {}).get("in_reply_to_tweet_id")
        if parent is not None and parent not in self.tweets:
            return _json(403, {"detail": "You attempted to reply to a Tweet that is deleted "
                                         "or not visible to you.", "type": "about:blank",
                               "title": "Forbidden", "status": 403})
        if any(p["source_text"] == text for p in self.posted):
            return _json(403, {"detail": "You are not allowed to create a Tweet with "
                                         "duplicate content.", "type": "about:blank",
                               "title": "Forbidden", "status": 403})
        self.next_id += 1000
        tid = str(self.next_id)
        wrapped, urls = text, []
        for n, (s, e) in enumerate(find_urls(text)):
            tco = f"https://t.co/x{tid[-6:]}{n}"
            urls.append({"url": tco, "expanded_url": text[s:e]})
            wrapped = wrapped.replace(text[s:e], tco)
        post = {"id": tid, "text": wrapped, "source_text": text, "entities": {"urls": urls},
                "referenced_tweets": [{"type": "replied_to", "id": parent}] if parent else []}
        self.posted.append(post)
        self.tweets[tid] = post
        if self.lose_answer > 0:
            self.lose_answer -= 1
            raise httpx.ReadTimeout("the answer was lost")
        return _json(201, {"data": {"id": tid, "text": wrapped,
                                    "edit_history_tweet_ids": [tid]}}, headers)


# --- Reddit -------------------------------------------------------------------------------


@dataclass
class FakeReddit:
    """oauth.reddit.com: the password grant (200 + error body when refused), /api/v1/me,
    inbox Listings newest first with ``after``, /api/comment (errors in ``json.errors``,
    RATELIMIT, 10,000 chars, deleted parents), the user's comments, X-Ratelimit-* headers;
    a missing User-Agent is a 429 as Reddit answers bots without one."""

    client_id: str = "cid"
    client_secret: str = "csecret"
    username: str = "AcmeSupport"
    password: str = "pw"
    inbox: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    things: dict[str, dict[str, Any]] = field(default_factory=dict)
    comments: list[dict[str, Any]] = field(default_factory=list)
    limiter: RateLimiter = field(default_factory=RateLimiter)
    ratelimit_comment: int = 0
    lose_answer: int = 0
    requests: list[httpx.Request] = field(default_factory=list)
    tokens: int = 0
    clock: float = 1_795_400_000.0

    def add_mention(self, body: str = "u/AcmeSupport help", *, ts: float | None = None,
                    deleted: bool = False) -> dict[str, Any]:
        self.clock = ts if ts is not None else self.clock + 10
        n = len(self.things) + 1
        data = {"id": f"c{n:05d}", "name": f"t1_c{n:05d}", "author": "throwaway_ann",
                "author_fullname": "t2_8xk2q", "body": "[deleted]" if deleted else body,
                "created_utc": self.clock, "parent_id": "t3_post1", "link_id": "t3_post1",
                "context": f"/r/techsupport/comments/post1/x/c{n:05d}/?context=3",
                "was_comment": True, "type": "username_mention"}
        thing = {"kind": "t1", "data": data}
        self.things[data["name"]] = thing
        self.inbox.append(thing)
        return thing

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def _limits(self, remaining: float) -> dict[str, str]:
        return {"x-ratelimit-used": str(100 - remaining), "x-ratelimit-remaining": str(remaining),
                "x-ratelimit-reset": "0"}

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not request.headers.get("user-agent", "").startswith("server:"):
            return _json(429, {"message": "Too Many Requests", "error": 429})
        if request.url.host == "www.reddit.com" and request.url.path == "/api/v1/access_token":
            import base64

            basic = "Basic " + base64.b64encode(
                f"{self.client_id}:{self.client_secret}".encode()).decode()
            if request.headers.get("authorization") != basic:
                return _json(401, {"message": "Unauthorized", "error": 401})
            form = _body(request)
            if form.get("username") != self.username or form.get("password") != self.password:
                return _json(200, {"error": "invalid_grant"})
            self.tokens += 1
            return _json(200, {"access_token": f"rt-{self.tokens}", "token_type": "bearer",
                               "expires_in": 86400, "scope": "*"})
        if request.headers.get("authorization") != f"bearer rt-{self.tokens}":
            return _json(401, {"message": "Unauthorized", "error": 401})
        if self.limiter.take():
            return _json(429, {"message": "Too Many Requests", "error": 429}, self._limits(0))
        headers = self._limits(99)
        path = request.url.path
        if path == "/api/v1/me":
            return _json(200, {"name": self.username, "id": "acme1"}, headers)
        if path.startswith("/message/"):
            return self._listing(request, list(reversed(self.inbox)), headers)
        if path == f"/user/{self.username}/comments":
            return self._listing(request, list(reversed(self.comments)), headers)
        if path == "/api/comment" and request.method == "POST":
            return self._comment(_body(request), headers)
        return _json(404, {"message": "Not Found", "error": 404})

    def _listing(self, request: httpx.Request, items: list[dict[str, Any]],
                 headers: dict[str, str]) -> httpx.Response:
        q = request.url.params
        limit = min(int(q.get("limit", "25")), 100)
        start = 0
        if "after" in q:
            names = [t["data"]["name"] for t in items]
            start = names.index(q["after"]) + 1 if q["after"] in names else len(items)
        page = items[start:start + limit]
        after = page[-1]["data"]["name"] if page and start + limit < len(items) else None
        return _json(200, {"kind": "Listing", "data": {"after": after, "dist": len(page),
                                                       "children": page, "before": None}},
                     headers)

    def _comment(self, form: dict[str, Any], headers: dict[str, str]) -> httpx.Response:
        def error(code: str, message: str, fieldname: str) -> httpx.Response:
            return _json(200, {"json": {"errors": [[code, message, fieldname]]}}, headers)

        if form.get("api_type") != "json":
            return _json(200, {"jquery": []}, headers)
        if self.ratelimit_comment > 0:
            self.ratelimit_comment -= 1
            return error("RATELIMIT", "Looks like you've been doing that a lot. Take a break "
                         "for 1 second before trying again.", "ratelimit")
        parent = self.things.get(form.get("thing_id", ""))
        if parent is None:
            return error("NOT_FOUND", "that thing does not exist", "parent")
        if parent["data"]["body"] in ("[deleted]", "[removed]"):
            return error("DELETED_COMMENT", "that comment has been deleted", "parent")
        text = form.get("text", "")
        if len(text) > 10_000:
            return error("TOO_LONG", "this is too long (max: 10000)", "text")
        n = len(self.comments) + 1
        data = {"id": f"r{n:05d}", "name": f"t1_r{n:05d}", "body": text,
                "parent_id": form["thing_id"], "author": self.username,
                "permalink": f"/r/techsupport/comments/post1/x/r{n:05d}/"}
        self.comments.append({"kind": "t1", "data": data})
        if self.lose_answer > 0:
            self.lose_answer -= 1
            return _json(503, {"message": "Service Unavailable"})
        return _json(200, {"json": {"errors": [], "data": {"things": [{"kind": "t1",
                                                                        "data": data}]}}},
                     headers)
