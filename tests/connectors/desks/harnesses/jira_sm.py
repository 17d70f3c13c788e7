"""Jira Service Management (servicedeskapi requests) through the Jira fake."""

from __future__ import annotations

from .jira import JiraHarness


class JiraServiceManagementHarness(JiraHarness):
    mode = "jsm"


HARNESS = JiraServiceManagementHarness
