"""A stateful fake of Request Tracker 5's REST2 API, answering as RT::REST2 documents.

What it keeps to, checked against a real RT 5.0.3 (``test_rt_real.py`` runs the real one):

- auth by ``Authorization: token ...`` or HTTP Basic; otherwise 401 ``{"message":
  "Unauthorized"}``; errors are ``{"message": ...}``;
- ``POST /ticket`` answers 201 ``{"id", "type", "_url"}``; an unknown queue is 403 "No
  permission to create tickets in the queue"; a bad Status is 400; an empty Subject is fine;
- ``GET /tickets?query=<TicketSQL>`` and ``GET /transactions?query=<TransactionSQL>`` with
  ``fields``, ``orderby``, ``order``, ``page``, ``per_page``; ids are strings in search
  results; deleted tickets never match a ticket search; a ``query`` holding a ``[``
  anywhere is taken for a JSON search and fails (RT 5.0.3 matches ``/\\s*\\[/``);
- correspond on a new ticket opens it (a Status transaction), comment does not;
- ``PUT /ticket/:id`` answers 200 with a list of messages even when a link fails;
  ``DELETE /ticket/:id`` sets the status to deleted and answers 204.

The TicketSQL/TransactionSQL here is the small part the connector uses: ``AND``/``OR``,
parentheses, ``= != < > <= >=``, ``__Active__``/``__Inactive__``, ``CF.{name}``,
``Requestor.EmailAddress``, quoted field names and backslash escapes.
"""

from __future__ import annotations

import base64
import itertools
import re
from collections.abc import Callable
from typing import Any

import httpx

from .base import FakeVendor

BASE = "https://rt.example.com"
API = "/REST/2.0"
ACTIVE = ("new", "open", "stalled")
INACTIVE = ("resolved", "rejected", "deleted")
CREATED = "2026-11-23T10:00:00Z"

Predicate = Callable[[dict[str, Any]], bool]
Resolver = Callable[[dict[str, Any], str], list[str]]

_TOKEN = re.compile(r"""\s*(?:(?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")|(?P<paren>[()])
    |(?P<op>!=|>=|<=|=|>|<|(?i:LIKE)\b)|(?P<bool>(?i:AND|OR)\b)
    |(?P<word>CF\.\{[^}]*\}|[A-Za-z_][\w.]*|\d+))""", re.X)


class QueryError(ValueError):
    """A query this fake (like RT) cannot parse."""


