"""Readers: the shared research data (``../shared/data``) and a company's own labelled file.

The shared data is read in place, never copied into the project. A company's file is CSV
(with a header) or JSON lines, with a ``text`` and a ``label`` column (1/0, true/false,
yes/no) and optionally a category column; ``read_labelled`` says what is wrong in one line.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from classifiers.api import CATEGORIES

_TRUE = {"1", "true", "yes", "y", "actionable", "pos", "positive"}
_FALSE = {"0", "false", "no", "n", "noise", "neg", "negative", ""}


@dataclass
class Labelled:
    """Texts with binary labels and, where known, a category (``""`` when unknown)."""

    texts: list[str] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)  # provenance, e.g. the domain

    def __len__(self) -> int:
        return len(self.texts)

    def add(self, text: str, label: int, category: str = "", group: str = "") -> None:
        self.texts.append(text)
        self.labels.append(int(label))
        self.categories.append(category)
        self.groups.append(group)

    def extend(self, other: Labelled) -> Labelled:
        self.texts += other.texts
        self.labels += other.labels
        self.categories += other.categories
        self.groups += other.groups
        return self


# -- the shared research data ---------------------------------------------------------------
def read_complaints(shared: Path) -> Labelled:
    """complaints-data.csv (no header): id, text, label (1 complaint), domain."""
    out = Labelled()
    with open(shared / "complaints" / "complaints-data.csv", encoding="utf-8", newline="") as f:
        for row in csv.reader(f):
            out.add(row[1], int(row[2]), group=row[3])
    return out


ACTIONABLE_LABELS = Path(__file__).with_name("eval") / "actionable.tsv"


def text_key(text: str) -> str:
    """The key a labelled row is known by: its text's SHA-1, first 12 hex digits."""
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()[:12]


def read_actionable_labels(path: Path = ACTIONABLE_LABELS) -> dict[str, int]:
    """key -> the project's actionable label of a complaints row (``eval/ACTIONABLE.md``)."""
    out: dict[str, int] = {}
    for line in path.read_text("utf-8").splitlines():
        if line and not line.startswith("#"):
            _, key, _, _, final = line.split("\t")
            out[key] = int(final)
    return out


def read_ibm_first_turns(shared: Path, split: str = "dev") -> Labelled:
    """First customer turn of each IBM customer-care dialog: all actionable (label 1)."""
    path = shared / "ibm-twitter-customer-care" / f"{split}.json"
    out = Labelled()
    for conv in json.loads(path.read_text(encoding="utf-8")):
        first = conv["dialogContent"][0]
        out.add(first["message"], 1, group=conv["dialogHeader"]["company"])
    return out


def read_tweeteval(shared: Path, subset: str, split: str) -> Labelled:
    """TweetEval ``offensive`` or ``hate``, ``train`` or ``val``: one tweet and label a line."""
    base = shared / "tweeteval-offensive-hate" / subset
    texts = (base / f"{split}_text.txt").read_text(encoding="utf-8").splitlines()
    labels = (base / f"{split}_labels.txt").read_text(encoding="utf-8").split()
    if len(texts) != len(labels):
        raise ValueError(f"{base}: {len(texts)} texts but {len(labels)} labels in {split}")
    out = Labelled()
    for text, label in zip(texts, labels, strict=True):
        out.add(text, int(label), group=f"{subset}-{split}")
    return out


# -- a company's own labelled history -------------------------------------------------------
def _label(value: object, where: str) -> int:
    v = str(value).strip().lower()
    if v in _TRUE:
        return 1
    if v in _FALSE:
        return 0
    raise ValueError(f"{where}: label {value!r} is not 1/0, true/false or yes/no")


def _rows(path: Path) -> list[dict[str, object]]:
    if path.suffix.lower() in {".jsonl", ".json", ".ndjson"}:
        rows = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ValueError(
                        f"{path}:{n}: not JSON ({exc.msg}); one object a line"
                    ) from exc
                if not isinstance(row, dict):
                    raise ValueError(f"{path}:{n}: expected a JSON object a line")
                rows.append(row)
        return rows
    with open(path, encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def _looks_like_data(header: list[str]) -> bool:
    """True when a CSV's first line is a record, not column names: a number, a label
    value or a sentence where a name should be."""
    for cell in header:
        value = cell.strip()
        try:
            float(value)
            return True
        except ValueError:
            pass
        if len(value) > 40 or len(value.split()) > 4 or value.lower() in {"true", "false"}:
            return True
    return False


def read_labelled(
    path: Path,
    text_column: str = "text",
    label_column: str = "label",
    category_column: str | None = None,
) -> Labelled:
    """Read a CSV (with a header) or JSON-lines file of labelled mentions."""
    rows = _rows(path)
    if not rows:
        raise ValueError(f"{path}: no rows; expected columns {text_column!r} and {label_column!r}")
    columns = set(rows[0])
    for col in (text_column, label_column, category_column):
        if col is not None and col not in columns:
            if _looks_like_data([str(c) for c in rows[0]]):
                raise ValueError(
                    f"{path}: no header row: the first line looks like data; add a header "
                    f"with a {text_column!r} and a label column, e.g. {text_column},"
                    f"{label_column}"
                )
            raise ValueError(
                f"{path}: no column {col!r} (found: {', '.join(sorted(columns))}); "
                "name it or pass the column flag"
            )
    out = Labelled()
    for n, row in enumerate(rows, 1):
        category = ""
        if category_column is not None:
            category = str(row.get(category_column) or "").strip().lower()
            if category and category not in CATEGORIES:
                raise ValueError(
                    f"{path}: row {n}: category {category!r} is not one of {', '.join(CATEGORIES)}"
                )
        text = row.get(text_column)
        out.add(
            "" if text is None else str(text), _label(row.get(label_column), f"row {n}"), category
        )
    if len(set(out.labels)) < 2:
        raise ValueError(f"{path}: every label is {out.labels[0]}; need both 1 and 0 to train")
    return out
