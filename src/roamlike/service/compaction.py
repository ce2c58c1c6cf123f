"""The service folds its tenants' state logs into the base tables as they grow.

Every commit group appends the counters and days it touched to the state store's logs
(``roamlike.state.log``): about three log rows per rated record. A subscriber's counters are
its base row and its latest log row, so the reads of a group grow with the log between
compactions. ``roamlike rate --state`` compacts after a run past
:data:`roamlike.state.log.COMPACT_LOG_ROWS`; the service, which never ends a run, compacts
here:

* **when**: the events writer of a process counts the records it rated; every
  :data:`CHECK_EVERY_RECORDS` of them it reads, for each tenant it wrote to, how many rows its
  logs hold (``state_log_seq.log_rows``, one indexed read), and compacts a tenant whose logs
  hold more than :data:`COMPACT_LOG_ROWS` rows;
* **where**: on the writer's thread and connection, under the writers' lock of the store file
  and the tenant's writer lock (:func:`roamlike.state.log.compact_store`), after the group's
  requests were answered: no request waits for it but those of the next group;
* **crash-safe**: one transaction per tenant; killed or failing, it leaves the logs as they
  were (what readers see is the same either way) and is tried again at the next check.

What readers see does not change (the state store's own tests); what changes is the cost of
the next reads, and the snapshot check of large groups (:mod:`roamlike.service.large_groups`),
whose groups prepared across a compaction are done again under the lock.

References
----------
``docs/state.md``, "Log-structured counters"; ``docs/service.md``.
"""

from __future__ import annotations

from collections.abc import Iterable

from roamlike.state import Store
from roamlike.state.log import CompactResult, compact_store, pending_rows

#: A tenant's logs are compacted by the service past this many rows in all (about 33,000
#: records of events: three log rows each).
COMPACT_LOG_ROWS = 100_000
#: Records a writer rates between two checks of the logs' sizes, at most (fewer for a low
#: threshold: a sixth of the records that would fill it).
CHECK_EVERY_RECORDS = 5_000
#: Log rows a rated record appends: its counters' period and subscriber rows and its day row.
_LOG_ROWS_PER_RECORD = 3


def compact_due(
    store: Store, tenants: Iterable[str], min_rows: int = COMPACT_LOG_ROWS
) -> list[CompactResult]:
    """Compact the logs of each of ``tenants`` that hold more than ``min_rows`` rows.

    Call it holding the writers' lock of the store (``StoreRunner.run``); each tenant is
    compacted in a transaction of its own holding its writer lock.

    Parameters
    ----------
    store : Store
    tenants : iterable of str
        The tenants the writer wrote to since the last check.
    min_rows : int
        Rows a tenant's logs may hold without a compaction.

    Returns
    -------
    list of CompactResult
        What was compacted (empty: nothing was due).

    Raises
    ------
    StoreError
        The store fails (the logs are left as they were).
    """
    done: list[CompactResult] = []
    for tenant in sorted(set(tenants)):
        with store.transaction() as tx:
            due = pending_rows(tx, tenant) > min_rows
        if due:
            done.extend(compact_store(store, tenant, min_rows))
    return done


class CompactionSchedule:
    """When a writer checks the logs: every ``check_every`` records it rated.

    Parameters
    ----------
    min_rows : int
        :data:`COMPACT_LOG_ROWS`; 0 or less: the service never compacts.
    check_every : int, optional
        Records rated between two checks; default :data:`CHECK_EVERY_RECORDS` or, for a low
        ``min_rows``, a sixth of the records whose log rows would reach it.
    """

    def __init__(self, min_rows: int = COMPACT_LOG_ROWS, check_every: int | None = None) -> None:
        self.min_rows = min_rows
        self.check_every = (
            check_every
            if check_every is not None
            else max(1, min(CHECK_EVERY_RECORDS, min_rows // (2 * _LOG_ROWS_PER_RECORD)))
        )
        self._rated = 0
        self._tenants: set[str] = set()

    def rated(self, tenants: Iterable[str], records: int) -> list[str]:
        """Count ``records`` rated for ``tenants``; the tenants to check now (empty: not yet)."""
        if self.min_rows <= 0 or records <= 0:
            return []
        self._rated += records
        self._tenants.update(tenants)
        if self._rated < self.check_every:
            return []
        due, self._tenants, self._rated = sorted(self._tenants), set(), 0
        return due
