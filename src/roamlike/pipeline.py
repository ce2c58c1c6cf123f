"""Rate a usage file into output files, in batches so memory stays bounded.

The engine (``roamlike.rating``) works on frames; this module feeds it a file batch by batch and
streams the results to the output files (atomically; the rated rows on a worker thread, so a
batch is encoded while the next one is rated). An input held in memory whose records come in
time order is rated in consecutive ranges of rows, the compiled pass's state relayed from one
range to the next (``roamlike.splits``, ``roamlike.rating.relay``): rated rows come out in read
order. Otherwise batches are made by subscriber (every counter of docs/rating.md is per
subscriber) and rated rows come out grouped by batch, in read order within a batch. Either way
the results are those of one call over the whole file (duplicates are found over the whole file
before the split), and the same input always gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from roamlike import input_reader
from roamlike.counters import Counters
from roamlike.disk_split import BatchFiles, split_on_disk
from roamlike.errors import OutputError
from roamlike.input_reader import (
    DEFAULT_BATCH_ROWS,
    DEFAULT_MEMORY_BYTES,
    ENGINE_BYTES_PER_RECORD,
    MIN_CALL_ROWS,
    BatchPlan,
    InputReader,
    plan_batches,
)
from roamlike.interrupts import held_interrupts
from roamlike.io import TableWriter
from roamlike.io.background import BackgroundTableWriter
from roamlike.io.outputs import PARQUET_BATCH_ROW_GROUP_SIZE
from roamlike.lanes import InOrder
from roamlike.law import Catalog, default_catalog
from roamlike.rating import RatingResult, compiled, rate_usage
from roamlike.rating.normalise import BATCH_DUPLICATE, BATCH_ROW
from roamlike.rating.relay import PassRelay
from roamlike.rating.tables import PriceTables
from roamlike.splits import split_in_memory
from roamlike.tariffs import FxTable, Plan

# opening the input lives in roamlike.input_reader (no engine imported there); named here too
__all__ = [
    "DEFAULT_BATCH_ROWS",
    "DEFAULT_MEMORY_BYTES",
    "ENGINE_BYTES_PER_RECORD",
    "MIN_CALL_ROWS",
    "BatchHooks",
    "BatchPlan",
    "InputReader",
    "RunSummary",
    "plan_batches",
    "rate_file",
    "sweep_leftovers",
]


@dataclass
class RunSummary:
    """What a run read, rated and rejected, with totals by regime and currency."""

    read: int = 0
    rated: int = 0
    rejected: int = 0
    notifications: int = 0
    batches: int = 0
    #: The file was split into batch files on disk (it did not fit the memory budget).
    on_disk: bool = False
    totals: pl.DataFrame = field(default_factory=pl.DataFrame)
    rejects_by_reason: dict[str, int] = field(default_factory=dict)
    #: The counters, or what builds them when they are first read (:attr:`counters`).
    _counters: Counters | Callable[[], Counters] = field(default_factory=Counters.empty)

    @property
    def counters(self) -> Counters:
        """Counters after the run, of the subscribers and periods it rated (docs/rating.md §9).

        Built when first read, not as the run ends: ``roamlike rate`` without a store never
        reads them (on 4 million records in time ranges, building them took about 0.1 s of the
        run's end, on one core).
        """
        if not isinstance(self._counters, Counters):
            self._counters = self._counters()
        return self._counters

    @counters.setter
    def counters(self, value: Counters | Callable[[], Counters]) -> None:
        self._counters = value


class BatchHooks(Protocol):
    """Called around each batch by :func:`rate_file` (``roamlike.state`` keeps counters so)."""

    def prepare(self, batch: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, Any]]:
        """The batch to rate and extra keyword arguments of ``rate_usage``."""
        ...

    def absorb(self, batch: pl.DataFrame, result: RatingResult) -> None:
        """Take what a rated batch leaves behind (counters, days)."""
        ...


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


#: Engine calls a run without a state store rates at the same time, each on its own thread:
#: Polars and the compiled pass release the GIL, so one call's single-threaded steps overlap
#: the other's (docs/rating.md §7c). A run with ``hooks`` rates one batch at a time, on the
#: caller's thread (a store's connection belongs to one thread).
RATING_THREADS = 2


@dataclass(frozen=True)
class _Rated:
    """A rated batch and what the run's summary takes of it."""

    result: RatingResult
    totals: pl.DataFrame
    reasons: dict[str, int]


def _totals(rated: pl.DataFrame) -> pl.DataFrame:
    # a lazy query: on a batch of 500,000 rated rows it took 0.018-0.020 CPU-s where the eager
    # group_by took 0.038-0.061 (with or without the columns copied into one chunk first)
    return (
        rated.lazy()
        .group_by("regime", "currency")
        .agg(
            records=pl.len(),
            # Int128: a total of millions of Int64 charges must not wrap
            charge_excl_vat_micros=pl.col("charge_excl_vat_micros").cast(pl.Int128).sum(),
            vat_micros=pl.col("vat_micros").cast(pl.Int128).sum(),
            charge_incl_vat_micros=pl.col("charge_incl_vat_micros").cast(pl.Int128).sum(),
        )
        .with_columns(pl.col("currency").cast(pl.String))  # an enum in rated rows (coded_text)
        .collect()
    )


def _added_up(after: list[Counters]) -> Counters:
    """The counters of batches holding disjoint subscribers, as one."""
    return Counters(
        periods=pl.concat([c.periods for c in after]).sort(
            "subscriber_id", "plan_id", "period_start"
        ),
        subscribers=pl.concat([c.subscribers for c in after]).sort("subscriber_id"),
    )


def _reasons(rejects: pl.DataFrame) -> dict[str, int]:
    return {str(code): int(n) for code, n in rejects.group_by("reason_code").len().iter_rows()}


def rate_file(
    usage_path: Path,
    plans: Mapping[str, Plan],
    fx: FxTable,
    out: Path,
    rejects_path: Path | None = None,
    notifications_path: Path | None = None,
    mapping: Path | None = None,
    batch_rows: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    *,
    catalog: Catalog | None = None,
    counters: Counters | None = None,
    known_record_ids: Collection[str] | pl.Series | None = None,
    hooks: BatchHooks | None = None,
    memory_bytes: int = DEFAULT_MEMORY_BYTES,
    reader: InputReader | None = None,
) -> RunSummary:
    """Rate ``usage_path`` and write rated records, rejects and notifications.

    Parameters
    ----------
    batch_rows : int, optional
        At most this many records per engine call (default :data:`DEFAULT_BATCH_ROWS`, fewer
        if ``memory_bytes`` requires, see :func:`plan_batches`).
    memory_bytes : int
        Memory budget of the run [bytes]: decides the batches (:func:`plan_batches`).
    counters, known_record_ids : optional
        Counters and record ids of earlier runs, as for ``roamlike.rating.rate_usage``; the
        counters after the run are in ``RunSummary.counters``.
    progress : callable, optional
        Called as ``progress(batches_done, batches_total)``.
    catalog : Catalog, optional
        The law to rate under (a scenario's, for ``roamlike simulate``); default: the built-in.
    hooks : BatchHooks, optional
        Prepares each batch and absorbs its result (``rate --state``).
    reader : InputReader, optional
        The input, being read on a thread since the caller started it (``roamlike rate``
        starts it before it parses the plans); used if it reads the same file with the same
        ``mapping``, ``memory_bytes`` and ``batch_rows``.

    Raises
    ------
    UsageInputError, OutputError
        The usage file cannot be read, or an output cannot be written (nothing is left behind).
    """
    compiled.preload()  # Numba loads on a thread while the input is read and validated
    key = (usage_path, mapping, memory_bytes, batch_rows)
    if reader is not None and reader.key == key:
        opened = reader.result()
    else:
        opened = input_reader.open_input(*key)
    usage, read, plan, whole, split = (
        opened.usage, opened.read, opened.plan, opened.whole, opened.split
    )  # fmt: skip
    del opened
    summary = RunSummary(read=read, on_disk=plan.on_disk)
    directory = out.parent if str(out.parent) else Path(".")
    if not directory.is_dir():
        raise OutputError(f"{out}: output directory {directory} does not exist")
    sweep_leftovers(directory)
    workdir: tempfile.TemporaryDirectory[str] | None = None
    parts: dict[int, Callable[[], pl.DataFrame]] = {}
    relay: PassRelay | None = None  # ranges in time order: the pass's state relayed
    span: tuple[dt.date, dt.date] | None = None  # and the local dates they hold
    disk: BatchFiles | None = None  # split on disk: the batch files
    if plan.on_disk:
        try:
            workdir = tempfile.TemporaryDirectory(
                prefix=f".roamlike-batches-{os.getpid()}-", dir=directory
            )
        except OSError as exc:
            raise OutputError(f"{out}: cannot create a work folder in {directory}: {exc}") from exc
        # one pass reads the file a chunk at a time and appends each batch's rows to its file,
        # so the memory held is a chunk, then one batch at a time, whatever the size of the file
        try:
            disk = split_on_disk(usage, plan.batches, Path(workdir.name), usage_path)
        except BaseException:
            workdir.cleanup()
            raise
        keys = disk.keys or [0]
    else:
        assert whole is not None  # read by open_input
        # one batch: the engine finds the duplicates itself; more: split in memory (by the
        # reader already, unless it split in time ranges a run with a store or counters may
        # not use: their late records need every counter in one batch)
        by_time = hooks is None and counters is None
        if plan.batches > 1 and (split is None or (split.ranges is not None and not by_time)):
            split = split_in_memory(whole, plan.batches, by_time=by_time)
        if split is not None and split.ranges is not None:
            cat = catalog or default_catalog()
            relay = PassRelay(len(split.ranges.ranges), sorted(cat.countries))
            lo, hi = split.ranges.span
            lo, hi = max(lo, cat.coverage.start), min(hi, cat.coverage.end)
            span = (lo, hi) if lo <= hi else None
        parts = split.parts if split is not None else {}
        parts = parts or {0: functools.partial(lambda frame: frame, whole)}
        del whole, split  # held by the loaders only: dropped with the last one
        keys = sorted(parts)

    def load_batch(key: int) -> pl.DataFrame:
        if disk is None:  # each part is dropped once handed over
            return parts.pop(key)().with_columns(pl.col(BATCH_ROW).cast(pl.Int64))
        return disk.load(key).with_columns(
            pl.col(BATCH_ROW).cast(pl.Int64),
            pl.col(BATCH_ROW).is_in(disk.duplicates.implode()).alias(BATCH_DUPLICATE),
        )

    tables = PriceTables(span=span)  # the price table, built once and shared by the batches
    after: list[Counters] = []
    totals: list[pl.DataFrame] = []
    # every output is written on a worker thread of its own, in batch order
    outputs = {"rated": out, "rejects": rejects_path, "notifications": notifications_path}
    for path in outputs.values():
        if path is not None:
            TableWriter(path)  # an unknown format or a missing directory fails before any work
    writers: dict[str, BackgroundTableWriter] = {}
    extra: dict[str, Any] = {"counters": counters, "known_record_ids": known_record_ids}

    def rate_batch(key: int) -> _Rated:
        # on a rating thread when there are several (no hooks), else on the caller's thread
        try:
            result = rate_usage(
                load_batch(key),
                plans,
                fx,
                catalog=catalog,
                price_tables=tables,
                coded_text=True,
                relay=None if relay is None else relay.link(key),
                **extra,
            )
        except BaseException as exc:
            if relay is not None:  # the ranges after this one stop waiting for its state
                relay.fail(key, exc)
            raise
        return _Rated(result, _totals(result.rated), _reasons(result.rejects))

    def rate_hooked(key: int) -> _Rated:
        assert hooks is not None  # the store's hooks run on the caller's thread, in order
        batch, more = hooks.prepare(load_batch(key))
        result = rate_usage(
            batch,
            plans,
            fx,
            catalog=catalog,
            price_tables=tables,
            coded_text=True,
            **(extra | more),
        )
        hooks.absorb(batch, result)
        return _Rated(result, _totals(result.rated), _reasons(result.rejects))

    def take(done: int, rated: _Rated) -> pl.DataFrame:
        result = rated.result
        after.append(result.counters)
        hand_over("rejects", result.rejects)
        hand_over("notifications", result.notifications)
        summary.rated += result.rated.height
        summary.rejected += result.rejects.height
        summary.notifications += result.notifications.height
        for code, n in rated.reasons.items():
            summary.rejects_by_reason[code] = summary.rejects_by_reason.get(code, 0) + n
        totals.append(rated.totals)
        summary.batches = done
        if progress is not None:
            progress(done, len(keys))
        return result.rated

    lanes = 1 if hooks is not None or len(keys) < 2 else RATING_THREADS

    def hand_over(name: str, frame: pl.DataFrame) -> None:
        path = outputs[name]
        if path is None:
            return
        writer = writers.get(name)
        if writer is None:  # the first batch fixes the columns
            with held_interrupts():  # its thread started is one an error stops
                writer = writers[name] = BackgroundTableWriter(
                    path, frame.schema, row_group_size=PARQUET_BATCH_ROW_GROUP_SIZE
                )
        elif frame.schema != writer.schema:  # e.g. a column with no value in an earlier batch
            frame = frame.select(pl.col(n).cast(t) for n, t in writer.schema.items())
        writer.write(frame)

    try:
        rate = rate_hooked if hooks is not None else rate_batch
        with InOrder(rate, keys, lanes, name="roamlike-rating") as batches:
            for done, rated in enumerate(batches, start=1):
                frame = take(done, rated)
                del rated
                hand_over("rated", frame)
                del frame
        # every output moved into place or none: a signal waits for the last one
        with held_interrupts():
            for name in outputs:  # rated rows first, then rejects and notifications
                if name in writers:
                    writers[name].commit()
    except BaseException:
        for writer in writers.values():
            writer.abort()
        raise
    finally:
        parts.clear()
        if workdir is not None:
            with held_interrupts():  # removed whole
                workdir.cleanup()
    if totals:
        summary.totals = (
            pl.concat(totals)
            .group_by("regime", "currency")
            .agg(pl.all().sum())
            .sort("regime", "currency")
        )
    # ranges: the relay's; batches by subscriber hold disjoint subscribers: their counters
    # simply add up (either way built when first read)
    summary.counters = (
        relay.counters
        if relay is not None
        else functools.partial(_added_up, after)
        if after
        else Counters.empty()
    )
    assert summary.rated + summary.rejected == summary.read, "rated + rejected must equal read"
    return summary
