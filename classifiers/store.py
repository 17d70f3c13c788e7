"""Saving and loading model artifacts, with a card and a version check.

An artifact is two files side by side: ``NAME.joblib`` (the pickled model) and ``NAME.json``
(the sidecar: format, sha256 of the joblib file, the library versions it was built with,
the operating point and the model card's numbers). ``load`` reads the sidecar first and
refuses, with a ``vocab.errors.ModelError`` that says how to rebuild, when:

- the sidecar or the artifact is missing;
- the file's sha256 differs from the sidecar's (a changed or swapped file);
- it was built with another scikit-learn version (or another numpy major version);
- a file of its semantic half (``classifiers.semantic``: the MiniLM tokenizer and vector
  table beside it) is missing or differs from the sha256 in the sidecar.

Only trusted artifacts are unpickled: the package's own ``artifacts/`` directory, or a path
the user names explicitly (``--model PATH``). A pickle can run code, so never point this at
a file you did not build.
"""

from __future__ import annotations

import json
import platform
import shutil
from importlib import resources
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import scipy
import sklearn

from classifiers.digest import sha256
from vocab.errors import ModelError

FORMAT = 1
DEFAULT_NAME = "triage"
REBUILD_SHIPPED = "python -m classifiers.build --shared ../shared/data"
REBUILD_OWN = "router train --data FILE --out DIR"
#: Hex digits of the sha256 that lead a model version (48 bits: no collision among a
#: company's models).
VERSION_DIGITS = 12


def artifacts_dir() -> Path:
    """The package's own artifacts directory."""
    return Path(str(resources.files("classifiers").joinpath("artifacts")))


def library_versions() -> dict[str, str]:
    return {
        "scikit-learn": sklearn.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "joblib": joblib.__version__,
        "python": platform.python_version(),
    }


def sidecar_path(path: Path) -> Path:
    return path.with_suffix(".json")


def save(model: Any, path: Path, card: dict[str, Any]) -> Path:
    """Write ``path`` (joblib) and its JSON sidecar; returns the joblib path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    joblib.dump(model, path, compress=3)
    semantic: dict[str, str] = {}
    if getattr(model, "semantic", None) is not None:
        from classifiers.semantic import FILES  # noqa: PLC0415

        source = model.__dict__.get("_folder")
        for name in FILES:
            if source is not None and Path(source).resolve() != path.parent.resolve():
                shutil.copyfile(Path(source) / name, path.parent / name)
            semantic[name] = sha256(path.parent / name)
    sidecar = {
        "format": FORMAT,
        "artifact": path.name,
        "sha256": sha256(path),
        "versions": library_versions(),
        "operating_point": getattr(model, "operating_point", {}),
        "semantic_files": semantic,
        "card": card,
    }
    sidecar_path(path).write_text(json.dumps(sidecar, indent=2, sort_keys=True) + "\n", "utf-8")
    return path


def read_sidecar(path: Path) -> dict[str, Any]:
    side = sidecar_path(path)
    if not side.is_file():
        raise ModelError(f"{side} is missing, so {path.name} cannot be trusted; {_how(path)}")
    try:
        meta = json.loads(side.read_text("utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(f"{side} is not readable JSON ({exc}); {_how(path)}") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ModelError(f"{side} has an unknown format; {_how(path)}")
    return meta


def _how(path: Path) -> str:
    if path.parent.resolve() == artifacts_dir().resolve():
        return f"rebuild the shipped model with `{REBUILD_SHIPPED}`"
    return f"retrain with `{REBUILD_OWN}` (or `{REBUILD_SHIPPED}` for the default model)"


def check(path: Path) -> dict[str, Any]:
    """Verify an artifact without unpickling it; returns its sidecar."""
    if not path.is_file():
        raise ModelError(f"no model artifact at {path}; {_how(path)}")
    meta = read_sidecar(path)
    built = meta.get("versions", {})
    now = library_versions()
    if built.get("scikit-learn") != now["scikit-learn"]:
        raise ModelError(
            f"{path.name} was built with scikit-learn {built.get('scikit-learn')} but "
            f"{now['scikit-learn']} is installed; {_how(path)}"
        )
    if str(built.get("numpy", "")).split(".")[0] != now["numpy"].split(".")[0]:
        raise ModelError(
            f"{path.name} was built with numpy {built.get('numpy')} but {now['numpy']} is "
            f"installed; {_how(path)}"
        )
    if sha256(path) != meta.get("sha256"):
        raise ModelError(
            f"{path.name} does not match the sha256 in {sidecar_path(path).name} "
            f"(changed or replaced); {_how(path)}"
        )
    return meta


def version(meta: dict[str, Any]) -> str:
    """The version a decision records: the artifact's sha256 prefix (what identifies it),
    then the card's name and date when it has them, e.g.
    ``3f9a1c2b7d4e (triage model trained on history.csv, 2026-12-07)``."""
    card = meta.get("card")
    card = card if isinstance(card, dict) else {}
    about = [str(card[k]) for k in ("name", "date") if card.get(k)]
    digest = str(meta.get("sha256", ""))[:VERSION_DIGITS] or "unknown"
    return f"{digest} ({', '.join(about)})" if about else digest


def target(path: Path | str | None) -> Path:
    """The joblib file ``load`` reads: the shipped one, the named file, or a folder's."""
    found = artifacts_dir() / f"{DEFAULT_NAME}.joblib" if path is None else Path(path)
    return found / f"{DEFAULT_NAME}.joblib" if found.is_dir() else found


def load(path: Path | str | None = None) -> Any:
    """Load the shipped model (``path=None``) or an artifact the user names explicitly."""
    return load_with_meta(path)[0]


def load_with_meta(path: Path | str | None = None) -> tuple[Any, dict[str, Any]]:
    """``load``, with the artifact's checked sidecar (``version(meta)`` names it)."""
    file = target(path)
    meta = check(file)
    return _unpickle(file, meta), meta


def _unpickle(target: Path, meta: dict[str, Any]) -> Any:
    try:
        model = joblib.load(target)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad artifact
        raise ModelError(f"could not load {target} ({exc}); {_how(target)}") from exc
    if getattr(model, "semantic", None) is not None:
        from classifiers.semantic import check_files  # noqa: PLC0415

        check_files(target.parent, meta.get("semantic_files") or {}, _how(target))
        try:
            model.attach(target.parent)
        except Exception as exc:  # noqa: BLE001 - a bad tokenizer or table is a bad artifact
            raise ModelError(f"could not load the semantic half of {target} ({exc}); "
                             f"{_how(target)}") from exc
    return model
