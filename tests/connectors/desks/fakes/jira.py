"""A stateful fake of Jira Cloud REST v3 and the Service Management API.

As developer.atlassian.com documents: basic auth email:token (401 text "Client must be
authenticated to access this resource."), 400 ``{"errorMessages": [], "errors": {...}}``
for the platform API and ``{"errorMessage": ...}`` for servicedeskapi, ``/search/jql``
with ``nextPageToken`` and an index that lags (``index_delay``), comments with properties
and ``startAt``/``total`` pages, issue links, 429 with ``Retry-After`` and
``X-RateLimit-*``.
"""

from __future__ import annotations

import base64
import itertools
import re
from typing import Any

import httpx

from .base import FakeVendor

BASE = "https://acme.atlassian.net"
STATUSES = {
    "new": ("Open", "new"), "open": ("In Progress", "indeterminate"),
    "pending": ("Waiting for customer", "indeterminate"), "solved": ("Resolved", "done"),
    "closed": ("Closed", "done"),
}
PAGE = 2


class FakeJira(FakeVendor):
    name = "jira"

    def __init__(self, email: str, token: str) -> None:
        super().__init__()
        self.credentials = "Basic " + base64.b64encode(f"{email}:{token}".encode()).decode()
        self.ids = itertools.count(10001)
        self.issues: dict[str, dict[str, Any]] = {}
        self.links: list[tuple[str, str, str]] = []  # (type, outward, inward)
        self.add_route("POST", r"/rest/api/3/issue", self.create_issue)
        self.add_route("POST", r"/rest/servicedeskapi/request", self.create_request)
        self.add_route("GET", r"/rest/servicedeskapi/request", self.own_requests)
        self.add_route("GET", r"/rest/api/3/issue/(?P<key>[A-Z]+-\d+)", self.get_issue)
        self.add_route("PUT", r"/rest/api/3/issue/(?P<key>[A-Z]+-\d+)", self.edit_issue)
        self.add_route("PUT", r"/rest/api/3/issue/(?P<key>[A-Z]+-\d+)/properties/(?P<prop>[^/]+)",
                       self.set_property)
        self.add_route("POST", r"/rest/api/3/search/jql", self.search)
        self.add_route("GET", r"/rest/api/3/issue/(?P<key>[A-Z]+-\d+)/comment", self.comments_of)
        self.add_route("POST", r"/rest/api/3/issue/(?P<key>[A-Z]+-\d+)/comment", self.add_comment)
        self.add_route("POST", r"/rest/api/3/issueLink", self.add_link)
        self.mark("create", "POST", r"/rest/(api/3/issue|servicedeskapi/request)")
        self.mark("comment", "POST", r"/rest/api/3/issue/[A-Z]+-\d+/comment")

    def authorized(self, request: httpx.Request) -> bool:
        return request.headers.get("authorization") == self.credentials

    def unauthorized(self, request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, text="Client must be authenticated to access this resource.",
                              headers={"WWW-Authenticate": 'OAuth realm="https%3A%2F%2Facme"'})

    def error_body(self, status: int) -> Any:
        if status == 429:
            return {"errorMessages": ["Rate limit exceeded."], "errors": {}}
        return {"errorMessages": ["Internal server error"], "errors": {}}

    def not_found(self, request: httpx.Request) -> httpx.Response:
        return self.json(404, {"errorMessages": ["Issue does not exist or you do not have "
                                                 "permission to see it."], "errors": {}})

    def rate_headers(self) -> dict[str, str]:
        return {"X-RateLimit-Limit": "100", "X-RateLimit-Remaining": "99",
                "X-RateLimit-NearLimit": "false"}

    # --- issues ---------------------------------------------------------------------------

    def _new(self, project: str, summary: str, description: Any, labels: list[str],
             properties: dict[str, Any]) -> dict[str, Any]:
        n = next(self.ids)
        key = f"{project}-{n - 10000}"
        name, category = STATUSES["new"]
        issue = {"id": str(n), "key": key, "self": f"{BASE}/rest/api/3/issue/{n}",
                 "created": self.clock(),
                 "fields": {"summary": summary, "description": description,
                            "labels": list(labels),
                            "status": {"name": name, "statusCategory": {"key": category}}},
                 "properties": dict(properties), "comments": []}
        self.issues[key] = issue
        return issue

    def create_issue(self, request: httpx.Request) -> httpx.Response:
        data = self.body(request)
        fields = data.get("fields", {})
        if not (fields.get("summary") or "").strip():
            return self.json(400, {"errorMessages": [],
                                   "errors": {"summary": "You must specify a summary of the "
                                              "issue."}})
        desc = fields.get("description")
        if desc is not None and not (isinstance(desc, dict) and desc.get("type") == "doc"
                                     and desc.get("version") == 1):
            return self.json(400, {"errorMessages": [],
                                   "errors": {"description": "Operation value must be an "
                                              "Atlassian Document (see the Atlassian Document "
                                              "Format)"}})
        props = {p["key"]: p["value"] for p in data.get("properties", [])}
        issue = self._new(fields["project"]["key"], fields["summary"], desc,
                          fields.get("labels", []), props)
        return self.json(201, {"id": issue["id"], "key": issue["key"], "self": issue["self"]})

    def create_request(self, request: httpx.Request) -> httpx.Response:
        data = self.body(request)
        values = data.get("requestFieldValues", {})
        if not (values.get("summary") or "").strip():
            return self.json(400, {"errorMessage": "Summary: You must specify a summary of "
                                   "the issue.", "i18nErrorMessage": {
                                       "i18nKey": "sd.validation.summary.required",
                                       "parameters": []}})
        if not data.get("isAdfRequest") and isinstance(values.get("description"), dict):
            return self.json(400, {"errorMessage": "Description must be a string"})
        issue = self._new("SUP", values["summary"], values.get("description"), [], {})
        issue["via_portal"] = True
        status = issue["fields"]["status"]
        return self.json(201, {"issueId": issue["id"], "issueKey": issue["key"],
                               "requestTypeId": data.get("requestTypeId"),
                               "serviceDeskId": data.get("serviceDeskId"),
                               "currentStatus": {"status": status["name"],
                                                 "statusCategory": "NEW"},
                               "_links": {"web": f"{BASE}/servicedesk/customer/portal/1/"
                                                 f"{issue['key']}"}})

    def own_requests(self, request: httpx.Request) -> httpx.Response:
        """Newest first; the description comes back as text, as the portal shows it."""
        from connectors.desks.render import adf_text

        mine = [i for i in self.issues.values() if i.get("via_portal")]
        mine.sort(key=lambda i: i["created"], reverse=True)
        limit = int(request.url.params.get("limit", "50"))
        values = [{"issueId": i["id"], "issueKey": i["key"],
                   "requestFieldValues": [
                       {"fieldId": "summary", "label": "Summary",
                        "value": i["fields"]["summary"]},
                       {"fieldId": "description", "label": "Description",
                        "value": adf_text(i["fields"]["description"])}]}
                  for i in mine[:limit]]
        return self.json(200, {"size": len(values), "start": 0, "limit": limit,
                               "isLastPage": len(mine) <= limit, "values": values})

    def get_issue(self, request: httpx.Request, key: str) -> httpx.Response:
        issue = self.issues.get(key)
        if issue is None:
            return self.not_found(request)
        return self.json(200, {k: issue[k] for k in ("id", "key", "self", "fields")})

    def edit_issue(self, request: httpx.Request, key: str) -> httpx.Response:
        issue = self.issues.get(key)
        if issue is None:
            return self.not_found(request)
        for op in self.body(request).get("update", {}).get("labels", []):
            if "add" in op and op["add"] not in issue["fields"]["labels"]:
                issue["fields"]["labels"].append(op["add"])
        return httpx.Response(204)

    def set_property(self, request: httpx.Request, key: str, prop: str) -> httpx.Response:
        issue = self.issues.get(key)
        if issue is None:
            return self.not_found(request)
        existed = prop in issue["properties"]
        issue["properties"][prop] = self.body(request)
        return httpx.Response(200 if existed else 201)

    def search(self, request: httpx.Request) -> httpx.Response:
        data = self.body(request)
        jql = data["jql"]
        label = re.search(r'labels = "([^"]+)"', jql)
        if label is None:
            return self.json(400, {"errorMessages": [f"Error in the JQL Query: {jql}"],
                                   "errors": {}})
        found = [i for i in self.issues.values()
                 if label.group(1) in i["fields"]["labels"] and self.visible(i["created"])]
        if "statusCategory != Done" in jql:
            found = [i for i in found if i["fields"]["status"]["statusCategory"]["key"] != "done"]
        limit = int(data.get("maxResults", 50))
        return self.json(200, {"issues": [{"id": i["id"], "key": i["key"],
                                           "fields": {"summary": i["fields"]["summary"],
                                                      "status": i["fields"]["status"],
                                                      "labels": i["fields"]["labels"]}}
                                          for i in found[:limit]],
                               "isLast": len(found) <= limit})

    def comments_of(self, request: httpx.Request, key: str) -> httpx.Response:
        issue = self.issues.get(key)
        if issue is None:
            return self.not_found(request)
        start = int(request.url.params.get("startAt", "0"))
        expand = "properties" in request.url.params.get("expand", "")
        page = issue["comments"][start:start + PAGE]
        return self.json(200, {"startAt": start, "maxResults": PAGE,
                               "total": len(issue["comments"]),
                               "comments": [{k: v for k, v in c.items()
                                             if expand or k != "properties"} for c in page]})

    def add_comment(self, request: httpx.Request, key: str) -> httpx.Response:
        issue = self.issues.get(key)
        if issue is None:
            return self.not_found(request)
        data = self.body(request)
        body = data.get("body")
        if not (isinstance(body, dict) and body.get("type") == "doc"):
            return self.json(400, {"errorMessages": [],
                                   "errors": {"comment": "Comment body can not be empty!"}})
        comment = {"id": str(len(issue["comments"]) + 1), "body": body,
                   "properties": data.get("properties", []), "jsdPublic": True}
        for p in comment["properties"]:
            if p["key"] == "sd.public.comment":
                comment["jsdPublic"] = not p["value"].get("internal", False)
        issue["comments"].append(comment)
        return self.json(201, comment)

    def add_link(self, request: httpx.Request) -> httpx.Response:
        data = self.body(request)
        kind = data["type"]["name"]
        if kind not in ("Relates", "Problem/Incident", "Blocks"):
            return self.json(404, {"errorMessages": [f"No issue link type with name '{kind}' "
                                                     "found."], "errors": {}})
        outward, inward = data["outwardIssue"]["key"], data["inwardIssue"]["key"]
        if outward not in self.issues or inward not in self.issues:
            return self.not_found(request)
        if (kind, outward, inward) not in self.links:
            self.links.append((kind, outward, inward))
        return httpx.Response(201)

    def set_status(self, key: str, status: str) -> None:
        name, category = STATUSES[status]
        self.issues[key]["fields"]["status"] = {"name": name, "statusCategory": {"key": category}}
