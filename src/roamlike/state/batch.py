"""``roamlike rate --state``: rate a file against the store's counters and commit atomically.

One run, in one store transaction (SQLite's write lock; a per-tenant advisory lock on
PostgreSQL), so runs on the same store never interleave:

1. fingerprint the input (sha256, size); an input already in the ledger is refused, or, if its
   run committed but was killed before moving its outputs into place, those moves are finished;
2. rate it batch by batch (``roamlike.pipeline``), each batch with the stored counters and
   record ids of its subscribers and rows, writing back after each batch the counters after it,
   its record ids and its days' presence and consumption (counters and days are appended to
   the logs of ``roamlike.state.log``); the outputs go under pending names
   (``ledger.pending_path``). On SQLite the counters of a one-batch Parquet input are loaded
   on threads, through read-only connections, and its record ids claimed, while the input is
   read (``roamlike.state.preload``);
3. in the same transaction: the ledger row with the outputs' checksums; commit;
4. move the outputs into place;
5. when the logs have grown past ``log.COMPACT_LOG_ROWS`` rows, fold them into the base tables
   (``roamlike.state.log``) in a transaction of its own.

Killed before the commit, nothing was stored (rerun it); killed after, the rerun finishes step 4.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from roamlike.errors import StoreError, UsageInputError
from roamlike.pipeline import DEFAULT_BATCH_ROWS, DEFAULT_MEMORY_BYTES, RunSummary, rate_file
from roamlike.rating import RatingResult
from roamlike.rating.normalise import BATCH_ROW, normalise_subscriber_id
from roamlike.state.control import pruned_before, surcharge_periods
from roamlike.state.counters import (
    claim_record_ids,
    load_counters,
    local_dates,
    periods_since,
    stored_counters,
)
from roamlike.state.days import days_of_rated
from roamlike.state.ledger import (
    LedgerRun,
    file_sha256,
    find_run,
    fingerprint,
    finish_outputs,
    fsync_dir,
    fsync_file,
    now_utc,
    pending_path,
    record_run,
)
from roamlike.state.log import (
    COMPACT_LOG_ROWS,
    CompactResult,
    LogRows,
    compact_store,
    lock_tenant,
    prepare_rows,
    write_rows,
)
from roamlike.state.migrations import require_current
from roamlike.state.preload import Preload, start_preload
from roamlike.state.store import Store, Transaction
from roamlike.tariffs import FxTable, Plan


def apply_control(batch: pl.DataFrame, periods: pl.DataFrame) -> pl.DataFrame:
    """Set ``is_beyond_fair_use`` from the recorded control findings instead of the input flag:
    true on local days from ``surcharge_from`` until (excluding) ``cleared_on``."""
    if periods.height == 0:
        return batch.with_columns(is_beyond_fair_use=pl.lit(False))
    keyed = batch.with_columns(
        _sub=normalise_subscriber_id(pl.col("subscriber_id")), _day=local_dates(batch)
    )
    hits = (
        keyed.select(BATCH_ROW, "_sub", "_day")
        .join(periods.rename({"subscriber_id": "_sub"}), on="_sub", how="inner")
        .filter(
            (pl.col("_day") >= pl.col("surcharge_from"))
            & (pl.col("cleared_on").is_null() | (pl.col("_day") < pl.col("cleared_on")))
        )
        .get_column(BATCH_ROW)
        .unique()
    )
    return batch.with_columns(is_beyond_fair_use=pl.col(BATCH_ROW).is_in(hits.implode()))


@dataclass
class _Hooks:
    """What the pipeline calls around each batch (``pipeline.BatchHooks``): the batch's stored
    counters (of the periods it can touch) and record ids in, its record ids stored; then the
    counters after it and its days out.

    The writes of a batch run on one worker thread while the pipeline writes the batch's outputs
    (SQLite and Polars release the GIL while they work): the run's wall time overlaps the two.
    Their rows are made ready (``roamlike.state.log.prepare_rows``: sorted, as statement
    parameters; the days aggregated) on two more threads, one table ahead of the writer's
    inserts.
    The store's connection is still used by one thread at a time: :meth:`prepare` of the next
    batch and :meth:`finish` wait for the writes before them, and re-raise their error.
    ``preload`` (``roamlike.state.preload``) may hold the first batch's counters, loaded on a
    thread of its own while the input was read and the batch's record ids claimed.
    """

    tx: Transaction
    tenant: str
    control: pl.DataFrame | None
    pruned: dt.date | None = None
    preload: Preload | None = None
    late: int = 0
    _writes: Future[None] | None = None
    _worker: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="roamlike-state")
    )
    _prepare: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(2, thread_name_prefix="roamlike-state-rows")
    )

    def prepare(self, batch: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, Any]]:
        self._wait()
        if self.control is not None:
            batch = apply_control(batch, self.control)
        keys = batch.select(
            normalise_subscriber_id(pl.col("subscriber_id")).alias("s"),
            normalise_subscriber_id(pl.col("record_id")).alias("r"),
            local_dates(batch).alias("d"),
        )
        if self.pruned is not None:
            early = keys.filter(pl.col("d") < self.pruned).get_column("d")
            if early.len():
                first = early.min()
                assert isinstance(first, dt.date)
                raise UsageInputError(
                    f"{early.len():,} record(s) from {first.isoformat()} on are older than the day "
                    f"the store was pruned before ({self.pruned.isoformat()}): their counters "
                    "are gone (`roamlike state prune`); rate them into a store that has them"
                )
        since = periods_since(keys.get_column("d"))
        preload, self.preload = self.preload, None
        # first the preload: its claim of record ids may still be using the run's connection
        counters, known = (
            preload.take(keys.get_column("s"), since, keys.get_column("r"))
            if preload is not None
            else (None, None)
        )
        if known is None:
            known = claim_record_ids(self.tx, keys.get_column("r"), self.tenant)
        if counters is None:
            counters = load_counters(self.tx, keys.get_column("s"), self.tenant, since=since)
        return batch, {"counters": counters, "known_record_ids": known}

    def absorb(self, batch: pl.DataFrame, result: RatingResult) -> None:
        self._wait()
        self.late += int(result.rated.get_column("is_late").sum())
        # the rows are made ready (Polars, Python) on other threads while the writer inserts
        # those made ready before them, one table ahead (the rows of at most two tables are
        # held at a time): subscribers (the quickest ready), periods, then days, whose
        # aggregation starts now
        dialect, tenant = self.tx.dialect, self.tenant
        periods, subscribers = stored_counters(result.counters, tenant)
        days = self._prepare.submit(days_of_rated, result.rated, tenant)
        tables: list[Callable[[], LogRows]] = [
            functools.partial(prepare_rows, dialect, "state_subscribers", subscribers),
            functools.partial(prepare_rows, dialect, "state_periods", periods),
            lambda: prepare_rows(dialect, "state_days", days.result()),
        ]
        self._writes = self._worker.submit(self._write, tables, days)

    def _write(self, tables: list[Callable[[], LogRows]], days: Future[pl.DataFrame]) -> None:
        ahead: Future[LogRows] | None = self._prepare.submit(tables[0])
        try:
            for following in [*tables[1:], None]:
                assert ahead is not None
                rows = ahead.result()
                ahead = None if following is None else self._prepare.submit(following)
                write_rows(self.tx, rows)
                del rows
        finally:
            for job in (ahead, days):  # none left running past the writes
                if job is not None:
                    with contextlib.suppress(BaseException):
                        job.result()

    def _wait(self) -> None:
        writes, self._writes = self._writes, None
        if writes is not None:
            writes.result()

    def finish(self, failed: bool = False) -> None:
        """Wait for the last writes and stop the worker; their error is raised unless the run
        ``failed`` already (the first error is the one reported)."""
        try:
            self._wait()
        except BaseException:
            if not failed:
                raise
        finally:
            self._worker.shutdown()
            self._prepare.shutdown()
            if self.preload is not None:  # not taken: the run failed before its first batch
                self.preload.close()
                self.preload = None


@dataclass
class StateRun:
    """The outcome of :func:`rate_with_state`.

    Attributes
    ----------
    summary : RunSummary
        Counts (and totals, for a run rated now).
    run : LedgerRun
        The ledger row.
    finished_interrupted : bool
        True when this call only finished moving the outputs of a run that had committed.
    compacted : list of CompactResult
        The compaction that followed the run, when its logs had grown past
        :data:`~roamlike.state.log.COMPACT_LOG_ROWS` (empty otherwise).
    compaction_error : str, optional
        Why that compaction failed (the run is committed all the same; nothing was folded).
    """

    summary: RunSummary
    run: LedgerRun
    finished_interrupted: bool = False
    compacted: list[CompactResult] = field(default_factory=list)
    compaction_error: str | None = None


def rate_with_state(
    usage_path: Path,
    plans: Mapping[str, Plan],
    fx: FxTable,
    out: Path,
    rejects_path: Path | None,
    notifications_path: Path | None,
    store: Store,
    *,
    mapping: Path | None = None,
    tenant: str = "",
    apply_control_findings: bool = False,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    progress: Callable[[int, int], None] | None = None,
    options: Mapping[str, Any] | None = None,
    memory_bytes: int = DEFAULT_MEMORY_BYTES,
    compact_rows: int = COMPACT_LOG_ROWS,
) -> StateRun:
    """Rate ``usage_path`` with the store's counters and commit counters, days and ledger with
    the outputs (module docstring); then compact the tenant's logs if one holds more than
    ``compact_rows`` rows (``roamlike.state.log``).

    Raises
    ------
    AlreadyRatedError
        The input was rated into this store before.
    StoreError, UsageInputError, OutputError, TariffError, FxError
        Nothing is committed and no output is left behind.
    """
    require_current(store)
    fp = fingerprint(usage_path)
    finals = [p.resolve() for p in (out, rejects_path, notifications_path) if p is not None]
    pendings = {p: pending_path(p, fp.sha256) for p in finals}

    def pend(p: Path | None) -> Path | None:
        return pendings[p.resolve()] if p is not None else None

    started = now_utc()
    previous: LedgerRun | None = None
    try:
        with store.transaction() as tx:
            lock_tenant(tx, tenant)
            previous = find_run(tx, fp.sha256, tenant)
            if previous is None:
                control = surcharge_periods(tx, tenant) if apply_control_findings else None
                pruned = pruned_before(tx, tenant)
                # the counters of a one-batch input load on threads while the input is read, and
                # its record ids are claimed through ``tx`` (not used here until the batch
                # takes them)
                preload = start_preload(
                    store,
                    usage_path,
                    mapping,
                    tenant,
                    batch_rows=batch_rows,
                    memory_bytes=memory_bytes,
                    claim=tx,
                )
                hooks = _Hooks(tx, tenant, control, pruned, preload)
                out_pending = pend(out)
                assert out_pending is not None
                try:
                    summary = rate_file(
                        usage_path,
                        plans,
                        fx,
                        out_pending,
                        pend(rejects_path),
                        pend(notifications_path),
                        mapping,
                        batch_rows=batch_rows,
                        progress=progress,
                        hooks=hooks,
                        memory_bytes=memory_bytes,
                    )
                    # the outputs are complete: flushed and hashed while the store's last
                    # writes finish on their thread
                    outputs = _sealed(pendings)
                except BaseException:
                    hooks.finish(failed=True)  # no write may run while the transaction ends
                    raise
                hooks.finish()
                run = LedgerRun(
                    run_id=uuid.uuid4().hex,
                    input_name=str(usage_path),
                    input_sha256=fp.sha256,
                    input_bytes=fp.size_bytes,
                    input_rows=summary.read,
                    started_at=started,
                    finished_at=now_utc(),
                    rated=summary.rated,
                    rejected=summary.rejected,
                    late=hooks.late,
                    notifications=summary.notifications,
                    outputs=outputs,
                    options={"apply_control": apply_control_findings, **(options or {})},
                )
                record_run(tx, run, tenant)
    except BaseException:
        for pending in pendings.values():
            with contextlib.suppress(OSError):
                pending.unlink()
        raise
    if previous is not None:
        finish_outputs(previous, usage_path)
        counts = RunSummary(
            read=previous.input_rows,
            rated=previous.rated,
            rejected=previous.rejected,
            notifications=previous.notifications,
        )
        return StateRun(counts, previous, finished_interrupted=True)
    _move_outputs(pendings)
    # the run is committed and in place; folding the logs is a transaction of its own (killed,
    # it leaves the logs as they were)
    try:
        compacted = compact_store(store, tenant, min_rows=compact_rows)
    except StoreError as exc:  # the run stands; its logs wait for the next compaction
        return StateRun(summary, run, compaction_error=str(exc))
    return StateRun(summary, run, compacted=compacted)


def _sealed(pendings: Mapping[Path, Path]) -> dict[str, dict[str, str]]:
    """Flush each pending output to disk; the ledger's entry of each (pending name, sha256)."""
    outputs: dict[str, dict[str, str]] = {}
    for final, pending in pendings.items():
        fsync_file(pending)
        outputs[str(final)] = {"pending": str(pending), "sha256": file_sha256(pending)}
    return outputs


def _move_outputs(pendings: Mapping[Path, Path]) -> None:
    """Step 4: the committed run's pending outputs into place."""
    for final, pending in pendings.items():
        os.replace(pending, final)
    for folder in {f.parent for f in pendings}:
        fsync_dir(folder)


def today_utc() -> dt.date:
    """Today's date in UTC (the default control date)."""
    return dt.datetime.now(dt.UTC).date()
