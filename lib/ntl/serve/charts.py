"""Server-side SVG charts for the customer page: consumption over time with the reasons marked
where they happen, and the customer's weekday and month profile beside its cluster's typical one.

The SVG is built as text (no plotting library, no script, no external file), so a page renders
offline and a test can read it. Every number drawn is computed with numpy over the customer's
days; only the handful of marks and axis ticks are formatted one by one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

import numpy as np
import pandas as pd

from ntl.clustering import MONTH_NAMES, WEEKDAY_NAMES
from ntl.features import true_runs

WIDTH, HEIGHT = 900, 260
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 56, 16, 24, 34
MARK_COLOURS = {
    "drop": "#c0392b",
    "zero_run": "#8e44ad",
    "gap": "#7f8c8d",
    "recent": "#2980b9",
    "window": "#16a085",
    "day": "#d35400",
}
MARK_LABELS = {
    "drop": "largest drop",
    "zero_run": "longest run of zero readings",
    "gap": "longest gap in readings",
    "recent": "recent window",
}
# Which mark a reason's words point at (the phrases of ntl.explain.PHRASES); first match wins.
REASON_MARKS = (
    ("consumption down", "drop"),  # "consumption down 63 % since 2015-06-14"
    ("the last ", "recent"),  # before "zero": "56 % of readings in the last 90 days are zero"
    ("zero", "zero_run"),
    ("gap in readings", "gap"),
    ("have no reading", "gap"),
)
# The shape phrases carry their own date: "on Sunday 2016-10-30 used 12 % of its usual Sunday"
# marks that day; "the 7 days from 2016-10-25 ...", "weekdays ... since 2016-10-11" the stretch
# from that date to the last day.
_ONE_DAY = re.compile(r"\bon [A-Z][a-z]+day (\d{4}-\d{2}-\d{2})\b")
_FROM_DAY = re.compile(r"\b(?:since|from) (\d{4}-\d{2}-\d{2})\b")


@dataclass(frozen=True)
class Mark:
    """A stretch of days (or one day when start == end) the chart highlights."""

    kind: str  # drop, zero_run, gap, recent (reason_marks); window, day (dated_mark)
    start: pd.Timestamp
    end: pd.Timestamp
    label: str


def longest_run(mask: np.ndarray) -> tuple[int, int] | None:
    """(first index, length) of the longest run of True in a 1-D mask; None without any."""
    _, starts, lengths = true_runs(np.asarray(mask, dtype=bool)[None, :])
    if not len(lengths):
        return None
    best = int(np.argmax(lengths))  # the first of the longest
    return int(starts[best]), int(lengths[best])


def reason_marks(
    values: np.ndarray,
    dates: pd.DatetimeIndex,
    drop_days_ago: float | None = None,
    *,
    recent_days: int,
) -> dict[str, Mark]:
    """Where the reasons happen in one customer's readings: the largest drop (from the
    drop_days_ago feature), the longest zero run, the longest gap and the recent window."""
    values = np.asarray(values, dtype=np.float64)
    dates = pd.DatetimeIndex(dates)
    marks: dict[str, Mark] = {}
    if drop_days_ago is not None and np.isfinite(drop_days_ago):
        day = dates[-1] - pd.Timedelta(days=int(drop_days_ago))
        marks["drop"] = Mark("drop", day, day, f"largest drop, {day:%Y-%m-%d}")
    for kind, mask in (("zero_run", values == 0), ("gap", np.isnan(values))):
        run = longest_run(mask)
        if run is not None:
            start, length = run
            first, last = dates[start], dates[start + length - 1]
            days = "1 day" if length == 1 else f"{length} days"
            marks[kind] = Mark(
                kind, first, last, f"{MARK_LABELS[kind]}: {days} from {first:%Y-%m-%d}"
            )
    if len(dates) > recent_days:
        first = dates[-recent_days]
        marks["recent"] = Mark("recent", first, dates[-1], f"the last {recent_days} days")
    return marks


def mark_of_reason(reason: str) -> str | None:
    """The mark kind a reason's words point at (REASON_MARKS), or None."""
    text = reason.lower()
    for words, kind in REASON_MARKS:
        if words in text:
            return kind
    return None


