"""The demo report: one self-contained HTML page with inline SVG step charts.

No scripts, fonts, images or links to other resources: the page opens without a network and
can be archived as a single file. Every text is escaped with :func:`html.escape`. Nothing
time-dependent is written, so the same demo gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape
from typing import TYPE_CHECKING

from roamlike.demo.scenario import (
    FX_SOURCE,
    HEADLINE_GROUP,
    TRAVELLERS,
    TYPICAL_TRIP,
    wb6,
)
from roamlike.law import Cap, default_catalog, format_decimal, timeline

if TYPE_CHECKING:
    from roamlike.demo.prices import Headline, PriceRow
    from roamlike.demo.run import DemoResult

__all__ = [
    "CLAIM_CALLS",
    "CLAIM_DATA",
    "HEADLINE_SOURCES",
    "HEADLINE_WHY",
    "Series",
    "cap_series",
    "render_report",
    "step_chart_svg",
    "times_cheaper",
]

CLAIM_CALLS = "calls up to eight times cheaper"
CLAIM_DATA = "data from about EUR 3/MB to EUR 0.20/MB"
HEADLINE_WHY = (
    "We found neither figure in any published source. Both fit Albania: before 1 July 2019 "
    "the Albanian regulator AKEP allowed up to ALL 215 a minute for a call and ALL 365 per MB "
    "of data in the region; from that day the agreement capped calls at EUR 0.19 a minute and "
    "data at EUR 0.18 per MB, before VAT. ALL 365 is about EUR 3 at the exchange rate shown "
    "below, and EUR 0.18 plus Albania's 20 % VAT is EUR 0.216, close to EUR 0.20. AKEP's "
    "cheapest price after the change, ALL 28.5 a minute, is 7.5 times below ALL 215: close to "
    "'eight times'. EUR 0.20 per MB is also exactly the EU's own ceiling on roaming data in "
    "2017-2022, which may be where that figure comes from (our guess). See "
    "docs/law/commission-headline.md."
)
#: (source id in src/roamlike/law/sources.yaml, what it gives, grade)
HEADLINE_SOURCES: tuple[tuple[str, str, str], ...] = (
    ("commission_wb_page", "the European Commission's page that makes the claim", "official"),
    ("commsupdate_2019", "CommsUpdate, 5 Jul 2019: AKEP's Albanian maxima before 1 July 2019, "
     "ALL 215/min, ALL 365/MB, ALL 65/SMS", "secondary"),
    ("ratel_phases_kurir", "Kurir (RATEL): Serbia about RSD 28/min, RSD 30/MB, RSD 9/SMS before "
     "1 July 2019", "secondary"),
    ("ratel_2019_blic", "Blic (RATEL decision of 17 Jun 2019): the agreement's caps EUR "
     "0.19/min, EUR 0.06/SMS, EUR 0.18/MB excl. VAT from 1 July 2019", "secondary"),
    ("fx_reference", "src/roamlike/data/fx_reference.csv: ALL, RSD, MKD, UAH, MDL approximate "
     "(no central-bank series here); BAM pegged at 1.95583; others ECB reference rates",
     "approximate"),
)  # fmt: skip

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:2rem auto;
max-width:78rem;padding:0 1rem;color:#1b1f24;line-height:1.4}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;
border-bottom:2px solid #d0d7de;padding-bottom:.2rem}h3{font-size:1rem;margin-bottom:.2rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem;font-size:.86rem}
th,td{border:1px solid #d0d7de;padding:.25rem .4rem;text-align:left;vertical-align:top}
th{background:#f3f5f7}td.num{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:#57606a}.box{border:1px solid #d0d7de;border-radius:.4rem;padding:.6rem 1rem;
background:#f6f8fa}.big{font-size:1.15rem;font-weight:600}.grade{font-size:.8rem;
border:1px solid #d0d7de;border-radius:.6rem;padding:0 .35rem}
tr.base td{background:#fff8c5}svg{max-width:100%;height:auto}
footer{margin-top:3rem;border-top:1px solid #d0d7de;padding-top:.8rem;font-size:.85rem;
color:#3d444d}
"""
_COLORS = ("#0b61a4", "#b3261e", "#e07b00", "#2e7d32", "#6a1b9a")
_GRADES = (
    ("legal", "the legal text itself was read"),
    ("official", "an EU institution, BEREC, RCC or national regulator page was read"),
    ("secondary", "press, a blog or a third-party summary: a claim that needs checking"),
    ("inference", "a project decision where no source states the value (docs/law/)"),
    ("approximate", "FX figures of the shipped table without a source read (fx_reference.md)"),
    ("illustrative", "a plausible demo price, not sourced"),
)
_CHART_START = dt.date(2017, 1, 1)
_CHART_END = dt.date(2032, 12, 31)


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _num(value: Decimal | None, places: int = 4) -> str:
    if value is None:
        return "-"
    return f"{value.quantize(Decimal(1).scaleb(-places)):,}"


