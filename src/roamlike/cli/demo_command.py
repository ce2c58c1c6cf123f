"""``roamlike demo``: the Western Balkans roaming agreement, told by the engine on built-in data.

A thin view over :func:`roamlike.demo.run_demo`: the table of average prices by phase and route
group, the Commission's headline recomputed with its sources, the exchange rates used, and the
path of the report go to stdout. Exit codes (README.md): 0 ok, 1 finished with rejects, 2 usage
error (bad option value), 3 an output cannot be written.
"""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich import box
from rich.table import Table

from roamlike.cli import app
from roamlike.cli.common import console, err_console, fail, handle
from roamlike.demo import DemoResult, run_demo
from roamlike.demo.report import (
    CLAIM_CALLS,
    CLAIM_DATA,
    HEADLINE_SOURCES,
    HEADLINE_WHY,
    times_cheaper,
)
from roamlike.demo.scenario import FX_SOURCE
from roamlike.errors import EXIT_FINDINGS, EXIT_USAGE, RoamlikeError

__all__ = ["demo"]


def _n(value: Decimal | None, places: int = 4) -> str:
    return "-" if value is None else str(value.quantize(Decimal(1).scaleb(-places)))


def _price_table(result: DemoResult) -> Table:
    table = Table(
        title="Average roaming prices, EUR (same traffic on each key date)",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        caption="EUR per billed minute of calls made and per billed MB, excl./incl. VAT; calls, "
        "data: times cheaper than on 2019-06-30 (incl. VAT); free = nothing beyond the bundle",
    )
    table.add_column("key date", min_width=10, max_width=11)
    table.add_column("route", no_wrap=True)
    for name in ("/min\nexcl", "/min\nincl", "/MB\nexcl", "/MB\nincl", "calls\nx", "data\nx"):
        table.add_column(name, justify="right", no_wrap=True)
    previous = None
    line = 0
    for r in result.summary:
        if previous is not None and r.on != previous:
            table.add_section()
            line = 0
        previous = r.on
        first = (r.on.isoformat(), r.phase, "")
        table.add_row(
            first[min(line, 2)],
            r.route_group,
            _n(r.call_eur_per_min_excl),
            _n(r.call_eur_per_min_incl),
            _n(r.data_eur_per_mb_excl),
            _n(r.data_eur_per_mb_incl),
            times_cheaper(r.calls_times_cheaper, r.call_eur_per_min_incl, "free"),
            times_cheaper(r.data_times_cheaper, r.data_eur_per_mb_incl, "free"),
        )
        line += 1
    return table


def _headline(result: DemoResult) -> None:
    h = result.headline
    console.print("\n[bold]The Commission's headline for 1 July 2019[/]", highlight=False)
    console.print(
        f'  the Commission says: "{CLAIM_CALLS}"; "{CLAIM_DATA}"', highlight=False, soft_wrap=True
    )
    console.print(
        f"  roamlike computes: calls up to {times_cheaper(h.max_call_ratio, None)} cheaper "
        f"(plan {h.max_plan}: EUR {_n(h.max_before.call_eur_per_min_incl)} -> "
        f"{_n(h.max_after.call_eur_per_min_incl)}/min incl. VAT; "
        f"{times_cheaper(h.avg_call_ratio, None)} on average over Albanian travellers in the "
        f"WB6); data EUR {_n(h.max_before.data_eur_per_mb_incl, 2)}/MB -> "
        f"EUR {_n(h.max_after.data_eur_per_mb_incl, 3)}/MB incl. VAT "
        f"(EUR {_n(h.max_before.data_eur_per_mb_excl, 2)} -> "
        f"{_n(h.max_after.data_eur_per_mb_excl, 3)} excl. VAT)",
        highlight=False,
        soft_wrap=True,
    )
    console.print(f"  why they differ: {HEADLINE_WHY}", highlight=False, soft_wrap=True)
    console.print("  sources (src/roamlike/law/sources.yaml):", highlight=False)
    for key, text, grade in HEADLINE_SOURCES:
        console.print(f"    {key} [{grade}] {text}", highlight=False, soft_wrap=True, markup=False)


def _fx_lines(result: DemoResult) -> None:
    console.print(
        "\n[bold]Exchange rates used[/] (units per EUR on each key date; EUR plans need none)",
        highlight=False,
    )
    for currency in sorted({f.currency for f in result.fx} - {"EUR"}):
        uses = [f for f in result.fx if f.currency == currency]
        rates = ", ".join(f"{f.on.isoformat()} {f.units_per_eur}" for f in uses)
        console.print(
            f"  {currency}: {rates}  [{uses[0].grade}]",
            highlight=False,
            soft_wrap=True,
            markup=False,
        )


@app.command("demo")
def demo(
    out: Annotated[
        Path, typer.Option("--out", help="Output directory (created if missing).")
    ] = Path("demo-output"),
    records: Annotated[
        int, typer.Option("--records", help="Records in the synthetic year (>= 1000).")
    ] = 200_000,
    seed: Annotated[int, typer.Option("--seed", help="Traffic seed (same seed, same files).")] = (
        2019
    ),
) -> None:
    """Rate one synthetic year of traffic on each key date of the WB agreement and the EU rules."""
    if records < 1000:
        fail(f"--records: expected a whole number >= 1000, found {records}", EXIT_USAGE)
    if seed < 0:
        fail(f"--seed: expected a whole number >= 0, found {seed}", EXIT_USAGE)
    began = time.perf_counter()
    try:
        with err_console.status(f"rating {records:,} records on 7 key dates"):
            result = run_demo(out, records=records, seed=seed)
    except RoamlikeError as exc:
        handle(exc)
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)
    console.print(_price_table(result))
    _headline(result)
    _fx_lines(result)
    console.print(
        f"  source: {FX_SOURCE}; each rate with its table row is in the report.\n"
        f"{result.rated_rows:,} records rated, "
        f"{result.rejected_rows:,} rejected, in {time.perf_counter() - began:.1f} s.",
        highlight=False,
        soft_wrap=True,
    )
    console.print(f"report:  {result.report_path}", highlight=False, soft_wrap=True)
    console.print(
        f"tables:  {result.rated_path}, {result.summary_path}", highlight=False, soft_wrap=True
    )
    if result.rejected_rows:
        raise typer.Exit(EXIT_FINDINGS)
