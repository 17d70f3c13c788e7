"""A stateful fake of the GitHub REST API (issues, comments, search), as docs.github.com
documents: bearer token (401 ``{"message": "Bad credentials", ...}``), 422 ``Validation
Failed`` with ``errors[]``, ``Link`` header pagination, ``x-ratelimit-*`` headers, secondary
limits as 403/429 with ``retry-after``, and a search index that lags (``index_delay``).
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx

from .base import FakeVendor

API = "https://api.github.com"
REPO = "acme/support"
DOCS = "https://docs.github.com/rest"


class FakeGitHub(FakeVendor):
    name = "github"

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token
        self.issues: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, list[dict[str, Any]]] = {}
        self.per_page_cap = 2  # tiny pages so pagination is exercised
        r = f"/repos/{REPO}"
        self.add_route("POST", rf"{r}/issues", self.create_issue)
        self.add_route("GET", rf"{r}/issues", self.list_issues)
        self.add_route("GET", rf"{r}/issues/(?P<n>\d+)", self.get_issue)
        self.add_route("PATCH", rf"{r}/issues/(?P<n>\d+)", self.update_issue)
        self.add_route("GET", rf"{r}/issues/(?P<n>\d+)/comments", self.list_comments)
        self.add_route("POST", rf"{r}/issues/(?P<n>\d+)/comments", self.add_comment)
        self.add_route("GET", r"/search/issues", self.search)
        self.mark("create", "POST", rf"{r}/issues")
        self.mark("comment", "POST", rf"{r}/issues/\d+/comments")

    def authorized(self, request: httpx.Request) -> bool:
        return request.headers.get("authorization") == f"Bearer {self.token}"

    def unauthorized(self, request: httpx.Request) -> httpx.Response:
        return self.json(401, {"message": "Bad credentials", "documentation_url": DOCS,
                               "status": "401"})

    def error_body(self, status: int) -> Any:
        if status in (403, 429):
            return {"message": "You have exceeded a secondary rate limit. Please wait a few "
                    "minutes before you try again.", "documentation_url": DOCS}
        return {"message": "Server Error"} if status >= 500 else {"message": "Not Found"}

    def not_found(self, request: httpx.Request) -> httpx.Response:
        return self.json(404, {"message": "Not Found", "documentation_url": DOCS,
                               "status": "404"})

    def rate_headers(self) -> dict[str, str]:
        return {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "4999",
                "x-ratelimit-used": "1", "x-ratelimit-resource": "core",
                "x-ratelimit-reset": str(int(time.time()) + 3600)}

    def paged(self, request: httpx.Request, items: list[dict[str, Any]]) -> httpx.Response:
        per_page = min(int(request.url.params.get("per_page", "30")), self.per_page_cap)
        page = int(request.url.params.get("page", "1"))
        chunk = items[(page - 1) * per_page: page * per_page]
        headers = {}
        if page * per_page < len(items):
            nxt = request.url.copy_set_param("page", str(page + 1))
            headers["link"] = f'<{nxt}>; rel="next"'
        return self.json(200, chunk, headers)

    def create_issue(self, request: httpx.Request) -> httpx.Response:
        data = self.body(request)
        if not (data.get("title") or "").strip():
            return self.json(422, {"message": "Validation Failed", "documentation_url": DOCS,
                                   "errors": [{"resource": "Issue", "code": "missing_field",
                                               "field": "title"}], "status": "422"})
        n = len(self.issues) + 1
        issue = {"id": 5000 + n, "number": n, "title": data["title"], "body": data.get("body"),
                 "state": "open", "state_reason": None,
                 "labels": [{"name": x} for x in data.get("labels", [])],
                 "html_url": f"https://github.com/{REPO}/issues/{n}",
                 "url": f"{API}/repos/{REPO}/issues/{n}", "created": self.clock()}
        self.issues[n] = issue
        self.comments[n] = []
        return self.json(201, self.public(issue), {"location": issue["url"]})

    def public(self, issue: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in issue.items() if k != "created"}

    def list_issues(self, request: httpx.Request) -> httpx.Response:
        items = sorted(self.issues.values(), key=lambda i: i["number"],
                       reverse=request.url.params.get("direction", "desc") == "desc")
        state = request.url.params.get("state", "open")
        if state != "all":
            items = [i for i in items if i["state"] == state]
        per_page = int(request.url.params.get("per_page", "30"))
        return self.json(200, [self.public(i) for i in items[:per_page]])

    def get_issue(self, request: httpx.Request, n: str) -> httpx.Response:
        issue = self.issues.get(int(n))
        return self.json(200, self.public(issue)) if issue else self.not_found(request)

    def update_issue(self, request: httpx.Request, n: str) -> httpx.Response:
        issue = self.issues.get(int(n))
        if issue is None:
            return self.not_found(request)
        issue.update(self.body(request))
        return self.json(200, self.public(issue))

    def list_comments(self, request: httpx.Request, n: str) -> httpx.Response:
        if int(n) not in self.issues:
            return self.not_found(request)
        return self.paged(request, self.comments[int(n)])

    def add_comment(self, request: httpx.Request, n: str) -> httpx.Response:
        if int(n) not in self.issues:
            return self.not_found(request)
        body = self.body(request).get("body") or ""
        if not body.strip():
            return self.json(422, {"message": "Validation Failed", "documentation_url": DOCS,
                                   "errors": [{"resource": "IssueComment",
                                               "code": "missing_field", "field": "body"}]})
        comment = {"id": 9000 + sum(len(c) for c in self.comments.values()), "body": body}
        self.comments[int(n)].append(comment)
        return self.json(201, comment)

    def search(self, request: httpx.Request) -> httpx.Response:
        q = request.url.params.get("q", "")
        tokens = re.findall(r'"([^"]+)"', q)
        found = [i for i in sorted(self.issues.values(), key=lambda i: i["number"])
                 if self.visible(i["created"]) and all(t in (i["body"] or "") for t in tokens)]
        if "is:open" in q:
            found = [i for i in found if i["state"] == "open"]
        headers = {"x-ratelimit-limit": "30", "x-ratelimit-remaining": "29",
                   "x-ratelimit-resource": "search"}
        return self.json(200, {"total_count": len(found), "incomplete_results": False,
                               "items": [self.public(i) for i in found]}, headers)
