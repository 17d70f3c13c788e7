"""What every vendor fake shares: request log, injected faults, routing, a lagging index.

A fake is a callable ``httpx.MockTransport`` handler. Tests steer it with:

- ``fail_next(n, status, headers, after_commit=..., method=...)``: the next ``n`` matching
  requests get ``status`` with the vendor's error body; with ``after_commit`` the request is
  processed first and its answer lost (the hard case for idempotency);
- ``timeout_next(n, ...)``: the handler raises ``httpx.ReadTimeout`` instead;
- ``index_delay``: seconds before a new record shows up in the vendor's search API, for
  vendors that document search as eventually consistent.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

Route = tuple[str, re.Pattern[str], Callable[..., httpx.Response]]


@dataclass
class Seen:
    method: str
    path: str
    at: float
    status: int = 0
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class Fault:
    status: int
    headers: Mapping[str, str]
    after_commit: bool
    method: str | None
    timeout: bool = False
    body: Any = None


class FakeVendor:
    """Base of the vendor fakes; subclasses add routes, auth and error bodies."""

    name = "vendor"

    def __init__(self) -> None:
        self.seen: list[Seen] = []
        self.faults: list[Fault] = []
        self.index_delay = 0.0
        self.clock: Callable[[], float] = time.monotonic
        self.routes: list[Route] = []
        #: (method, path regex) of the request that creates a ticket / adds a comment.
        self.kinds: dict[str, tuple[str, re.Pattern[str]]] = {}

    # --- controls -----------------------------------------------------------------------

    def fail_next(self, n: int, status: int, headers: Mapping[str, str] | None = None, *,
                  after_commit: bool = False, method: str | None = None,
                  body: Any = None) -> None:
        for _ in range(n):
            self.faults.append(Fault(status, dict(headers or {}), after_commit, method,
                                     body=body))

    def timeout_next(self, n: int = 1, *, after_commit: bool = False,
                     method: str | None = None) -> None:
        for _ in range(n):
            self.faults.append(Fault(0, {}, after_commit, method, timeout=True))

    def route(self, method: str, pattern: str) -> Callable[[Callable[..., httpx.Response]],
                                                           Callable[..., httpx.Response]]:
        def deco(fn: Callable[..., httpx.Response]) -> Callable[..., httpx.Response]:
            self.routes.append((method, re.compile(f"^{pattern}$"), fn))
            return fn
        return deco

    def add_route(self, method: str, pattern: str, fn: Callable[..., httpx.Response]) -> None:
        self.routes.append((method, re.compile(f"^{pattern}$"), fn))

    # --- vendor specifics (override) -------------------------------------------------------

    def authorized(self, request: httpx.Request) -> bool:
        return True

    def unauthorized(self, request: httpx.Request) -> httpx.Response:
        return self.json(401, {"error": "unauthorized"})

    def error_body(self, status: int) -> Any:
        return {"error": httpx.codes.get_reason_phrase(status)}

    def rate_headers(self) -> dict[str, str]:
        return {}

    def not_found(self, request: httpx.Request) -> httpx.Response:
        return self.json(404, {"error": "not found"})

    # --- plumbing -------------------------------------------------------------------------

    def json(self, status: int, body: Any, headers: Mapping[str, str] | None = None
             ) -> httpx.Response:
        return httpx.Response(status, json=body,
                              headers={**self.rate_headers(), **(headers or {})})

    def body(self, request: httpx.Request) -> Any:
        return json.loads(request.content or b"null")

    def visible(self, created_at: float) -> bool:
        """Whether a record created at ``created_at`` is in the search index yet."""
        return self.clock() - created_at >= self.index_delay

    def mark(self, kind: str, method: str, pattern: str) -> None:
        """Name a request kind ("create", "comment") that faults can target."""
        self.kinds[kind] = (method, re.compile(f"^{pattern}$"))

    def _matches(self, fault: Fault, request: httpx.Request) -> bool:
        if fault.method is None or fault.method == request.method:
            return True
        kind = self.kinds.get(fault.method)
        return kind is not None and kind[0] == request.method and bool(
            kind[1].match(request.url.path))

    def _take_fault(self, request: httpx.Request) -> Fault | None:
        for i, fault in enumerate(self.faults):
            if self._matches(fault, request):
                return self.faults.pop(i)
        return None

    def _fault_response(self, fault: Fault, request: httpx.Request) -> httpx.Response:
        if fault.timeout:
            raise httpx.ReadTimeout("fake timeout", request=request)
        body = fault.body if fault.body is not None else self.error_body(fault.status)
        if isinstance(body, str):
            return httpx.Response(fault.status, text=body, headers=fault.headers)
        return httpx.Response(fault.status, json=body, headers=fault.headers)

    def _dispatch(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        for method, pattern, fn in self.routes:
            if method == request.method and (match := pattern.match(path)):
                return fn(request, **match.groupdict())
        return self.not_found(request)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        seen = Seen(request.method, request.url.path, self.clock(), 0,
                    dict(request.headers), request.content)
        self.seen.append(seen)
        if not self.authorized(request):
            response = self.unauthorized(request)
            seen.status = response.status_code
            return response
        fault = self._take_fault(request)
        if fault is not None and not fault.after_commit:
            seen.status = fault.status
            return self._fault_response(fault, request)
        response = self._dispatch(request)
        if fault is not None:
            seen.status = fault.status
            return self._fault_response(fault, request)
        seen.status = response.status_code
        return response

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)
