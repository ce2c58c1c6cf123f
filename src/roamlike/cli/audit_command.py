"""The ``audit`` command: check tariff plans against the roaming rules in force on a day.

A thin view over :func:`roamlike.audit.audit_plans` and
:func:`roamlike.report.render_audit_html`; no rule lives here.

Exit codes (README.md): 0 every check passed or does not apply; 1 an error-severity finding
failed or could not be evaluated (e.g. a missing exchange rate); 2 usage error (bad date);
3 data error (unreadable or invalid plans file, invalid FX file, date outside the catalog,
unwritable report).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from roamlike.audit import Finding, audit_plans, has_errors
from roamlike.cli import app
from roamlike.cli.common import console, handle, parse_date, print_json
from roamlike.errors import EXIT_FINDINGS, EXIT_OK, RoamlikeError
from roamlike.io.text import write_text_atomic
from roamlike.report import render_audit_html
from roamlike.report.audit_html import worst_severity
from roamlike.tariffs import FxTable, Plan, load_plans

_STATUS_STYLE = {"pass": "green", "fail": "bold red", "not_applicable": "dim"}


def _print_tables(findings: Sequence[Finding], plans: Mapping[str, Plan], on: dt.date) -> None:
    summary = Table(title=f"Tariff audit, rules in force on {on.isoformat()}")
    for name in ("plan", "home", "pass", "fail", "n/a", "worst severity"):
        summary.add_column(name, no_wrap=True)
    for plan_id, plan in plans.items():
        fs = [f for f in findings if f.plan_id == plan_id]
        summary.add_row(
            plan_id,
            plan.home_country,
            str(sum(f.status == "pass" for f in fs)),
            str(sum(f.status == "fail" for f in fs)),
            str(sum(f.status == "not_applicable" for f in fs)),
            worst_severity(fs),
        )
    console.print(summary)
    notable = [f for f in findings if f.status == "fail" or f.severity != "info"]
    if notable:
        table = Table(title="Failed checks and checks not evaluated", show_lines=True, expand=True)
        table.add_column("plan", overflow="fold", ratio=1)
        table.add_column("check", overflow="fold", ratio=1)
        table.add_column("status", no_wrap=True)
        table.add_column("details", overflow="fold", ratio=3)
        for f in notable:
            style = _STATUS_STYLE.get(f.status, "")
            details = Text()
            details.append("expected: ", style="bold")
            details.append(f"{f.expected}\n")
            details.append("found: ", style="bold")
            details.append(f"{f.found}\n")
            details.append("basis: ", style="bold")
            details.append(f"{f.basis or '-'} (grade {f.grade or '-'})\n")
            details.append(f.message)
            table.add_row(
                f.plan_id, f.check, Text(f"{f.status}\n{f.severity}", style=style), details
            )
        console.print(table)
    hidden = len(findings) - len(notable)
    console.print(
        f"{len(findings)} findings; {hidden} passing or not applicable not listed "
        "(use --json or --html for every finding).",
        highlight=False,
    )


@app.command("audit")
def audit_command(
    plans_file: Annotated[
        Path, typer.Argument(metavar="PLANS", help="Tariff plans, YAML or JSON (a 'plans:' list).")
    ],
    on: Annotated[str, typer.Option("--on", help="The day whose rules apply, YYYY-MM-DD.")],
    fx_file: Annotated[
        Path | None,
        typer.Option(
            "--fx",
            help="Exchange rates, CSV date,currency,units_per_eur (needed for plans not in euro).",
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print every finding as one JSON list on stdout.")
    ] = False,
    html_path: Annotated[
        Path | None,
        typer.Option(
            "--html", metavar="REPORT", help="Also write a self-contained HTML report here."
        ),
    ] = None,
) -> None:
    """Audit tariff plans for compliance with the roaming rules in force on a day.

    Checks fair use, surcharges, WB price caps, bill-shock limits, EU-WB offer caps and charging
    granularity; each finding gives status, severity, what the law requires, what the plan
    declares, basis and grade.

    Parameters
    ----------
    plans_file : Path
        The plans file.
    on : str
        The audit day, ``YYYY-MM-DD``.
    fx_file : Path or None
        The FX table (docs/law/exchange-rates.md).
    as_json : bool
        Print a JSON list of findings (``plan_id``, ``check``, ``status``, ``severity``,
        ``expected``, ``found``, ``basis``, ``grade``, ``message``, ``parameters``,
        ``regime``) instead of tables.
    html_path : Path or None
        Write the HTML report there (atomically).

    Raises
    ------
    typer.Exit
        0 all clear; 1 an error-severity finding failed or could not be evaluated; 2 bad date;
        3 bad plans or FX file, date outside the catalog, report not writable.
    """
    day = parse_date(on, "--on")
    try:
        plans = load_plans(plans_file)
        fx = FxTable.from_csv(fx_file) if fx_file is not None else None
        findings = audit_plans(plans, day, fx)
        if html_path is not None:
            write_text_atomic(html_path, render_audit_html(findings, plans, day))
    except RoamlikeError as exc:
        handle(exc)
    if as_json:
        print_json([f.to_json() for f in findings])
    else:
        _print_tables(findings, plans, day)
        if html_path is not None:
            console.print(f"HTML report written to {html_path}", highlight=False)
    raise typer.Exit(EXIT_FINDINGS if has_errors(findings) else EXIT_OK)
