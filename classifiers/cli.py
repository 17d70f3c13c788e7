"""``router train`` and ``router evaluate``: click commands the router's CLI group attaches.

router train --data history.csv --out model/
router evaluate --data holdout.csv --model model/ --out report/ --thresholds 0.1:0.9:0.05
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from classifiers.data import Labelled, read_labelled
from classifiers.thresholds import parse_range

BATCH = 200


def _read(path: Path, text_column: str, label_column: str, category_column: str | None) -> Labelled:
    try:
        return read_labelled(path, text_column, label_column, category_column)
    except (ValueError, UnicodeDecodeError, OSError) as exc:
        raise click.BadParameter(str(exc), param_hint="--data") from exc


def _shared_rows(shared: Path) -> Labelled:
    from classifiers.build import actionable_rows  # noqa: PLC0415
    from classifiers.splits import split_shared  # noqa: PLC0415

    try:
        return actionable_rows(split_shared(shared))
    except (OSError, ValueError, KeyError) as exc:
        raise click.BadParameter(f"cannot read the shared data in {shared}: {exc}",
                                 param_hint="--shared") from exc


def _load(model_path: Path | None) -> Any:
    import classifiers  # noqa: PLC0415
    from vocab.errors import ModelError  # noqa: PLC0415

    try:
        return classifiers.load_default() if model_path is None else classifiers.load(model_path)
    except ModelError as exc:
        raise click.ClickException(str(exc)) from exc


def _columns(fn: Any) -> Any:
    fn = click.option(
        "--text-column", default="text", show_default=True, help="Column holding the post text."
    )(fn)
    fn = click.option(
        "--label-column",
        default="label",
        show_default=True,
        help="Column holding 1 (actionable) or 0.",
    )(fn)
    return fn


def _max_fpr(help_text: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The ``--max-fpr`` option (the noise ops accept), with this command's wording."""
    return click.option("--max-fpr", default=0.05, show_default=True,
                        type=click.FloatRange(0.0, 1.0), help=help_text)


@click.command("train")
@click.option(
    "--data",
    "data_paths",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CSV (with header) or JSON lines: text, label, optional category (repeatable).",
)
@click.option(
    "--shared",
    "shared",
    default=None,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The shared research data (e.g. ../shared/data): also train on the rows the "
    "shipped model trains on.",
)
@click.option(
    "--out",
    "out_dir",
    default=Path("model"),
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for triage.joblib, triage.json and MODEL_CARD.md.",
)
@click.option("--category-column", default=None, help="Column with a category, if any.")
@_max_fpr("Highest false-positive rate the chosen threshold may have.")
@_columns
def train_command(
    data_paths: tuple[Path, ...],
    shared: Path | None,
    out_dir: Path,
    category_column: str | None,
    max_fpr: float,
    text_column: str,
    label_column: str,
) -> None:
    """Train the actionable model on your own labelled history (keeps the shipped gate),
    with --shared on the shipped model's training rows too."""
    from tqdm import tqdm  # noqa: PLC0415

    from classifiers.card import write_card  # noqa: PLC0415
    from classifiers.metrics import fmt, threshold_table  # noqa: PLC0415
    from classifiers.store import library_versions, save  # noqa: PLC0415
    from classifiers.train import train_on  # noqa: PLC0415

    if not data_paths and shared is None:
        raise click.UsageError("give --data FILE (your labelled history), --shared DIR, or both")
    data = Labelled()
    sources: list[str] = []
    for path in data_paths:
        part = _read(path, text_column, label_column, category_column)
        data.extend(part)
        sources.append(f"{path} ({len(part)} rows, {sum(part.labels)} actionable)")
    if shared is not None:
        part = _shared_rows(shared)
        data.extend(part)
        sources.append(f"the shipped model's training rows from {shared} ({len(part)} rows, "
                       f"{sum(part.labels)} actionable)")
    data_path = data_paths[0] if data_paths else shared
    if min(data.labels.count(0), data.labels.count(1)) < 2:
        raise click.BadParameter("need at least 2 rows of each label", param_hint="--data")
    steps = ["load base model", "features", "actionable: out-of-fold", "actionable: fit"]
    steps += ["category"] if any(data.categories) else []
    with tqdm(total=len(steps) + 1, desc="train", unit="step") as bar:
        base = _load(None)
        bar.update(1)

        def progress(step: str) -> None:
            bar.set_postfix_str(step)
            bar.update(1)

        model, oof = train_on(data, base, progress=progress, max_fpr=max_fpr)
        op = model.operating_point
        card: dict[str, Any] = {
            "name": f"triage model trained on {data_path.name if data_path else '?'}"
            + (" and more" if len(sources) > 1 else ""),
            # UTC day of training: part of the version every decision records
            "date": time.strftime("%Y-%m-%d", time.gmtime()),
            "rebuild": "router train" + "".join(f" --data {p}" for p in data_paths)
            + (f" --shared {shared}" if shared is not None else "") + f" --out {out_dir}"
            + (f" --category-column {category_column}" if category_column else ""),
            "data": "; ".join(sources) + "; hurtful gate and vocabulary from the shipped "
            "model",
            "versions": library_versions(),
            "operating_point": op,
            "oof_training": {
                "actionable": threshold_table(data.labels, oof, [op["actionable"]])[0]
            },
        }
        model.card = card
        path = save(model, out_dir / "triage.joblib", card)
        write_card(card, out_dir / "MODEL_CARD.md")
        bar.update(bar.total - bar.n)
    row = threshold_table(data.labels, oof, [op["actionable"]])[0]
    click.echo(f"wrote {path} and {out_dir / 'MODEL_CARD.md'}")
    click.echo(
        f"operating point {op['actionable']:.2f}: out-of-fold precision {fmt(row['precision'])}, "
        f"recall {fmt(row['recall'])}, FPR {row['fpr']:.3f}"
    )


