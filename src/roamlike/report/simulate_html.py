"""The what-if report: one self-contained HTML page (inline CSS and SVG charts, no scripts, no
links to other resources), deterministic for the same simulation.

It says first that the scenario is hypothetical, lists its changes with their basis, then shows
the travellers' savings by country pair and the wholesale balance by country as bar charts, and
the tables behind them. Every figure is in euro, exact to the cent as shown (the Parquet tables
hold micro-euro).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from pathlib import Path

import polars as pl

from roamlike.io.text import write_text_atomic
from roamlike.simulate.run import Simulation

#: Largest number of bars in a chart (the tables list every row).
MAX_BARS = 20

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:2rem auto;
max-width:72rem;padding:0 1rem;color:#1b1f24;line-height:1.4}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;
border-bottom:2px solid #d0d7de;padding-bottom:.2rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem;font-size:.88rem}
th,td{border:1px solid #d0d7de;padding:.3rem .45rem;text-align:left;vertical-align:top}
th{background:#f3f5f7}td.num{text-align:right;font-variant-numeric:tabular-nums}
.hypothetical{background:#fff8c5;border:1px solid #d4a72c;padding:.5rem .8rem;border-radius:.4rem}
svg{max-width:100%;height:auto}.muted{color:#57606a}
"""


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _eur(micros: int | None) -> str:
    """Micro-euro as euro with two decimals, rounded half-even for display only.

    Examples
    --------
    >>> _eur(1_234_565_000), _eur(-5_000), _eur(None)
    ('1,234.56', '-0.00', '-')
    """
    if micros is None:
        return "-"
    sign = "-" if micros < 0 else ""
    cents, rest = divmod(abs(micros), 10_000)
    if rest > 5_000 or (rest == 5_000 and cents % 2 == 1):
        cents += 1
    return f"{sign}{cents // 100:,}.{cents % 100:02d}"


