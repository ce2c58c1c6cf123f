"""``roamlike rate --state``: rate a file against the store's counters and commit atomically.

One run, in one store transaction (SQLite's write lock; a per-tenant advisory lock on
PostgreSQL), so runs on the same store never interleave:

1. fingerprint the input (sha256, size); an input already in the ledger is refused, or, if its
   run committed but was killed before moving its outputs into place, those moves are finished;
2. rate it batch by batch (``roamlike.pipeline``), each batch with the stored counters and
   record ids of its subscribers and rows, writing back after each batch the counters after it,
   its record ids and its days' presence and consumption (counters and days are appended to
   the logs of ``roamlike.state.log``); the outputs go under pending names
   (``ledger.pending_path``). On SQLite the counters of a one-batch input are loaded on
   threads, through read-only connections, and its record ids claimed, while the input is
   read (``roamlike.state.preload``); ``roamlike rate`` begins all that before step 2, on a
   thread from the command's start (``roamlike.state.begin``);
3. in the same transaction: the ledger row with the outputs' checksums; commit;
4. move the outputs into place;
5. when the logs have grown past ``log.COMPACT_LOG_ROWS`` rows, fold them into the base tables
   (``roamlike.state.log``) in a transaction of its own.

Killed before the commit, nothing was stored (rerun it); killed after, the rerun finishes step 4.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import uuid
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from roamlike.errors import StoreError
from roamlike.input_reader import InputReader, OpenedInput
from roamlike.pipeline import DEFAULT_BATCH_ROWS, DEFAULT_MEMORY_BYTES, RunSummary, rate_file
from roamlike.sqlite_driver import sqlite3
from roamlike.state.begin import Begun, begin_run
from roamlike.state.hooks import StoreHooks
from roamlike.state.ledger import (
    Fingerprint,
    LedgerRun,
    file_sha256,
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
    compact_store,
)
from roamlike.state.migrations import require_current
from roamlike.state.store import Store
from roamlike.tariffs import FxTable, Plan


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
    packs: bool | None = None,
    reader: InputReader | None = None,
    begun: Begun | None = None,
) -> StateRun:
    """Rate ``usage_path`` with the store's counters and commit counters, days and ledger with
    the outputs (module docstring); then compact the tenant's logs if one holds more than
    ``compact_rows`` rows (``roamlike.state.log``). ``packs``: write the counters and days as
    packs (``roamlike.state.packs``) instead of log rows; None: for the batch tenant ``''``
    only (``roamlike.state.hooks.StoreHooks.packed``). ``reader``: the input, being read on a
    thread since the caller started it (``roamlike rate`` does); the preload then takes the
    batch's keys from its rows instead of reading them from the file. ``begun``: the run's
    head begun on a thread (``roamlike.state.begin``, for ``store``, whose transaction it
    holds, and this input), taken instead of beginning it here.

    Raises
    ------
    AlreadyRatedError
        The input was rated into this store before.
    StoreError, UsageInputError, OutputError, TariffError, FxError
        Nothing is committed and no output is left behind.
    """
    if begun is None:
        require_current(store)
    fp = fingerprint(usage_path) if begun is None else begun.fp
    finals = [p.resolve() for p in (out, rejects_path, notifications_path) if p is not None]
    pendings = {p: pending_path(p, fp.sha256) for p in finals}

    def pend(p: Path | None) -> Path | None:
        return pendings[p.resolve()] if p is not None else None

    started = now_utc()
    previous: LedgerRun | None = None
    try:
        with store.transaction() if begun is None else begun.transaction() as tx:
            head = (
                begin_run(
                    tx,
                    store,
                    usage_path,
                    mapping,
                    tenant,
                    fp,
                    apply_control_findings=apply_control_findings,
                    batch_rows=batch_rows,
                    memory_bytes=memory_bytes,
                    opened=read_ahead(reader, usage_path, mapping, memory_bytes, batch_rows),
                )
                if begun is None
                else begun.taken()
            )
            previous = head.previous
            if previous is None:
                hooks = StoreHooks(tx, tenant, head.control, head.pruned, head.preload, packs=packs)
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
                        reader=reader,
                    )
                    # the outputs are complete: flushed and hashed while the store's last
                    # writes finish on their thread
                    outputs = seal_outputs(pendings)
                except BaseException:
                    hooks.finish(failed=True)  # no write may run while the transaction ends
                    raise
                hooks.finish()
                run = ledger_run(
                    usage_path,
                    fp,
                    summary,
                    started,
                    hooks.late,
                    outputs,
                    apply_control_findings,
                    options,
                )
                record_run(tx, run, tenant)
    except BaseException:
        for pending in pendings.values():
            with contextlib.suppress(OSError):
                pending.unlink()
        raise
    if previous is not None:
        return finish_previous(previous, usage_path)
    move_outputs(pendings)
    copy_run_into_file(store)
    # the run is committed and in place; folding the logs is a transaction of its own (killed,
    # it leaves the logs as they were)
    try:
        compacted = compact_store(store, tenant, min_rows=compact_rows)
    except StoreError as exc:  # the run stands; its logs wait for the next compaction
        return StateRun(summary, run, compaction_error=str(exc))
    return StateRun(summary, run, compacted=compacted)


def copy_run_into_file(store: Store) -> None:
    """SQLite: copy the committed run's pages from the WAL into the store's file (a passive
    checkpoint), so that the file alone holds the run when the command ends, whatever other
    connections are open (``docs/state.md``, "Pages"). A run of a day's file on a store of
    4 KiB pages left more pages in the WAL than SQLite's automatic checkpoint waits for, so
    its commit checkpointed; with 16 KiB pages it leaves fewer, and without this the pages
    would wait in the WAL for the last connection to close. A checkpoint that cannot finish
    (a reader holds old pages) is left to SQLite: the run is durable in the WAL already."""
    if store.dialect == "sqlite":
        with contextlib.suppress(sqlite3.Error):
            store.connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()


def read_ahead(
    reader: InputReader | None,
    usage_path: Path,
    mapping: Path | None,
    memory_bytes: int,
    batch_rows: int,
) -> OpenedInput | None:
    """What ``reader`` read (waiting for it), if it reads the input as the run's pipeline will
    (``roamlike.pipeline.rate_file`` takes it then); else None."""
    if reader is None or reader.key != (usage_path, mapping, memory_bytes, batch_rows):
        return None
    return reader.peek()


def finish_previous(previous: LedgerRun, usage_path: Path) -> StateRun:
    """The outcome of a run of an input the ledger holds already: its outputs moved into place
    if its run was killed before it could, else :class:`~roamlike.errors.AlreadyRatedError`
    (``ledger.finish_outputs``)."""
    finish_outputs(previous, usage_path)
    counts = RunSummary(
        read=previous.input_rows,
        rated=previous.rated,
        rejected=previous.rejected,
        notifications=previous.notifications,
    )
    return StateRun(counts, previous, finished_interrupted=True)


def ledger_run(
    usage_path: Path,
    fp: Fingerprint,
    summary: RunSummary,
    started: str,
    late: int,
    outputs: dict[str, dict[str, str]],
    apply_control_findings: bool,
    options: Mapping[str, Any] | None = None,
) -> LedgerRun:
    """The ledger's row of a run rated now (a new run id, finished now)."""
    return LedgerRun(
        run_id=uuid.uuid4().hex,
        input_name=str(usage_path),
        input_sha256=fp.sha256,
        input_bytes=fp.size_bytes,
        input_rows=summary.read,
        started_at=started,
        finished_at=now_utc(),
        rated=summary.rated,
        rejected=summary.rejected,
        late=late,
        notifications=summary.notifications,
        outputs=outputs,
        options={"apply_control": apply_control_findings, **(options or {})},
    )


def seal_outputs(pendings: Mapping[Path, Path]) -> dict[str, dict[str, str]]:
    """Flush each pending output to disk; the ledger's entry of each (pending name, sha256).

    The outputs are flushed and hashed side by side, one thread each (both release Python's
    lock): the run waits for the slowest flush instead of their sum, which on a disk other
    work keeps busy is most of the time they take."""

    def sealed(pending: Path) -> dict[str, str]:
        fsync_file(pending)
        return {"pending": str(pending), "sha256": file_sha256(pending)}

    with ThreadPoolExecutor(max(1, len(pendings)), thread_name_prefix="roamlike-seal") as pool:
        entries = list(pool.map(sealed, pendings.values()))
    return {str(final): entry for final, entry in zip(pendings, entries, strict=True)}


def move_outputs(pendings: Mapping[Path, Path]) -> None:
    """Step 4: the committed run's pending outputs into place."""
    for final, pending in pendings.items():
        os.replace(pending, final)
    for folder in {f.parent for f in pendings}:
        fsync_dir(folder)


def today_utc() -> dt.date:
    """Today's date in UTC (the default control date)."""
    return dt.datetime.now(dt.UTC).date()
