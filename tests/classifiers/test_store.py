"""Artifacts: only trusted files load, and a version mismatch is refused with the fix."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import classifiers
from classifiers.semantic import FILES
from classifiers.store import artifacts_dir, check, load
from vocab.errors import ModelError


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    for name in ("triage.joblib", "triage.json", *FILES):
        shutil.copy(artifacts_dir() / name, tmp_path / name)
    return tmp_path / "triage.joblib"


def _tamper(path: Path, **changes: object) -> None:
    side = path.with_suffix(".json")
    meta = json.loads(side.read_text())
    for key, value in changes.items():
        if key == "sklearn":
            meta["versions"]["scikit-learn"] = value
        else:
            meta[key] = value
    side.write_text(json.dumps(meta))


def test_shipped_artifact_passes_its_check() -> None:
    meta = check(artifacts_dir() / "triage.joblib")
    assert meta["operating_point"]["actionable"] > 0


def test_explicit_path_loads(copy: Path) -> None:
    assert classifiers.load(copy).score(["hello"])[0].reasons
    assert classifiers.load(copy.parent).operating_point  # a folder works too


def test_other_sklearn_version_is_refused_with_the_rebuild_command(copy: Path) -> None:
    _tamper(copy, sklearn="0.24.2")
    with pytest.raises(ModelError, match=r"scikit-learn 0\.24\.2") as err:
        load(copy)
    assert "router train" in str(err.value) or "classifiers.build" in str(err.value)


def test_changed_file_is_refused(copy: Path) -> None:
    _tamper(copy, sha256="0" * 64)
    with pytest.raises(ModelError, match="sha256"):
        load(copy)


def test_missing_sidecar_is_refused(copy: Path) -> None:
    copy.with_suffix(".json").unlink()
    with pytest.raises(ModelError, match="missing"):
        load(copy)


def test_missing_artifact_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="router train"):
        load(tmp_path / "nothing.joblib")


@pytest.mark.parametrize("name", FILES)
def test_a_changed_semantic_file_is_refused_before_it_is_read(copy: Path, name: str) -> None:
    path = copy.parent / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte in the middle of the weights/tokenizer
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=f"{name} does not match the sha256") as err:
        load(copy)
    assert "classifiers.build" in str(err.value) or "router train" in str(err.value)


@pytest.mark.parametrize("name", FILES)
def test_a_missing_semantic_file_is_refused(copy: Path, name: str) -> None:
    (copy.parent / name).unlink()
    with pytest.raises(ModelError, match=f"{name} is missing"):
        load(copy)


def test_a_model_saved_elsewhere_carries_its_semantic_files(copy: Path, tmp_path: Path) -> None:
    from classifiers.store import save  # noqa: PLC0415

    model = load(copy)
    target = tmp_path / "elsewhere" / "triage.joblib"
    save(model, target, model.card)
    again = load(target)
    text = ["is there a phone number where I can talk to a rep"]
    assert again.score(text)[0].actionable == pytest.approx(model.score(text)[0].actionable)


def test_loading_and_scoring_touch_no_network(copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket  # noqa: PLC0415

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network touched: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    model = load(copy)
    assert model.semantic is not None
    assert model.score(["my parcel never arrived, can you help?"])[0].actionable > 0.5


def test_a_process_with_no_network_at_all_loads_and_scores(copy: Path) -> None:
    """The in-process check above sees Python's sockets only; the tokenizer is Rust. In a
    network namespace of its own (no interface but a down loopback), nothing can be fetched
    by anyone: the model must still load and score."""
    import shutil as sh  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    if sh.which("unshare") is None or subprocess.run(
            ["unshare", "-rn", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare -rn (a user and network namespace) is not allowed here")
    code = ("import classifiers; m = classifiers.load(%r); "
            "s = m.score(['is there a number I can call about my bill'])[0]; "
            "assert m.semantic is not None; print(round(s.actionable, 3))" % str(copy))
    done = subprocess.run(["unshare", "-rn", sys.executable, "-c", code],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert 0.0 <= float(done.stdout.strip()) <= 1.0


def test_an_artifact_by_path_carries_the_version_decisions_record(copy: Path) -> None:
    loaded = classifiers.load_artifact(copy.parent)
    digest = check(copy)["sha256"]
    assert loaded.sha256 == digest and loaded.path == copy.resolve()
    assert loaded.version == f"{digest[:12]} (escalation-router default triage model)"
    # the same bytes are the same version, wherever they live
    assert classifiers.load_artifact(None).version == loaded.version
    assert classifiers.load_artifact(None).path is None


def test_the_version_names_the_cards_date_when_it_has_one() -> None:
    from classifiers.store import version  # noqa: PLC0415

    meta = {"sha256": "ab" * 32, "card": {"name": "ours", "date": "2026-12-07"}}
    assert version(meta) == "abababababab (ours, 2026-12-07)"
    assert version({"sha256": "cd" * 32}) == "cdcdcdcdcdcd"


@pytest.mark.parametrize("spoil", ["tampered", "missing", "no sidecar"])
def test_a_refused_artifact_by_path_is_one_line(copy: Path, spoil: str) -> None:
    if spoil == "tampered":
        data = bytearray(copy.read_bytes())
        data[-10] ^= 0xFF
        copy.write_bytes(bytes(data))
    elif spoil == "missing":
        copy.unlink()
    else:
        copy.with_suffix(".json").unlink()
    with pytest.raises(ModelError) as err:
        classifiers.load_artifact(copy)
    message = str(err.value)
    assert "\n" not in message and str(copy.name) in message
    assert {"tampered": "sha256", "missing": "no model artifact",
            "no sidecar": "missing"}[spoil] in message
