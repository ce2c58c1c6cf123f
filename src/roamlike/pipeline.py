"""Rate a usage file into output files, in batches by subscriber so memory stays bounded.

The engine (``roamlike.rating``) works on frames; this module feeds it a file batch by batch and
streams the results to the output files (atomically; the rated rows on a worker thread, so a
batch is encoded while the next one is rated). Every counter of docs/rating.md is per
subscriber, so batching by subscriber gives the same results as one frame; duplicates are found
over the whole file before the split. Rated rows come out grouped by batch, in read order within
a batch; the same input always gives the same bytes.
"""

from __future__ import annotations

import functools
import math
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

import polars as pl

from roamlike.counters import Counters
from roamlike.errors import OutputError, UsageInputError
from roamlike.io import USAGE_FORMATS, TableWriter, read_usage
from roamlike.io.background import BackgroundTableWriter
from roamlike.io.outputs import PARQUET_BATCH_ROW_GROUP_SIZE
from roamlike.lanes import InOrder
from roamlike.law import Catalog
from roamlike.rating import RatingResult, compiled, rate_usage
from roamlike.rating.duplicates import repeated_ids, repeated_rows
from roamlike.rating.normalise import (
    BATCH_DUPLICATE,
    BATCH_ROW,
    normalise_subscriber_id,
    subscriber_batch,
)
from roamlike.rating.tables import PriceTables
from roamlike.tariffs import FxTable, Plan

#: Memory a run may take by default [bytes] (``roamlike rate --memory-gb``).
DEFAULT_MEMORY_BYTES = 3 * 10**9
#: Memory a batch takes per record it holds [bytes]: the peaks of the two engine calls that run
#: at once (:data:`RATING_THREADS`; about 320 bytes per record each in calls of 500,000,
#: ``benchmarks/bench_rating.py --profile --profile-records 500000``) plus the rated rows taken
#: or held by the writer meanwhile (up to three batches of about 210 bytes per record), with
#: room for the allocator's slack (docs/rating.md §7c).
ENGINE_BYTES_PER_RECORD = 1_400
#: Records per engine call by default: in the benchmark calls of this size took no more CPU
#: time than calls of 1 or 2 million records and less than one call of 4 million, and less
#: memory.
DEFAULT_BATCH_ROWS = 500_000
#: The smallest engine call worth holding the whole input in memory for [records].
MIN_CALL_ROWS = 200_000
#: Rows read to estimate the memory the input takes.
_SAMPLE_ROWS = 10_000
#: Usage files whose records are counted only by parsing them (CSV, JSON lines).
_TEXT_SUFFIXES = frozenset(s for s, fmt in USAGE_FORMATS.items() if fmt != "parquet")
#: Compression of the temporary batch files of a split on disk: on 10 million records lz4
#: took 4.9-5.0 CPU-s to write and 0.4 to read back, zstd 5.5-6.4 and 0.6, for files 1.4 times
#: as large (250 instead of 181 MB); uncompressed files were twice as large again for 0.4 less.
_BATCH_FILE_COMPRESSION: Final = "lz4"
#: The batch of a row while the file is split (in the namespace no input column may use).
_BATCH = "__roamlike_batch"


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


def _collect(lf: pl.LazyFrame, path: Path, *, in_memory: bool = False) -> pl.DataFrame:
    try:
        return lf.collect(engine="in-memory" if in_memory else "auto")
    except pl.exceptions.PolarsError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UsageInputError(f"{path}: cannot read usage records: {first}") from exc