def times_cheaper(ratio: Decimal | None, now: Decimal | None, free: str = "no extra charge") -> str:
    """A "times cheaper" ratio for display: ``7.6x``; ``free`` when the price is 0.

    Examples
    --------
    >>> times_cheaper(Decimal("7.643"), Decimal("0.228"))
    '7.6x'
    >>> times_cheaper(None, Decimal(0), "free")
    'free'
    """
    if ratio is None:
        return free if now is not None and now == 0 else "-"
    return f"{ratio.quantize(Decimal('0.1'))}x"


def _times(value: Decimal | None) -> str:
    return times_cheaper(value, None)


# -- step charts ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """One step line: ``(from, value)`` steps (None: no value in force) running to the next."""

    label: str
    steps: tuple[tuple[dt.date, Decimal | None], ...]
    dashed: bool = False


@dataclass(frozen=True)
class _SourceRow:
    series: str
    start: dt.date
    value: str
    unit: str
    parameter: str
    basis: str
    grade: str


def _cap_value(cap: Cap, per_mb: bool) -> Decimal:
    if per_mb and cap.unit == "EUR/GB":
        return cap.value / 1000
    return cap.value


def cap_series(
    label: str, home: str, visited: str, service: str, measure: str, per_mb: bool = False
) -> tuple[Series, list[_SourceRow]]:
    """The step series of one cap between two countries over the catalog's coverage.

    Values come from :func:`roamlike.law.timeline`; with ``per_mb`` a EUR/GB cap is shown per
    MB (/1000, docs/law/units-of-volume.md). Returns the series and one source row per change of
    value.
    """
    steps: list[tuple[dt.date, Decimal | None]] = []
    sources: list[_SourceRow] = []
    for rules in timeline(home, visited):
        cap = rules.cap(service, measure)
        value = None if cap is None else _cap_value(cap, per_mb)
        if steps and steps[-1][1] == value:
            continue
        steps.append((rules.on, value))
        if cap is not None:
            sources.append(
                _SourceRow(
                    label,
                    rules.on,
                    format_decimal(cap.value),
                    cap.unit,
                    cap.parameter,
                    f"{cap.basis.instrument} {cap.basis.article}",
                    cap.grade,
                )
            )
    steps.append((default_catalog().coverage.end + dt.timedelta(days=1), None))
    return Series(label, tuple(steps)), sources


def _x(day: dt.date, left: float, width: float) -> float:
    span = (_CHART_END - _CHART_START).days
    return left + width * (day - _CHART_START).days / span


