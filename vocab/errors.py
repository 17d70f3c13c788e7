"""The project's exception root.

    RouterError                      root of every error the project raises on purpose
    ├── SettingsError                a bad setting or flag; the message names the fix
    ├── BadInput                     a message that cannot become a record (goes to a DLQ)
    ├── BrokerError                  the local Kafka broker could not be prepared or started
    ├── ModelError                   a classifier artifact is missing, untrusted or mismatched
    └── connectors.errors.ConnectorError   (see connectors/errors.py)
"""

from __future__ import annotations


class RouterError(Exception):
    """Root of every error the project raises on purpose.

    A credential URL in its message (``SASL_SSL://user:pass@host``, e.g. a Kafka bootstrap)
    is masked to ``SASL_SSL://***@host``: these messages are printed and logged.
    """

    def __init__(self, *args: object) -> None:
        from vocab.redact import mask_url

        super().__init__(*(mask_url(a) if isinstance(a, str) else a for a in args))


class SettingsError(RouterError):
    """A bad setting or flag; the message says which and how to fix it."""


class BadInput(RouterError):
    """A message that cannot become a record; ``reason`` is what the dead-letter topic gets."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BrokerError(RouterError):
    """The local Kafka broker could not be fetched, formatted, started or reached."""


class ModelError(RouterError):
    """A classifier artifact is missing, untrusted, or built with another library version."""
