"""A stateful fake of the Help Scout Mailbox API 2.0, as developer.helpscout.com documents.

OAuth2 client credentials at ``/v2/oauth2/token`` (401 ``{"error": "invalid_client"}``),
bearer tokens that expire (401 on the API), 201 answers with ``Resource-ID`` and
``Location`` and no body, HAL bodies (``_embedded``, ``page``), validation errors as 400
``{"message": "Bad request", "_embedded": {"errors": [...]}}``, 429 with
``X-RateLimit-Retry-After``, a conversation list that lags (``index_delay``).
"""

from __future__ import annotations

import secrets
from typing import Any

import httpx

from .base import FakeVendor

API = "https://api.helpscout.net"
PAGE = 2


class FakeHelpScout(FakeVendor):
    name = "helpscout"

    def __init__(self, app_id: str, app_secret: str) -> None:
        super().__init__()
        self.app = (app_id, app_secret)
        self.tokens: set[str] = set()
        self.token_requests = 0
        self.conversations: dict[int, dict[str, Any]] = {}
        self.customers: dict[int, dict[str, Any]] = {}
        self.add_route("POST", r"/v2/oauth2/token", self.token)
        self.add_route("POST", r"/v2/customers", self.create_customer)
        self.add_route("POST", r"/v2/conversations", self.create)
        self.add_route("GET", r"/v2/conversations", self.list_conversations)
        self.add_route("GET", r"/v2/conversations/(?P<cid>\d+)", self.show)
        self.add_route("GET", r"/v2/conversations/(?P<cid>\d+)/threads", self.threads)
        for kind in ("notes", "reply", "customer"):
            self.add_route("POST", rf"/v2/conversations/(?P<cid>\d+)/{kind}",
                           lambda r, cid, k=kind: self.add_thread(r, cid, k))
        self.mark("create", "POST", r"/v2/conversations")
        self.mark("comment", "POST", r"/v2/conversations/\d+/(notes|reply|customer)")

    def authorized(self, request: httpx.Request) -> bool:
        if request.url.path == "/v2/oauth2/token":
            return True
        auth = request.headers.get("authorization", "")
        return auth.startswith("Bearer ") and auth[7:] in self.tokens

    def unauthorized(self, request: httpx.Request) -> httpx.Response:
        return self.json(401, {"error": "Not Authorized", "message": "Access token invalid"})

    def error_body(self, status: int) -> Any:
        return {"message": "Too Many Requests" if status == 429 else "Internal Server Error"}

    def _fault_response(self, fault: Any, request: httpx.Request) -> httpx.Response:
        response = super()._fault_response(fault, request)
        if fault.status == 429 and "retry-after" in {k.lower() for k in fault.headers}:
            value = {k.lower(): v for k, v in fault.headers.items()}["retry-after"]
            response.headers["X-RateLimit-Retry-After"] = value
        return response

    def not_found(self, request: httpx.Request) -> httpx.Response:
        return self.json(404, {"message": "Resource not found", "logRef": "x"})

    def rate_headers(self) -> dict[str, str]:
        return {"X-RateLimit-Limit-Minute": "400", "X-RateLimit-Remaining-Minute": "399"}

    def created(self, path: str, rid: int) -> httpx.Response:
        return httpx.Response(201, headers={"Resource-ID": str(rid),
                                            "Location": f"{API}{path}/{rid}",
                                            **self.rate_headers()})

    def invalid(self, path: str, message: str) -> httpx.Response:
        return self.json(400, {"logRef": "abc#1", "message": "Bad request",
                               "_embedded": {"errors": [{"path": path, "message": message,
                                                         "source": "JSON"}]}})

    def revoke_tokens(self) -> None:
        self.tokens.clear()

    def token(self, request: httpx.Request) -> httpx.Response:
        data = self.body(request)
        if (data.get("client_id"), data.get("client_secret")) != self.app or (
                data.get("grant_type") != "client_credentials"):
            return self.json(401, {"error": "invalid_client",
                                   "error_description": "Bad client credentials"})
        self.token_requests += 1
        token = secrets.token_hex(8)
        self.tokens.add(token)
        return self.json(200, {"token_type": "bearer", "access_token": token,
                               "expires_in": 172800})

    def create_customer(self, request: httpx.Request) -> httpx.Response:
        data = self.body(request)
        if not data.get("firstName") and not data.get("emails"):
            return self.invalid("firstName", "may not be empty")
        cid = 500 + len(self.customers)
        self.customers[cid] = {**data, "id": cid}
        return self.created("/v2/customers", cid)

    def create(self, request: httpx.Request) -> httpx.Response:
        data = self.body(request)
        if not (data.get("subject") or "").strip():
            return self.invalid("subject", "may not be empty")
        if not data.get("threads"):
            return self.invalid("threads", "may not be empty")
        cid = 1000 + len(self.conversations)
        threads = [{"id": i, "type": t["type"], "body": t.get("text", "")}
                   for i, t in enumerate(data["threads"])]
        self.conversations[cid] = {
            "id": cid, "number": len(self.conversations) + 1, "subject": data["subject"],
            "status": data.get("status", "active"), "mailboxId": data["mailboxId"],
            "tags": [{"tag": t} for t in data.get("tags", [])],
            "primaryCustomer": {"id": data["customer"]["id"]},
            "threads": threads, "created": self.clock(),
            "_links": {"web": {"href": f"https://secure.helpscout.net/conversation/{cid}/1/"}}}
        return self.created("/v2/conversations", cid)

    def public(self, c: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in c.items() if k not in ("created", "threads")}

    def list_conversations(self, request: httpx.Request) -> httpx.Response:
        p = request.url.params
        status = p.get("status", "active")
        found = [c for c in self.conversations.values() if self.visible(c["created"])
                 and (not p.get("tag") or p["tag"] in [t["tag"] for t in c["tags"]])
                 and (status == "all" or c["status"] == status
                      or (status == "open" and c["status"] in ("active", "pending")))]
        return self.json(200, {"_embedded": {"conversations": [self.public(c) for c in found]},
                               "page": {"size": 50, "totalElements": len(found),
                                        "totalPages": 1, "number": 1}})

    def show(self, request: httpx.Request, cid: str) -> httpx.Response:
        c = self.conversations.get(int(cid))
        return self.json(200, self.public(c)) if c else self.not_found(request)

    def threads(self, request: httpx.Request, cid: str) -> httpx.Response:
        c = self.conversations.get(int(cid))
        if c is None:
            return self.not_found(request)
        page = int(request.url.params.get("page", "1"))
        items = list(reversed(c["threads"]))  # newest first, as documented
        total = max(1, -(-len(items) // PAGE))
        return self.json(200, {"_embedded": {"threads": items[(page - 1) * PAGE: page * PAGE]},
                               "page": {"size": PAGE, "totalElements": len(items),
                                        "totalPages": total, "number": page}})

    def add_thread(self, request: httpx.Request, cid: str, kind: str) -> httpx.Response:
        c = self.conversations.get(int(cid))
        if c is None:
            return self.not_found(request)
        data = self.body(request)
        if not (data.get("text") or "").strip():
            return self.invalid("text", "may not be empty")
        if kind != "notes" and not (data.get("customer") or {}).get("id"):
            return self.invalid("customer", "may not be null")
        tid = len(c["threads"])
        c["threads"].append({"id": tid, "type": {"notes": "note"}.get(kind, kind),
                             "body": data["text"]})
        return self.created(f"/v2/conversations/{cid}/threads", tid)
