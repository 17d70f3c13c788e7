"""A stateful fake of the Zammad REST API, as docs.zammad.org documents it.

``Authorization: Token token=...`` (401 ``{"error": "Authentication required"}``), 422
``{"error": ..., "error_human": ...}``, tickets with tags given at creation, expanded
state names, a lagging search (``index_delay``), articles, users, ``/links/add``.
"""

from __future__ import annotations

import re
from typing import Any

import httpx

from .base import FakeVendor

BASE = "https://support.acme.example"


class FakeZammad(FakeVendor):
    name = "zammad"

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        self.tickets: dict[int, dict[str, Any]] = {}
        self.articles: dict[int, list[dict[str, Any]]] = {}
        self.users: dict[int, dict[str, Any]] = {}
        self.links: list[dict[str, Any]] = []
        self.add_route("POST", r"/api/v1/tickets", self.create)
        self.add_route("GET", r"/api/v1/tickets", self.index)
        self.add_route("GET", r"/api/v1/tickets/search", self.search)
        self.add_route("GET", r"/api/v1/tickets/(?P<tid>\d+)", self.show)
        self.add_route("GET", r"/api/v1/users/search", self.search_users)
        self.add_route("POST", r"/api/v1/users", self.create_user)
        self.add_route("GET", r"/api/v1/ticket_articles/by_ticket/(?P<tid>\d+)", self.by_ticket)
        self.add_route("POST", r"/api/v1/ticket_articles", self.add_article)
        self.add_route("POST", r"/api/v1/links/add", self.add_link)
        self.mark("create", "POST", r"/api/v1/tickets")
        self.mark("comment", "POST", r"/api/v1/ticket_articles")

    def authorized(self, request: httpx.Request) -> bool:
        return request.headers.get("authorization") == f"Token token={self.token}"

    def unauthorized(self, request: httpx.Request) -> httpx.Response:
        return self.json(401, {"error": "Authentication required"})

    def error_body(self, status: int) -> Any:
        return {"error": "Too many requests" if status == 429 else "Internal Server Error"}

    def not_found(self, request: httpx.Request) -> httpx.Response:
        return self.json(404, {"error": "Couldn't find Ticket",
                               "error_human": "Couldn't find Ticket"})

    def invalid(self, message: str) -> httpx.Response:
        return self.json(422, {"error": f"Validation failed: {message}", "error_human": message})

    def create(self, request: httpx.Request) -> httpx.Response:
        data = self.body(request)
        if not (data.get("title") or "").strip():
            return self.invalid("Title can't be blank")
        if data.get("customer_id") not in self.users:
            return self.invalid("Customer can't be blank")
        tid = len(self.tickets) + 1
        article = data.pop("article", None)
        tags = [t.strip() for t in (data.pop("tags", "") or "").split(",") if t.strip()]
        ticket = {**data, "id": tid, "number": str(31000 + tid), "state": "new",
                  "tags": tags, "created": self.clock(),
                  "created_at": f"2026-11-23T10:00:{tid:02d}Z",
                  "updated_at": f"2026-11-23T10:00:{tid:02d}Z"}
        self.tickets[tid] = ticket
        self.articles[tid] = [{**article, "id": 1000 + tid, "ticket_id": tid}] if article else []
        return self.json(201, self.public(ticket, expand=False))

    def public(self, t: dict[str, Any], expand: bool = True) -> dict[str, Any]:
        out = {k: v for k, v in t.items() if k not in ("created", "tags", "state")}
        out["state_id"] = {"new": 1, "open": 2, "pending reminder": 3, "closed": 4}[t["state"]]
        if expand:
            out["state"] = t["state"]
        return out

    def index(self, request: httpx.Request) -> httpx.Response:
        items = sorted(self.tickets.values(), key=lambda t: t["id"],
                       reverse=request.url.params.get("order_by") == "desc")
        per_page = int(request.url.params.get("per_page", "50"))
        return self.json(200, [self.public(t) for t in items[:per_page]])

    def search(self, request: httpx.Request) -> httpx.Response:
        query = request.url.params.get("query", "")
        m = re.fullmatch(r"(tags|customer_id):(.+)", query)
        if m is None:
            return self.json(200, [])
        field, value = m.groups()
        found = [t for t in self.tickets.values() if self.visible(t["created"]) and (
            value in t["tags"] if field == "tags" else str(t["customer_id"]) == value)]
        return self.json(200, [self.public(t) for t in found])

    def show(self, request: httpx.Request, tid: str) -> httpx.Response:
        t = self.tickets.get(int(tid))
        return self.json(200, self.public(t)) if t else self.not_found(request)

    def search_users(self, request: httpx.Request) -> httpx.Response:
        m = re.fullmatch(r'login:"(.+)"', request.url.params.get("query", ""))
        login = m.group(1) if m else None
        return self.json(200, [u for u in self.users.values() if u["login"] == login])

    def create_user(self, request: httpx.Request) -> httpx.Response:
        data = self.body(request)
        if any(u["login"] == data.get("login") for u in self.users.values()):
            return self.invalid("Login is already used by another user")
        uid = 100 + len(self.users)
        self.users[uid] = {**data, "id": uid}
        return self.json(201, self.users[uid])

    def by_ticket(self, request: httpx.Request, tid: str) -> httpx.Response:
        if int(tid) not in self.tickets:
            return self.not_found(request)
        return self.json(200, self.articles[int(tid)])

    def add_article(self, request: httpx.Request) -> httpx.Response:
        data = self.body(request)
        tid = int(data.get("ticket_id", 0))
        if tid not in self.tickets:
            return self.not_found(request)
        if not (data.get("body") or "").strip():
            return self.invalid("Body can't be blank")
        article = {**data, "id": 2000 + sum(len(a) for a in self.articles.values())}
        self.articles[tid].append(article)
        return self.json(201, article)

    def add_link(self, request: httpx.Request) -> httpx.Response:
        data = self.body(request)
        if not any(t["number"] == data.get("link_object_source_number")
                   for t in self.tickets.values()):
            return self.json(422, {"error": "No such source object!"})
        if data not in self.links:
            self.links.append(data)
        return self.json(201, {})
