"""Inline SVG step charts of caps over time (no script, no external library).

One small chart per cap (service, measure and unit), linear scale from zero, with the chosen
date marked, so a reader sees when a cap began, changed and ended between two countries.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from roamlike.law import Rules, format_decimal
from roamlike.web.layout import e

CHART_START = dt.date(2017, 1, 1)
CHART_END = dt.date(2033, 1, 1)


@dataclass(frozen=True)
class CapSeries:
    """The dated values of one cap: ``(from, value)`` steps, None where none is in force."""

    service: str
    measure: str
    unit: str
    steps: tuple[tuple[dt.date, Decimal | None], ...]

    @property
    def label(self) -> str:
        return f"{self.service} {self.measure.replace('_', ' ')} ({self.unit})"


def cap_series(changes: list[Rules], end: dt.date) -> list[CapSeries]:
    """Every cap of a pair's timeline as a step series ending on ``end`` (exclusive).

    Parameters
    ----------
    changes : list of Rules
        :func:`roamlike.law.timeline` of the pair (the rules from each change date).
    end : datetime.date
        The first day after the catalog's coverage.
    """
    keys: list[tuple[str, str, str]] = []
    for rules in changes:
        for cap in rules.caps:
            key = (cap.service, cap.measure, cap.unit)
            if key not in keys:
                keys.append(key)
    out: list[CapSeries] = []
    for service, measure, unit in keys:
        steps: list[tuple[dt.date, Decimal | None]] = []
        for rules in changes:
            found = rules.cap(service, measure)
            value = found.value if found is not None and found.unit == unit else None
            if steps and steps[-1][1] == value:
                continue
            steps.append((rules.on, value))
        steps.append((end, None))
        out.append(CapSeries(service, measure, unit, tuple(steps)))
    return out


def _x(day: dt.date, left: float, width: float) -> float:
    span = (CHART_END - CHART_START).days
    clipped = min(max(day, CHART_START), CHART_END)
    return left + width * (clipped - CHART_START).days / span


def step_chart(series: CapSeries, marked: dt.date, chart_id: str) -> str:
    """One step chart as inline SVG (scales to its container), with ``marked`` drawn.

    The chart carries a text alternative (``<title>``/``<desc>``) listing every step, so the
    figures are readable without seeing the drawing.
    """
    w, h, left, right, top, bottom = 520, 150, 52, 10, 10, 24
    pw, ph = w - left - right, h - top - bottom
    values = [v for _, v in series.steps if v is not None]
    hi = max(values) if values and max(values) > 0 else Decimal(1)

    def y(v: Decimal) -> float:
        return top + ph * (1 - float(v / hi))

    desc = "; ".join(
        f"from {start.isoformat()}: " + ("none" if v is None else f"{format_decimal(v)}")
        for start, v in series.steps[:-1]
    )
    parts = [
        f'<svg class="chart" viewBox="0 0 {w} {h}" role="img" '
        f'aria-labelledby="{chart_id}-t {chart_id}-d">'
        f'<title id="{chart_id}-t">{e(series.label)}</title>'
        f'<desc id="{chart_id}-d">{e(desc)}</desc>'
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" class="frame"/>'
    ]
    for frac in (Decimal(0), Decimal("0.5"), Decimal(1)):
        v = hi * frac
        yy = y(v)
        parts.append(
            f'<line x1="{left}" y1="{yy:.1f}" x2="{left + pw}" y2="{yy:.1f}" class="grid"/>'
            f'<text x="{left - 4}" y="{yy + 4:.1f}" class="tick" text-anchor="end">'
            f"{e(format_decimal(v.normalize()) if v else '0')}</text>"
        )
    for year in range(CHART_START.year, CHART_END.year, 3):
        xx = _x(dt.date(year, 1, 1), left, pw)
        parts.append(
            f'<line x1="{xx:.1f}" y1="{top}" x2="{xx:.1f}" y2="{top + ph}" class="grid"/>'
            f'<text x="{xx:.1f}" y="{top + ph + 14}" class="tick" text-anchor="middle">'
            f"{year}</text>"
        )
    points: list[str] = []
    for (start, value), (stop, _) in zip(series.steps, series.steps[1:], strict=False):
        if value is None:
            if points:
                parts.append(f'<polyline points="{" ".join(points)}" class="line"/>')
                points = []
            continue
        yy = y(value)
        points += [f"{_x(start, left, pw):.1f},{yy:.1f}", f"{_x(stop, left, pw):.1f},{yy:.1f}"]
    if points:
        parts.append(f'<polyline points="{" ".join(points)}" class="line"/>')
    mx = _x(marked, left, pw)
    parts.append(
        f'<line x1="{mx:.1f}" y1="{top}" x2="{mx:.1f}" y2="{top + ph}" class="marker"/>'
        f'<text x="{min(mx + 3, left + pw - 60):.1f}" y="{top + 10}" class="tick marker-label">'
        f"{e(marked.isoformat())}</text></svg>"
    )
    return "".join(parts)
