"""The store's side of each batch of ``rate --state``: counters in, counters and days out.

:class:`StoreHooks` is what ``roamlike.pipeline.rate_file`` calls around each batch
(``pipeline.BatchHooks``) in a run of :func:`roamlike.state.batch.rate_with_state`. This
module imports no engine.

References
----------
``docs/state.md``, "What a run reads and writes".
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl

from roamlike.columns import BATCH_ROW
from roamlike.counters import Counters
from roamlike.errors import UsageInputError
from roamlike.record_keys import normalise_subscriber_id
from roamlike.state.counters import (
    claim_record_ids,
    load_counters,
    local_dates,
    periods_since,
    stored_counters,
)
from roamlike.state.days import days_of_rated
from roamlike.state.log import LogRows, prepare_rows, write_rows
from roamlike.state.packs import Pack, prepare_days_pack, prepare_pack, write_pack
from roamlike.state.preload import Preload
from roamlike.state.store import Transaction

if TYPE_CHECKING:
    from roamlike.rating import RatingResult


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


def batch_keys_checked(
    batch: pl.DataFrame,
    control: pl.DataFrame | None,
    pruned: dt.date | None,
    keys: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """A batch ready for the store's counters: ``is_beyond_fair_use`` from the recorded
    ``control`` findings (if given), and its keys: normalised subscriber ``s`` and record ``r``
    ids, local day ``d`` (``keys``: made already, by the preload from the same records).

    Raises
    ------
    UsageInputError
        A record is older than the day the store was ``pruned`` before.
    """
    if control is not None:
        batch = apply_control(batch, control)
    if keys is None:
        keys = batch.select(
            normalise_subscriber_id(pl.col("subscriber_id")).alias("s"),
            normalise_subscriber_id(pl.col("record_id")).alias("r"),
            local_dates(batch).alias("d"),
        )
    if pruned is not None:
        early = keys.filter(pl.col("d") < pruned).get_column("d")
        if early.len():
            first = early.min()
            assert isinstance(first, dt.date)
            raise UsageInputError(
                f"{early.len():,} record(s) from {first.isoformat()} on are older than the day "
                f"the store was pruned before ({pruned.isoformat()}): their counters "
                "are gone (`roamlike state prune`); rate them into a store that has them"
            )
    return batch, keys


@dataclass
class StoreHooks:
    """What the pipeline calls around each batch (``pipeline.BatchHooks``): the batch's stored
    counters (of the periods it can touch) and record ids in, its record ids stored; then the
    counters after it and its days out.

    The writes of a batch run on one worker thread while the pipeline writes the batch's outputs
    (SQLite and Polars release the GIL while they work): the run's wall time overlaps the two.
    Their rows are made ready on two more threads, none on the pipeline's (the days
    aggregated, the counters' rows made, then each table's pack encoded as soon as its rows
    are; log rows, ``roamlike.state.log.prepare_rows``, one table ahead of the writer's
    inserts).
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
    _resolve: Callable[[], object] | None = None
    _lazy_preload: Preload | None = None
    #: Write packs (``roamlike.state.packs``) instead of log rows; None: for the batch tenant
    #: ``''`` only (see :attr:`packed`).
    packs: bool | None = None
    _writes: Future[None] | None = None
    _worker: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="roamlike-state")
    )
    _prepare: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(2, thread_name_prefix="roamlike-state-rows")
    )

    def prepare(self, batch: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, Any]]:
        self._wait()
        made = self.preload.keys_for(batch) if self.preload is not None else None
        batch, keys = batch_keys_checked(batch, self.control, self.pruned, made)
        if self.preload is not None:
            known_now, counters_now = self.lazy_counters_for(keys)
            return batch, {"counters": counters_now, "known_record_ids": known_now}
        counters, known = self.counters_for(keys)
        return batch, {"counters": counters, "known_record_ids": known}

    def lazy_counters_for(
        self, keys: pl.DataFrame
    ) -> tuple[Callable[[], pl.Series], Callable[[], Counters]]:
        """:meth:`counters_for` as two functions the engine calls where it first needs each
        (``roamlike.rating.rate_usage``): the record ids earlier runs had rated (after
        validation's other checks: waits for the preload's claim only) and the stored
        counters (before the late flags: waits for the preload's readers), so the engine
        validates and prices while the preload loads. Each is resolved once; :meth:`absorb`
        resolves both if the engine did not (the claim ahead is then settled)."""
        preload, self.preload = self.preload, None
        assert preload is not None
        preload.engine_starts()  # the engine waits for the readers from now on
        self._lazy_preload = preload
        since = periods_since(keys.get_column("d"))
        taken: dict[str, Any] = {}

        def known() -> pl.Series:
            if "known" not in taken:
                got = preload.take_known(keys.get_column("r"))
                taken["known"] = (
                    got
                    if got is not None
                    else claim_record_ids(self.tx, keys.get_column("r"), self.tenant)
                )
            found: pl.Series = taken["known"]
            return found

        def counters() -> Counters:
            if "counters" not in taken:
                known()  # first: the claim ahead settled, the run's connection free
                got = preload.take_counters(keys.get_column("s"), since)
                taken["counters"] = (
                    got
                    if got is not None
                    else load_counters(self.tx, keys.get_column("s"), self.tenant, since=since)
                )
            loaded: Counters = taken["counters"]
            return loaded

        self._resolve = counters
        return known, counters

    def counters_for(self, keys: pl.DataFrame) -> tuple[Counters, pl.Series]:
        """The stored counters of a batch of ``keys`` (:func:`batch_keys_checked`) and the
        record ids earlier runs had rated; its record ids claimed."""
        since = periods_since(keys.get_column("d"))
        preload, self.preload = self.preload, None
        if preload is not None:
            preload.engine_starts()  # waited for now
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
        return counters, known

    def absorb(self, batch: pl.DataFrame, result: RatingResult) -> None:
        resolve, self._resolve = self._resolve, None
        if resolve is not None:  # what the engine did not ask for is settled before the writes
            resolve()
        self.late += int(result.rated.get_column("is_late").sum())
        self.absorb_counters(result.counters, result.rated)

    def absorb_counters(self, counters: Counters, rated: pl.DataFrame) -> None:
        """Write (on the worker thread) the ``counters`` after a batch and the days of its
        ``rated`` records (at least the columns of ``days.DAYS_OF_RATED_COLUMNS``)."""
        self._wait()
        # every row is made ready (Polars, Python) on other threads, none on the caller's,
        # which writes the batch's outputs meanwhile: the counters' rows made first, and the
        # days' pack of the rated records (or, as log rows, the days aggregated) beside them
        dialect, tenant = self.tx.dialect, self.tenant
        stored = self._prepare.submit(stored_counters, counters, tenant)
        if self.packed:
            # one packed row per table (Polars encodes, no row bound one by one): each pack is
            # small, so each is encoded as soon as its rows are ready (the days' pack does not
            # wait for the periods' one); the writer still stores them in this order
            tables: list[Future[LogRows | Pack] | Callable[[], LogRows | Pack]] = [
                self._prepare.submit(lambda: prepare_pack("state_subscribers", stored.result()[1])),
                self._prepare.submit(lambda: prepare_pack("state_periods", stored.result()[0])),
                # the days' pack holds the records; they are aggregated when it is read
                self._prepare.submit(prepare_days_pack, rated, tenant),
            ]
            waits: list[Future[Any]] = [stored]
        else:
            days = self._prepare.submit(days_of_rated, rated, tenant)
            # rows of a log are held as Python values: made one table ahead of the writer's
            # inserts (the rows of at most two tables at a time): subscribers (the quickest
            # ready), periods, then days
            tables = [
                lambda: prepare_rows(dialect, "state_subscribers", stored.result()[1]),
                lambda: prepare_rows(dialect, "state_periods", stored.result()[0]),
                lambda: prepare_rows(dialect, "state_days", days.result()),
            ]
            waits = [days, stored]
        self._writes = self._worker.submit(self._write, tables, waits)

    @property
    def packed(self) -> bool:
        """True when the run writes packs (``roamlike.state.packs``) instead of log rows: as
        :attr:`packs` says, by default for the batch tenant ``''`` only. A service tenant's
        rows are read by the service's own readers of plain rows
        (``roamlike.service.state_rows``), which read the row logs only."""
        return self.tenant == "" if self.packs is None else self.packs

    def _write(
        self,
        tables: list[Future[LogRows | Pack] | Callable[[], LogRows | Pack]],
        waits: list[Future[Any]],
    ) -> None:
        """Store each table's rows in the order of ``tables``: made ready already (a future)
        or made now (a function run on a rows thread, one table ahead of the inserts); then
        wait for ``waits`` (none left running past the writes)."""

        def ready(
            table: Future[LogRows | Pack] | Callable[[], LogRows | Pack],
        ) -> Future[LogRows | Pack]:
            return table if isinstance(table, Future) else self._prepare.submit(table)

        ahead: Future[LogRows | Pack] | None = ready(tables[0])
        try:
            for following in [*tables[1:], None]:
                assert ahead is not None
                rows = ahead.result()
                ahead = None if following is None else ready(following)
                if isinstance(rows, Pack):
                    write_pack(self.tx, rows)
                else:
                    write_rows(self.tx, rows)
                del rows
        finally:
            made = [t for t in tables if isinstance(t, Future)]
            for job in (ahead, *made, *waits):  # none left running past the writes
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
            if self._lazy_preload is not None:  # taken by functions the engine may not have called
                self._lazy_preload.close()
                self._lazy_preload = None
