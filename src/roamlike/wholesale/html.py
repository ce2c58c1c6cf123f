"""Self-contained HTML reports for the wholesale check and the settlement.

Inline CSS and inline SVG bar charts only (no script, font or link), every text escaped, the same
input giving the same bytes, so a report opens offline and can be archived as one file.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

import polars as pl

from roamlike.wholesale.findings import Finding
from roamlike.wholesale.settle import Settlement

_CSS = (
    "body{font-family:system-ui,Arial,sans-serif;margin:2rem auto;max-width:78rem;padding:0 1rem;"
    "color:#1b1f24}table{border-collapse:collapse;width:100%;font-size:.88rem;margin:.5rem 0 1rem}"
    "th,td{border:1px solid #d0d7de;padding:.3rem .45rem;text-align:left}th{background:#f3f5f7}"
    "td.num{text-align:right;font-variant-numeric:tabular-nums}.fatal,.severe{background:#ffebe9}"
    ".warning{background:#fff8c5}h2{border-bottom:2px solid #d0d7de}svg text{font-size:11px}"
)


def eur(micros: int | None) -> str:
    """Micro-euro as a decimal euro string (exact).

    Examples
    --------
    >>> eur(1_234_567)
    '1.234567'
    >>> eur(-5)
    '-0.000005'
    """
    if micros is None:
        return "-"
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), 1_000_000)
    return f"{sign}{whole}.{frac:06d}"


def _table(df: pl.DataFrame) -> str:
    head = "".join(f"<th>{escape(c)}</th>" for c in df.columns)
    rows = []
    for r in df.iter_rows():
        cells = []
        for c, v in zip(df.columns, r, strict=True):
            text = (
                eur(v)
                if c.endswith("_micros") and isinstance(v, int)
                else ("-" if v is None else str(v))
            )
            cls = ' class="num"' if isinstance(v, int | float) and not isinstance(v, bool) else ""
            cells.append(f"<td{cls}>{escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(rows)}</table>"


def _bars(title: str, labels: Sequence[str], values: Sequence[int], unit: str) -> str:
    """A horizontal bar chart (SVG) of non-negative micro-euro values."""
    if not values:
        return ""
    top = max(max(values), 1)
    height = 22 * len(values) + 30
    parts = [
        f'<svg role="img" aria-label="{escape(title)}" width="760" height="{height}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<text x="0" y="14" font-weight="bold">{escape(title)}</text>',
    ]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = 24 + 22 * i
        width = max(1, round(460 * max(value, 0) / top))
        parts.append(f'<text x="0" y="{y + 14}">{escape(label)}</text>')
        parts.append(f'<rect x="220" y="{y}" width="{width}" height="16" fill="#4a78b8"/>')
        parts.append(f'<text x="{226 + width}" y="{y + 13}">{escape(eur(value))} {unit}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _findings(findings: Sequence[Finding]) -> str:
    if not findings:
        return "<p>No findings.</p>"
    rows = "".join(
        f'<tr class="{f.severity}"><td>{f.severity}</td><td><code>{escape(f.code)}</code></td>'
        f"<td>{escape(f.path)}</td><td>{escape(f.message)}</td></tr>"
        for f in findings
    )
    head = "<tr><th>severity</th><th>code</th><th>where</th><th>message</th></tr>"
    return f"<table>{head}{rows}</table>"


def _page(title: str, body: str) -> str:
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{_CSS}</style></head><body><h1>{escape(title)}</h1>{body}<footer><p>roamlike: "
        "amounts in euro, exact to 10^-6; caps with their legal basis and grade from the law "
        "catalog.</p></footer></body></html>\n"
    )


def render_check_html(
    partners: pl.DataFrame, status_counts: pl.DataFrame, findings: Sequence[Finding]
) -> str:
    """The wholesale check report: totals per partner and month against the caps, findings."""
    labels = [
        f"{r['sender']}->{r['recipient']} {r['month']} {r['service']}"
        for r in partners.iter_rows(named=True)
    ]
    chart = _bars(
        "Charged (EUR) per partner, month and service",
        labels,
        partners.get_column("charge_eur_micros").to_list(),
        "EUR",
    ) + _bars(
        "Excess over the cap (EUR)",
        labels,
        partners.get_column("excess_eur_micros").to_list(),
        "EUR",
    )
    body = (
        "<h2>Events by check status</h2>"
        + _table(status_counts)
        + "<h2>Partners against the wholesale caps</h2>"
        + chart
        + _table(partners)
        + "<h2>Findings</h2>"
        + _findings(findings)
    )
    return _page("Wholesale roaming charges against the caps", body)


def render_settlement_html(s: Settlement) -> str:
    """The settlement report: lines, net positions and who owes whom."""
    labels = [
        f"{r['debtor'] or '-'} owes {r['creditor'] or '-'}" for r in s.net.iter_rows(named=True)
    ]
    body = (
        _bars(
            "Net positions (EUR)",
            labels,
            s.net.get_column("amount_owed_eur_micros").to_list(),
            "EUR",
        )
        + "<h2>Net positions</h2>"
        + _table(s.net)
        + "<h2>Lines per operator pair and service</h2>"
        + _table(s.lines)
    )
    return _page(f"Wholesale settlement {s.period}", body)
