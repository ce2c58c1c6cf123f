"""``roamlike state init|migrate``: create a state store and bring its schema up to date."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated

import typer

from roamlike.cli import app
from roamlike.cli.common import console, err_console, handle, print_json
from roamlike.errors import RoamlikeError
from roamlike.pipeline import RunSummary
from roamlike.state import Store, migrate, open_store, status
from roamlike.state.batch import rate_with_state
from roamlike.tariffs import FxTable, Plan

state_app = typer.Typer(
    help="The state store (SQLite file or PostgreSQL URL) kept between rating runs.",
    no_args_is_help=True,
)
app.add_typer(state_app, name="state")

StoreOption = Annotated[
    str,
    typer.Option(
        "--state",
        envvar="ROAMLIKE_STATE",
        help="Store: a SQLite file (created by init) or postgresql://user@host:port/db.",
    ),
]


def _report(store: Store, applied: list[str], as_json: bool) -> None:
    versions = status(store)
    if as_json:
        print_json(
            {
                "store": store.name,
                "applied": applied,
                "components": {
                    c: {"version": cur, "latest": latest} for c, (cur, latest) in versions.items()
                },
            }
        )
        return
    for line in applied:
        console.print(f"applied {line}", highlight=False)
    for component, (current, latest) in versions.items():
        console.print(
            f"{store.name}: {component} schema version {current} (latest {latest})",
            highlight=False,
        )


def _run(target: str, create: bool, as_json: bool) -> None:
    try:
        with open_store(target, create=create) as store:
            done = migrate(store)
            _report(store, [f"{m.component} {m.version}: {m.description}" for m in done], as_json)
    except RoamlikeError as exc:
        handle(exc)


@state_app.command("init")
def init_command(
    state: StoreOption,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
) -> None:
    """Create the store (a SQLite file is created; a PostgreSQL database must exist) and its
    tables. Idempotent: on an existing store it applies only what is missing."""
    _run(state, True, as_json)


@state_app.command("migrate")
def migrate_command(
    state: StoreOption,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
) -> None:
    """Apply the forward-only schema migrations the store lacks (it must exist already)."""
    _run(state, False, as_json)


def rate_stateful(
    usage_file: Path,
    plans: Mapping[str, Plan],
    fx: FxTable,
    out: Path,
    rejects_file: Path | None,
    notifications_file: Path | None,
    mapping: Path | None,
    *,
    state: str,
    apply_control: bool,
    batch_rows: int,
    progress: Callable[[int, int], None] | None,
) -> RunSummary:
    """``rate --state``: the run through :func:`roamlike.state.batch.rate_with_state`.

    Raises
    ------
    RoamlikeError
        For the caller to report (exit 3; an input already rated is an ``AlreadyRatedError``).
    """
    with open_store(state, create=False) as store:
        result = rate_with_state(
            usage_file,
            plans,
            fx,
            out,
            rejects_file,
            notifications_file,
            store,
            mapping=mapping,
            apply_control_findings=apply_control,
            batch_rows=batch_rows,
            progress=progress,
        )
    if result.finished_interrupted:
        err_console.print(
            f"{usage_file}: run {result.run.run_id} had committed before it was interrupted; "
            "its outputs are now in place (nothing was rated twice)",
            highlight=False,
        )
    return result.summary
