"""``roamlike fup`` and ``roamlike rate``: fair-use allowances and rating, over the library."""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
from collections.abc import Callable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from roamlike.cli import app, collector
from roamlike.cli.common import (
    console,
    err_console,
    fail,
    handle,
    parse_date,
    print_json,
    sigterm_as_interrupt,
)
from roamlike.errors import EXIT_FINDINGS, EXIT_USAGE, NotInForceError, RoamlikeError
from roamlike.input_reader import take_early
from roamlike.io.outputs import OUTPUT_FORMATS
from roamlike.law import default_catalog, format_decimal
from roamlike.pipeline import (
    DEFAULT_BATCH_ROWS,
    DEFAULT_MEMORY_BYTES,
    InputReader,
    RunSummary,
    rate_file,
)
from roamlike.rating import compiled
from roamlike.tariffs import FairUse, FxTable, fair_use_allowance, home_rlah_regime, load_plans
from roamlike.tariffs.plans_cache import cached_plans

if TYPE_CHECKING:  # rich's tables are imported when a summary is printed (not with --quiet)
    from rich.table import Table


def _load_fx(path: Path | None) -> FxTable:
    return FxTable.from_csv(path) if path is not None else FxTable()


@app.command("fup")
def fup_command(
    plans_file: Annotated[Path, typer.Argument(help="Plans file (.yaml, .yml or .json).")],
    on: Annotated[str, typer.Option("--on", help="Date YYYY-MM-DD.")],
    fx_file: Annotated[
        Path | None, typer.Option("--fx", help="FX CSV: date,currency,units_per_eur.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON list on stdout.")] = False,
) -> None:
    """Fair-use verdict and minimum roaming data volume of each plan (docs/law/fair-use.md)."""
    day = parse_date(on)
    try:
        plans = load_plans(plans_file)
        fx = _load_fx(fx_file)
        results: list[FairUse] = []
        # a plan whose home is in no RLAH area on that day has no fair-use allowance: it is
        # listed as such, the other plans are still computed
        outside: dict[str, str] = {}
        default_catalog().coverage.check("a fair-use allowance", day)
        for plan in plans.values():
            try:
                regime = home_rlah_regime(plan, day)
            except NotInForceError as exc:
                outside[plan.id] = str(exc)
                continue
            results.append(fair_use_allowance(plan, day, fx, regime))
    except RoamlikeError as exc:
        handle(exc)
    if as_json:
        print_json(
            [r.to_json() for r in results]
            + [
                {
                    "plan_id": pid,
                    "is_open_data_bundle": None,
                    "min_roaming_data_gb": None,
                    "not_applicable": why,
                }
                for pid, why in outside.items()
            ]
        )
        return
    from rich.table import Table

    table = Table(title=f"Fair use of roaming data on {day.isoformat()}")
    for col in (
        "plan",
        "open data bundle",
        "min roaming data (GB)",
        "cap used",
        "price excl. VAT",
        "basis",
    ):
        table.add_column(col)
    for r in results:
        table.add_row(
            r.plan_id,
            "yes" if r.is_open_data_bundle else "no",
            format_decimal(r.min_roaming_data_gb)
            if r.min_roaming_data_gb is not None
            else "domestic volume "
            + (format_decimal(r.allowance_gb) if r.allowance_gb is not None else "-"),
            f"{format_decimal(r.cap_eur_per_gb)} EUR/GB ({r.cap_parameter}, {r.cap_grade})",
            f"{format_decimal(r.price_excl_vat)} {r.currency}",
            f"{r.basis} [{r.grade}]",
        )
    for pid, why in outside.items():
        table.add_row(pid, "n/a", "-", "-", "-", why)
    console.print(table)