def step_chart_svg(title: str, unit: str, series: Sequence[Series]) -> str:
    """An inline SVG step chart (log scale) of ``series`` over 2017-2032."""
    w, h, left, right, top, bottom = 760, 300, 62, 12, 28, 96
    pw, ph = w - left - right, h - top - bottom
    values = [float(v) for s in series for _, v in s.steps if v is not None and v > 0]
    lo = math.floor(math.log10(min(values))) if values else -3
    hi = math.ceil(math.log10(max(values))) if values else 0
    hi = max(hi, lo + 1)

    def y(v: Decimal) -> float:
        return top + ph * (hi - math.log10(float(v))) / (hi - lo)

    out = [
        f'<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="{_e(title)}">',
        f'<text x="{left}" y="16" font-size="13" font-weight="600">{_e(title)}</text>',
        f'<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#8c959f"/>',
    ]
    for d in range(lo, hi + 1):
        yy = top + ph * (hi - d) / (hi - lo)
        label = format_decimal(Decimal(10) ** d)
        out.append(
            f'<line x1="{left}" y1="{yy:.1f}" x2="{left + pw}" y2="{yy:.1f}" stroke="#eaeef2"/>'
            f'<text x="{left - 4}" y="{yy + 4:.1f}" font-size="10" text-anchor="end">'
            f"{_e(label)}</text>"
        )
    for year in range(_CHART_START.year, _CHART_END.year + 1):
        xx = _x(dt.date(year, 1, 1), left, pw)
        out.append(
            f'<line x1="{xx:.1f}" y1="{top}" x2="{xx:.1f}" y2="{top + ph}" stroke="#f3f5f7"/>'
            f'<text x="{xx + 2:.1f}" y="{top + ph + 13}" font-size="9">{year}</text>'
        )
    out.append(
        f'<text x="12" y="{top + ph / 2:.0f}" font-size="10" transform="rotate(-90 12 '
        f'{top + ph / 2:.0f})" text-anchor="middle">{_e(unit)} (log scale)</text>'
    )
    for i, s in enumerate(series):
        color = _COLORS[i % len(_COLORS)]
        dash = ' stroke-dasharray="5 3"' if s.dashed else ""
        points: list[str] = []
        paths: list[str] = []
        for (start, value), (end, _) in zip(s.steps, s.steps[1:], strict=False):
            if value is None or value <= 0:
                if points:
                    paths.append(" ".join(points))
                    points = []
                continue
            yy = y(value)
            points.append(f"{_x(start, left, pw):.1f},{yy:.1f}")
            points.append(f"{_x(end, left, pw):.1f},{yy:.1f}")
        if points:
            paths.append(" ".join(points))
        for p in paths:
            out.append(
                f'<polyline points="{p}" fill="none" stroke="{color}" stroke-width="2"{dash}/>'
            )
        ly = top + ph + 30 + 15 * i
        out.append(
            f'<line x1="{left}" y1="{ly - 4}" x2="{left + 24}" y2="{ly - 4}" stroke="{color}" '
            f'stroke-width="2"{dash}/><text x="{left + 30}" y="{ly}" font-size="11">'
            f"{_e(s.label)}</text>"
        )
    out.append("</svg>")
    return "".join(out)


def _pre_agreement(demo: DemoResult, amount: str, label: str) -> tuple[Series, _SourceRow]:
    """The AKEP pre-agreement maximum in EUR (incl. VAT) at the stated 2019-06-30 ALL rate."""
    before = demo.key_dates[0].on
    rate = next(f.units_per_eur for f in demo.fx if f.currency == "ALL" and f.on == before)
    eur = Decimal(amount) / rate
    series = Series(
        f"{label}: Albania pre-agreement maximum, ALL {amount} incl. VAT (AKEP, commsupdate_2019)",
        ((dt.date(2017, 6, 15), eur), (dt.date(2019, 7, 1), None)),
        dashed=True,
    )
    row = _SourceRow(
        series.label,
        dt.date(2017, 6, 15),
        f"ALL {amount} = EUR {_num(eur)} at ALL {rate}/EUR",
        "incl. VAT",
        "-",
        "commsupdate_2019 (CommsUpdate 2019-07-05, AKEP); docs/law/commission-headline.md",
        "secondary",
    )
    return series, row


