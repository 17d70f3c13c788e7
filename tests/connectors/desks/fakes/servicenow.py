"""A stateful fake of the ServiceNow Table API, as docs.servicenow.com documents it.

Basic auth (401 ``{"error": {"message": "User Not Authenticated", ...}, "status":
"failure"}``), ``{"result": ...}`` bodies, encoded queries (``^`` AND, ``^NQ`` OR of
groups, ``=``, ``!=``, ``>``, ``<``, ``>=``, ``<=``, ``LIKE``, ``IN``, ``ORDERBY``,
``ORDERBYDESC``, ``^^`` escape), ``sysparm_limit``/``sysparm_offset``, data policy 403,
journal entries in ``sys_journal_field``, rate limit rules answering 429 with
``Retry-After`` and ``X-RateLimit-*``. ``sys_updated_on`` has one-second resolution
(``now`` is settable), so ties are common, as on a real instance. ``sysparm_fields`` shows a
column of the table empty (``""``) when the record has no value, and leaves out a name that
is no column (``INCIDENT_COLUMNS``: the ones this fake's incidents have, and ``u_`` fields
once a record holds one).
"""

from __future__ import annotations

import base64
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx

from .base import FakeVendor

BASE = "https://acme.service-now.com"
INCIDENT_COLUMNS = frozenset({
    "sys_id", "number", "state", "short_description", "description", "correlation_id",
    "correlation_display", "contact_type", "impact", "urgency", "assignment_group",
    "parent_incident", "close_code", "close_notes", "sys_created_on", "sys_updated_on"})


def split_query(query: str) -> tuple[list[list[str]], list[tuple[str, bool]]]:
    """(OR-groups of AND-conditions, order-by fields) of an encoded query."""
    placeholder = "\x00"
    query = query.replace("^^", placeholder)
    groups: list[list[str]] = []
    order: list[tuple[str, bool]] = []
    for group in query.split("^NQ"):
        conds = []
        for part in group.split("^"):
            part = part.replace(placeholder, "^")
            if not part:
                continue
            if part.startswith("ORDERBYDESC"):
                order.append((part[len("ORDERBYDESC"):], True))
            elif part.startswith("ORDERBY"):
                order.append((part[len("ORDERBY"):], False))
            else:
                conds.append(part)
        groups.append(conds)
    return groups, order


def matches(row: dict[str, Any], cond: str) -> bool:
    m = re.match(r"^([a-z_0-9.]+)(ISNOTEMPTY|ISEMPTY|LIKE|IN|!=|>=|<=|=|>|<)(.*)$", cond, re.S)
    if m is None:
        raise ValueError(cond)
    field, op, value = m.groups()
    have = str(row.get(field, "") or "")
    return {
        "=": lambda: have == value, "!=": lambda: have != value,
        ">": lambda: have > value, "<": lambda: have < value,
        ">=": lambda: have >= value, "<=": lambda: have <= value,
        "LIKE": lambda: value in have, "IN": lambda: have in value.split(","),
        "ISNOTEMPTY": lambda: bool(have), "ISEMPTY": lambda: not have,
    }[op]()


