"""Where this repository's desk harnesses are found: every ``HARNESS`` in ``harnesses/``.

A harness implements ``connectors.testing.Harness`` (the same kit a third-party desk uses in
its own repository); ``test_conformance.py`` runs the kit's cases against each of them. To
add one, add a module to ``harnesses/`` that exposes ``HARNESS``: nothing else is registered
anywhere.
"""

from __future__ import annotations

import importlib
import pkgutil

from connectors.testing import HarnessFactory


def discover() -> dict[str, HarnessFactory]:
    """Every ``HARNESS`` in the ``harnesses`` package, by module name."""
    package = importlib.import_module(f"{__package__}.harnesses")
    found: dict[str, HarnessFactory] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        factory = getattr(module, "HARNESS", None)
        if factory is not None:
            found[info.name] = factory
    return found