def _charts(demo: DemoResult) -> str:
    specs = (
        ("Calls made", "EUR/min", "voice_mo", False, "215"),
        ("Data", "EUR/MB", "data", True, "365"),
        ("SMS sent", "EUR/SMS", "sms_mo", False, "65"),
        ("Calls received", "EUR/min", "voice_mt", False, None),
    )
    parts: list[str] = []
    for title, unit, service, per_mb, akep in specs:
        series: list[Series] = []
        rows: list[_SourceRow] = []
        defs = [
            ("EU RLAH: surcharge cap beyond fair use (DE in FR)", "DE", "FR",
             "retail_surcharge_max"),
            ("WB: retail price maximum, phases 1-3 (AL in ME)", "AL", "ME", "retail_price_max"),
            ("WB: surcharge cap, phases 2-3 and beyond fair use (AL in ME)", "AL", "ME",
             "retail_surcharge_max"),
        ]  # fmt: skip
        if service == "data":
            defs.append(("EU-WB: data offer cap per MB (DE in ME)", "DE", "ME", "offer_price_max"))
        for label, home, visited, measure in defs:
            s, src = cap_series(label, home, visited, service, measure, per_mb)
            if src:
                series.append(s)
                rows.extend(src)
        if akep is not None:
            s, row = _pre_agreement(demo, akep, title)
            series.append(s)
            rows.append(row)
        parts.append(f"<h3>{_e(title)} ({_e(unit)}, excl. VAT unless stated)</h3>")
        parts.append(step_chart_svg(f"{title}: caps 2017-2032", unit, series))
        parts.append(
            "<table><tr><th>series</th><th>from</th><th>value</th><th>unit</th>"
            "<th>parameter</th><th>basis</th><th>grade</th></tr>"
        )
        for r in rows:
            parts.append(
                f"<tr><td>{_e(r.series)}</td><td>{r.start.isoformat()}</td>"
                f'<td class="num">{_e(r.value)}</td><td>{_e(r.unit)}</td>'
                f"<td><code>{_e(r.parameter)}</code></td><td>{_e(r.basis)}</td>"
                f'<td><span class="grade">{_e(r.grade)}</span></td></tr>'
            )
        parts.append("</table>")
    return "\n".join(parts)


# -- sections -------------------------------------------------------------------------------


def _headline(h: Headline) -> str:
    def row(label: str, b: PriceRow, a: PriceRow) -> str:
        return (
            f"<tr><td>{_e(label)}</td>"
            f'<td class="num">{_num(b.call_eur_per_min_excl)}</td>'
            f'<td class="num">{_num(b.call_eur_per_min_incl)}</td>'
            f'<td class="num">{_num(a.call_eur_per_min_excl)}</td>'
            f'<td class="num">{_num(a.call_eur_per_min_incl)}</td>'
            f'<td class="num">{_num(b.data_eur_per_mb_excl)}</td>'
            f'<td class="num">{_num(b.data_eur_per_mb_incl)}</td>'
            f'<td class="num">{_num(a.data_eur_per_mb_excl)}</td>'
            f'<td class="num">{_num(a.data_eur_per_mb_incl)}</td></tr>'
        )

    parts = [
        '<div class="box">',
        f"<p>The Commission: <q>{_e(CLAIM_CALLS)}</q>; <q>{_e(CLAIM_DATA)}</q>.</p>",
        f'<p class="big">roamlike, from the sourced inputs: calls up to '
        f"{_times(h.max_call_ratio)} cheaper (plan <code>{_e(h.max_plan)}</code>; "
        f"{_times(h.avg_call_ratio)} on average over Albanian travellers); data from "
        f"EUR {_num(h.max_before.data_eur_per_mb_incl, 2)}/MB to "
        f"EUR {_num(h.max_after.data_eur_per_mb_incl, 3)}/MB incl. VAT "
        f"(EUR {_num(h.max_before.data_eur_per_mb_excl, 2)} to "
        f"EUR {_num(h.max_after.data_eur_per_mb_excl, 3)} excl. VAT).</p>",
        f"<p><strong>Why they differ.</strong> {_e(HEADLINE_WHY)}</p>",
        "<p>Why not exactly eight: the ratio is ALL 215 against the phase-1 cap EUR 0.19 x 1.20 "
        "VAT at the stated ALL rate (about ALL 28), not against AKEP's reported ALL 28.5, and "
        "each date uses its own exchange rate.</p>",
        "</div>",
        f"<p>Albanian subscribers roaming in the WB6, {h.before.isoformat()} vs "
        f"{h.after.isoformat()}, EUR per billed minute of calls made and per billed MB:</p>",
        "<table><tr><th>who</th><th>calls before excl.</th><th>calls before incl.</th>"
        "<th>calls after excl.</th><th>calls after incl.</th><th>data before excl.</th>"
        "<th>data before incl.</th><th>data after excl.</th><th>data after incl.</th></tr>",
        row("all Albanian travellers in the WB6", h.avg_before, h.avg_after),
        row(f"plan {h.max_plan} (AKEP maxima)", h.max_before, h.max_after),
        "</table>",
        "<table><tr><th>key</th><th>source</th><th>grade</th></tr>",
    ]
    for key, text, grade in HEADLINE_SOURCES:
        parts.append(
            f'<tr><td>{_e(key)}</td><td>{_e(text)}</td><td><span class="grade">{_e(grade)}'
            "</span></td></tr>"
        )
    parts.append("</table>")
    return "\n".join(parts)


