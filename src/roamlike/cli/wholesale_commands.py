"""``roamlike wholesale check`` and ``roamlike wholesale settle``: TAP charges against the caps,
and the monthly settlement between operators.

A thin view over :mod:`roamlike.wholesale`; no rule lives here. Exit codes: 0 ok; 1 a fatal or
severe finding (in a file or in the check); 2 usage error; 3 unreadable FX table, unwritable output.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from rich.table import Table

from roamlike.cli import app
from roamlike.cli.common import console, fail, handle, print_json
from roamlike.errors import EXIT_DATA, EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, RoamlikeError
from roamlike.io import write_table
from roamlike.io.text import write_text_atomic
from roamlike.law import default_catalog
from roamlike.tariffs import FxTable
from roamlike.wholesale import Finding, TapFile, decode_file, is_blocking
from roamlike.wholesale.check import CheckResult, check_wholesale
from roamlike.wholesale.events import EVENT_SCHEMA
from roamlike.wholesale.html import eur, render_check_html, render_settlement_html
from roamlike.wholesale.settle import settle

wholesale_app = typer.Typer(help="Wholesale charges: cap check, settlement.", no_args_is_help=True)
app.add_typer(wholesale_app, name="wholesale")

FxOption = Annotated[
    Path | None,
    typer.Option(
        "--fx", help="Exchange rates, CSV date,currency,units_per_eur (non-euro TAP files)."
    ),
]


def _decode_and_check(files: list[Path], fx_path: Path | None) -> tuple[list[TapFile], CheckResult]:
    catalog = default_catalog()
    fx = FxTable.from_csv(fx_path) if fx_path is not None else None
    taps = [decode_file(p, catalog) for p in files]
    events = pl.concat([t.events for t in taps]) if taps else pl.DataFrame(schema=EVENT_SCHEMA)
    return taps, check_wholesale(events.rechunk(), catalog, fx)


def _json_rows(df: pl.DataFrame) -> list[dict[str, Any]]:
    out = []
    for r in df.iter_rows(named=True):
        out.append(
            {k: (eur(v) if k.endswith("_micros") and v is not None else v) for k, v in r.items()}
        )
    return out


def _status_counts(result: CheckResult) -> pl.DataFrame:
    return result.events.group_by("status").agg(pl.len().alias("events")).sort("status")


@wholesale_app.command("check")
def check_command(
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", help="TAP files.")],
    fx_path: FxOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    html: Annotated[
        Path | None, typer.Option("--html", metavar="REPORT", help="Write an HTML report.")
    ] = None,
) -> None:
    """Check each event's price per minute, SMS or MB against the wholesale cap in force."""
    try:
        taps, result = _decode_and_check(files, fx_path)
        findings: list[Finding] = [x for t in taps for x in t.findings] + result.findings
        if html is not None:
            write_text_atomic(
                html, render_check_html(result.partners, _status_counts(result), findings)
            )
    except RoamlikeError as exc:
        handle(exc)
    if as_json:
        print_json(
            {
                "files": [t.to_json(with_events=False) for t in taps],
                "status": dict(_status_counts(result).iter_rows()),
                "partners": _json_rows(result.partners),
                "findings": [x.to_json() for x in result.findings],
            }
        )
    else:
        table = Table(title="Wholesale charges against the caps (EUR)")
        for c in (
            "sender",
            "recipient",
            "month",
            "service",
            "cap",
            "events",
            "charged",
            "at cap",
            "excess",
        ):
            table.add_column(c)
        for r in result.partners.iter_rows(named=True):
            table.add_row(
                r["sender"],
                r["recipient"],
                r["month"],
                r["service"],
                f"{r['cap_value']} {r['cap_unit']}",
                str(r["events"]),
                eur(r["charge_eur_micros"]),
                eur(r["at_cap_eur_micros"]),
                eur(r["excess_eur_micros"]),
            )
        console.print(table)
        for status, n in _status_counts(result).iter_rows():
            console.print(f"{status}: {n} events", highlight=False)
        for x in findings[:50]:
            console.print(f"{x.severity:8} {x.code:28} {x.path}  {x.message}", highlight=False)
    raise typer.Exit(EXIT_FINDINGS if is_blocking(findings) else EXIT_OK)


@wholesale_app.command("settle")
def settle_command(
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", help="TAP files.")],
    period: Annotated[
        str, typer.Option("--period", metavar="YYYY-MM", help="The month to settle.")
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", metavar="DIR", help="Write tables (Parquet, CSV) and an HTML report here."
        ),
    ] = None,
    fx_path: FxOption = None,
) -> None:
    """Settle a month between operators: lines per pair and service, net positions."""
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", period):
        fail(f"--period: expected YYYY-MM, found {period!r}", EXIT_USAGE)
    try:
        taps, result = _decode_and_check(files, fx_path)
        s = settle(result.events, period)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            for name, df in (("settlement_lines", s.lines), ("net_positions", s.net)):
                write_table(df, out / f"{name}.parquet")
                write_table(df, out / f"{name}.csv")
            write_text_atomic(out / "settlement.html", render_settlement_html(s))
    except OSError as exc:
        fail(f"{out}: cannot create the output directory: {exc.strerror or exc}", EXIT_DATA)
    except RoamlikeError as exc:
        handle(exc)
    table = Table(title=f"Net positions {period} (EUR)")
    for c in (
        "operator a",
        "operator b",
        "a charged b",
        "b charged a",
        "debtor",
        "creditor",
        "owed",
    ):
        table.add_column(c)
    for r in s.net.iter_rows(named=True):
        table.add_row(
            r["operator_a"],
            r["operator_b"],
            eur(r["a_charged_b_eur_micros"]),
            eur(r["b_charged_a_eur_micros"]),
            r["debtor"] or "-",
            r["creditor"] or "-",
            eur(r["amount_owed_eur_micros"]),
        )
    console.print(table)
    findings = [x for t in taps for x in t.findings]
    raise typer.Exit(EXIT_FINDINGS if is_blocking(findings) else EXIT_OK)
