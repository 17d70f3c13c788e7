"""One module per desk harness; each exposes ``HARNESS``, a ``connectors.testing.Harness``."""