MIN_ROWS_TO_SUGGEST = 30


def _per_category(
    data: Labelled, p: list[float], predicted: list[str], op: float, max_fpr: float
) -> dict[str, Any]:
    """Each category the model assigned: the operating point's figures on its rows, and a
    suggested threshold of its own (best F1 with FPR <= max_fpr) where there are enough
    rows of both kinds; printed, with the setting that applies the suggestions."""
    from classifiers.metrics import choose_threshold, fmt, threshold_table  # noqa: PLC0415

    out: dict[str, Any] = {"by_predicted_category": {}}
    click.echo(f"\nper category the model assigned, at the operating point {op:.2f}:")
    click.echo(f"  {'category':<16} {'rows':>5} {'actionable':>10} {'precision':>9} "
               f"{'recall':>7} {'volume':>7} {'suggested':>9}")
    suggested: dict[str, float] = {}
    for category in sorted(set(predicted)):
        idx = [i for i, c in enumerate(predicted) if c == category]
        y = [data.labels[i] for i in idx]
        pc = [p[i] for i in idx]
        row = threshold_table(y, pc, [op])[0]
        entry = {"rows": len(idx), "actionable": int(sum(y)), **row}
        both = min(sum(y), len(y) - sum(y))
        if len(idx) >= MIN_ROWS_TO_SUGGEST and both >= 5:
            t = choose_threshold(y, pc, max_fpr)
            entry["suggested_threshold"] = t
            if abs(t - op) >= 0.05:
                suggested[category] = t
        out["by_predicted_category"][category] = entry
        tip = f"{entry['suggested_threshold']:.2f}" if "suggested_threshold" in entry else "-"
        click.echo(f"  {category:<16} {len(idx):>5} {sum(y):>10} {fmt(row['precision']):>9} "
                   f"{fmt(row['recall']):>7} {row['volume']:>7.3f} {tip:>9}")
    if suggested:
        value = json.dumps(suggested, sort_keys=True)
        out["setting"] = f"ROUTER_CATEGORY_THRESHOLDS='{value}'"
        click.echo(f"to apply the suggestions that differ by 0.05 or more: {out['setting']}")
    if any(data.categories):
        from classifiers.protocols import category_scores  # noqa: PLC0415

        known = [i for i, c in enumerate(data.categories) if c]
        scores = category_scores([data.categories[i] for i in known],
                                 [predicted[i] for i in known])
        out["category_accuracy"] = scores["accuracy"]
        out["category_macro_f1"] = scores["macro_f1"]
        out["category_per_category"] = scores["per_category"]
        click.echo(f"category: accuracy {out['category_accuracy']:.3f}, macro-F1 "
                   f"{out['category_macro_f1']:.3f} on {len(known)} rows with a category")
    return out