class FakeServiceNow(FakeVendor):
    name = "servicenow"

    def __init__(self, username: str, password: str) -> None:
        super().__init__()
        self.credentials = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        self.now = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)
        self.tables: dict[str, dict[str, dict[str, Any]]] = {"incident": {},
                                                             "sys_journal_field": {}}
        self.add_route("GET", r"/api/now/table/(?P<table>\w+)", self.list_rows)
        self.add_route("POST", r"/api/now/table/incident", self.create)
        self.add_route("GET", r"/api/now/table/incident/(?P<sid>\w+)", self.get_row)
        self.add_route("PATCH", r"/api/now/table/incident/(?P<sid>\w+)", self.update)
        self.mark("create", "POST", r"/api/now/table/incident")
        self.mark("comment", "PATCH", r"/api/now/table/incident/\w+")

    def stamp(self) -> str:
        return self.now.strftime("%Y-%m-%d %H:%M:%S")

    def authorized(self, request: httpx.Request) -> bool:
        return request.headers.get("authorization") == self.credentials

    def failure(self, status: int, message: str, detail: str) -> httpx.Response:
        return self.json(status, {"error": {"message": message, "detail": detail},
                                  "status": "failure"})

    def unauthorized(self, request: httpx.Request) -> httpx.Response:
        return self.failure(401, "User Not Authenticated", "Required to provide Auth information")

    def error_body(self, status: int) -> Any:
        if status == 429:
            return {"error": {"message": "Rate limit exceeded",
                              "detail": "Rate limit rule 'REST' exceeded"}, "status": "failure"}
        return {"error": {"message": "Transaction cancelled", "detail": "maximum execution "
                          "time exceeded"}, "status": "failure"}

    def not_found(self, request: httpx.Request) -> httpx.Response:
        return self.failure(404, "No Record found",
                            "Record doesn't exist or ACL restricts the record retrieval")

    def rate_headers(self) -> dict[str, str]:
        return {"X-RateLimit-Limit": "1000", "X-RateLimit-Remaining": "999"}

    def view(self, row: dict[str, Any], request: httpx.Request) -> dict[str, Any]:
        fields = request.url.params.get("sysparm_fields")
        if not fields:
            return dict(row)
        known = INCIDENT_COLUMNS if "number" in row else row.keys()
        return {f: row.get(f, "") for f in fields.split(",") if f in known or f in row}

    def list_rows(self, request: httpx.Request, table: str) -> httpx.Response:
        rows = list(self.tables.get(table, {}).values())
        groups, order = split_query(request.url.params.get("sysparm_query", ""))
        rows = [r for r in rows if any(all(matches(r, c) for c in g) for g in groups)]
        for field, desc in reversed(order):
            rows.sort(key=lambda r, f=field: str(r.get(f, "")), reverse=desc)
        offset = int(request.url.params.get("sysparm_offset", "0"))
        limit = int(request.url.params.get("sysparm_limit", "10000"))
        page = rows[offset:offset + limit]
        return self.json(200, {"result": [self.view(r, request) for r in page]},
                         {"X-Total-Count": str(len(rows))})

    def create(self, request: httpx.Request) -> httpx.Response:
        data = self.body(request)
        if not (data.get("short_description") or "").strip():
            return self.failure(403, "Operation Failed", "Data Policy Exception: \n\tThe "
                                "following fields are mandatory: Short description")
        sid = uuid.uuid4().hex
        n = len(self.tables["incident"]) + 10001
        row = {**{k: str(v) for k, v in data.items() if k not in ("comments", "work_notes")},
               "sys_id": sid, "number": f"INC{n:07d}", "state": "1",
               "sys_created_on": self.stamp(), "sys_updated_on": self.stamp(),
               "parent_incident": ""}
        self.tables["incident"][sid] = row
        return self.json(201, {"result": self.view(row, request)},
                         {"Location": f"{BASE}/api/now/table/incident/{sid}"})

    def get_row(self, request: httpx.Request, sid: str) -> httpx.Response:
        row = self.tables["incident"].get(sid)
        return self.json(200, {"result": self.view(row, request)}) if row else self.not_found(
            request)

    def update(self, request: httpx.Request, sid: str) -> httpx.Response:
        row = self.tables["incident"].get(sid)
        if row is None:
            return self.not_found(request)
        data = self.body(request)
        for element in ("comments", "work_notes"):
            if element in data:
                jid = uuid.uuid4().hex
                self.tables["sys_journal_field"][jid] = {
                    "sys_id": jid, "element_id": sid, "element": element, "name": "incident",
                    "value": data.pop(element), "sys_created_on": self.stamp()}
        row.update({k: str(v) for k, v in data.items()})
        row["sys_updated_on"] = self.stamp()
        return self.json(200, {"result": self.view(row, request)})

    def set_state(self, sid: str, state: str) -> None:
        row = self.tables["incident"][sid]
        row["state"] = state
        row["sys_updated_on"] = self.stamp()

    def journal(self, sid: str) -> list[dict[str, Any]]:
        return [j for j in self.tables["sys_journal_field"].values() if j["element_id"] == sid]