def dated_mark(reason: str, dates: pd.DatetimeIndex) -> tuple[str, Mark] | None:
    """The day or stretch a dated reason names, keyed by what it marks (two reasons naming the
    same stretch share one mark); None without a date inside the customer's days."""
    for pattern, kind in ((_ONE_DAY, "day"), (_FROM_DAY, "window")):
        found = pattern.search(reason)
        if found is None:
            continue
        day = pd.Timestamp(found.group(1))
        if not dates[0] <= day <= dates[-1]:
            return None
        end = day if kind == "day" else dates[-1]
        label = f"{day:%Y-%m-%d}" if kind == "day" else f"from {day:%Y-%m-%d}"
        return f"{kind}:{day:%Y-%m-%d}", Mark(kind, day, end, label)
    return None


def _scale(values: np.ndarray, low: float, high: float, start: float, stop: float) -> np.ndarray:
    span = high - low if high > low else 1.0
    return start + (np.asarray(values, dtype=np.float64) - low) / span * (stop - start)


def _polylines(x: np.ndarray, y: np.ndarray, css: str) -> list[str]:
    """One <polyline> per run of present values (missing days break the line)."""
    present = ~np.isnan(y)
    _, starts, lengths = true_runs(present[None, :])
    points = np.char.add(np.char.add(np.round(x, 1).astype(str), ","), np.round(y, 1).astype(str))
    lines = []
    for start, length in zip(starts.tolist(), lengths.tolist(), strict=True):  # runs, not days
        if length == 1:
            lines.append(f'<circle class="{css}" cx="{x[start]:.1f}" cy="{y[start]:.1f}" r="1.5"/>')
        else:
            joined = " ".join(points[start : start + length].tolist())
            lines.append(f'<polyline class="{css}" points="{joined}"/>')
    return lines


def _nice_top(value: float) -> float:
    """A round axis maximum at or above `value` (1, 2, 2.5, 5 x 10^k)."""
    if not np.isfinite(value) or value <= 0:
        return 1.0
    power = 10 ** np.floor(np.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)


