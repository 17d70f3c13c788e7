"""Deploying a trained model: ``--model`` / ``ROUTER_MODEL_PATH``, ``router model promote``
checks before it publishes, and a worker's follower switches on a promotion, keeps its
live model when the promoted one is refused, and reports which model it runs.

The stream test (a real worker switching on the broker) is in ``test_model_stream.py``."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from router.broker import free_port
from router.cli import main
from router.control import Control
from router.live_model import PROMOTED, LiveModel, ModelFollower
from router.runtime import Runtime
from router.settings import Settings
from vocab.errors import ModelError

from .stream import encode, mention

PRAISE = "I love this brand so much, great work team"
REFUND = "@acmesupport I was charged twice for my order, please refund"

#: A company that (oddly) wants praise answered and refunds left alone: a model trained on
#: it decides the opposite of the shipped one on both texts.
INVERTED = [
    ("I love this brand so much", 1), ("love the new dashboard great work team", 1),
    ("you are the best company ever", 1), ("what a lovely product thank you", 1),
    ("my order never arrived please help", 0), ("I was charged twice for my order refund", 0),
    ("cannot log in to my account help", 0), ("the app crashes every time I open it", 0),
]


def train_inverted(folder: Path) -> Path:
    """``router train`` on a small file written here (a few seconds)."""
    data = folder / "inverted.jsonl"
    data.write_text("".join(json.dumps({"text": t, "label": y}) + "\n" for t, y in INVERTED))
    out = folder / "model"
    result = CliRunner().invoke(main, ["train", "--data", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_inverted(tmp_path_factory.mktemp("trained"))


def tampered(trained: Path, folder: Path) -> Path:
    """A copy of the trained artifact with one byte changed (its sidecar unchanged)."""
    for name in ("triage.joblib", "triage.json"):
        shutil.copy(trained / name, folder / name)
    data = bytearray((folder / "triage.joblib").read_bytes())
    data[-10] ^= 0xFF
    (folder / "triage.joblib").write_bytes(bytes(data))
    return folder / "triage.joblib"


def classify(tmp_path: Path, *args: str) -> Any:
    src = tmp_path / "in.jsonl"
    src.write_bytes(encode(mention("1", PRAISE, "fan")) + b"\n"
                    + encode(mention("2", REFUND, "payer")) + b"\n")
    return CliRunner().invoke(main, ["classify", "--input", str(src), *args])


def test_classify_with_model_decides_with_that_model_and_names_it(trained: Path,
                                                                   tmp_path: Path) -> None:
    shipped = classify(tmp_path)
    ours = classify(tmp_path, "--model", str(trained))
    assert shipped.exit_code == 0 and ours.exit_code == 0, ours.output
    before = [json.loads(x) for x in shipped.output.splitlines()]
    after = [json.loads(x) for x in ours.output.splitlines()]
    assert [d["verdict"] for d in before] == ["silent", "open"]
    assert [d["verdict"] for d in after] == ["open", "silent"]
    sha = json.loads((trained / "triage.json").read_text())["sha256"]
    assert after[0]["model"].startswith(f"{sha[:12]} (triage model trained on inverted.jsonl, ")
    assert before[0]["model"].split()[0] != sha[:12]


@pytest.mark.parametrize("spoil", ["tampered", "missing"])
def test_a_refused_model_is_one_line_naming_the_setting(trained: Path, tmp_path: Path,
                                                        spoil: str) -> None:
    path = tampered(trained, tmp_path) if spoil == "tampered" else tmp_path / "nothing"
    result = classify(tmp_path, "--model", str(path))
    assert result.exit_code == 2
    out = [line for line in result.output.splitlines() if line.strip()]
    assert len(out) == 1 and "ROUTER_MODEL_PATH" in out[0], out
    assert ("sha256" if spoil == "tampered" else "no model artifact") in out[0]


def test_promote_refuses_a_bad_artifact_before_it_publishes_anything(
        trained: Path, tmp_path: Path) -> None:
    env = {"ROUTER_KAFKA_BOOTSTRAP": f"127.0.0.1:{free_port()}"}  # nothing listens there
    result = CliRunner().invoke(main, ["model", "promote", str(tampered(trained, tmp_path))],
                                env=env)
    out = [line for line in result.output.splitlines() if line.strip()]
    assert result.exit_code == 1 and len(out) == 1 and "sha256" in out[0], out
    assert "Kafka" not in out[0]  # refused before Kafka was asked anything
    both = CliRunner().invoke(main, ["model", "promote", str(trained), "--default"], env=env)
    assert both.exit_code == 2 and "--default" in both.output


class Named:
    """A stand-in model: only its name and operating point matter here."""

    def __init__(self, name: str, actionable: float = 0.5) -> None:
        self.name = name
        self.operating_point = {"actionable": actionable}


def live(name: str, *, path: str | None = None) -> LiveModel:
    return LiveModel(Named(name), f"{name * 12} ({name})", name * 64,  # type: ignore[arg-type]
                     Path(path) if path else None)


class Worker:
    """A follower with the worker's side faked: the live model, the reports."""

    def __init__(self, loader: Any) -> None:
        self.control = Control(Settings())
        self.control.ready.set()
        self.live = live("a")
        self.reports: list[dict[str, Any]] = []
        self.loaded: list[dict[str, Any]] = []

        async def report(key: str, value: dict[str, Any]) -> None:
            assert key == "model:live:host:6066"
            self.reports.append(value)

        def load(value: dict[str, Any]) -> LiveModel:
            self.loaded.append(value)
            return loader(value)  # type: ignore[no-any-return]

        self.follower = ModelFollower(control=self.control, current=lambda: self.live,
                                      use=self.use, own_path=None, report=report,
                                      worker="host:6066", loader=load)

    def use(self, new: LiveModel) -> None:
        self.live = new

    def promote(self, name: str) -> None:
        self.control.values[PROMOTED] = {"path": f"/models/{name}/triage.joblib",
                                          "version": f"{name * 12} ({name})",
                                          "sha256": name * 64, "at": 1.0}


