"""The counters of a large commit group: read on a snapshot, checked under the lock by sequence.

A group of events of 100 records touches about as many subscribers as it has records (1,600 in
a group of 16 such requests). Worked out on a snapshot (:mod:`roamlike.service.snapshot`), each
of its reads is run again under the writers' lock and compared row for row: for the counters of
1,600 subscribers that costs about what the overlap of the two workers' ratings saves. This
module reads them once, on the snapshot (or takes them from the process's counters kept
between groups, :mod:`roamlike.service.counters_cache`), and records in their place a cheaper
check that fails whenever they may have changed:

* every write of a subscriber's counters appends rows to ``state_periods_log`` and
  ``state_subscribers_log`` under the tenant's next sequence number, larger than every number
  before it and never reused (``roamlike.state.log``), and every commit group of the service
  appends a row naming the ``seq`` values it took and the subscribers it wrote
  (:mod:`roamlike.service.written_keys`). The snapshot's reads hold every write up to the
  tenant's last ``seq`` on it (``last``); so under the lock, when every ``seq`` taken since
  belongs to such a row and none names one of the group's subscribers, no write of their
  counters committed in between. A ``seq`` no row covers (``roamlike rate --state``, a pack)
  fails the check. Compactions and slices take no ``seq`` and change no counters: they change
  nothing the check reads (round 8 read the greatest ``seq`` of all the subscribers' rows,
  which every slice changed; round 15 probed both logs above ``last``, 3-4.5 ms per group of
  1,600, and read the folded bound);
* the other change to these tables, ``roamlike state prune`` (which compacts first), records
  its day and time in ``state_pruned``, whose row is read too.

So when the check holds under the lock, the counters read on the snapshot are the counters
under the lock, and the group's work stands (correct by construction, as with recorded rows).
The check is the ``state`` schema's layout (the version of
:mod:`roamlike.service.state_rows`); with another version large groups are committed under the
lock.

The group's writes are built here as plain rows outside the lock too; under it only their
``INSERT`` runs (:func:`roamlike.state.log.append_rows`).

References
----------
``docs/state.md``, "Log-structured counters"; ``docs/service.md``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import polars as pl

from roamlike.counters import Counters
from roamlike.rating.reasons import ID_FORBIDDEN
from roamlike.reference import CounterStates
from roamlike.service import state_rows, written_keys
from roamlike.service.counters_cache import CountersCache
from roamlike.service.snapshot import SnapshotTransaction
from roamlike.state import Transaction
from roamlike.state.counters import load_counters, stored_counters
from roamlike.state.log import append_tenant_rows
from roamlike.state.schema import columns

_PERIOD_COLUMNS = columns("state_periods")[1:]
_SUBSCRIBER_COLUMNS = columns("state_subscribers")[1:]


def checkable(tx: Transaction) -> bool:
    """True when ``tx`` is a snapshot of a store whose counters this module can check."""
    return isinstance(tx, SnapshotTransaction) and state_rows.usable()


def record_check(
    tx: SnapshotTransaction, subscribers: Sequence[str], tenant: str, last: int | None = None
) -> None:
    """Record, in place of the counters of ``subscribers`` read on the snapshot ``tx``, a
    check that holds under the lock only if no write of those counters committed in between:
    every log ``seq`` the tenant took since its last ``seq`` on the snapshot (``last``; read
    here when not given) belongs to a commit group's row of ``service_written_keys`` that
    names none of them (:func:`roamlike.service.written_keys.untouched`; a ``seq`` no row
    covers, taken by ``roamlike rate --state`` or a pack, fails it), and the tenant's last
    prune is the same (module docstring).

    Round 15 probed the two counters' logs for the subscribers' rows above ``last`` (3-4.5 ms
    under the lock per 1,600 subscribers), plus the compaction's folded bound and the packs;
    the rows name the writes instead, folds take no ``seq`` and change no counters, and a
    pack takes a ``seq`` of its own (no row)."""
    ids = frozenset(subscribers)
    if last is None:
        last = written_keys.last_seq(Transaction(tx.dialect, tx.connection), tenant)
    tx.execute("SELECT before_day, pruned_at FROM state_pruned WHERE tenant = ?", (tenant,))
    tx.check(lambda under: written_keys.untouched(under, tenant, last, ids))


def load_checked(
    tx: SnapshotTransaction,
    subscribers: Iterable[str],
    tenant: str,
    *,
    states: bool = False,
    cache: CountersCache | None = None,
) -> Counters | CounterStates:
    """The stored counters of ``subscribers`` read on the snapshot ``tx`` without recording the
    rows, and the check that stands for them recorded instead (:func:`record_check`).

    ``states``: read them as the reference rater's plain states (a group it rates: measured
    7.6 ms for 500 subscribers, against 21.5 ms for the frames and their conversion to states
    and back), those ``cache`` holds valid on the snapshot taken from it
    (:mod:`roamlike.service.counters_cache`); else as frames, by the state store's own
    load."""
    ids = sorted({s for s in subscribers if s is not None})
    # the same connection and read transaction (the snapshot), its reads not recorded
    plain = Transaction(tx.dialect, tx.connection)
    last = written_keys.last_seq(plain, tenant)
    counters: Counters | CounterStates
    if states and cache is not None:
        counters = cache.load(
            plain,
            [s for s in ids if ID_FORBIDDEN not in s],  # state_rows.stored_ids: sorted already
            tenant,
            last,
            lambda missing: state_rows.load_states_rows(plain, missing, tenant),
        )
    elif states:
        counters = state_rows.load_states_rows(plain, ids, tenant)
    else:
        # one statement per table, its rows as one JSON text (no packs: the state store's
        # load, which reads them too)
        counters = (
            state_rows.load_counters_json(plain, ids, tenant)
            if state_rows.json_readable(plain, tenant)
            else load_counters(plain, pl.Series(ids, dtype=pl.String), tenant)
        )
    record_check(tx, ids, tenant, last)
    return counters


def counter_rows(
    counters: Counters, tenant: str
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The rows of ``state_periods`` and ``state_subscribers`` (every column in table order,
    the tenant's first; sorted by key) that store ``counters``, encoded by
    :func:`roamlike.state.counters.stored_counters` as ``save_counters`` stores them."""
    periods, subs = stored_counters(counters)
    head = pl.lit(tenant, dtype=pl.String).alias("tenant")
    return (
        periods.sort(_PERIOD_COLUMNS[:3]).select(head, *_PERIOD_COLUMNS).rows(),
        subs.sort(_SUBSCRIBER_COLUMNS[0]).select(head, *_SUBSCRIBER_COLUMNS).rows(),
    )


def counters_writer(
    counters: Counters | CounterStates, tenant: str
) -> Callable[[Transaction], object]:
    """The write of ``counters`` (frames, or the per-record raters' plain states) as a function
    of the transaction: the rows built now (outside the writers' lock), each with its
    tenant, only bound and appended when called."""
    periods, subs = (
        state_rows.states_rows(counters, tenant)
        if isinstance(counters, CounterStates)
        else counter_rows(counters, tenant)
    )

    def write(tx: Transaction) -> None:
        append_tenant_rows(tx, "state_periods", tenant, periods)
        append_tenant_rows(tx, "state_subscribers", tenant, subs)

    return write


def days_writer(rows: Sequence[tuple[Any, ...]], tenant: str) -> Callable[[Transaction], object]:
    """The write of a group's day rows (``roamlike.service.day_rows.SCHEMA``'s columns, one
    tenant) as a function of the transaction, as
    :func:`roamlike.service.state_rows.save_day_rows` writes them: the rows sorted by key now
    (outside the writers' lock; one tenant, so by the rows themselves), only appended when
    called."""
    ordered = sorted(rows)

    def write(tx: Transaction) -> None:
        append_tenant_rows(tx, "state_days", tenant, ordered)

    return write
