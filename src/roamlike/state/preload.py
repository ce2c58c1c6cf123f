"""Loading a run's counters on a thread while its input is read: ``rate --state`` on SQLite.

A run needs, before it rates, the stored counters of its subscribers (``load_counters``) and
its record ids claimed (``claim_record_ids``). Both used to run one after the other once the
pipeline had read the input. For an input rated in one batch (a day's file), the subscribers
are known from the file itself, so :func:`start_preload` reads them (two columns of a Parquet
file) and loads their counters on a thread, through a **second, read-only connection**, while
the pipeline reads the input and the run's own connection claims its record ids: on SQLite a
reader and the writer work side by side (WAL), and both release the GIL while SQLite works.

Why the reader sees what the writer would: it starts after the run's transaction took the
store's write lock (``BEGIN IMMEDIATE``), so no other writer commits until the run does, and
its snapshot is the store as the run found it. Before the counters are used the run writes
only record ids (``state_records``), which the load does not read. The batch checks that it is
the one loaded for (same subscribers, same first period): otherwise, or if the preload failed,
it loads its counters itself as before. Nothing is written through the reader, so a run killed
at any moment leaves the store as before (``docs/state.md``, "The contract of ``rate --state``").

References
----------
``docs/state.md``, "What a run reads and writes".
"""

from __future__ import annotations

import contextlib
import datetime as dt
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from roamlike.counters import Counters
from roamlike.io import read_usage
from roamlike.pipeline import ENGINE_BYTES_PER_RECORD
from roamlike.rating.normalise import normalise_subscriber_id
from roamlike.state.counters import load_counters, local_dates, periods_since
from roamlike.state.store import Store, open_store

#: Input suffixes whose subscriber ids are read without parsing the whole file (a column of a
#: Parquet file); a text file would be parsed twice.
PRELOAD_SUFFIXES = frozenset({".parquet"})


@dataclass(frozen=True)
class Loaded:
    """Counters loaded ahead: of the distinct, sorted ``subscribers``, periods since ``since``."""

    subscribers: pl.Series
    since: dt.date | None
    counters: Counters

    def serves(self, subscribers: pl.Series, since: dt.date | None) -> bool:
        """True when these are the counters a batch of ``subscribers`` (normalised ids, any
        order, repeats and nulls allowed) with periods since ``since`` needs."""
        wanted = subscribers.drop_nulls().unique().sort()
        return since == self.since and wanted.equals(self.subscribers, check_names=False)


class Preload:
    """A load of counters running on a thread of its own (:func:`start_preload`)."""

    def __init__(self, job: Future[Loaded | None], worker: ThreadPoolExecutor) -> None:
        self._job = job
        self._worker = worker

    def take(self, subscribers: pl.Series, since: dt.date | None) -> Counters | None:
        """The counters loaded ahead if they are those of ``subscribers`` since ``since``; None
        (load them yourself) if not, or if the preload failed or did not load (an input of
        several batches). Waits for it to finish."""
        try:
            loaded = self._job.result()
        except Exception:  # the caller loads the counters itself, and reports what fails
            return None
        finally:
            self.close()
        if loaded is None or not loaded.serves(subscribers, since):
            return None
        return loaded.counters

    def close(self) -> None:
        """Wait for the thread (its reader connection is closed by then) and stop it."""
        with contextlib.suppress(Exception):
            self._job.exception()
        self._worker.shutdown()


def _load(
    path: Path,
    mapping: Path | None,
    store_path: str,
    tenant: str,
    batch_rows: int,
    memory_bytes: int,
) -> Loaded | None:
    usage = read_usage(path, mapping)
    # the pipeline rates an input in one batch when it has at most ``batch_rows`` records and
    # fits the memory budget with room to spare (``roamlike.pipeline.plan_batches``); an input
    # of several batches loads each batch's counters when it comes (less memory). A Parquet
    # file's records are counted from its metadata.
    rows = int(usage.select(pl.len()).collect().item())
    if rows > batch_rows or 2 * rows * ENGINE_BYTES_PER_RECORD > memory_bytes:
        return None
    keys = usage.select(
        normalise_subscriber_id(pl.col("subscriber_id")).alias("s"),
        local_dates(usage).alias("d"),
    ).collect()
    subscribers = keys.get_column("s").drop_nulls().unique().sort()
    since = periods_since(keys.get_column("d"))
    parts = _parts(subscribers)
    if len(parts) == 1:
        return Loaded(subscribers, since, _read(store_path, tenant, subscribers, since))
    # each part through a reader of its own, side by side (SQLite works without Python's lock)
    with ThreadPoolExecutor(len(parts) - 1, thread_name_prefix="roamlike-preload-part") as pool:
        others = [pool.submit(_read, store_path, tenant, part, since) for part in parts[1:]]
        loaded = [_read(store_path, tenant, parts[0], since), *(f.result() for f in others)]
    counters = Counters(
        periods=pl.concat([c.periods for c in loaded]),
        subscribers=pl.concat([c.subscribers for c in loaded]),
    )
    return Loaded(subscribers, since, counters)


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


def _read(store_path: str, tenant: str, subscribers: pl.Series, since: dt.date | None) -> Counters:
    """The counters of ``subscribers`` through a read-only connection of its own.

    Every reader of one preload sees the same store: each starts after the run took the write
    lock, and the run writes no counters before it takes them (module docstring)."""
    with open_store(store_path, create=False) as reader, reader.snapshot() as tx:
        return load_counters(tx, subscribers, tenant, since=since)


def start_preload(
    store: Store,
    usage_path: Path,
    mapping: Path | None,
    tenant: str,
    *,
    batch_rows: int,
    memory_bytes: int,
) -> Preload | None:
    """Start loading, on a thread, the counters of every subscriber of ``usage_path``; None when
    it cannot serve: a store other than a SQLite file, an input other than Parquet. An input
    the pipeline rates in several batches (more than ``batch_rows`` records, or too large for
    ``memory_bytes`` [bytes]) is left to load batch by batch. Call it inside the run's
    transaction, after its write lock is taken (module docstring)."""
    if (
        store.dialect != "sqlite"
        or store.name == ":memory:"
        or usage_path.suffix.lower() not in PRELOAD_SUFFIXES
    ):
        return None
    worker = ThreadPoolExecutor(1, thread_name_prefix="roamlike-preload")
    job = worker.submit(_load, usage_path, mapping, store.name, tenant, batch_rows, memory_bytes)
    return Preload(job, worker)
