"""GitHub Issues through its fake."""

from __future__ import annotations

from pathlib import Path

from connectors.desks.github import GitHubConfig, GitHubIssues
from connectors.testing import SeenComment

from ..fakes.github import API, REPO, FakeGitHub
from ._base import FAST, FakeHarness

STATES = {"new": ("open", None), "open": ("open", None), "pending": ("open", None),
          "solved": ("closed", "completed"), "closed": ("closed", "not_planned")}


class GitHubHarness(FakeHarness):
    key = "github"
    secret = "github_pat_0123456789abcdef"
    internal_notes = "prefixed"

    def __init__(self, tmp: Path) -> None:
        self.gh = FakeGitHub(self.secret)
        super().__init__(tmp, self.gh)

    def make_desk(self, *, bad_credentials: bool = False, **settings: object) -> GitHubIssues:
        config = GitHubConfig(
            repository=REPO, api_url=API,
            token="wrong-token-xyz" if bad_credentials else self.secret,
            state_path=self.state_path(), **{**FAST, **settings})
        return GitHubIssues(config, transport=self.gh.transport())

    def set_status(self, ticket_id: str, status: str) -> None:
        state, reason = STATES[status]
        issue = self.gh.issues[int(ticket_id)]
        issue.update(state=state, state_reason=reason)
        labels = [x for x in issue["labels"] if x["name"] != "waiting-for-customer"]
        if status == "pending":  # GitHub has no pending state: the desk reads a label
            labels.append({"name": "waiting-for-customer"})
        issue["labels"] = labels

    def count_tickets(self) -> int:
        return len(self.gh.issues)

    def comments(self, ticket_id: str) -> list[SeenComment]:
        return [SeenComment(True, c["body"]) for c in self.gh.comments[int(ticket_id)]]

    def linked(self, child_id: str, parent_id: str) -> bool:
        return any(f"#{parent_id}" in c["body"] for c in self.gh.comments[int(child_id)])


HARNESS = GitHubHarness