def bar_chart_svg(title: str, labels: Sequence[str], values: Sequence[int]) -> str:
    """A horizontal bar chart of micro-euro values (negative bars to the left of the axis).

    Parameters
    ----------
    title : str
        Accessible name of the chart.
    labels, values
        One bar per label; ``values`` in micro-euro.
    """
    bar, gap, label_w, value_w, plot_w = 18, 6, 110, 90, 420
    height = max(1, len(values)) * (bar + gap) + 30
    width = label_w + plot_w + value_w
    top = max([abs(v) for v in values] + [1])
    negative = any(v < 0 for v in values)
    zero = label_w + (plot_w // 2 if negative else 0)
    scale = (plot_w // 2 if negative else plot_w) / top
    out = [
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{_e(title)}" xmlns="http://www.w3.org/2000/svg">',
        f'<line x1="{zero}" y1="0" x2="{zero}" y2="{height - 20}" stroke="#57606a"/>',
    ]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = i * (bar + gap) + 4
        length = round(abs(value) * scale)
        x = zero if value >= 0 else zero - length
        colour = "#1a7f37" if value >= 0 else "#cf222e"
        out.append(
            f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end" font-size="12">'
            f"{_e(label)}</text>"
            f'<rect x="{x}" y="{y}" width="{max(length, 1)}" height="{bar}" fill="{colour}">'
            f"<title>{_e(label)}: EUR {_eur(value)}</title></rect>"
            f'<text x="{label_w + plot_w + 4}" y="{y + 13}" font-size="12">{_eur(value)}</text>'
        )
    out.append(
        f'<text x="{zero}" y="{height - 5}" font-size="11" text-anchor="middle">EUR 0</text></svg>'
    )
    return "".join(out)


def _chart(frame: pl.DataFrame, label: str, value: str, title: str, what: str) -> str:
    if not frame.height:
        return f'<p class="muted">No {_e(what)} changes.</p>'
    return bar_chart_svg(
        title, frame.get_column(label).to_list(), frame.get_column(value).to_list()
    )


def _table(frame: pl.DataFrame, money: Sequence[str]) -> list[str]:
    head = "".join(f"<th>{_e(c.replace('_micros_eur', ' (EUR)'))}</th>" for c in frame.columns)
    out = [f"<table><thead><tr>{head}</tr></thead><tbody>"]
    for row in frame.iter_rows(named=True):
        cells = []
        for column, value in row.items():
            if column in money:
                cells.append(f'<td class="num">{_eur(value)}</td>')
            elif isinstance(value, bool):
                cells.append(f"<td>{'yes' if value else 'no'}</td>")
            elif isinstance(value, int):
                cells.append(f'<td class="num">{value:,}</td>')
            else:
                cells.append(f"<td>{_e('' if value is None else value)}</td>")
        out.append(f"<tr>{''.join(cells)}</tr>")
    out.append("</tbody></table>")
    return out


def render_simulation_html(sim: Simulation) -> str:
    """The report of a simulation as one HTML5 document."""
    sc = sim.scenario
    name = sc.name
    savings = sim.savings
    pairs = (
        savings.filter(pl.col("home_country") != pl.col("visited_country"))
        .group_by("home_country", "visited_country")
        .agg(
            pl.col(
                "baseline_charge_micros_eur", "scenario_charge_micros_eur", "savings_micros_eur"
            ).sum(),
            is_hypothetical=pl.col("is_hypothetical").any(),
        )
        .with_columns(pair=pl.col("home_country") + pl.lit("\u2192") + pl.col("visited_country"))
        .sort(pl.col("savings_micros_eur").abs(), "pair", descending=[True, False])
    )
    top = pairs.filter(pl.col("savings_micros_eur") != 0).head(MAX_BARS)
    balance = sim.balance
    net = (
        balance.filter(pl.col("scenario") == name)
        .select("country", scenario="net_micros_eur")
        .join(
            balance.filter(pl.col("scenario") == "baseline").select(
                "country", baseline="net_micros_eur"
            ),
            on="country",
            how="full",
            coalesce=True,
        )
        .with_columns(pl.col("scenario", "baseline").fill_null(0))
        .with_columns(change=pl.col("scenario") - pl.col("baseline"))
        .sort(pl.col("change").abs(), "country", descending=[True, False])
    )
    total_saved = int(pairs.get_column("savings_micros_eur").sum() or 0)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>What if: {_e(sc.title)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<header><h1>What if: {_e(sc.title)}</h1>",
        '<p class="hypothetical"><strong>Hypothetical.</strong> This scenario '
        f"(<code>{_e(name)}</code>) is not the law: every value it changes carries the grade "
        "<em>hypothetical</em>; rows that rest on one are marked in the tables. The baseline is "
        "the law as encoded in the catalog.</p>",
        f"<p>{_e(sc.description)}</p></header>",
        "<h2>Changes</h2><table><thead><tr><th>change</th><th>from</th><th>basis</th>"
        "<th>grade</th><th>notes</th></tr></thead><tbody>",
    ]
    parts.extend(
        f"<tr><td>{_e(c.summary)}</td><td>{c.start.isoformat()}</td><td>{_e(c.basis.cite())}"
        f"</td><td>hypothetical</td><td>{_e(c.notes)}</td></tr>"
        for c in sc.changes
    )
    parts.append(
        "</tbody></table><h2>Runs</h2><table><thead><tr><th>run</th><th>read</th>"
        "<th>rated</th><th>rejected</th></tr></thead><tbody>"
    )
    parts.extend(
        f'<tr><td>{_e(run)}</td><td class="num">{s.read:,}</td><td class="num">{s.rated:,}</td>'
        f'<td class="num">{s.rejected:,}</td></tr>'
        for run, s in sim.runs.items()
    )
    parts.append("</tbody></table><h2>Totals</h2>")
    totals = (
        sim.summary.filter(pl.col("home_country") != pl.col("visited_country"))
        .group_by("scenario")
        .agg(
            pl.col("records").sum().alias("roaming records"),
            pl.col("charge_micros_eur").sum().alias("retail_micros_eur"),
            pl.col("surcharge_micros_eur").sum(),
            pl.col("wholesale_micros_eur").sum(),
        )
        .sort(pl.col("scenario") != "baseline", "scenario")
    )
    parts.extend(
        _table(totals, ("retail_micros_eur", "surcharge_micros_eur", "wholesale_micros_eur"))
    )
    parts.append(
        "<h2>Travellers' savings by country pair</h2>"
        f"<p>Retail charges excl. VAT, baseline minus scenario: <strong>EUR "
        f"{_eur(total_saved)}</strong> in total over roaming pairs (negative: travellers pay "
        f"more). The {min(MAX_BARS, top.height)} largest changes:</p>"
    )
    parts.append(
        _chart(top, "pair", "savings_micros_eur", "savings by country pair (EUR)", "retail charge")
    )
    shown_net = net.filter(pl.col("change") != 0).head(MAX_BARS)
    parts.append(
        "<h2>Wholesale balance by country</h2><p>Wholesale flows valued at the caps in force: "
        "inbound (visitors' home operators pay the country's networks) minus outbound (the "
        "country's operators pay abroad). Change of the net balance, scenario minus baseline:</p>"
    )
    parts.append(
        _chart(
            shown_net,
            "country",
            "change",
            "change of the wholesale net balance by country (EUR)",
            "wholesale balance",
        )
    )
    parts.append("<h2>Savings by country pair</h2>")
    parts.extend(
        _table(
            pairs.select(
                "pair",
                "baseline_charge_micros_eur",
                "scenario_charge_micros_eur",
                "savings_micros_eur",
                "is_hypothetical",
            ),
            ("baseline_charge_micros_eur", "scenario_charge_micros_eur", "savings_micros_eur"),
        )
    )
    parts.append("<h2>Wholesale balance by country</h2>")
    parts.extend(_table(balance, ("inbound_micros_eur", "outbound_micros_eur", "net_micros_eur")))
    parts.append(
        "<h2>Wholesale outbound by home operator</h2><p>What each operator's customers' use "
        "abroad costs it at most at wholesale (usage records do not name the visited network, "
        "so inbound flows are per country only).</p>"
    )
    operators = (
        sim.wholesale.group_by("scenario", "home_country", "home_operator")
        .agg(pl.col("wholesale_micros_eur").sum().alias("outbound_micros_eur"))
        .sort("home_country", "home_operator", pl.col("scenario") != "baseline")
    )
    parts.extend(_table(operators, ("outbound_micros_eur",)))
    parts.append(
        '<footer><p class="muted">Generated by roamlike simulate. Amounts in euro excl. VAT, '
        "converted from plan currencies with the exchange-rate rule the law applies to caps "
        "(Regulation (EU) 2022/612 Art. 1(4)). Wholesale volumes: seconds of calls made, SMS "
        "sent, bytes of data; received calls, SMS and MMS are not valued. Details: "
        "docs/simulate.md.</p></footer></body></html>"
    )
    return "\n".join(parts) + "\n"


def write_simulation_html(sim: Simulation, path: Path) -> None:
    """Write :func:`render_simulation_html` atomically (``OutputError`` if it cannot)."""
    write_text_atomic(path, render_simulation_html(sim))