def _summary(demo: DemoResult) -> str:
    changes = {k.on: k.change for k in demo.key_dates}
    parts = [
        "<table><tr><th>key date</th><th>phase</th><th>route group</th>"
        "<th>records</th><th>calls EUR/min excl. VAT</th><th>incl. VAT</th>"
        "<th>data EUR/MB excl. VAT</th><th>incl. VAT</th><th>calls: times cheaper</th>"
        "<th>data: times cheaper</th><th>total EUR incl. VAT</th></tr>"
    ]
    first = demo.key_dates[0].on
    for r in demo.summary:
        cls = ' class="base"' if r.on == first else ""
        parts.append(
            f"<tr{cls}><td>{r.on.isoformat()}</td><td>{_e(r.phase)}</td>"
            f'<td>{_e(r.route_group)}</td><td class="num">{r.records:,}</td>'
            f'<td class="num">{_num(r.call_eur_per_min_excl)}</td>'
            f'<td class="num">{_num(r.call_eur_per_min_incl)}</td>'
            f'<td class="num">{_num(r.data_eur_per_mb_excl)}</td>'
            f'<td class="num">{_num(r.data_eur_per_mb_incl)}</td>'
            f'<td class="num">{times_cheaper(r.calls_times_cheaper, r.call_eur_per_min_incl)}'
            "</td>"
            f'<td class="num">{times_cheaper(r.data_times_cheaper, r.data_eur_per_mb_incl)}'
            "</td>"
            f'<td class="num">{_num(r.total_incl_eur, 2)}</td></tr>'
        )
    parts.append("</table><p>What changes on each key date:</p><ul>")
    for on, text in changes.items():
        parts.append(f"<li><b>{on.isoformat()}</b>: {_e(text)}</li>")
    parts.append("</ul>")
    return "\n".join(parts)


def _bills(demo: DemoResult) -> str:
    trip = ", ".join(
        f"{times} x {event} "
        + (
            f"{qty // 60} min"
            if event.startswith("voice")
            else (f"{qty // 1_000_000} MB" if event == "data" else "")
        )
        for event, qty, times in TYPICAL_TRIP
    )
    dates = [k.on for k in demo.key_dates]
    parts = [
        f"<p>One trip each: {_e(trip)}. Bill in EUR incl. VAT (calls / SMS / data), rated by the "
        "engine on each key date; the regime applied is shown below the amount.</p>",
        "<table><tr><th>traveller (plan)</th>"
        + "".join(f"<th>{d.isoformat()}</th>" for d in dates)
        + "</tr>",
    ]
    plan_of = {name: plan for name, plan, _, _ in TRAVELLERS}
    by = {(b.traveller, b.on): b for b in demo.bills}
    for name in dict.fromkeys(b.traveller for b in demo.bills):
        cells = []
        for d in dates:
            b = by[(name, d)]
            cells.append(
                f'<td class="num"><b>{_num(b.total_incl_eur, 2)}</b><br>'
                f'<span class="muted">{_num(b.calls_incl_eur, 2)} / {_num(b.sms_incl_eur, 2)} '
                f"/ {_num(b.data_incl_eur, 2)}<br>{_e(b.regime)}</span></td>"
            )
        parts.append(
            f"<tr><td>{_e(name)} (<code>{_e(plan_of.get(name, ''))}</code>)</td>"
            + "".join(cells)
            + "</tr>"
        )
    parts.append("</table>")
    return "\n".join(parts)


