"""Loading a run's counters on threads while its input is read: ``rate --state`` on SQLite.

A run needs, before it rates, the stored counters of its subscribers (``load_counters``) and
its record ids claimed (``claim_record_ids``). Both used to run one after the other once the
pipeline had read the input. For an input rated in one batch (a day's file), subscribers and
record ids are known from the file itself, so :func:`start_preload` takes them from the rows
the run's input reader read (``roamlike.input_reader.InputReader``, started with the command),
or else reads them (three columns of a Parquet file), and loads their counters through
**read-only connections** of their own (:data:`PRELOAD_READERS`, each for a slice of the
subscribers) and claims the record ids through the run's own connection: on SQLite readers
and the writer work side by side (WAL), and all release the GIL while SQLite works. Its threads
run a step below the thread that starts it (``roamlike.state.priority``) until the engine starts
(:meth:`Preload.engine_starts`): the main thread, which imports and prepares the engine
meanwhile, keeps its core.

Why the readers see what the writer would: they start after the run's transaction took the
store's write lock (``BEGIN IMMEDIATE``), so no other writer commits until the run does, and
each snapshot is the store as the run found it. Before the counters are used the run writes
only record ids (``state_records``), which the load does not read. The batch checks that it is
the one loaded for (same subscribers, same first period, same record ids): otherwise, or if
the preload failed, it loads its counters itself as before, and the record ids claimed ahead
are undone (a savepoint) and claimed for the batch. The main thread does not use the run's
connection while the claim runs on it: the batch waits for the preload first. Nothing is
written through the readers, and the claim is part of the run's transaction, so a run killed
at any moment leaves the store as before (``docs/state.md``, "The contract of ``rate
--state``").

References
----------
``docs/state.md``, "What a run reads and writes".
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from roamlike.counters import Counters
from roamlike.input_reader import ENGINE_BYTES_PER_RECORD, OpenedInput
from roamlike.io import read_usage
from roamlike.record_keys import normalise_subscriber_id
from roamlike.state import priority
from roamlike.state.bulk import distinct_sorted
from roamlike.state.counters import (
    claim_record_ids,
    from_stored,
    load_stored,
    local_dates,
    periods_since,
)
from roamlike.state.store import Store, Transaction, open_store

#: Input suffixes whose subscriber ids are read without parsing the whole file (a column of a
#: Parquet file); a text file would be parsed twice.
PRELOAD_SUFFIXES = frozenset({".parquet"})


@dataclass(frozen=True)
class Keyed:
    """Ids loaded or claimed ahead: ``distinct`` (sorted, no nulls) and, when known, the
    ``rows`` they were taken from (the records' ids in their order, repeats and nulls kept)."""

    distinct: pl.Series
    rows: pl.Series | None = None

    def of(self, ids: pl.Series) -> bool:
        """True when these are the distinct ids of a batch's ``ids`` (normalised, any order,
        repeats and nulls allowed). A batch whose ids are the very rows taken ahead, in their
        order (a one-batch input: the usual case), is recognised by one comparison of the two
        columns, without the sort of its distinct ids."""
        if (
            self.rows is not None
            and self.rows.len() == ids.len()
            and self.rows.equals(ids, check_names=False, null_equal=True)
        ):
            return True
        return distinct_sorted(ids).equals(self.distinct, check_names=False)


@dataclass(frozen=True)
class Loaded:
    """Counters loaded ahead: of the ``subscribers``, periods since ``since``; with the
    ``record_ids`` claimed and those of them earlier runs had rated (``known``), when they
    were claimed ahead."""

    subscribers: Keyed
    since: dt.date | None
    counters: Counters
    record_ids: Keyed | None = None
    known: pl.Series | None = None

    def serves(self, subscribers: pl.Series, since: dt.date | None) -> bool:
        """True when these are the counters a batch of ``subscribers`` (normalised ids, any
        order, repeats and nulls allowed) with periods since ``since`` needs."""
        return since == self.since and self.subscribers.of(subscribers)

    def claimed(self, record_ids: pl.Series) -> bool:
        """True when the record ids claimed ahead are those of a batch of ``record_ids``
        (normalised ids, any order, repeats and nulls allowed)."""
        return self.record_ids is not None and claim_serves(self.record_ids, record_ids)


def claim_serves(claimed: Keyed, record_ids: pl.Series) -> bool:
    """True when the ids ``claimed`` ahead are those of a batch of ``record_ids`` (normalised
    ids, any order, repeats and nulls allowed): :meth:`Keyed.of`."""
    return claimed.of(record_ids)


#: The savepoint of the record ids claimed ahead, released when the batch takes them, undone
#: when it does not.
_CLAIM_SAVEPOINT = "roamlike_preclaim"


class Preload:
    """A load of counters (and a claim of record ids) running on threads of their own
    (:func:`start_preload`)."""

    def __init__(
        self,
        claim: Transaction | None,
        source: pl.DataFrame | None = None,
        starter: priority.Priority | None = None,
    ) -> None:
        #: The run's transaction, through which the record ids are claimed (None: not claimed).
        self.tx = claim
        #: The records (as the run's reader read them) whose keys the preload takes, if known.
        self._source = source
        #: The keys (:func:`_keys`) of the records, as soon as they are taken (None: not taken).
        self._keys: Future[pl.DataFrame | None] = Future()
        #: Set by the claim's thread once its savepoint is open.
        self.claiming = False
        #: The preload's threads, a step below the thread that started it until the engine
        #: starts (``roamlike.state.priority``; no starter: as the system starts them).
        self.lowered = priority.Lowered(starter)
        self._worker = self.executor("roamlike-preload")
        self._job: Future[Loaded | None] | None = None
        #: The record ids claimed ahead and those earlier runs had rated, as soon as the claim
        #: is done (before the counters are loaded); None when there was no such claim.
        self._claimed: Future[tuple[Keyed, pl.Series] | None] = Future()
        self._claimed_lock = threading.Lock()

    def executor(self, name: str, threads: int = 1) -> ThreadPoolExecutor:
        """A pool of the preload's ``threads``, each lowered (:attr:`lowered`)."""
        return ThreadPoolExecutor(threads, thread_name_prefix=name, initializer=self.lowered.lower)

    def engine_starts(self) -> None:
        """The main thread is about to rate: the preload's threads no longer yield to it
        (:meth:`roamlike.state.priority.Lowered.raise_back`, where permitted)."""
        self.lowered.raise_back()

    def start(self, job: Callable[[Preload], Loaded | None]) -> None:
        """Run ``job`` (given this preload) on the preload's thread."""
        self._job = self._worker.submit(self._run, job)

    def _run(self, job: Callable[[Preload], Loaded | None]) -> Loaded | None:
        try:
            return job(self)
        finally:
            self.publish_claim(None)  # no claim done ahead of the whole job
            self.publish_keys(None)

    def publish_keys(self, keys: pl.DataFrame | None) -> None:
        """Make the records' keys known to :meth:`keys_for` (the first call counts)."""
        with self._claimed_lock:
            if not self._keys.done():
                self._keys.set_result(keys)

    def keys_for(self, batch: pl.DataFrame) -> pl.DataFrame | None:
        """The keys ``s``, ``r``, ``d`` (``hooks.batch_keys_checked``) of ``batch`` taken by
        the preload already, if ``batch`` holds the very records it took them from (a
        one-batch input: the same rows in the same order, every column the keys are made of
        equal); else None (make them). Waits for the keys only, not for the claim or the
        readers."""
        if self._source is None or batch.height != self._source.height:
            return None
        keys = self._keys.result()
        if keys is None or "r" not in keys.columns:
            return None
        for name in KEYS_MADE_OF:
            if name not in batch.columns or name not in self._source.columns:
                return None
            if not batch.get_column(name).equals(
                self._source.get_column(name), check_dtypes=True, null_equal=True
            ):
                return None
        return keys.select("s", "r", "d")

    def publish_claim(self, claimed: tuple[Keyed, pl.Series] | None) -> None:
        """Make the claim ahead (the ids claimed, those already rated) known to
        :meth:`take_known` (the first call counts)."""
        with self._claimed_lock:
            if not self._claimed.done():
                self._claimed.set_result(claimed)

    def take_known(self, record_ids: pl.Series) -> pl.Series | None:
        """The record ids earlier runs had rated, if the ids claimed ahead are ``record_ids``
        (normalised ids, any order, repeats and nulls allowed): waits for the claim only, not
        for the counters. None (claim them yourself) otherwise, the claim ahead undone; that
        waits for the whole preload, so that no thread of it uses the run's connection."""
        claimed = self._claimed.result()
        if claimed is not None:
            ids, known = claimed
            if claim_serves(ids, record_ids):
                self.settle(True)
                return known
        loaded = self.loaded()
        if loaded is not None and loaded.known is not None and loaded.claimed(record_ids):
            self.settle(True)
            return loaded.known
        self.settle(False)
        return None

    def take_counters(self, subscribers: pl.Series, since: dt.date | None) -> Counters | None:
        """The counters loaded ahead if they are those of ``subscribers`` since ``since``; else
        None (load them yourself). Waits for the preload to finish; call it after
        :meth:`take_known`, which settles the claim ahead."""
        loaded = self.loaded()
        return loaded.counters if loaded is not None and loaded.serves(subscribers, since) else None

    def take(
        self, subscribers: pl.Series, since: dt.date | None, record_ids: pl.Series
    ) -> tuple[Counters | None, pl.Series | None]:
        """The counters loaded ahead if they are those of ``subscribers`` since ``since``, and
        the record ids earlier runs had rated if the ids claimed ahead are ``record_ids``; each
        None (load or claim them yourself: a claim ahead that does not serve is undone) if not,
        or if the preload failed or did not load (an input of several batches). Waits for it
        to finish."""
        loaded = self.loaded()
        counters = (
            loaded.counters if loaded is not None and loaded.serves(subscribers, since) else None
        )
        claimed = loaded is not None and loaded.known is not None and loaded.claimed(record_ids)
        self.settle(claimed)
        return counters, loaded.known if claimed and loaded is not None else None

    def cancel(self) -> None:
        """Stop the preload, unused: its threads waited for, the claim ahead undone."""
        self.loaded()
        self.settle(False)

    def loaded(self) -> Loaded | None:
        """What was loaded (None if the preload failed or did not load); waits for it and
        stops the threads. The claim ahead, if any, waits for :meth:`settle`."""
        assert self._job is not None
        try:
            return self._job.result()
        except Exception:  # the caller loads the counters itself, and reports what fails
            return None
        finally:
            self.close()

    def settle(self, claimed: bool) -> None:
        """Keep the record ids claimed ahead (``claimed``: they are the batch's) or undo them;
        after :meth:`loaded`."""
        if claimed:
            assert self.tx is not None
            self.tx.execute(f"RELEASE SAVEPOINT {_CLAIM_SAVEPOINT}")
        elif self.claiming:
            assert self.tx is not None
            self.tx.execute(f"ROLLBACK TO SAVEPOINT {_CLAIM_SAVEPOINT}")
            self.tx.execute(f"RELEASE SAVEPOINT {_CLAIM_SAVEPOINT}")
        self.claiming = False

    def close(self) -> None:
        """Wait for the threads (the readers' connections are closed by then, the run's
        connection no longer used) and stop them."""
        if self._job is not None:
            with contextlib.suppress(Exception):
                self._job.exception()
        self._worker.shutdown()


def _file_keys(
    path: Path, mapping: Path | None, batch_rows: int, memory_bytes: int, claim: bool
) -> pl.DataFrame | None:
    """The keys (:func:`_keys`) of the records of a Parquet file the pipeline rates in one
    batch, read from the file's columns; None for an input of several batches."""
    usage = read_usage(path, mapping)
    # the pipeline rates an input in one batch when it has at most ``batch_rows`` records and
    # fits the memory budget with room to spare (``roamlike.pipeline.plan_batches``); an input
    # of several batches loads each batch's counters when it comes (less memory). A Parquet
    # file's records are counted from its metadata.
    rows = int(usage.select(pl.len()).collect().item())
    if rows > batch_rows or 2 * rows * ENGINE_BYTES_PER_RECORD > memory_bytes:
        return None
    return usage.select(_keys(usage, claim)).collect()


def _frame_keys(records: pl.DataFrame, claim: bool) -> pl.DataFrame:
    """The keys (:func:`_keys`) of ``records`` read already."""
    return records.select(_keys(records, claim))


#: The raw columns the keys (:func:`_keys`) are made of.
KEYS_MADE_OF = ("subscriber_id", "record_id", "started_at", "utc_offset_min")


def _keys(records: pl.DataFrame | pl.LazyFrame, claim: bool) -> list[pl.Expr]:
    """Of each record: the normalised subscriber id ``s``, the local day ``d`` and, to
    ``claim`` them, the normalised record id ``r`` (the keys ``hooks.batch_keys_checked``
    gives the batch)."""
    return [
        normalise_subscriber_id(pl.col("subscriber_id")).alias("s"),
        local_dates(records).alias("d"),
        *([normalise_subscriber_id(pl.col("record_id")).alias("r")] if claim else []),
    ]


def _load(
    keys_of: Callable[[], pl.DataFrame | None],
    store_path: str,
    tenant: str,
    preload: Preload,
) -> Loaded | None:
    keys = keys_of()
    preload.publish_keys(keys)  # the batch takes them instead of making them again
    if keys is None:
        return None
    # the claim first, on a thread of its own: the engine asks for the record ids earlier
    # runs rated (its duplicate rule, during validation) long before it asks for the counters
    # (before its late flags), so the claim must not wait behind the readers
    claiming: ThreadPoolExecutor | None = None
    claim: Future[tuple[Keyed, pl.Series]] | None = None
    if preload.tx is not None:
        claiming = preload.executor("roamlike-preload-claim")
        claim = claiming.submit(_claim, preload, keys.get_column("r"), tenant)
        # the batch may take the claim as soon as it is done, before the counters
        claim.add_done_callback(
            lambda done: preload.publish_claim(
                None if done.exception() is not None else done.result()
            )
        )
    try:
        rows = keys.get_column("s")
        subscribers = Keyed(distinct_sorted(rows), rows)
        since = periods_since(keys.get_column("d"))
        parts = _parts(subscribers.distinct) if subscribers.distinct.len() else []
        # each part through a reader of its own, side by side (SQLite works without Python's
        # lock)
        with preload.executor("roamlike-preload-part", max(1, len(parts) - 1)) as pool:
            others = [pool.submit(_read, store_path, tenant, part, since) for part in parts[1:]]
            loaded = [*(_read(store_path, tenant, p, since) for p in parts[:1])]
            loaded += [f.result() for f in others]
        claimed, known = (None, None) if claim is None else claim.result()
    finally:
        if claiming is not None:
            claiming.shutdown()  # the claim no longer uses the run's connection
    # the parts' stored rows made counters once (their keys checked once, types cast once)
    counters = (
        Counters.empty()
        if not loaded
        else from_stored(
            pl.concat([periods for periods, _ in loaded]),
            pl.concat([subs for _, subs in loaded]),
        )
    )
    return Loaded(subscribers, since, counters, claimed, known)


def _claim(preload: Preload, rows: pl.Series, tenant: str) -> tuple[Keyed, pl.Series]:
    """Claim the record ids of ``rows`` (the records' normalised ids) through the run's
    connection inside a savepoint of its own (the batch releases or undoes it); the ids
    claimed, and those earlier runs had rated."""
    assert preload.tx is not None
    claimed = Keyed(distinct_sorted(rows), rows)
    preload.tx.execute(f"SAVEPOINT {_CLAIM_SAVEPOINT}")
    preload.claiming = True
    return claimed, claim_record_ids(preload.tx, claimed.distinct, tenant, distinct=True)


#: Readers that load a preload's counters side by side, each for a slice of the subscribers:
#: the machine's second core is mostly idle while the input is read (``docs/state.md``).
PRELOAD_READERS = 2
#: Fewest subscribers per reader: a smaller load is not worth a connection of its own.
PRELOAD_MIN_PER_READER = 4096


def _parts(subscribers: pl.Series) -> list[pl.Series]:
    """``subscribers`` (distinct, sorted) in at most :data:`PRELOAD_READERS` slices of at least
    :data:`PRELOAD_MIN_PER_READER` ids, in order."""
    count = max(1, min(PRELOAD_READERS, subscribers.len() // PRELOAD_MIN_PER_READER))
    size = -(-subscribers.len() // count)
    return [subscribers.slice(i * size, size) for i in range(count)]


def _read(
    store_path: str, tenant: str, subscribers: pl.Series, since: dt.date | None
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The stored rows of the counters of ``subscribers`` (``load_stored``: distinct, sorted,
    at least one) through a read-only connection of its own.

    Every reader of one preload sees the same store: each starts after the run took the write
    lock, and the run writes no counters before it takes them (module docstring)."""
    with open_store(store_path, create=False) as reader, reader.snapshot() as tx:
        return load_stored(tx, subscribers, tenant, since=since)


def start_preload(
    store: Store,
    usage_path: Path,
    mapping: Path | None,
    tenant: str,
    *,
    batch_rows: int,
    memory_bytes: int,
    claim: Transaction | None = None,
    opened: OpenedInput | None = None,
) -> Preload | None:
    """Start loading, on threads, the counters of every subscriber of ``usage_path`` and, with
    ``claim`` (the run's transaction), claiming its record ids through it; None when it cannot
    serve: a store other than a SQLite file, an input other than Parquet. An input the pipeline
    rates in several batches (more than ``batch_rows`` records, or too large for
    ``memory_bytes`` [bytes]) is left to load and claim batch by batch. Call it inside the
    run's transaction, after its write lock is taken, and use that transaction no more until
    :meth:`Preload.take` or :meth:`Preload.close` (module docstring).

    ``opened``: the input as the run's pipeline opened it already (``roamlike rate`` reads it
    on a thread from the command's start, ``roamlike.input_reader``). The keys then come from
    its rows in memory (any input format; none read twice), and an input it rates in several
    batches has no preload.
    """
    if store.dialect != "sqlite" or store.name == ":memory:":
        return None
    keys_of: Callable[[], pl.DataFrame | None]
    if opened is not None:
        whole = opened.whole
        if whole is None or opened.plan.batches != 1:
            return None
        keys_of = functools.partial(_frame_keys, whole, claim is not None)
    elif usage_path.suffix.lower() in PRELOAD_SUFFIXES:
        keys_of = functools.partial(
            _file_keys, usage_path, mapping, batch_rows, memory_bytes, claim is not None
        )
    else:
        return None
    preload = Preload(claim, opened.whole if opened is not None else None, priority.current())
    preload.start(functools.partial(_load, keys_of, store.name, tenant))
    return preload
