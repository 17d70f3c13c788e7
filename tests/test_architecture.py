"""The packages' allowed imports (docs/architecture.md), read from the source with ``ast``:
module-level and function-level imports both count, so a lazy import cannot hide a ring.

    vocab        imports none of ours (the shared vocabulary: records, verdicts, errors)
    classifiers  vocab
    connectors   vocab                   (a third party's desk or network needs no router)
    router       vocab, classifiers, connectors
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = ("vocab", "classifiers", "connectors", "router", "tests", "bench")
ALLOWED = {
    "vocab": set(),
    "classifiers": {"vocab"},
    "connectors": {"vocab"},
    "router": {"vocab", "classifiers", "connectors"},
}


def imports(path: Path, package: str) -> list[tuple[int, str]]:
    """(line, top-level package) of every import of ours in one file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    here = path.relative_to(ROOT).with_suffix("").parts
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this file's package
                base = here[: len(here) - node.level]
                names = [".".join((*base, node.module or ""))]
            else:
                names = [node.module or ""]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top in OURS and top != package:
                found.append((node.lineno, top))
    return found


def violations(package: str) -> list[str]:
    out = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for line, top in imports(path, package):
            if top not in ALLOWED[package]:
                out.append(f"{path.relative_to(ROOT)}:{line} imports {top}")
    return out


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_each_package_imports_only_what_the_architecture_allows(package: str) -> None:
    assert violations(package) == []


def test_the_check_sees_a_forbidden_import_wherever_it_hides(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch
                                                              ) -> None:
    """A lazy import inside a function, and a relative import that climbs out of its
    package, are both found (a contract that cannot fail protects nothing)."""
    pkg = tmp_path / "connectors" / "desks"
    pkg.mkdir(parents=True)
    (pkg / "sneaky.py").write_text(
        "def f():\n    from router.settings import Settings\n    return Settings\n")
    (tmp_path / "vocab").mkdir()
    (tmp_path / "vocab" / "climb.py").write_text("from ..router import policy\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    assert violations("connectors") == ["connectors/desks/sneaky.py:2 imports router"]
    assert violations("vocab") == ["vocab/climb.py:1 imports router"]
