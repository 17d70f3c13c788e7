"""Errors raised by connectors, mapped at the boundary from HTTP and network failures.

    ConnectorError                 root of every connector error
    ├── RetriableError             try again later (429, 5xx, timeouts); carries retry_after
    ├── FatalError                 do not retry (bad credentials, validation, other 4xx)
    │   └── ConfigError            the connector's settings are missing or wrong
    ├── SkippableError             this item cannot be processed; skip it, keep going
    │   └── InvalidPayload         a social payload that cannot become a Mention
    └── NotSupported               the system has no such feature (e.g. ticket links)

Messages never contain tokens, passwords or secret-bearing URLs: use ``safe_url`` to print a
URL without its query string and credentials.
"""

from __future__ import annotations

import httpx

from vocab.errors import RouterError


class ConnectorError(RouterError):
    """Root of every error a connector raises."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class RetriableError(ConnectorError):
    """A transient failure: retry after ``retry_after`` seconds (or a backoff if None)."""

    def __init__(
        self, message: str, *, retry_after: float | None = None, status_code: int | None = None
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after


class FatalError(ConnectorError):
    """A failure that retrying cannot fix (bad credentials, validation, not found...)."""


class ConfigError(FatalError):
    """The connector's settings are missing or invalid; the message names the fix."""


class SkippableError(ConnectorError):
    """This one item cannot be processed; record why and move on."""


class InvalidPayload(SkippableError):
    """A social network payload that cannot be turned into a Mention."""


class NotSupported(ConnectorError):
    """The remote system does not offer this operation."""


def safe_url(url: httpx.URL | str) -> str:
    """The URL without userinfo and query string, safe to put in a log or an error."""
    u = httpx.URL(str(url))
    return str(u.copy_with(query=None, fragment=None, username=None, password=None))
