"""Rate a usage file into output files, in batches by subscriber so memory stays bounded.

The engine (``roamlike.rating``) works on frames; this module feeds it a file batch by batch and
streams the results to the output files (atomically). Every counter of docs/rating.md is per
subscriber, so batching by subscriber gives the same results as one frame; duplicates are found
over the whole file before the split. Rated rows come out grouped by batch, in read order within
a batch; the same input always gives the same bytes.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import polars as pl
from polars.io.plugins import register_io_source

from roamlike.counters import Counters
from roamlike.errors import OutputError, UsageInputError
from roamlike.io import TableWriter, read_usage, write_table
from roamlike.law import Catalog
from roamlike.rating import RatingResult, rate_usage
from roamlike.rating.normalise import (
    BATCH_DUPLICATE,
    BATCH_ROW,
    duplicate_rows,
    subscriber_batch,
)
from roamlike.rating.prices import SegmentCache
from roamlike.tariffs import FxTable, Plan

#: Records per batch: bounds the engine's working memory (about 1 GB per million records).
DEFAULT_BATCH_ROWS = 500_000


@dataclass
class RunSummary:
    """What a run read, rated and rejected, with totals by regime and currency."""

    read: int = 0
    rated: int = 0
    rejected: int = 0
    notifications: int = 0
    batches: int = 0
    totals: pl.DataFrame = field(default_factory=pl.DataFrame)
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    #: Counters after the run, of the subscribers and periods it rated (docs/rating.md §9).
    counters: Counters = field(default_factory=Counters.empty)


class BatchHooks(Protocol):
    """Called around each batch by :func:`rate_file` (``roamlike.state`` keeps counters so)."""

    def prepare(self, batch: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, Any]]:
        """The batch to rate and extra keyword arguments of ``rate_usage``."""
        ...

    def absorb(self, batch: pl.DataFrame, result: RatingResult) -> None:
        """Take what a rated batch leaves behind (counters, days)."""
        ...


def _collect(lf: pl.LazyFrame, path: Path) -> pl.DataFrame:
    try:
        return lf.collect()
    except pl.exceptions.PolarsError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageInputError(f"{path}: cannot read usage records: {first}") from exc


def _sink_batches(usage: pl.LazyFrame, batches: int, folder: Path, path: Path) -> None:
    """Write the usage, with row numbers, as one Parquet folder per batch (hive layout)."""
    try:
        usage.with_row_index(BATCH_ROW).with_columns(_batch=subscriber_batch(batches)).sink_parquet(
            pl.PartitionBy(
                folder, key="_batch", include_key=False, approximate_bytes_per_file=None
            ),
        )
    except (pl.exceptions.PolarsError, OSError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageInputError(f"{path}: cannot read usage records: {first}") from exc


#: Temporary names of this module and of ``roamlike.io.outputs``, with the writer's process id.
_LEFTOVER = re.compile(r"^(?:\.roamlike-batches-(\d+)-.+|\..+\.(\d+)\.[0-9a-f]{32}\.tmp)$")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def sweep_leftovers(directory: Path) -> list[Path]:
    """Remove temporary files and batch folders that killed runs left in ``directory``.

    Only names this program writes (``.roamlike-batches-PID-*`` folders, ``.NAME.PID.HEX.tmp``
    files) whose process no longer runs are removed; a run in progress keeps its own.
    """
    removed: list[Path] = []
    try:
        entries = list(directory.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = _LEFTOVER.match(entry.name)
        if match is None:
            continue
        pid = int(match.group(1) or match.group(2))
        if pid == os.getpid() or _alive(pid):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError:
            continue
        removed.append(entry)
    return removed


def rate_file(
    usage_path: Path,
    plans: Mapping[str, Plan],
    fx: FxTable,
    out: Path,
    rejects_path: Path | None = None,
    notifications_path: Path | None = None,
    mapping: Path | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    progress: Callable[[int, int], None] | None = None,
    *,
    catalog: Catalog | None = None,
    counters: Counters | None = None,
    known_record_ids: Collection[str] | pl.Series | None = None,
    hooks: BatchHooks | None = None,
) -> RunSummary:
    """Rate ``usage_path`` and write rated records, rejects and notifications.

    Parameters
    ----------
    batch_rows : int
        Target records per batch (the batch count is ``ceil(read / batch_rows)``).
    counters, known_record_ids : optional
        Counters and record ids of earlier runs, as for ``roamlike.rating.rate_usage``; the
        counters after the run are in ``RunSummary.counters``.
    progress : callable, optional
        Called as ``progress(batches_done, batches_total)``.
    catalog : Catalog, optional
        The law to rate under (a scenario's, for ``roamlike simulate``); default: the built-in.
    hooks : BatchHooks, optional
        Prepares each batch and absorbs its result (``rate --state``).

    Raises
    ------
    UsageInputError, OutputError
        The usage file cannot be read, or an output cannot be written (nothing is left behind).
    """
    usage = read_usage(usage_path, mapping)
    read = int(_collect(usage.select(pl.len()), usage_path).item())
    summary = RunSummary(read=read)
    batches = max(1, math.ceil(read / batch_rows))
    # duplicates over the whole file, in read order: only their row numbers are kept
    duplicates = _collect(duplicate_rows(usage).select("row_number"), usage_path).get_column(
        "row_number"
    )
    directory = out.parent if str(out.parent) else Path(".")
    if not directory.is_dir():
        raise OutputError(f"{out}: output directory {directory} does not exist")
    sweep_leftovers(directory)
    try:
        workdir = tempfile.TemporaryDirectory(
            prefix=f".roamlike-batches-{os.getpid()}-", dir=directory
        )
    except OSError as exc:
        raise OutputError(f"{out}: cannot create a work folder in {directory}: {exc}") from exc
    if batches == 1:
        keys = [0]
    else:
        # one streaming pass splits the file by subscriber into Parquet files on disk, so the
        # memory held is one batch at a time whatever the size of the file
        _sink_batches(usage, batches, Path(workdir.name), usage_path)
        keys = sorted(
            int(d.name.split("=", 1)[1]) for d in Path(workdir.name).iterdir() if "=" in d.name
        ) or [0]

    def load_batch(key: int) -> pl.DataFrame:
        if batches == 1:
            frame = _collect(usage.with_row_index(BATCH_ROW), usage_path)
        else:
            folder = Path(workdir.name) / f"_batch={key}"
            frame = _collect(pl.scan_parquet(folder / "*.parquet"), usage_path)
        return frame.with_columns(
            pl.col(BATCH_ROW).cast(pl.Int64),
            pl.col(BATCH_ROW).is_in(duplicates.implode()).alias(BATCH_DUPLICATE),
        )

    cache: SegmentCache = {}
    after: list[Counters] = []
    totals: list[pl.DataFrame] = []
    rejects_writer = TableWriter(rejects_path) if rejects_path is not None else None
    notes_writer = TableWriter(notifications_path) if notifications_path is not None else None
    failures: list[BaseException] = []

    def rate_batch(done: int, key: int) -> pl.DataFrame:
        batch = load_batch(key)
        extra: dict[str, Any] = {"counters": counters, "known_record_ids": known_record_ids}
        if hooks is not None:
            batch, more = hooks.prepare(batch)
            extra.update(more)
        result = rate_usage(batch, plans, fx, catalog=catalog, segment_cache=cache, **extra)
        if hooks is not None:
            hooks.absorb(batch, result)
        after.append(result.counters)
        if rejects_writer is not None:
            rejects_writer.write(result.rejects)
        if notes_writer is not None:
            notes_writer.write(result.notifications)
        summary.rated += result.rated.height
        summary.rejected += result.rejects.height
        summary.notifications += result.notifications.height
        for code, n in result.rejects.group_by("reason_code").len().iter_rows():
            summary.rejects_by_reason[code] = summary.rejects_by_reason.get(code, 0) + n
        totals.append(
            result.rated.group_by("regime", "currency").agg(
                records=pl.len(),
                # Int128: a total of millions of Int64 charges must not wrap
                charge_excl_vat_micros=pl.col("charge_excl_vat_micros").cast(pl.Int128).sum(),
                vat_micros=pl.col("vat_micros").cast(pl.Int128).sum(),
                charge_incl_vat_micros=pl.col("charge_incl_vat_micros").cast(pl.Int128).sum(),
            )
        )
        summary.batches = done
        if progress is not None:
            progress(done, len(keys))
        return result.rated

    def batches_of_rated(
        with_columns: list[str] | None, predicate: object, n_rows: int | None, size: int | None
    ) -> Iterator[pl.DataFrame]:
        # Polars pulls the rated batches from here and writes them with its own (parallel)
        # sink; an error is kept so the caller re-raises it instead of Polars' wrapper.
        try:
            yield first
            for done, key in enumerate(keys[1:], start=2):
                yield rate_batch(done, key)
        except BaseException as exc:
            failures.append(exc)
            raise

    try:
        first = rate_batch(1, keys[0])
        rated = register_io_source(batches_of_rated, schema=first.schema)
        try:
            write_table(rated, out)
        except OutputError:
            if failures:
                raise failures[0] from None
            raise
        for writer in (rejects_writer, notes_writer):
            if writer is not None:
                writer.commit()
    except BaseException:
        for writer in (rejects_writer, notes_writer):
            if writer is not None:
                writer.abort()
        raise
    finally:
        workdir.cleanup()
    if totals:
        summary.totals = (
            pl.concat(totals)
            .group_by("regime", "currency")
            .agg(pl.all().sum())
            .sort("regime", "currency")
        )
    # batches hold disjoint subscribers: their counters simply add up
    summary.counters = (
        Counters(
            periods=pl.concat([c.periods for c in after]).sort(
                "subscriber_id", "plan_id", "period_start"
            ),
            subscribers=pl.concat([c.subscribers for c in after]).sort("subscriber_id"),
        )
        if after
        else Counters.empty()
    )
    assert summary.rated + summary.rejected == summary.read, "rated + rejected must equal read"
    return summary
