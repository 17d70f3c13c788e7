"""The desk contract of ``connectors.testing``, run against every harness in ``harnesses/``.

This is how a third party runs it against its own desk; here one class covers the nine
harnesses, parametrized by their module names. Adding a desk to this suite is one file:
``harnesses/<name>.py`` exposing ``HARNESS`` (see ``harness.py``).
"""

from __future__ import annotations

from connectors.testing import desk_test_class

from .harness import discover

TestDeskConformance = desk_test_class(discover())
