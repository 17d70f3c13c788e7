"""Small SVG charts drawn on the server, for the dashboard (``router.dashboard``).

The dashboard must work offline and behind a strict Content-Security-Policy, so there is
no chart library and no script: each chart is inline SVG markup built here, every text in
it escaped. A chart is ``Markup`` so the page's autoescaping template inserts it as is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

#: One colour per verdict, the same in every chart and legend.
VERDICT_COLOURS = {"silent": "#9ca3af", "open": "#2f6fdf", "link": "#0f9f8f",
                   "incident": "#d9443b", "review": "#d99a1e"}
OTHER_COLOUR = "#7c5cc4"


@dataclass(frozen=True)
class Series:
    """One stacked part of every bar: its name, colour, and one value per bar."""

    name: str
    colour: str
    values: Sequence[int]


def _num(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def stacked_bars(labels: Sequence[str], series: Sequence[Series], *, title: str,
                 width: int = 720, height: int = 180) -> Markup:
    """Bars side by side (one per label, e.g. an hour), each stacked by series (e.g. a
    verdict); each part has a tooltip with its count, and the axis shows the tallest bar."""
    top, bottom, left, right = 10, 22, 40, 8
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(s.values[i] for s in series) for i in range(len(labels))]
    peak = max(totals, default=0) or 1
    step = plot_w / max(len(labels), 1)
    bar_w = max(step * 0.8, 1.0)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
             f'viewBox="0 0 {width} {height}" width="100%" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>",
             f'<line x1="{left}" y1="{top + plot_h}" x2="{width - right}" '
             f'y2="{top + plot_h}" stroke="currentColor" stroke-opacity=".3"/>',
             f'<text x="{left - 4}" y="{top + 8}" text-anchor="end" font-size="10">'
             f"{peak if any(totals) else 0}</text>",
             f'<text x="{left - 4}" y="{top + plot_h}" text-anchor="end" font-size="10">0</text>']
    for i, label in enumerate(labels):
        x = left + i * step + (step - bar_w) / 2
        y = float(top + plot_h)
        for s in series:
            value = s.values[i]
            if value <= 0:
                continue
            h = value / peak * plot_h
            y -= h
            parts.append(f'<rect x="{_num(x)}" y="{_num(y)}" width="{_num(bar_w)}" '
                         f'height="{_num(h)}" fill="{escape(s.colour)}">'
                         f"<title>{escape(label)} {escape(s.name)}: {value}</title></rect>")
    for i in (0, len(labels) // 2, len(labels) - 1) if labels else ():
        x = left + i * step + step / 2
        parts.append(f'<text x="{_num(x)}" y="{height - 6}" text-anchor="middle" '
                     f'font-size="10">{escape(labels[i])}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - built above, every text escaped


@dataclass(frozen=True)
class Bar:
    """One horizontal bar: a label, a share between 0 and 1 (None: no data), a note."""

    label: str
    share: float | None
    note: str


def share_bars(bars: Sequence[Bar], *, title: str, width: int = 480) -> Markup:
    """Horizontal bars of shares (precision, recall...), each with its note beside it (the
    counts it rests on); a bar without data says so instead of drawing zero."""
    row, left, note_w = 26, 90, 150
    plot_w = width - left - note_w
    height = row * len(bars) + 6
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
             f'viewBox="0 0 {width} {height}" width="{width}" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>"]
    for i, bar in enumerate(bars):
        y = 4 + i * row
        parts.append(f'<text x="{left - 6}" y="{y + 15}" text-anchor="end" font-size="12">'
                     f"{escape(bar.label)}</text>")
        parts.append(f'<rect x="{left}" y="{y + 3}" width="{plot_w}" height="16" '
                     'fill="currentColor" fill-opacity=".08"/>')
        if bar.share is not None:
            w = max(0.0, min(1.0, bar.share)) * plot_w
            parts.append(f'<rect x="{left}" y="{y + 3}" width="{_num(w)}" height="16" '
                         f'fill="{VERDICT_COLOURS["open"]}"><title>{escape(bar.label)}: '
                         f"{bar.share:.0%} ({escape(bar.note)})</title></rect>")
        shown = "no labels yet" if bar.share is None else f"{bar.share:.0%}, {bar.note}"
        parts.append(f'<text x="{left + plot_w + 6}" y="{y + 15}" font-size="12">'
                     f"{escape(shown)}</text>")
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - built above, every text escaped
