"""``roamlike state init|migrate|show|runs|prune|compact``: the state store kept between rating
runs.

``roamlike rate --state`` imports this module for :func:`rate_stateful` only, on its main
thread while the store's preload works beside it: what the other commands alone need (rich's
tables, ``state show``, ``prune``, the ledger's listing) is imported by those commands.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from roamlike.cli import app
from roamlike.cli.common import console, err_console, fail, handle, parse_date, print_json
from roamlike.errors import EXIT_DATA, RoamlikeError
from roamlike.input_reader import InputReader
from roamlike.pipeline import DEFAULT_MEMORY_BYTES, RunSummary
from roamlike.state import Store, migrate, open_store, redact, require_current, status
from roamlike.state.batch import rate_with_state
from roamlike.state.begin import take_begun
from roamlike.state.log import compact_store
from roamlike.tariffs import FxTable, Plan, load_plans

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
    memory_bytes: int = DEFAULT_MEMORY_BYTES,
    reader: InputReader | None = None,
) -> RunSummary:
    """``rate --state``: the run through :func:`roamlike.state.batch.rate_with_state`
    (``reader``: the input being read since the command started).

    Raises
    ------
    RoamlikeError
        For the caller to report (exit 3; an input already rated is an ``AlreadyRatedError``).
    """
    outputs = (out, rejects_file, notifications_file)
    # the run's head, begun on a thread since the command started (or discarded if it is not
    # this run's: its write lock released before this run takes its own)
    begun = take_begun(state, reader, apply_control)
    with contextlib.ExitStack() as stack:
        if begun is not None and begun.store is not None:
            store = begun.store
            stack.callback(begun.discard)  # closed after the run (what it did not take undone)
        else:
            store = stack.enter_context(open_store(state, create=False))
        result = rate_with_state(
            usage_file,
            plans,
            fx,
            *outputs,
            store,
            mapping=mapping,
            apply_control_findings=apply_control,
            batch_rows=batch_rows,
            progress=progress,
            memory_bytes=memory_bytes,
            reader=reader,
            begun=begun,
        )
    if result.finished_interrupted:
        err_console.print(
            f"{usage_file}: run {result.run.run_id} had committed before it was interrupted; "
            "its outputs are now in place (nothing was rated twice)",
            highlight=False,
        )
    if result.compaction_error is not None:
        err_console.print(
            f"{usage_file}: rated and committed; folding the store's counter logs afterwards "
            f"failed ({result.compaction_error}): run `roamlike state compact --state STORE`",
            highlight=False,
        )
    return result.summary


def _print_mapping(doc: dict[str, Any], indent: int = 0) -> None:
    pad = "  " * indent
    for key, value in doc.items():
        if isinstance(value, dict):
            console.print(f"{pad}{key}:", highlight=False)
            _print_mapping(value, indent + 1)
        elif isinstance(value, list):
            console.print(f"{pad}{key}:{' none' if not value else ''}", highlight=False)
            for item in value:
                if isinstance(item, dict):
                    console.print(f"{pad}  -", highlight=False)
                    _print_mapping(item, indent + 2)
                else:
                    console.print(f"{pad}  - {item}", highlight=False)
        else:
            console.print(f"{pad}{key}: {value}", highlight=False)


@state_app.command("show")
def show_command(
    subscriber: Annotated[str, typer.Argument(help="Subscriber id.")],
    state: StoreOption,
    on: Annotated[
        str | None, typer.Option("--on", help="Date YYYY-MM-DD (default: the last day seen).")
    ] = None,
    plans_file: Annotated[
        Path | None,
        typer.Option("--plans", help="Plans file: also show allowances and what remains."),
    ] = None,
    fx_file: Annotated[
        Path | None, typer.Option("--fx", help="FX CSV: date,currency,units_per_eur.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
) -> None:
    """What the store holds about one subscriber: counters per billing period, last rated event,
    presence over the control window, control findings.

    Exit 3 when the store holds nothing about the subscriber.
    """
    from roamlike.state.show import subscriber_state

    day = parse_date(on) if on is not None else None
    try:
        plans = load_plans(plans_file) if plans_file is not None else None
        fx = FxTable.from_csv(fx_file) if fx_file is not None else FxTable()
        with open_store(state, create=False) as store:
            require_current(store)
            with store.transaction() as tx:
                doc = subscriber_state(tx, subscriber, day, plans=plans, fx=fx)
    except RoamlikeError as exc:
        handle(exc)
    if doc is None:
        fail(f"the store {redact(state)} holds nothing about subscriber {subscriber!r}", EXIT_DATA)
    if as_json:
        print_json(doc)
        return
    _print_mapping(doc)


@state_app.command("runs")
def runs_command(
    state: StoreOption,
    limit: Annotated[int, typer.Option("--limit", min=1, help="Newest runs to list.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON list on stdout.")] = False,
) -> None:
    """The run ledger: inputs rated into the store, newest first, with counts and checksums."""
    from rich.table import Table

    from roamlike.state.ledger import runs

    try:
        with open_store(state, create=False) as store:
            require_current(store)
            with store.transaction() as tx:
                found = runs(tx, limit=limit)
    except RoamlikeError as exc:
        handle(exc)
    if as_json:
        print_json([r.to_json() for r in found])
        return
    table = Table(title=f"{len(found)} run(s), newest first")
    for col in ("finished", "input", "sha256", "read", "rated", "rejected", "late", "run"):
        table.add_column(col)
    for r in found:
        table.add_row(
            r.finished_at,
            r.input_name,
            r.input_sha256[:16],
            f"{r.input_rows:,}",
            f"{r.rated:,}",
            f"{r.rejected:,}",
            f"{r.late:,}",
            r.run_id,
        )
    console.print(table)


@state_app.command("prune")
def prune_command(
    state: StoreOption,
    before: Annotated[
        str,
        typer.Option(
            "--before", help="Date YYYY-MM-DD: drop presence days and periods ended before it."
        ),
    ],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count what would be dropped; change nothing.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
) -> None:
    """Drop the presence days and closed billing periods the permanent-roaming control no longer
    needs (docs/state.md, "Pruning"): days before --before (each subscriber's first day kept),
    periods that ended before it. --before may be at most the first day of the control window
    ending on the last day the store holds. Afterwards, controls whose window starts before
    --before and runs with records before it are refused."""
    from roamlike.state.prune import prune

    day = parse_date(before)
    try:
        with open_store(state, create=False) as store:
            require_current(store)
            with store.transaction() as tx:
                done = prune(tx, day, dry_run=dry_run)
    except RoamlikeError as exc:
        handle(exc)
    doc = {
        "before": done.before.isoformat(),
        "last_day": done.last_day.isoformat() if done.last_day else None,
        "days_dropped": done.days_dropped,
        "periods_dropped": done.periods_dropped,
        "dry_run": dry_run,
    }
    if as_json:
        print_json(doc)
        return
    verb = "would drop" if dry_run else "dropped"
    console.print(
        f"{redact(state)}: {verb} {done.days_dropped:,} presence day(s) and "
        f"{done.periods_dropped:,} billing period(s) before {doc['before']}",
        highlight=False,
    )


@state_app.command("compact")
def compact_command(
    state: StoreOption,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document on stdout.")] = False,
) -> None:
    """Fold the counter logs into the base tables (docs/state.md, "Log-structured counters").
    What every reader sees is unchanged; `rate --state` does it by itself when a log grows past
    its threshold, and `state prune` before it drops anything."""
    try:
        with open_store(state, create=False) as store:
            require_current(store)
            done = compact_store(store)
    except RoamlikeError as exc:
        handle(exc)
    doc = [
        {"tenant": r.tenant, "log_rows": r.log_rows, "base_rows_written": r.base_rows} for r in done
    ]
    if as_json:
        print_json({"store": redact(state), "compacted": doc})
        return
    for r in done:
        console.print(
            f"{redact(state)}: tenant {r.tenant!r}: folded {sum(r.log_rows.values()):,} log "
            f"row(s) into {sum(r.base_rows.values()):,} stored row(s)",
            highlight=False,
        )
    if not done:
        console.print(f"{redact(state)}: nothing to compact", highlight=False)