def _tokens(query: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(query.rstrip()):
        m = _TOKEN.match(query, pos)
        if not m or m.end() == pos:
            raise QueryError(f"cannot parse {query[pos:pos + 20]!r}")
        kind = m.lastgroup or ""
        text = m.group(kind)
        if kind == "str":
            text = re.sub(r"\\(.)", r"\1", text[1:-1])
        out.append((kind, text))
        pos = m.end()
    return out


def parse(query: str, resolve: Resolver) -> Predicate:
    """A predicate over records for a TicketSQL/TransactionSQL ``query``."""
    toks = _tokens(query)
    i = 0

    def peek() -> tuple[str, str]:
        return toks[i] if i < len(toks) else ("end", "")

    def take() -> tuple[str, str]:
        nonlocal i
        tok = peek()
        i += 1
        return tok

    def expr() -> Predicate:
        parts = [term()]
        while peek()[0] == "bool" and peek()[1].upper() == "OR":
            take()
            parts.append(term())
        return lambda r: any(p(r) for p in parts)

    def term() -> Predicate:
        parts = [factor()]
        while peek()[0] == "bool" and peek()[1].upper() == "AND":
            take()
            parts.append(factor())
        return lambda r: all(p(r) for p in parts)

    def factor() -> Predicate:
        if peek() == ("paren", "("):
            take()
            inner = expr()
            if take() != ("paren", ")"):
                raise QueryError("missing )")
            return inner
        (fkind, field), (okind, op), (vkind, value) = take(), take(), take()
        if fkind not in ("word", "str") or okind != "op" or vkind not in ("word", "str"):
            raise QueryError(f"bad condition near {field!r}")
        return _condition(field, op.upper(), value, resolve)

    pred = expr()
    if i != len(toks):
        raise QueryError(f"unexpected {peek()[1]!r}")
    return pred


def _condition(field: str, op: str, value: str, resolve: Resolver) -> Predicate:
    if field.lower() == "status" and value in ("__Active__", "__Inactive__"):
        wanted = ACTIVE if value == "__Active__" else INACTIVE

        def status(r: dict[str, Any]) -> bool:
            inside = any(v in wanted for v in resolve(r, "status"))
            return inside if op == "=" else not inside
        return status

    def compare(have: str) -> bool:
        if have.isdigit() and value.isdigit():
            a: Any = int(have)
            b: Any = int(value)
        else:
            a, b = have.lower(), value.lower()
        return {"=": a == b, "!=": a != b, ">": a > b, "<": a < b, ">=": a >= b,
                "<=": a <= b, "LIKE": str(b) in str(a)}[op]

    def cond(r: dict[str, Any]) -> bool:
        values = resolve(r, field)
        if op == "!=":
            return all(compare(v) for v in values)
        return any(compare(v) for v in values)
    return cond


class FakeRT(FakeVendor):
    name = "rt"

    def __init__(self, token: str, *, password: str = "", queues: tuple[str, ...] = (
            "General", "Social"), cf_name: str = "Router External ID") -> None:
        super().__init__()
        self.token = token
        self.password = password
        self.cf_name = cf_name
        self.queues = {name: n for n, name in enumerate(queues, start=1)}
        self.ticket_ids = itertools.count(1)
        self.txn_ids = itertools.count(30)
        self.tickets: dict[int, dict[str, Any]] = {}
        self.txns: list[dict[str, Any]] = []
        for method, path, fn in [
            ("GET", r"/rt", self.system),
            ("GET", r"/queue/(?P<name>[^/]+)", self.show_queue),
            ("POST", r"/ticket", self.create_ticket),
            ("GET", r"/tickets", self.search_tickets),
            ("GET", r"/ticket/(?P<tid>\d+)", self.show_ticket),
            ("PUT", r"/ticket/(?P<tid>\d+)", self.update_ticket),
            ("DELETE", r"/ticket/(?P<tid>\d+)", self.delete_ticket),
            ("POST", r"/ticket/(?P<tid>\d+)/(?P<kind>correspond|comment)", self.add_message),
            ("GET", r"/ticket/(?P<tid>\d+)/history", self.history),
            ("GET", r"/transactions", self.search_transactions),
        ]:
            self.add_route(method, API + path, fn)
        self.mark("create", "POST", API + r"/ticket")
        self.mark("comment", "POST", API + r"/ticket/\d+/(correspond|comment)")

    # --- RT's conventions ------------------------------------------------------------------

    def authorized(self, request: httpx.Request) -> bool:
        header = request.headers.get("authorization", "")
        if header == f"token {self.token}":
            return True
        if self.password and header.lower().startswith("basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            return user == "root" and password == self.password
        return False

    def unauthorized(self, request: httpx.Request) -> httpx.Response:
        return self.json(401, {"message": "Unauthorized"})

    def error_body(self, status: int) -> Any:
        return {"message": httpx.codes.get_reason_phrase(status)}

    def not_found(self, request: httpx.Request) -> httpx.Response:
        return self.json(404, {"message": "Not Found"})

    def url(self, kind: str, ident: object) -> str:
        return f"{BASE}{API}/{kind}/{ident}"

    def _txn(self, tid: int, type_: str, **fields: Any) -> dict[str, Any]:
        txn = {"id": next(self.txn_ids), "ObjectType": "RT::Ticket", "ObjectId": tid,
               "Type": type_, "Field": "", "OldValue": "", "NewValue": "", "Subject": "",
               "Content": "", "Created": CREATED, **fields}
        self.txns.append(txn)
        return txn

    def _set_status(self, ticket: dict[str, Any], status: str) -> None:
        if ticket["Status"] != status:
            self._txn(ticket["id"], "Status", Field="Status", OldValue=ticket["Status"],
                      NewValue=status)
            ticket["Status"] = status

    def _cfs(self, ticket: dict[str, Any]) -> list[dict[str, Any]]:
        value = ticket["CustomFields"].get(self.cf_name)
        return [{"id": "2", "type": "customfield", "_url": self.url("customfield", 2),
                 "name": self.cf_name, "values": [] if value is None else [value]}]

    def _field(self, ticket: dict[str, Any], name: str) -> Any:
        if name == "Requestor":
            return [{"id": e, "type": "user", "_url": self.url("user", e)}
                    for e in ticket["Requestor"]]
        if name == "CustomFields":
            return self._cfs(ticket)
        if name == "Queue":
            return {"id": str(self.queues[ticket["Queue"]]), "type": "queue",
                    "_url": self.url("queue", self.queues[ticket["Queue"]])}
        return ticket.get(name, "")

    def _page(self, request: httpx.Request, items: list[dict[str, Any]],
              render: Callable[[dict[str, Any], list[str]], dict[str, Any]]) -> httpx.Response:
        params = request.url.params
        fields = [f for f in params.get("fields", "").split(",") if f]
        orderby = params.get("orderby", "id")
        items = sorted(items, key=lambda r: r.get(orderby) or 0,
                       reverse=params.get("order", "ASC").upper() == "DESC")
        per_page = max(1, min(100, int(params.get("per_page", "20"))))
        page = int(params.get("page", "1"))
        chunk = items[(page - 1) * per_page: page * per_page]
        pages = -(-len(items) // per_page)
        body = {"total": len(items), "count": len(chunk), "page": page, "pages": pages,
                "per_page": per_page, "items": [render(r, fields) for r in chunk]}
        if page < pages:
            body["next_page"] = str(request.url.copy_set_param("page", str(page + 1)))
        return self.json(200, body)

    def _query(self, request: httpx.Request) -> str | None:
        query = request.url.params.get("query", "")
        return None if re.search(r"\s*\[", query) else query

    # --- routes ----------------------------------------------------------------------------

    def system(self, request: httpx.Request) -> httpx.Response:
        return self.json(200, {"Version": "5.0.3", "Plugins": []})

    def show_queue(self, request: httpx.Request, name: str) -> httpx.Response:
        found = {str(n): q for q, n in self.queues.items()}.get(name) or (
            name if name in self.queues else None)
        if found is None:
            return self.not_found(request)
        return self.json(200, {
            "id": self.queues[found], "Name": found, "Lifecycle": "default",
            "TicketCustomFields": [{"ref": "customfield", "type": "customfield", "id": "2",
                                    "name": self.cf_name,
                                    "_url": self.url("customfield", 2)}],
            "_hyperlinks": [{"ref": "self", "type": "queue", "id": self.queues[found],
                             "_url": self.url("queue", self.queues[found])}]})

    def create_ticket(self, request: httpx.Request) -> httpx.Response:
        data = self.body(request)
        queue = str(data.get("Queue") or "General")
        if queue not in self.queues:
            return self.json(403, {"message": "No permission to create tickets in the queue "
                                              f"'{queue}'"})
        status = data.get("Status", "new")
        if status not in ACTIVE + INACTIVE:
            return self.json(400, {"message": f"Status '{status}' isn't a valid status for "
                                              "tickets in this queue."})
        tid = next(self.ticket_ids)
        requestors = data.get("Requestor") or []
        requestors = [requestors] if isinstance(requestors, str) else requestors
        emails = [m.group(1) if (m := re.search(r"<([^>]+)>", r)) else r for r in requestors]
        cfs = {k: v for k, v in (data.get("CustomFields") or {}).items() if k == self.cf_name}
        self.tickets[tid] = {"id": tid, "Queue": queue, "Subject": data.get("Subject") or "",
                             "Status": status, "Requestor": [e.lower() for e in emails],
                             "CustomFields": cfs, "Priority": str(data.get("Priority", 0)),
                             "Created": CREATED, "parents": set()}
        self._txn(tid, "Create", Subject=data.get("Subject") or "",
                  Content=data.get("Content") or "")
        return self.json(201, {"type": "ticket", "id": str(tid), "_url": self.url("ticket", tid)},
                         {"location": f"{API}/ticket/{tid}"})

    def _resolve_ticket(self, ticket: dict[str, Any], field: str) -> list[str]:
        key = field.lower()
        if key.startswith("cf.{") or key.startswith("customfield.{"):
            value = ticket["CustomFields"].get(field[field.index("{") + 1:-1])
            return [] if value is None else [str(value)]
        if key in ("requestor.emailaddress", "requestor", "requestors"):
            return list(ticket["Requestor"])
        if key == "queue":
            return [ticket["Queue"], str(self.queues[ticket["Queue"]])]
        if key in ("id", "status", "subject"):
            return [str(ticket[{"id": "id", "status": "Status", "subject": "Subject"}[key]])]
        raise QueryError(f"unknown ticket field {field}")

    def search_tickets(self, request: httpx.Request) -> httpx.Response:
        query = self._query(request)
        if query is None:
            return httpx.Response(500)
        try:
            pred = parse(query, self._resolve_ticket)
        except QueryError as exc:
            return self.json(400, {"message": str(exc)})
        items = [t for t in self.tickets.values() if t["Status"] != "deleted" and pred(t)]
        return self._page(request, items, lambda t, fields: {
            "id": str(t["id"]), "type": "ticket", "_url": self.url("ticket", t["id"]),
            **{f: self._field(t, f) for f in fields}})

    def show_ticket(self, request: httpx.Request, tid: str) -> httpx.Response:
        t = self.tickets.get(int(tid))
        if t is None:
            return self.not_found(request)
        links = [{"ref": "self", "type": "ticket", "id": t["id"],
                  "_url": self.url("ticket", t["id"])}]
        links += [{"ref": "parent", "type": "ticket", "id": str(p),
                   "_url": self.url("ticket", p)} for p in sorted(t["parents"])]
        links += [{"ref": "history", "_url": f"{self.url('ticket', t['id'])}/history"},
                  {"ref": "correspond", "_url": f"{self.url('ticket', t['id'])}/correspond"},
                  {"ref": "comment", "_url": f"{self.url('ticket', t['id'])}/comment"}]
        return self.json(200, {
            "id": t["id"], "Type": "ticket", "Subject": t["Subject"], "Status": t["Status"],
            "Priority": t["Priority"], "Created": t["Created"],
            "Queue": self._field(t, "Queue"), "Requestor": self._field(t, "Requestor"),
            "CustomFields": self._cfs(t), "_hyperlinks": links})

    def update_ticket(self, request: httpx.Request, tid: str) -> httpx.Response:
        t = self.tickets.get(int(tid))
        if t is None:
            return self.not_found(request)
        data = self.body(request) or {}
        messages: list[str] = []
        if "Status" in data:
            if data["Status"] not in ACTIVE + INACTIVE:
                return self.json(400, {"message": f"Status '{data['Status']}' isn't a valid "
                                                  "status for tickets in this queue."})
            old = t["Status"]
            self._set_status(t, data["Status"])
            messages.append(f"Ticket {tid}: Status changed from '{old}' to '{data['Status']}'")
        if "Subject" in data:
            t["Subject"] = data["Subject"]
            messages.append(f"Ticket {tid}: Subject changed")
        for name, value in (data.get("CustomFields") or {}).items():
            if name == self.cf_name:
                if value is None:
                    t["CustomFields"].pop(name, None)
                else:
                    t["CustomFields"][name] = value
                messages.append(f"{name} changed")
        parents = data.get("AddParent")
        for parent in parents if isinstance(parents, list) else [parents] if parents else []:
            if int(parent) not in self.tickets:
                messages.append(f"Couldn't resolve '{parent}' into a link.")
            elif int(parent) in t["parents"]:
                messages.append("Link already exists")
            else:
                t["parents"].add(int(parent))
                self._txn(t["id"], "AddLink", Field="MemberOf", NewValue=str(parent))
                messages.append(f"Ticket {tid} member of Ticket {parent}.")
        return self.json(200, messages)

    def delete_ticket(self, request: httpx.Request, tid: str) -> httpx.Response:
        t = self.tickets.get(int(tid))
        if t is None:
            return self.not_found(request)
        self._set_status(t, "deleted")
        return httpx.Response(204)

    def add_message(self, request: httpx.Request, tid: str, kind: str) -> httpx.Response:
        t = self.tickets.get(int(tid))
        data = self.body(request) or {}
        if t is None or not data.get("Content"):
            return self.json(400, {"message": "Message could not be recorded"})
        self._txn(t["id"], "Correspond" if kind == "correspond" else "Comment",
                  Subject=data.get("Subject") or "", Content=data["Content"])
        if kind == "correspond" and t["Status"] == "new":
            self._set_status(t, "open")
        return self.json(201, ["Correspondence added" if kind == "correspond"
                               else "Comments added"])

    def _resolve_txn(self, txn: dict[str, Any], field: str) -> list[str]:
        names = {k.lower(): k for k in txn}
        if field.lower() not in names:
            raise QueryError(f"unknown transaction field {field}")
        return [str(txn[names[field.lower()]])]

    def _render_txn(self, txn: dict[str, Any], fields: list[str]) -> dict[str, Any]:
        shown = {f: str(txn[f]) if f in ("ObjectId",) else txn.get(f, "") for f in fields
                 if f not in ("Content",)}
        return {"id": str(txn["id"]), "type": "transaction",
                "_url": self.url("transaction", txn["id"]), **shown}

    def history(self, request: httpx.Request, tid: str) -> httpx.Response:
        items = [x for x in self.txns if x["ObjectId"] == int(tid)]
        return self._page(request, items, self._render_txn)

    def search_transactions(self, request: httpx.Request) -> httpx.Response:
        query = self._query(request)
        if query is None:
            return httpx.Response(500)
        try:
            pred = parse(query, self._resolve_txn)
        except QueryError as exc:
            return self.json(400, {"message": str(exc)})
        return self._page(request, [x for x in self.txns if pred(x)], self._render_txn)

    # --- test helpers ------------------------------------------------------------------------

    def messages(self, tid: int) -> list[tuple[str, str]]:
        """(Type, Content) of each correspondence and comment on a ticket, in order."""
        return [(x["Type"], x["Content"]) for x in self.txns
                if x["ObjectId"] == tid and x["Type"] in ("Correspond", "Comment")]