def _plots(y: list[int], p: list[float], out_dir: Path, op: float) -> list[Path]:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from sklearn.calibration import calibration_curve  # noqa: PLC0415

    paths = [_pr_chart(y, {"model": (p, op)}, out_dir / "pr_curve.png")]
    frac, mean = calibration_curve(y, p, n_bins=10, strategy="quantile")
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect")
    ax.plot(mean, frac, marker="o", label="model")
    ax.set_xlabel("mean predicted P(actionable)")
    ax.set_ylabel("observed share actionable")
    ax.set_title("Calibration")
    ax.legend(loc="upper left")
    paths.append(out_dir / "calibration.png")
    fig.savefig(paths[-1], dpi=100, bbox_inches="tight")
    plt.close(fig)
    return paths


@click.command("evaluate")
@click.option(
    "--data",
    "data_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Labelled CSV or JSON lines the model was NOT trained on.",
)
@click.option(
    "--model",
    "model_path",
    default=None,
    type=click.Path(exists=True, path_type=Path),
    help="Artifact (.joblib or its folder); default: the shipped model.",
)
@click.option(
    "--out",
    "out_dir",
    default=Path("evaluation"),
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for evaluation.json, pr_curve.png and calibration.png.",
)
@click.option(
    "--thresholds",
    "spec",
    default="0.1:0.9:0.05",
    show_default=True,
    help="START:STOP:STEP of the thresholds to tabulate.",
)
@click.option(
    "--category-column",
    default=None,
    help="Column with the true category, if any: adds category accuracy to the report.",
)
@click.option(
    "--candidate",
    "candidate_path",
    default=None,
    type=click.Path(exists=True, path_type=Path),
    help="A second artifact to score beside --model (live vs candidate): both tables and "
    "one PR chart.",
)
@_max_fpr("False-positive rate a suggested per-category threshold may not exceed.")
@_columns
def evaluate_command(
    data_path: Path,
    model_path: Path | None,
    out_dir: Path,
    spec: str,
    category_column: str | None,
    candidate_path: Path | None,
    max_fpr: float,
    text_column: str,
    label_column: str,
) -> None:
    """Precision, recall, F1 and volume at a range of thresholds, overall and per category
    the model assigns (with suggested per-category thresholds); plots and JSON. With
    --candidate: the two models side by side as the router would route (ticket, person,
    silent), with the review share."""
    from tqdm import tqdm  # noqa: PLC0415

    from classifiers.metrics import fmt, threshold_table  # noqa: PLC0415

    try:
        grid = parse_range(spec)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--thresholds") from exc
    data = _read(data_path, text_column, label_column, category_column)
    model = _load(model_path)
    if candidate_path is not None:
        models = {"live": (str(model_path or "shipped"), model),
                  "candidate": (str(candidate_path), _load(candidate_path))}
        compare_models(models, data, grid, out_dir, data_path)
        return
    op = float(model.operating_point.get("actionable", 0.5))
    p: list[float] = []
    predicted: list[str] = []
    for start in tqdm(range(0, len(data), BATCH), desc="score", unit="batch"):
        for s in model.score(data.texts[start : start + BATCH]):
            p.append(s.actionable)
            predicted.append(s.category)
    grid = sorted(set(grid) | {round(op, 4)})
    rows = threshold_table(data.labels, p, grid)
    click.echo(f"{len(data)} rows, {sum(data.labels)} actionable; operating point {op:.2f} (*)")
    click.echo(
        f"  {'threshold':>9} {'precision':>9} {'recall':>7} {'F1':>6} {'FPR':>6} {'volume':>7}"
    )
    for r in rows:
        mark = "*" if abs(r["threshold"] - op) < 1e-9 else " "
        click.echo(
            f"{mark} {r['threshold']:>9.2f} {fmt(r['precision']):>9} {fmt(r['recall']):>7} "
            f"{fmt(r['f1']):>6} {r['fpr']:>6.3f} {r['volume']:>7.3f}"
        )
    per_category = _per_category(data, p, predicted, op, max_fpr)
    out_dir.mkdir(parents=True, exist_ok=True)
    pngs = _plots(data.labels, p, out_dir, op) if len(set(data.labels)) == 2 else []
    report = {
        "data": str(data_path),
        "model": str(model_path or "shipped"),
        "rows": len(data),
        "positives": int(sum(data.labels)),
        "operating_point": op,
        "chosen": next(r for r in rows if abs(r["threshold"] - op) < 1e-9),
        "thresholds": rows,
        "per_category": per_category,
        "plots": [str(x) for x in pngs],
    }
    (out_dir / "evaluation.json").write_text(json.dumps(report, indent=2) + "\n", "utf-8")
    click.echo(f"wrote {out_dir / 'evaluation.json'}" + "".join(f", {x}" for x in pngs))