def _totals(demo: DemoResult) -> str:
    dates = [k.on for k in demo.key_dates]
    per_date = {d: [r for r in demo.summary if r.on == d and r.route_group != HEADLINE_GROUP]
                for d in dates}  # fmt: skip
    parts = [
        f"<p>{demo.scenario.traffic.height:,} synthetic records x {len(dates)} key dates = "
        f"{demo.rated_rows + demo.rejected_rows:,} records read; {demo.rated_rows:,} rated, "
        f"{demo.rejected_rows:,} rejected (rated + rejected = read).</p>",
        "<table><tr><th>key date</th><th>records</th><th>total EUR excl. VAT</th>"
        "<th>total EUR incl. VAT</th></tr>",
    ]
    for d in dates:
        rows = per_date[d]
        parts.append(
            f'<tr><td>{d.isoformat()}</td><td class="num">{sum(r.records for r in rows):,}'
            f'</td><td class="num">{_num(sum((r.total_excl_eur for r in rows), Decimal(0)), 2)}'
            f'</td><td class="num">{_num(sum((r.total_incl_eur for r in rows), Decimal(0)), 2)}'
            "</td></tr>"
        )
    parts.append("</table>")
    return "\n".join(parts)


def _fx(demo: DemoResult) -> str:
    parts = [
        f"<p>Source: <code>{_e(FX_SOURCE)}</code>. Each plan-currency amount of a key date is "
        "converted at the rate the engine applies on that date (docs/law/exchange-rates.md: the "
        "latest rate "
        "on or before the date for ALL, RSD, MKD, BAM, UAH, MDL). This table is for demos; it is "
        "not a source for billing.</p>",
        "<table><tr><th>currency</th><th>key date</th><th>units per EUR</th>"
        "<th>table row</th><th>method</th><th>grade and source</th></tr>",
    ]
    for f in demo.fx:
        if f.currency == "EUR":
            continue
        parts.append(
            f"<tr><td>{_e(f.currency)}</td><td>{f.on.isoformat()}</td>"
            f'<td class="num">{_e(f.units_per_eur)}</td>'
            f"<td>{_e(f.row_date.isoformat() if f.row_date else '-')}</td>"
            f"<td>{_e(f.method)}</td><td>{_e(f.grade)}</td></tr>"
        )
    parts.append("</table><p>EUR plans (ME, XK, EU homes) need no conversion.</p>")
    return "\n".join(parts)


def _plans(demo: DemoResult) -> str:
    parts = [
        "<p>All prices include VAT (the engine removes the home country's VAT). The regional "
        "prices are what each plan charged in the WB6 before 1 July 2019; from that date the "
        "engine applies the caps of the agreement itself.</p>",
        "<table><tr><th>plan</th><th>currency</th><th>in the WB6: call/min, received/min, "
        "SMS, MB</th><th>in the EU: call/min, received/min, SMS, MB</th><th>provenance</th></tr>",
    ]
    for plan in demo.scenario.plans.values():
        cells = []
        for which in ("wb", "eu"):
            entry = next(
                (p for p in plan.roaming_prices if (p.countries[0] in wb6()) == (which == "wb")),
                None,
            )
            cells.append(
                "-"
                if entry is None
                else ", ".join(
                    str(v)
                    for v in (
                        entry.voice_mo_per_min,
                        entry.voice_mt_per_min,
                        entry.sms_mo,
                        entry.data_per_mb,
                    )
                )
            )
        parts.append(
            f"<tr><td><code>{_e(plan.id)}</code></td><td>{_e(plan.currency)}</td>"
            f"<td>{_e(cells[0])}</td><td>{_e(cells[1])}</td><td>{_e(plan.notes)}</td></tr>"
        )
    parts.append("</table>")
    return "\n".join(parts)