@contextlib.contextmanager
def _progress_bar(quiet: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar of the batches on stderr, as ``rate_file``'s ``progress``; none with
    ``--quiet`` (rich's progress module is then not even imported)."""
    if quiet:
        yield None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task("rating batches", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield progress


def _summary(summary: RunSummary) -> Table:
    from rich.table import Table

    table = Table(
        title=f"read {summary.read:,} = rated {summary.rated:,} + rejected {summary.rejected:,}"
    )
    for col in ("regime", "currency", "records", "charge excl. VAT", "VAT", "charge incl. VAT"):
        table.add_column(col, justify="right" if col not in ("regime", "currency") else "left")
    totals = summary.totals
    if totals.height:
        for regime, currency, n, excl, vat, incl in zip(
            *(
                totals.get_column(c).to_list()
                for c in (
                    "regime",
                    "currency",
                    "records",
                    "charge_excl_vat_micros",
                    "vat_micros",
                    "charge_incl_vat_micros",
                )
            ),
            strict=True,
        ):
            table.add_row(regime, currency, f"{n:,}", _fmt(excl), _fmt(vat), _fmt(incl))
    return table


def _fmt(micros: int) -> str:
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), 1_000_000)
    return f"{sign}{whole:,}.{frac:06d}"


def _report(
    summary: RunSummary,
    started: dt.datetime,
    where: str,
    out: Path,
    rejects: Path | None,
    quiet: bool,
) -> None:
    """Print the run summary (unless quiet); exit 1 when rows were rejected."""
    seconds = (dt.datetime.now() - started).total_seconds()
    if not quiet:
        err_console.print(_summary(summary))
        if summary.rejected:
            err_console.print(
                "rejects by reason: "
                + ", ".join(f"{c}={n:,}" for c, n in sorted(summary.rejects_by_reason.items()))
            )
        err_console.print(
            f"{summary.read:,} records in {seconds:.2f} s ({where}); "
            f"rated -> {out}" + (f"; rejects -> {rejects}" if rejects else "")
        )
    if summary.rejected:
        raise typer.Exit(EXIT_FINDINGS)


class Engine(StrEnum):
    """Where ``roamlike rate`` runs the engine."""

    native = "native"
    spark = "spark"


def _rate_with_spark(
    usage: Path,
    plans_file: Path,
    out: Path,
    rejects: Path | None,
    notifications: Path | None,
    fx_file: Path | None,
    mapping: Path | None,
    master: str,
    partitions: int | None,
    settings: list[str],
    quiet: bool,
) -> None:
    """``roamlike rate --engine spark``: the same engine on Apache Spark (docs/spark.md)."""
    try:
        from roamlike.spark import overlapping_paths, rate_paths
    except ImportError as exc:
        fail(
            escape(f"--engine spark needs the spark extra: pip install 'roamlike[spark]' ({exc})"),
            EXIT_USAGE,
        )
    outputs = [p for p in (out, rejects, notifications) if p is not None]
    if len({p.resolve() for p in outputs}) != len(outputs):
        fail("--out, --rejects and --notifications must be different paths", EXIT_USAGE)
    config: dict[str, str] = {}
    for setting in settings:
        key, sep, value = setting.partition("=")
        if not sep or not key.strip():
            fail(f"--spark-conf: expected KEY=VALUE, found {setting!r}", EXIT_USAGE)
        config[key.strip()] = value.strip()
    clash = overlapping_paths([usage], outputs)
    if clash:
        fail(f"{', '.join(clash)}: an output may not be, contain or lie in the input", EXIT_USAGE)
    started = dt.datetime.now()
    try:
        with sigterm_as_interrupt():
            summary = rate_paths(
                [usage],
                load_plans(plans_file),
                _load_fx(fx_file),
                out,
                rejects,
                notifications,
                mapping,
                master=master,
                partitions=partitions,
                config=config,
            )
    except RoamlikeError as exc:
        handle(exc)
    where = f"on Spark, {summary.batches} partition(s), stateless periods"
    _report(summary, started, where, out, rejects, quiet)


@app.command("rate")
def rate_command(
    usage_file: Annotated[
        Path,
        typer.Argument(
            help="Usage records (.csv, .parquet, .jsonl); with --engine spark also a folder."
        ),
    ],
    plans_file: Annotated[Path, typer.Option("--plans", help="Plans file (.yaml/.json).")],
    out: Annotated[Path, typer.Option("--out", help="Rated records (.parquet, .csv, .jsonl).")],
    rejects_file: Annotated[
        Path | None, typer.Option("--rejects", help="Rejected rows with reason codes.")
    ] = None,
    notifications_file: Annotated[
        Path | None, typer.Option("--notifications", help="Notification events.")
    ] = None,
    fx_file: Annotated[
        Path | None, typer.Option("--fx", help="FX CSV: date,currency,units_per_eur.")
    ] = None,
    mapping: Annotated[
        Path | None, typer.Option("--mapping", help="YAML mapping of vendor column names.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress or summary.")] = False,
    batch_rows: Annotated[
        int,
        typer.Option(
            "--batch-rows",
            min=1,
            help="At most this many records rated at a time (batches cut by subscriber).",
        ),
    ] = DEFAULT_BATCH_ROWS,
    memory_gb: Annotated[
        float,
        typer.Option(
            "--memory-gb",
            min=0.001,
            help="Memory budget in GB (10^9 bytes): a file that fits is rated in memory, in as "
            "few batches as it allows; a larger one is split into batch files on disk.",
        ),
    ] = DEFAULT_MEMORY_BYTES / 10**9,
    state: Annotated[
        str | None,
        typer.Option(
            "--state",
            help="Keep counters between runs in this store (SQLite file or postgresql:// URL); "
            "an input already rated into it is refused.",
        ),
    ] = None,
    apply_control: Annotated[
        bool,
        typer.Option(
            "--apply-control",
            help="With --state: surcharges beyond fair use from the dates `roamlike control` "
            "recorded, instead of the input's is_beyond_fair_use.",
        ),
    ] = False,
    engine: Annotated[
        Engine,
        typer.Option(
            "--engine",
            help="native: this machine; spark: Apache Spark (roamlike[spark], Java 17; outputs "
            "are Spark folders; stateless periods only, see docs/spark.md).",
        ),
    ] = Engine.native,
    spark_master: Annotated[
        str, typer.Option("--spark-master", help="Spark master URL (--engine spark).")
    ] = "local[*]",
    partitions: Annotated[
        int | None,
        typer.Option("--partitions", min=1, help="Partitions rated in parallel (--engine spark)."),
    ] = None,
    spark_conf: Annotated[
        list[str] | None,
        typer.Option(
            "--spark-conf",
            help="KEY=VALUE Spark setting, repeatable (e.g. spark.driver.memory=4g).",
        ),
    ] = None,
) -> None:
    """Rate usage under the rules in force at each record's local start time.

    Exit 0 when every record was rated, 1 when some were rejected (see --rejects).
    """
    if engine is Engine.spark:
        if state is not None or apply_control:
            fail(
                "--state and --apply-control apply to the native engine only: the Spark path "
                "rates stateless periods (docs/spark.md)",
                EXIT_USAGE,
            )
        _rate_with_spark(
            usage_file,
            plans_file,
            out,
            rejects_file,
            notifications_file,
            fx_file,
            mapping,
            spark_master,
            partitions,
            spark_conf or [],
            quiet,
        )
        return
    if partitions is not None or spark_conf:
        fail("--partitions and --spark-conf apply to --engine spark only", EXIT_USAGE)

    outputs = [p for p in (out, rejects_file, notifications_file) if p is not None]
    if len({p.resolve() for p in outputs}) != len(outputs):
        fail("--out, --rejects and --notifications must be different files", EXIT_USAGE)
    problem = output_problem(outputs, [usage_file, plans_file, fx_file, mapping])
    if problem is not None:
        fail(problem, EXIT_USAGE)
    if apply_control and state is None:
        fail("--apply-control needs --state (the control's findings live there)", EXIT_USAGE)
    started = dt.datetime.now()
    with sigterm_as_interrupt():
        summary = _rate(
            usage_file, plans_file, out, rejects_file, notifications_file, fx_file, mapping,
            quiet, batch_rows, state, apply_control, round(memory_gb * 10**9),
        )  # fmt: skip
    where = f"{summary.batches} batch(es) {'on disk' if summary.on_disk else 'in memory'}"
    _report(summary, started, where, out, rejects_file, quiet)


def output_problem(outputs: list[Path], inputs: list[Path | None]) -> str | None:
    """Why the output paths cannot be written (checked before any work), or None.

    An output may not name an input (it would be overwritten), must have a known extension and
    must go to an existing directory.
    """
    for target in outputs:
        for source in inputs:
            if source is None:
                continue
            same = target.resolve() == source.resolve()
            if not same and target.exists() and source.exists():
                same = os.path.samefile(target, source)
            if same:
                return f"{target} is also an input ({source}): choose another output file"
    for target in outputs:
        if target.suffix.lower() not in OUTPUT_FORMATS:
            return (
                f"{target}: unknown output format {target.suffix or '(no extension)'!r}; "
                f"expected one of {', '.join(OUTPUT_FORMATS)}"
            )
        directory = target.parent if str(target.parent) else Path(".")
        if not directory.is_dir():
            return f"{target}: output directory {directory} does not exist"
    return None


def _rate(
    usage_file: Path,
    plans_file: Path,
    out: Path,
    rejects_file: Path | None,
    notifications_file: Path | None,
    fx_file: Path | None,
    mapping: Path | None,
    quiet: bool,
    batch_rows: int,
    state: str | None = None,
    apply_control: bool = False,
    memory_bytes: int = DEFAULT_MEMORY_BYTES,
) -> RunSummary:
    compiled.preload()  # the compiled pass loads on a thread while plans and input are read
    # the input is read on a thread while the plans and FX are parsed (or was, since the
    # command line started: roamlike.input_reader.start_early); with a store as well, whose
    # preload takes its subscribers and record ids from the rows read
    reader = take_early(usage_file, mapping, memory_bytes, batch_rows) or InputReader(
        usage_file, mapping, memory_bytes, batch_rows
    )
    try:
        # on the main thread before the first batch: parsed once per plans file and kept
        plans = cached_plans(plans_file)
        fx = _load_fx(fx_file)
        collector.release()  # the start is done: what it made lives until the end
        with _progress_bar(quiet) as progress:
            if state is not None:  # the store's code is loaded only when it is used
                from roamlike.cli.state_commands import rate_stateful
            run = (
                functools.partial(rate_file, memory_bytes=memory_bytes, reader=reader)
                if state is None
                else functools.partial(
                    rate_stateful,
                    state=state,
                    apply_control=apply_control,
                    memory_bytes=memory_bytes,
                    reader=reader,
                )
            )
            summary = run(
                usage_file,
                plans,
                fx,
                out,
                rejects_file,
                notifications_file,
                mapping,
                batch_rows=batch_rows,
                progress=progress,
            )
    except RoamlikeError as exc:
        handle(exc)
    return summary
