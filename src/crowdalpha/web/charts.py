"""Line charts as inline SVG, written by hand: no JavaScript, no files, no fonts to ship.

Every text that reaches the SVG (labels, titles) is escaped; numbers are formatted here.
A chart with no points says so instead of drawing empty axes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from markupsafe import Markup, escape

__all__ = ["Series", "line_chart", "time_value"]

#: Colour-blind-safe line colours (Okabe–Ito), in series order.
COLOURS = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9")

_WIDTH, _HEIGHT = 640, 240
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 28, 36


@dataclass(frozen=True)
class Series:
    """One line: ``(x, y)`` points in x order; a ``None`` y breaks the line."""

    label: str
    points: Sequence[tuple[float, float | None]] = field(default_factory=tuple)
    step: bool = False  # draw as a step function (balances that change at instants)


def time_value(moment: datetime) -> float:
    """A datetime as seconds since the epoch (naive datetimes are taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values covering [low, high]."""
    if high <= low:
        return [low]
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step - 1e-9) * step
    ticks = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(0.0 if abs(value) < step * 1e-9 else value)
        value += step
    return ticks


def _number(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.4g}"
    return f"{value:.3g}"


def line_chart(
    title: str,
    series: Sequence[Series],
    *,
    x_label: Callable[[float], str] = lambda x: _number(x),
    y_label: Callable[[float], str] = _number,
    integer_x: bool = False,
    zero_line: bool = True,
) -> Markup:
    """An accessible SVG line chart (``role=img`` with a title, one ``<title>`` per point
    giving its exact values) of ``series`` sharing one pair of axes."""
    points = [(x, y) for s in series for x, y in s.points if y is not None and math.isfinite(y)]
    head = (
        f'<svg class="chart" viewBox="0 0 {_WIDTH} {_HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>"
    )
    if not points:
        return Markup(
            head + f'<text x="{_WIDTH / 2}" y="{_HEIGHT / 2}" text-anchor="middle" '
            f'class="empty">{escape(title)}: nothing to show yet</text></svg>'
        )
    xs = [x for x, _ in points]
    ys = [y for _, y in points]
    x0, x1 = min(xs), max(xs)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    y0, y1 = min(ys), max(ys)
    if zero_line:
        y0, y1 = min(y0, 0.0), max(y1, 0.0)
    if y1 == y0:
        y0, y1 = y0 - 1, y1 + 1
    pad = (y1 - y0) * 0.05
    y0, y1 = y0 - pad, y1 + pad
    plot_w = _WIDTH - _LEFT - _RIGHT
    plot_h = _HEIGHT - _TOP - _BOTTOM

    def sx(x: float) -> float:
        return _LEFT + (x - x0) / (x1 - x0) * plot_w

    def sy(y: float) -> float:
        return _TOP + (y1 - y) / (y1 - y0) * plot_h

    parts = [head]
    for tick in _ticks(y0, y1):
        y = sy(tick)
        parts.append(
            f'<line class="grid" x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="tick" x="{_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(y_label(tick))}</text>"
        )
    if zero_line and y0 < 0 < y1:
        parts.append(
            f'<line class="zero" x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" '
            f'y1="{sy(0):.1f}" y2="{sy(0):.1f}"/>'
        )
    x_ticks = sorted(set(xs)) if integer_x and len(set(xs)) <= 12 else _ticks(x0, x1, 5)
    if integer_x:
        x_ticks = [t for t in x_ticks if float(t).is_integer()]
    for tick in x_ticks:
        x = sx(tick)
        parts.append(
            f'<text class="tick" x="{x:.1f}" y="{_HEIGHT - _BOTTOM + 16}" '
            f'text-anchor="middle">{escape(x_label(tick))}</text>'
        )
    parts.append(
        f'<line class="axis" x1="{_LEFT}" x2="{_LEFT}" y1="{_TOP}" y2="{_HEIGHT - _BOTTOM}"/>'
        f'<line class="axis" x1="{_LEFT}" x2="{_WIDTH - _RIGHT}" '
        f'y1="{_HEIGHT - _BOTTOM}" y2="{_HEIGHT - _BOTTOM}"/>'
    )
    for i, s in enumerate(series):
        colour = COLOURS[i % len(COLOURS)]
        runs: list[list[tuple[float, float]]] = [[]]
        for px, py in s.points:
            if py is None or not math.isfinite(py):
                if runs[-1]:
                    runs.append([])
                continue
            runs[-1].append((px, py))
        for run in runs:
            if not run:
                continue
            coords: list[str] = []
            for j, (x, y) in enumerate(run):
                if s.step and j > 0:
                    coords.append(f"{sx(x):.1f},{sy(run[j - 1][1]):.1f}")
                coords.append(f"{sx(x):.1f},{sy(y):.1f}")
            parts.append(
                f'<polyline fill="none" stroke="{colour}" stroke-width="2" '
                f'points="{" ".join(coords)}"/>'
            )
            for x, y in run:
                parts.append(
                    f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="3" fill="{colour}">'
                    f"<title>{escape(s.label)} at {escape(x_label(x))}: "
                    f"{escape(y_label(y))}</title></circle>"
                )
        lx = _LEFT + 8 + i * 150
        parts.append(
            f'<rect x="{lx}" y="8" width="12" height="4" fill="{colour}"/>'
            f'<text class="legend" x="{lx + 16}" y="14">{escape(s.label)}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))
