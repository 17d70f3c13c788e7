"""`router train` then `router evaluate` on a small generated file, as ops would run them."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from classifiers.cli import evaluate_command, train_command


def test_train_then_evaluate_round_trip(small_csv: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    model_dir = tmp_path / "model"
    result = runner.invoke(
        train_command,
        ["--data", str(small_csv), "--out", str(model_dir), "--category-column", "category"],
    )
    assert result.exit_code == 0, result.output
    assert (model_dir / "triage.joblib").is_file() and (model_dir / "triage.json").is_file()
    card = (model_dir / "MODEL_CARD.md").read_text()
    assert "router train --data" in card and "scikit-learn" in card

    report = tmp_path / "report"
    result = runner.invoke(
        evaluate_command,
        [
            "--data",
            str(small_csv),
            "--model",
            str(model_dir),
            "--out",
            str(report),
            "--thresholds",
            "0.2:0.8:0.1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "*" in result.output and "precision" in result.output
    for name in ("pr_curve.png", "calibration.png"):
        assert (report / name).read_bytes()[:4] == b"\x89PNG"
    numbers = json.loads((report / "evaluation.json").read_text())
    assert numbers["chosen"]["threshold"] == numbers["operating_point"]
    assert {r["threshold"] for r in numbers["thresholds"]} >= {0.2, 0.5, 0.8}


def test_jsonl_input_and_shipped_model(tmp_path: Path) -> None:
    data = tmp_path / "few.jsonl"
    rows = [
        {"text": "@acmecorp my order never arrived", "label": 1},
        {"text": "@acmecorp refund still missing", "label": "yes"},
        {"text": "love this brand", "label": 0},
        {"text": "nice weather today", "label": "false"},
    ]
    data.write_text("\n".join(json.dumps(r) for r in rows))
    result = CliRunner().invoke(
        evaluate_command, ["--data", str(data), "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 0, result.output


def test_bad_flags_give_one_line_fixes(small_csv: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(evaluate_command, ["--data", str(small_csv), "--thresholds", "0.1-0.9"])
    assert bad.exit_code == 2 and "START:STOP:STEP" in bad.output
    missing = tmp_path / "nolabel.csv"
    missing.write_text("text,verdict\nhello,1\n")
    bad = runner.invoke(train_command, ["--data", str(missing), "--out", str(tmp_path / "m")])
    assert bad.exit_code == 2 and "no column 'label'" in bad.output
    bad = runner.invoke(
        train_command,
        ["--data", str(small_csv), "--category-column", "nope", "--out", str(tmp_path)],
    )
    assert bad.exit_code == 2 and "no column 'nope'" in bad.output


def test_evaluate_per_category_suggests_thresholds_the_router_accepts(tmp_path: Path) -> None:
    """Ops tune ROUTER_CATEGORY_THRESHOLDS from this table: the figures per category the
    model assigns add up to the file, and the printed setting is one the router takes."""
    import csv

    from router.settings import Settings
    from tests.classifiers.conftest import labelled_rows

    data = tmp_path / "holdout.csv"
    rows = labelled_rows(copies=4, seed=3)
    # this company does not count half of its billing posts as actionable: billing needs a
    # threshold of its own
    billing = [r for r in rows if r["category"] == "billing" and r["label"] == "1"]
    for r in billing[::2]:
        r["label"] = "0"
    with open(data, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["text", "label", "category"])
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "report"
    result = CliRunner().invoke(
        evaluate_command,
        ["--data", str(data), "--out", str(out), "--category-column", "category"],
    )
    assert result.exit_code == 0, result.output
    assert "per category the model assigned" in result.output
    report = json.loads((out / "evaluation.json").read_text())["per_category"]
    by_cat = report["by_predicted_category"]
    assert sum(c["rows"] for c in by_cat.values()) == len(rows)
    assert sum(c["actionable"] for c in by_cat.values()) == sum(int(r["label"]) for r in rows)
    assert 0.5 < report["category_accuracy"] <= 1.0
    assert report["setting"] in result.output
    value = report["setting"].split("=", 1)[1].strip("'")
    applied = Settings(category_thresholds=json.loads(value))
    for category, threshold in json.loads(value).items():
        assert by_cat[category]["suggested_threshold"] == threshold
        assert applied.threshold_for(category) == threshold


def test_headerless_csv_says_there_is_no_header_row(small_csv: Path, tmp_path: Path) -> None:
    """The shared complaints file has no header: its first record is not column names."""
    headless = tmp_path / "headless.csv"
    lines = small_csv.read_text(encoding="utf-8").splitlines()[1:]  # drop the header
    headless.write_text("\n".join(f"{n},2263108111512780{n},{line}"
                                  for n, line in enumerate(lines)) + "\n", encoding="utf-8")
    result = CliRunner().invoke(
        evaluate_command, ["--data", str(headless), "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 2
    error = [line for line in result.output.splitlines() if line.startswith("Error")]
    assert len(error) == 1
    assert "no header row: the first line looks like data" in error[0]
    assert "add a header with a 'text' and a label column" in error[0]
    assert "22631081115127" not in error[0]  # the data is not listed as column names


def test_evaluate_a_candidate_beside_the_live_model(small_csv: Path, tmp_path: Path) -> None:
    """Live vs candidate on the same labels: a routed table each (precision, recall, volume,
    review share), one PR chart with both, and JSON ops can diff."""
    runner = CliRunner()
    model_dir = tmp_path / "model"
    extra = tmp_path / "more.jsonl"
    extra.write_text('{"text": "@acme where is my parcel", "label": 1}\n'
                     '{"text": "what a game last night", "label": 0}\n', "utf-8")
    trained = runner.invoke(train_command, ["--data", str(small_csv), "--data", str(extra),
                                            "--out", str(model_dir)])
    assert trained.exit_code == 0, trained.output
    card = (model_dir / "MODEL_CARD.md").read_text()
    assert str(extra) in card  # both files are named where the card says what it learnt from
    report = tmp_path / "report"
    result = runner.invoke(evaluate_command, [
        "--data", str(small_csv), "--candidate", str(model_dir), "--out", str(report),
        "--thresholds", "0.3:0.7:0.2"])
    assert result.exit_code == 0, result.output
    assert "live: shipped" in result.output and f"candidate: {model_dir}" in result.output
    assert result.output.count("review") >= 2
    numbers = json.loads((report / "evaluation.json").read_text())
    live, candidate = numbers["models"]["live"], numbers["models"]["candidate"]
    for side in (live, candidate):
        rows = {r["threshold"]: r for r in side["thresholds"]}
        assert {0.3, 0.5, 0.7} <= set(rows)
        # a higher threshold acts on no more posts, and sends to a person no more than all
        assert rows[0.7]["volume"] <= rows[0.3]["volume"]
        assert all(0 <= r["review"] <= r["volume"] for r in rows.values())
    # the candidate learnt these very rows: it ranks them at least as well as the shipped
    best = max(r["recall"] or 0 for r in candidate["thresholds"] if (r["precision"] or 0) >= 0.9)
    assert best >= max(r["recall"] or 0 for r in live["thresholds"]
                       if (r["precision"] or 0) >= 0.9)
    assert (report / "pr_curve.png").read_bytes()[:4] == b"\x89PNG"


def test_train_needs_some_data() -> None:
    result = CliRunner().invoke(train_command, ["--out", "/tmp/never"])
    assert result.exit_code == 2 and "give --data FILE" in result.output