def _instruments() -> str:
    cat = default_catalog()
    parts = ["<table><tr><th>id</th><th>instrument</th><th>reference</th><th>grade</th></tr>"]
    for inst in cat.instruments.values():
        parts.append(
            f"<tr><td><code>{_e(inst.id)}</code></td><td>{_e(inst.title)}</td>"
            f'<td>{_e(inst.reference)}</td><td><span class="grade">{_e(inst.grade)}</span>'
            "</td></tr>"
        )
    parts.append("</table>")
    return "\n".join(parts)


def render_report(demo: DemoResult) -> str:
    """The whole HTML page of a demo run (deterministic, no external resources)."""
    grades = "".join(f"<li><b>{_e(g)}</b>: {_e(t)}</li>" for g, t in _GRADES)
    body = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>roamlike demo: the Western Balkans roaming agreement</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>The Western Balkans roaming agreement, told by the engine</h1>",
        '<p class="muted">roamlike demo on built-in synthetic data. The same year of traffic '
        "is rated as if it had happened on each key date, so only the law changes. Not legal "
        "advice; prices marked illustrative are not sourced.</p>",
        "<h2>The Commission's headline, recomputed</h2>",
        _headline(demo.headline),
        "<h2>Average prices by phase and route group</h2>",
        _summary(demo),
        "<h2>Caps per service, EU and Western Balkans, 2017-2032</h2>",
        "<p>Step charts of the caps in the law catalog (each value with its parameter, basis and "
        "grade below the chart). Per-GB caps are shown per MB (1 GB = 1000 MB). Before "
        "2017-06-15 the catalog has no rules; WB6 routes were unregulated until 2019-06-30.</p>",
        _charts(demo),
        "<h2>The bill of a typical traveller</h2>",
        _bills(demo),
        "<h2>Totals</h2>",
        _totals(demo),
        "<h2>Exchange rates used</h2>",
        _fx(demo),
        "<h2>Sample plans and where their prices come from</h2>",
        _plans(demo),
        "<h2>Method and limits</h2>",
        "<ul>"
        "<li>Traffic: synthetic travellers, one trip each; the whole year is moved to each key "
        "date keeping every record's local time of day (ids get an <code>@date</code> suffix so "
        "the copies never share counters). One trip is one billing period.</li>"
        "<li>Averages: EUR per billed minute of calls made (30 s minimum charge where the plan "
        "or the law has one) and per billed MB of data; in-bundle units cost nothing extra, so "
        "under RLAH the average is close to zero.</li>"
        "<li>EU-WB routes keep the plans' own per-unit prices on every date: the EU-WB cap binds "
        "signatories' data <em>packages</em> (an offer cap), not pay-as-you-go prices "
        "(see <code>roamlike audit</code>).</li>"
        "<li>Every plan keeps using data past the bill-shock limit "
        "(<code>billshock_continue</code>), so averages show list prices.</li>"
        "<li>Ukraine and Moldova in the EU before 2026 are rated as unregulated; the voluntary "
        "EU-Ukraine operators' statement (2022-2025) is not in the catalog.</li>"
        "</ul>",
        "<h2>Sources</h2>",
        _instruments(),
        f"<p>Grades:</p><ul>{grades}</ul>",
        "<footer>Generated by <code>roamlike demo</code>. Files next to this page: "
        "<code>rated.parquet</code> (every rated record, with <code>scenario_date</code>) and "
        "<code>summary.csv</code> (the table above).</footer>",
        "</body></html>",
    ]
    return "\n".join(body) + "\n"