def _sink_batches(usage: pl.LazyFrame, batches: int, folder: Path, path: Path) -> None:
    """Write the usage, with row numbers, as one Parquet folder per batch (hive layout)."""
    try:
        usage.with_row_index(BATCH_ROW).with_columns(
            subscriber_batch(batches).alias(_BATCH)
        ).sink_parquet(
            pl.PartitionBy(folder, key=_BATCH, include_key=False, approximate_bytes_per_file=None),
            compression=_BATCH_FILE_COMPRESSION,
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


@dataclass(frozen=True)
class BatchPlan:
    """How :func:`rate_file` splits a file: ``batches`` engine calls, in memory or on disk."""

    batches: int
    on_disk: bool
    #: Records per engine call aimed at (the split by subscriber makes batches of about this).
    rows_per_batch: int


def plan_batches(
    read: int, input_bytes: int, memory_bytes: int, batch_rows: int | None = None
) -> BatchPlan:
    """The batches of a run of ``read`` records taking ``input_bytes`` in memory.

    The input is held in memory when the budget leaves room beside it for engine calls of at
    least :data:`MIN_CALL_ROWS` records (:data:`ENGINE_BYTES_PER_RECORD` each); it is then split
    in memory into calls of ``batch_rows`` records, or fewer if the room is smaller, and nothing
    is written to disk (an input of at most ``batch_rows`` records is rated in one call). A
    larger input is split by subscriber into batch files on disk, rated one at a time (memory
    then holds one batch whatever the size of the file).

    Parameters
    ----------
    read : int
        Records in the input.
    input_bytes : int
        Memory the input takes once read [bytes] (an estimate).
    memory_bytes : int
        The budget [bytes].
    batch_rows : int, optional
        At most this many records per engine call (default :data:`DEFAULT_BATCH_ROWS`).
    """
    read = max(read, 1)
    cap = min(batch_rows or DEFAULT_BATCH_ROWS, read)
    room = max(memory_bytes - input_bytes, 0) // ENGINE_BYTES_PER_RECORD
    if room >= min(read, MIN_CALL_ROWS):
        rows = max(1, min(cap, room))
        return BatchPlan(math.ceil(read / rows), False, rows)
    rows = max(1, min(cap, memory_bytes // ENGINE_BYTES_PER_RECORD))
    batches = math.ceil(read / rows)
    return BatchPlan(batches, batches > 1, rows)


def _row_bytes(sample: pl.DataFrame) -> float:
    """Estimated memory of one input row once read [bytes], from the first rows."""
    if not sample.height:
        return 0.0
    # a text value takes a 16-byte view, which holds up to 12 bytes; longer ones are stored
    # beside it (Polars' own estimate counts the characters only)
    text = [n for n, dtype in sample.schema.items() if dtype == pl.String]
    long_text = (
        sample.select(
            pl.sum_horizontal(
                pl.col(n).str.len_bytes().filter(pl.col(n).str.len_bytes() > 12).sum() for n in text
            )
        ).item()
        if text
        else 0
    )
    other = sample.drop(text).estimated_size()
    return (16 * len(text) * sample.height + int(long_text or 0) + other) / sample.height


def _text_rows(sample: pl.DataFrame, path: Path) -> int:
    """Records in a text file, estimated from its size and its first rows.

    A row's text holds its values' bytes and at least one separator per value (JSON lines also
    the keys), so the estimate is rather too high than too low when the first rows are typical.
    """
    if not sample.height:
        return 0
    values = sample.select(
        pl.sum_horizontal(pl.col(n).str.len_bytes().fill_null(0).sum() for n in sample.columns)
    ).item()
    per_row = (int(values or 0) + sample.height * sample.width) / sample.height
    return math.ceil(path.stat().st_size / max(per_row, 1.0))


def _read_whole(usage: pl.LazyFrame, path: Path) -> pl.DataFrame:
    """The whole input in memory, with row numbers."""
    # the in-memory engine reads a Parquet file in one chunk per row group, the streaming engine
    # in ten times as many: filtering each batch out of the latter costs twice as much CPU
    # (rechunking instead costs as much again and a second copy of the input)
    return _collect(usage.with_row_index(BATCH_ROW), path, in_memory=True)


def _by_subscriber(frame: pl.DataFrame, batches: int) -> dict[int, Callable[[], pl.DataFrame]]:
    """A loader of each batch's rows (in read order), keyed by batch number.

    Each batch is filtered out of the input when it is loaded, so memory holds the input and one
    batch, never a second copy of the input. A filter reads the input in order; on 4 million
    records the eight filters took a fifth of the CPU time of an arg-sort by batch and gathers
    by row number, which read it in random order (``benchmarks/bench_rating.py``).
    """
    # one select: Polars works the two columns on two threads
    ids, batch = frame.select(
        normalise_subscriber_id(pl.col("record_id")), subscriber_batch(batches).alias(_BATCH)
    ).get_columns()
    keyed = frame.with_columns(repeated_ids(ids).alias(BATCH_DUPLICATE), batch)
    keys = keyed.get_column(_BATCH).unique().sort()
    return {int(k): functools.partial(_rows_of, keyed, int(k)) for k in keys}


def _rows_of(keyed: pl.DataFrame, key: int) -> pl.DataFrame:
    return keyed.filter(pl.col(_BATCH) == key).drop(_BATCH)


@dataclass(frozen=True)
class _Opened:
    """A usage file opened for a run: its records, batches and (in memory) its rows."""

    usage: pl.LazyFrame
    read: int
    plan: BatchPlan
    whole: pl.DataFrame | None  # the rows with their row numbers; None when split on disk


def _open(
    usage_path: Path, mapping: Path | None, memory_bytes: int, batch_rows: int | None
) -> _Opened:
    """Count the records, plan the batches and read the input when it is held in memory."""
    usage = read_usage(usage_path, mapping)
    sample = _collect(usage.head(_SAMPLE_ROWS), usage_path)
    whole: pl.DataFrame | None = None
    if usage_path.suffix.lower() in _TEXT_SUFFIXES:
        # counting the records of a text file parses it as fully as reading it: a file that
        # seems to fit the budget is read once, and its records counted in memory
        guess = _text_rows(sample, usage_path)
        if not plan_batches(guess, math.ceil(guess * _row_bytes(sample)), memory_bytes).on_disk:
            whole = _read_whole(usage, usage_path)
    read = (
        whole.height
        if whole is not None
        else int(_collect(usage.select(pl.len()), usage_path).item())
    )
    plan = plan_batches(read, math.ceil(read * _row_bytes(sample)), memory_bytes, batch_rows)
    if plan.on_disk:
        whole = None
    elif whole is None:
        whole = _read_whole(usage, usage_path)
    return _Opened(usage, read, plan, whole)


class InputReader:
    """Open a usage file for :func:`rate_file` on a thread, starting at once.

    ``roamlike rate`` starts one before it parses the plans and FX: Polars reads the file
    while Python parses them (and while Numba loads, ``roamlike.rating.compiled``), instead
    of after. An error (the file cannot be read) is raised by :meth:`result`.
    """

    def __init__(
        self,
        usage_path: Path,
        mapping: Path | None = None,
        memory_bytes: int = DEFAULT_MEMORY_BYTES,
        batch_rows: int | None = None,
    ) -> None:
        self.key = (usage_path, mapping, memory_bytes, batch_rows)
        self._opened: _Opened | None = None
        self._error: BaseException | None = None
        # a daemon: a run that fails before it takes the input does not wait for the read
        self._thread = threading.Thread(target=self._run, name="roamlike-reader", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._opened = _open(*self.key)
        except BaseException as exc:  # raised in the caller by result()
            self._error = exc

    def result(self) -> _Opened:
        """The opened input (waits for the read).

        Raises
        ------
        UsageInputError
            The usage file cannot be read (as :func:`rate_file` raises it).
        """
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._opened is not None
        opened, self._opened = self._opened, None  # the caller holds the rows from now on
        return opened


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
    # the columns summed, in one chunk each first: a batch's rated columns come in several, and
    # grouping over them took about twice as long as copying them and grouping the copy
    rated = rated.select(
        "regime", "currency", "charge_excl_vat_micros", "vat_micros", "charge_incl_vat_micros"
    ).rechunk()
    return rated.group_by("regime", "currency").agg(
        records=pl.len(),
        # Int128: a total of millions of Int64 charges must not wrap
        charge_excl_vat_micros=pl.col("charge_excl_vat_micros").cast(pl.Int128).sum(),
        vat_micros=pl.col("vat_micros").cast(pl.Int128).sum(),
        charge_incl_vat_micros=pl.col("charge_incl_vat_micros").cast(pl.Int128).sum(),
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
    opened = reader.result() if reader is not None and reader.key == key else _open(*key)
    usage, read, plan, whole = opened.usage, opened.read, opened.plan, opened.whole
    del opened
    summary = RunSummary(read=read, on_disk=plan.on_disk)
    directory = out.parent if str(out.parent) else Path(".")
    if not directory.is_dir():
        raise OutputError(f"{out}: output directory {directory} does not exist")
    sweep_leftovers(directory)
    workdir: tempfile.TemporaryDirectory[str] | None = None
    parts: dict[int, Callable[[], pl.DataFrame]] = {}
    duplicates = pl.Series("row_number", [], dtype=pl.Int64)
    if plan.on_disk:
        # duplicates over the whole file, in read order: only their row numbers are kept
        duplicates = repeated_rows(
            usage.select(normalise_subscriber_id(pl.col("record_id"))),
            read=lambda lf: _collect(lf, usage_path),
        )
        try:
            workdir = tempfile.TemporaryDirectory(
                prefix=f".roamlike-batches-{os.getpid()}-", dir=directory
            )
        except OSError as exc:
            raise OutputError(f"{out}: cannot create a work folder in {directory}: {exc}") from exc
        # one streaming pass splits the file by subscriber into Parquet files on disk, so the
        # memory held is one batch at a time whatever the size of the file
        _sink_batches(usage, plan.batches, Path(workdir.name), usage_path)
        keys = sorted(
            int(d.name.split("=", 1)[1]) for d in Path(workdir.name).iterdir() if "=" in d.name
        ) or [0]
    else:
        assert whole is not None  # read by _open
        # one batch: the engine finds the duplicates itself; more: split in memory by
        # subscriber, after the duplicates are found over all rows
        parts = _by_subscriber(whole, plan.batches) if plan.batches > 1 else {}
        parts = parts or {0: functools.partial(lambda frame: frame, whole)}
        del whole  # held by the loaders only: dropped with the last one
        keys = sorted(parts)

    def load_batch(key: int) -> pl.DataFrame:
        if workdir is None:  # each part is dropped once handed over
            return parts.pop(key)().with_columns(pl.col(BATCH_ROW).cast(pl.Int64))
        folder = Path(workdir.name) / f"{_BATCH}={key}"
        frame = _collect(pl.scan_parquet(folder / "*.parquet"), usage_path)
        return frame.with_columns(
            pl.col(BATCH_ROW).cast(pl.Int64),
            pl.col(BATCH_ROW).is_in(duplicates.implode()).alias(BATCH_DUPLICATE),
        )

    tables = PriceTables()  # the price table, built once and shared by the batches
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
        result = rate_usage(
            load_batch(key), plans, fx, catalog=catalog, price_tables=tables, **extra
        )
        return _Rated(result, _totals(result.rated), _reasons(result.rejects))

    def rate_hooked(key: int) -> _Rated:
        assert hooks is not None  # the store's hooks run on the caller's thread, in order
        batch, more = hooks.prepare(load_batch(key))
        result = rate_usage(
            batch, plans, fx, catalog=catalog, price_tables=tables, **(extra | more)
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
