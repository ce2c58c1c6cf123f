"""``roamlike synth``: write synthetic usage, the plans it uses and their FX rates.

A thin view over :func:`roamlike.synth.generate` and :func:`roamlike.io.write_table`. Progress and
the summary go to stderr. Exit codes (README.md): 0 ok, 2 usage error (bad option value),
3 an output cannot be written.
"""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
import yaml
from rich.table import Table

from roamlike.cli import app
from roamlike.cli.common import err_console, fail, handle, parse_date
from roamlike.errors import EXIT_USAGE, RoamlikeError
from roamlike.io import write_table
from roamlike.io.text import write_text_atomic
from roamlike.synth import generate
from roamlike.synth.flows import generate_flows, read_flows


def plans_yaml(plans: list[dict[str, Any]]) -> str:
    """Plans as a YAML document ``{"plans": [...]}``; every string (prices too) is quoted."""

    class _Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data: object) -> bool:
            return True  # plan files refuse aliases: write shared values out

    def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')

    _Dumper.add_representer(str, _str)
    return yaml.dump({"plans": plans}, Dumper=_Dumper, sort_keys=False, allow_unicode=True)


def fx_csv(rows: list[tuple[dt.date, str, Decimal]]) -> str:
    """FX rows as CSV ``date,currency,units_per_eur`` (the format of ``FxTable.from_csv``)."""
    lines = ["date,currency,units_per_eur"]
    lines += [f"{day.isoformat()},{currency},{rate}" for day, currency, rate in rows]
    return "\n".join(lines) + "\n"


def _summary(usage: pl.DataFrame, seconds: float) -> Table:
    table = Table(title="synthetic usage", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    roaming = int((usage["home_country"] != usage["visited_country"]).sum())
    table.add_row("records", f"{usage.height:,}")
    table.add_row("subscribers", f"{usage['subscriber_id'].n_unique():,}")
    table.add_row("roaming records", f"{roaming:,}")
    if usage.height:
        table.add_row("first started_at", str(usage["started_at"].min()))
        table.add_row("last started_at", str(usage["started_at"].max()))
    table.add_row("generated in", f"{seconds:.1f} s")
    return table


@app.command("synth")
def synth(
    out: Annotated[Path, typer.Option("--out", help="Usage output (.parquet, .csv or .jsonl).")],
    records: Annotated[
        int | None, typer.Option("--records", min=0, help="Number of usage records.")
    ] = None,
    flows: Annotated[
        Path | None,
        typer.Option(
            "--flows",
            help="Travel statistics (CSV: trips per home, visited, month and per-trip use); "
            "generates usage matching them instead of --records (see docs/simulate.md).",
        ),
    ] = None,
    plans_out: Annotated[
        Path | None, typer.Option("--plans-out", help="Write the plans (YAML) here.")
    ] = None,
    fx_out: Annotated[
        Path | None, typer.Option("--fx-out", help="Write the FX rates (CSV) here.")
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same files).")] = 7,
    start: Annotated[
        str, typer.Option("--start", help="First day of the window, YYYY-MM-DD (UTC).")
    ] = "2026-01-01",
    months: Annotated[int, typer.Option("--months", min=1, help="Window length in months.")] = 3,
) -> None:
    """Generate realistic synthetic roaming usage with its tariff plans and FX rates."""
    start_day = parse_date(start, "--start")
    if seed < 0:
        fail(f"--seed: expected a whole number >= 0, found {seed}", EXIT_USAGE)
    if (records is None) == (flows is None):
        fail("give either --records N or --flows FLOWS.csv (not both)", EXIT_USAGE)
    began = time.perf_counter()
    try:
        if flows is not None:
            with err_console.status(f"generating usage from {flows}"):
                result = generate_flows(read_flows(flows), seed=seed)
        else:
            assert records is not None
            with err_console.status(f"generating {records:,} records"):
                result = generate(records, seed=seed, start=start_day, months=months)
        with err_console.status(f"writing {out}"):
            write_table(result.usage, out)
        if plans_out is not None:
            write_text_atomic(plans_out, plans_yaml(result.plans))
        if fx_out is not None:
            write_text_atomic(fx_out, fx_csv(result.fx_rows))
    except RoamlikeError as exc:
        handle(exc)
    err_console.print(_summary(result.usage, time.perf_counter() - began))
    written = [str(p) for p in (out, plans_out, fx_out) if p is not None]
    err_console.print(f"wrote {', '.join(written)}", highlight=False, soft_wrap=True)


__all__ = ["fx_csv", "plans_yaml", "synth"]