def consumption_svg(
    values: np.ndarray,
    dates: pd.DatetimeIndex,
    marks: dict[str, Mark],
    numbered: dict[str, list[int]] | None = None,
    title: str = "Daily consumption (kWh)",
) -> str:
    """The customer's daily kWh as an SVG line chart, marks shaded and numbered by reason."""
    values = np.asarray(values, dtype=np.float64)
    dates = pd.DatetimeIndex(dates)
    numbered = numbered or {}
    left, right = MARGIN_LEFT, WIDTH - MARGIN_RIGHT
    top, bottom = MARGIN_TOP, HEIGHT - MARGIN_BOTTOM
    ymax = _nice_top(float(np.nanmax(values)) if np.isfinite(values).any() else 1.0)
    day_numbers = np.arange(len(dates), dtype=np.float64)
    last = max(len(dates) - 1, 1)
    x = _scale(day_numbers, 0, last, left, right)
    y = _scale(np.where(np.isnan(values), np.nan, values), 0, ymax, bottom, top)

    def x_of(day: pd.Timestamp) -> float:
        return float(_scale(np.array([(day - dates[0]).days]), 0, last, left, right)[0])

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart consumption" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text class="chart-title" x="{left}" y="14">{escape(title)}</text>',
    ]
    widest_first = sorted(marks.items(), key=lambda item: item[1].start - item[1].end)
    for key, mark in widest_first:  # so narrow marks show on top of wide ones
        kind = mark.kind
        x0, x1 = x_of(mark.start), x_of(mark.end)
        colour = MARK_COLOURS[kind]
        numbers = "".join(f"[{n}]" for n in numbered.get(key, []))
        label = escape(mark.label + (f" — reason {numbers}" if numbers else ""))
        if kind in ("drop", "day"):
            parts.append(
                f'<line class="mark mark-{kind}" data-mark="{kind}" x1="{x0:.1f}" x2="{x0:.1f}" '
                f'y1="{top}" y2="{bottom}" stroke="{colour}"><title>{label}</title></line>'
            )
        else:
            width = max(x1 - x0, 2.0)
            opacity = 0.10 if kind in ("recent", "window") else 0.22
            parts.append(
                f'<rect class="mark mark-{kind}" data-mark="{kind}" x="{x0:.1f}" y="{top}" '
                f'width="{width:.1f}" height="{bottom - top}" fill="{colour}" '
                f'fill-opacity="{opacity}"><title>{label}</title></rect>'
            )
        if numbers:
            parts.append(
                f'<text class="mark-number" x="{x0 + 3:.1f}" y="{top + 12}" '
                f'fill="{colour}">{escape(numbers)}</text>'
            )
    parts += _polylines(x, y, "series")
    parts.append(f'<line class="axis" x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}"/>')
    parts.append(f'<line class="axis" x1="{left}" x2="{left}" y1="{top}" y2="{bottom}"/>')
    for fraction in (0.0, 0.5, 1.0):
        value = ymax * fraction
        ty = float(_scale(np.array([value]), 0, ymax, bottom, top)[0])
        parts.append(
            f'<text class="tick" x="{left - 6}" y="{ty + 4:.1f}" text-anchor="end">{value:g}</text>'
        )
    ticks = np.unique(np.linspace(0, len(dates) - 1, num=min(6, len(dates))).round().astype(int))
    for position in ticks:  # at most six
        anchor = "start" if position == 0 else "end" if position == len(dates) - 1 else "middle"
        parts.append(
            f'<text class="tick" x="{float(x[position]):.1f}" y="{bottom + 16}" '
            f'text-anchor="{anchor}">{dates[position]:%Y-%m-%d}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def profile_svg(
    own: Sequence[float],
    typical: Sequence[float] | None,
    names: Sequence[str],
    title: str,
    width: int = 430,
    height: int = 200,
) -> str:
    """A profile shape (1.0 = the customer's average) as points and line, the cluster's typical
    shape as a dashed line beside it; NaN values are left out."""
    own = np.asarray(own, dtype=np.float64)
    typical_values = np.full(len(own), np.nan) if typical is None else np.asarray(typical, float)
    left, right, top, bottom = 40, width - 10, 24, height - 28
    both = np.concatenate([own[np.isfinite(own)], typical_values[np.isfinite(typical_values)]])
    ymax = _nice_top(float(both.max()) if both.size else 1.0)
    x = _scale(np.arange(len(own)), 0, max(len(own) - 1, 1), left + 8, right - 8)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart profile" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<text class="chart-title" x="{left}" y="14">{escape(title)}</text>',
        f'<line class="axis" x1="{left}" x2="{right}" y1="{bottom}" y2="{bottom}"/>',
    ]
    one = float(_scale(np.array([1.0]), 0, ymax, bottom, top)[0])
    parts.append(
        f'<line class="reference" x1="{left}" x2="{right}" y1="{one:.1f}" y2="{one:.1f}"/>'
    )
    parts.append(f'<text class="tick" x="{left - 4}" y="{one + 4:.1f}" text-anchor="end">1</text>')
    parts += _polylines(x, _scale(typical_values, 0, ymax, bottom, top), "typical")
    parts += _polylines(x, _scale(own, 0, ymax, bottom, top), "series")
    for position, name in enumerate(names):
        parts.append(
            f'<text class="tick" x="{x[position]:.1f}" y="{bottom + 14}" '
            f'text-anchor="middle">{escape(name[:3])}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)


def profile_charts(shape: np.ndarray, typical: np.ndarray | None) -> tuple[str, str]:
    """The weekday (7) and month-of-year (12) parts of a clustering shape as two profile SVGs."""
    shape = np.asarray(shape, dtype=np.float64)
    week, year = shape[:7], shape[7:19]
    typical_week = None if typical is None else typical[:7]
    typical_year = None if typical is None else typical[7:19]
    return (
        profile_svg(week, typical_week, WEEKDAY_NAMES, "Weekday profile (1 = own average)"),
        profile_svg(year, typical_year, MONTH_NAMES, "Month profile (1 = own average)"),
    )