def routed_rows(model: Any, data: Labelled, grid: list[float]) -> tuple[list[float],
                                                                        list[dict[str, Any]]]:
    """P(actionable) per row, and at each threshold what the router would do with these
    rows (``classifiers.metrics.route``, the model's own hurtful threshold and review band):
    precision and recall of what it acts on (a ticket or a person), the share it acts on
    (volume), the share it sends to a person (review) and the share it opens."""
    import numpy as np  # noqa: PLC0415

    from classifiers.metrics import route  # noqa: PLC0415

    scores = [s for start in range(0, len(data), BATCH)
              for s in model.score(data.texts[start : start + BATCH])]
    p = [s.actionable for s in scores]
    hurt = [s.hurtful for s in scores]
    praise = [s.category == "praise" for s in scores]
    op = dict(model.operating_point)
    margin = float(op.get("review_margin", 0.1))
    y = np.asarray(data.labels, dtype=int)
    rows = []
    for t in grid:
        verdicts = route(p, hurt, praise, {**op, "actionable": t}, margin)
        acted = verdicts != "silent"
        tp = int(np.sum(acted & (y == 1)))
        rows.append({
            "threshold": round(float(t), 4),
            "precision": round(tp / int(acted.sum()), 4) if acted.any() else None,
            "recall": round(tp / int(y.sum()), 4) if y.any() else None,
            "volume": round(float(acted.mean()), 4),
            "review": round(float((verdicts == "review").mean()), 4),
            "opened": round(float((verdicts == "open").mean()), 4),
        })
    return p, rows


def compare_models(models: dict[str, tuple[str, Any]], data: Labelled, grid: list[float],
                   out_dir: Path, data_path: Path) -> dict[str, Any]:
    """Live vs candidate on the same labelled rows: a table each (at the grid and each
    model's own operating point, marked *), one PR chart with both curves, JSON."""
    from classifiers.metrics import fmt  # noqa: PLC0415

    report: dict[str, Any] = {"data": str(data_path), "rows": len(data),
                              "positives": int(sum(data.labels)), "models": {}}
    curves: dict[str, tuple[list[float], float]] = {}
    click.echo(f"{len(data)} rows, {sum(data.labels)} actionable; what the router would do "
               "at each threshold (acted on: a ticket or a person)")
    for role, (where, model) in models.items():
        op = float(model.operating_point.get("actionable", 0.5))
        thresholds = sorted(set(grid) | {round(op, 4)})
        p, rows = routed_rows(model, data, thresholds)
        curves[role] = (p, op)
        version = str((model.card or {}).get("name", ""))
        report["models"][role] = {"model": where, "name": version, "operating_point": op,
                                  "thresholds": rows}
        click.echo(f"\n{role}: {where} (operating point {op:.2f} *)")
        click.echo(f"  {'threshold':>9} {'precision':>9} {'recall':>7} {'volume':>7} "
                   f"{'review':>7} {'opened':>7}")
        for r in rows:
            mark = "*" if abs(r["threshold"] - op) < 1e-9 else " "
            click.echo(f"{mark} {r['threshold']:>9.2f} {fmt(r['precision']):>9} "
                       f"{fmt(r['recall']):>7} {r['volume']:>7.3f} {r['review']:>7.3f} "
                       f"{r['opened']:>7.3f}")
    out_dir.mkdir(parents=True, exist_ok=True)
    if len(set(data.labels)) == 2:
        report["plots"] = [str(_pr_chart(data.labels, curves, out_dir / "pr_curve.png"))]
    (out_dir / "evaluation.json").write_text(json.dumps(report, indent=2) + "\n", "utf-8")
    click.echo(f"\nwrote {out_dir / 'evaluation.json'}"
               + "".join(f", {x}" for x in report.get("plots", [])))
    return report


def _pr_chart(y: list[int], curves: dict[str, tuple[list[float], float]], path: Path) -> Path:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from sklearn.metrics import precision_recall_curve  # noqa: PLC0415

    fig, ax = plt.subplots(figsize=(5, 4))
    for role, (p, op) in curves.items():
        precision, recall, thr = precision_recall_curve(y, p)
        line = ax.plot(recall, precision, label=role)[0]
        if len(thr):
            k = min(range(len(thr)), key=lambda i: abs(thr[i] - op))
            ax.scatter([recall[k]], [precision[k]], color=line.get_color(), zorder=3)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title("Precision-recall (actionable; dot: operating point)")
    ax.legend(loc="lower left")
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path