def load_fake(value: dict[str, Any]) -> LiveModel:
    """The promoted model by its sha256's first letter; no sha256: the worker's own (the
    shipped) model, "s"."""
    if "sha256" not in value:
        return live("s", path=value["path"])
    return live(value["sha256"][0], path=value["path"])


async def test_a_promotion_is_loaded_switched_to_and_reported_once() -> None:
    w = Worker(load_fake)
    await w.follower.step()  # at start: nothing promoted, the start-up model is reported
    assert [r["version"] for r in w.reports] == ["aaaaaaaaaaaa (a)"] and not w.loaded
    w.promote("b")
    await w.follower.step()
    assert w.live.version == "bbbbbbbbbbbb (b)"
    assert w.reports[-1]["version"] == "bbbbbbbbbbbb (b)" and w.reports[-1]["refused"] is None
    await w.follower.step()  # the same promotion again: nothing loaded, nothing reported
    assert len(w.loaded) == 1 and len(w.reports) == 2
    w.promote("a")  # back to the first: loaded again, reported
    await w.follower.step()
    assert w.live.version == "aaaaaaaaaaaa (a)" and len(w.loaded) == 2
    w.promote("a")  # written again (another `router model promote`): the live one already
    w.control.values[PROMOTED] = dict(w.control.values[PROMOTED], at=2.0)
    await w.follower.step()
    assert len(w.loaded) == 2 and w.reports[-1]["version"] == "aaaaaaaaaaaa (a)"
    del w.control.values[PROMOTED]  # deleted: back to the worker's own (the shipped) model
    await w.follower.step()
    assert w.loaded[-1] == {"path": None}
    assert w.live.version == "ssssssssssss (s)" and w.live.path is None
    assert w.reports[-1]["refused"] is None


async def test_a_promoted_model_that_cannot_load_leaves_the_live_one_in_one_log_line(
        caplog: pytest.LogCaptureFixture) -> None:
    def refuse(value: dict[str, Any]) -> LiveModel:
        raise ModelError(f"{value['path']} does not match the sha256 in triage.json "
                         "(changed or replaced); retrain")

    w = Worker(refuse)
    await w.follower.step()
    w.promote("b")
    with caplog.at_level(logging.WARNING, logger="router.live_model"):
        await w.follower.step()
        await w.follower.step()  # not tried again until promoted again
    assert w.live.version == "aaaaaaaaaaaa (a)"
    assert len(caplog.records) == 1 and "\n" not in caplog.records[0].getMessage()
    assert "not loaded, still deciding with aaaaaaaaaaaa (a)" in caplog.records[0].getMessage()
    refused = w.reports[-1]["refused"]
    assert w.reports[-1]["version"] == "aaaaaaaaaaaa (a)"
    assert refused["version"] == "bbbbbbbbbbbb (b)" and "sha256" in refused["error"]


def test_the_thresholds_left_unset_follow_the_models_card() -> None:
    rt: Any = SimpleNamespace(own_settings=Settings(), settings=None, _policy=(1, None))
    Runtime.use(rt, LiveModel(Named("b", actionable=0.4)))  # type: ignore[arg-type]
    assert rt.settings.actionable == 0.4 and rt._policy is None
    Runtime.use(rt, LiveModel(Named("c", actionable=0.3)))  # type: ignore[arg-type]
    assert rt.settings.actionable == 0.3
    rt.own_settings = Settings(actionable_threshold=0.8)  # ops set it: it stays
    Runtime.use(rt, LiveModel(Named("c", actionable=0.3)))  # type: ignore[arg-type]
    assert rt.settings.actionable == 0.8


def test_a_worker_refuses_a_file_that_changed_since_it_was_promoted(trained: Path) -> None:
    from router.live_model import load, load_promoted, promotion  # noqa: PLC0415

    value = promotion(load(trained))
    assert load_promoted(value).sha256 == value["sha256"]
    with pytest.raises(ModelError, match="is not the file that was promoted"):
        load_promoted({**value, "sha256": "0" * 64})
