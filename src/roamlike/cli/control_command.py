"""``roamlike control``: the permanent-roaming control over the store's presence and consumption."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import polars as pl
import typer
from rich.table import Table

from roamlike.cli import app
from roamlike.cli.common import console, fail, handle, parse_date, print_json
from roamlike.cli.state_commands import StoreOption
from roamlike.errors import EXIT_FINDINGS, EXIT_USAGE, RoamlikeError
from roamlike.io import write_table
from roamlike.state import open_store, require_current
from roamlike.state.control import assess, run_control
from roamlike.state.log import lock_tenant

_GB = 1_000_000_000


def _flat(finding: dict[str, Any]) -> dict[str, Any]:
    row = {k: v for k, v in finding.items() if k != "basis"}
    row["basis"] = "; ".join(
        f"{b['parameter']}={b['value']} ({b['basis']}, {b['grade']})" for b in finding["basis"]
    )
    return row


@app.command("control")
def control_command(
    state: StoreOption,
    on: Annotated[str, typer.Option("--on", help="Control date YYYY-MM-DD (window end).")],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the flagged subscribers (.csv/.parquet/.jsonl)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List only; record no warning in the store.")
    ] = False,
) -> None:
    """List subscribers present and consuming more abroad than at home over the observation
    window, with the evidence, the warning date and the first date surcharges may apply.

    The findings are recorded in the store (unless --dry-run) for `rate --apply-control`.
    Exit 0 when nobody is flagged, 1 when someone is.
    """
    day = parse_date(on)
    if as_json and out is not None:
        fail("--json and --out are exclusive", EXIT_USAGE)
    try:
        with open_store(state, create=False) as store:
            require_current(store)
            with store.transaction() as tx:
                lock_tenant(tx)
                assessed = len(assess(tx, day))
                flagged = run_control(tx, day, record=not dry_run)
        if out is not None:
            write_table(
                pl.DataFrame([_flat(f) for f in flagged])
                if flagged
                else pl.DataFrame(schema={"subscriber_id": pl.String}),
                out,
            )
    except RoamlikeError as exc:
        handle(exc)
    if as_json:
        print_json(
            {
                "on": day.isoformat(),
                "assessed": assessed,
                "recorded": not dry_run,
                "flagged": flagged,
            }
        )
    elif out is None:
        table = Table(
            title=f"Permanent-roaming control on {day.isoformat()}: "
            f"{len(flagged)} flagged of {assessed} roaming at domestic prices"
        )
        for col in (
            "subscriber",
            "home",
            "window",
            "days abroad / home",
            "data roaming / home (GB)",
            "warning",
            "surcharges from",
        ):
            table.add_column(col)
        for f in flagged:
            table.add_row(
                str(f["subscriber_id"]),
                str(f["home_country"]),
                f"{f['window_start']}..{f['window_end']}",
                f"{f['days_abroad']} / {f['days_home']}",
                f"{f['rlah_data_bytes'] / _GB:.3f} / {f['home_data_bytes'] / _GB:.3f}",
                str(f["warning_date"]),
                str(f["surcharge_from"]),
            )
        console.print(table)
        if flagged:
            console.print(
                "basis: " + json.dumps(flagged[0]["basis"]), highlight=False, soft_wrap=True
            )
    if flagged:
        raise typer.Exit(EXIT_FINDINGS)
