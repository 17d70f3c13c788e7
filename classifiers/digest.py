"""The one file-hash helper: the SHA-256 of the artifact (``classifiers.store``) and of the
semantic files beside it (``classifiers.semantic``). A leaf module, so that the store, which
checks the semantic files, and the semantic half, which checks its ONNX weights, need not
import each other."""

from __future__ import annotations

import hashlib
from pathlib import Path


def sha256(path: Path) -> str:
    """The file's SHA-256, hex (read in 1 MB chunks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
