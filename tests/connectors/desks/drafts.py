"""Mentions and drafts for the desk tests (the conformance kit's, plus a hostile text)."""

from __future__ import annotations

from connectors.testing import draft, mention

__all__ = ["HOSTILE", "draft", "mention"]

HOSTILE = '<script>alert("x")</script> **bold** [click](javascript:alert(1)) @octocat & co'
