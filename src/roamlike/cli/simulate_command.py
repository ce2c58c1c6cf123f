"""``roamlike simulate``: rate usage under the baseline law and a what-if scenario, and report.

Exit codes: 0 ok, 1 finished but records were rejected in a run, 2 usage error,
3 data error (invalid scenario, plans, FX or usage file; an output cannot be written).
"""

from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from roamlike.cli import app
from roamlike.cli.common import err_console, handle
from roamlike.errors import EXIT_FINDINGS, RoamlikeError
from roamlike.law import default_catalog, format_decimal
from roamlike.law.scenarios import load_scenario
from roamlike.pipeline import DEFAULT_BATCH_ROWS
from roamlike.report.simulate_html import write_simulation_html
from roamlike.simulate import builtin_names, scenario_path
from roamlike.simulate.run import simulate
from roamlike.tariffs import FxTable, load_plans


@app.command("simulate")
def simulate_command(
    scenario: Annotated[
        str,
        typer.Option(
            "--scenario",
            help="A scenario file (.yaml) or a built-in name: " + ", ".join(builtin_names()) + ".",
        ),
    ],
    usage_file: Annotated[Path, typer.Option("--usage", help="Usage records.")],
    plans_file: Annotated[Path, typer.Option("--plans", help="Plans file (.yaml/.json).")],
    out: Annotated[Path, typer.Option("--out", help="Output folder (created if missing).")],
    fx_file: Annotated[
        Path | None, typer.Option("--fx", help="FX CSV: date,currency,units_per_eur.")
    ] = None,
    mapping: Annotated[
        Path | None, typer.Option("--mapping", help="YAML mapping of vendor column names.")
    ] = None,
    batch_rows: Annotated[
        int, typer.Option("--batch-rows", min=1, help="Records rated at a time (memory bound).")
    ] = DEFAULT_BATCH_ROWS,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress or summary.")] = False,
) -> None:
    """Rate the same usage under the baseline and a hypothetical scenario; compare them.

    Writes DIR/summary.csv (one row per scenario, home, visited, service and month),
    Parquet tables of savings and wholesale flows, and DIR/report.html.
    """
    began = time.perf_counter()
    try:
        sc = load_scenario(scenario_path(scenario), default_catalog())
        plans = load_plans(plans_file)
        fx = FxTable.from_csv(fx_file) if fx_file is not None else FxTable()

        def progress(step: str) -> None:
            if not quiet:
                err_console.print(step, highlight=False)

        sim = simulate(
            usage_file,
            plans,
            fx,
            sc,
            out,
            mapping=mapping,
            batch_rows=batch_rows,
            progress=progress,
            report=write_simulation_html,
        )
    except RoamlikeError as exc:
        handle(exc)
    rejected = sum(s.rejected for s in sim.runs.values())
    if not quiet:
        for name, s in sim.runs.items():
            err_console.print(
                f"{name}: read {s.read:,} = rated {s.rated:,} + rejected {s.rejected:,}",
                highlight=False,
            )
        roaming = sim.savings.filter(pl.col("home_country") != pl.col("visited_country"))
        saved = int(roaming.get_column("savings_micros_eur").sum() or 0)
        err_console.print(
            f"travellers' savings (retail charges excl. VAT, baseline - scenario): EUR "
            f"{format_decimal(Decimal(saved).scaleb(-6))}",
            highlight=False,
            soft_wrap=True,
        )
        err_console.print(
            f"scenario {sc.name} (hypothetical) simulated in {time.perf_counter() - began:.1f} s; "
            f"wrote {out / 'summary.csv'}, {out / 'report.html'}",
            highlight=False,
            soft_wrap=True,
        )
    if rejected:
        raise typer.Exit(EXIT_FINDINGS)
