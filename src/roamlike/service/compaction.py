"""The service folds its tenants' state logs as they grow, a slice between two commit groups.

Every commit group appends the counters and days it touched to the state store's logs
(``roamlike.state.log``): about three log rows per rated record. A subscriber's counters are
its base row and its latest log row, so the reads of a group grow with the log between
compactions. ``roamlike rate --state`` compacts after a run past
:data:`roamlike.state.log.COMPACT_LOG_ROWS`; the service, which never ends a run, compacts
here, in slices (:mod:`roamlike.state.slices`):

* **when**: the events writer of a process counts the records it rated; every
  :data:`CHECK_EVERY_RECORDS` of them it reads, for each tenant it wrote to, how many rows its
  logs hold (``state_log_seq.log_rows``, one indexed read). A tenant whose logs hold more than
  :data:`COMPACT_LOG_ROWS` rows gets a *pass*: its subscribers in key order, a slice at a
  time, each folding their log rows up to the tenant's last ``seq`` when the pass started
  (:mod:`roamlike.state.slices`); when the pass ends, the next check starts another if the
  logs are still past the threshold;
* **how much**: one slice (about :data:`SERVICE_SLICE_ROWS` rows of each log, or
  twice the rows the group appended to each, whichever is more:
  :meth:`CompactionSchedule.slice_after`) after each commit group the writer answered, never
  more than one per group, and slice after slice while the writer has nothing queued
  (:func:`compaction_step`); a whole compaction of 100,000 rows held every writer of the
  store for 150-250 ms of CPU, a slice holds them for a few milliseconds;
* **where**: on the writer's thread and connection, under the writers' lock of the store file
  and the tenant's writer lock, after the group's requests were answered: no request waits for
  it but those of the next group (of either worker); its ``COMMIT`` does not flush the WAL
  (:func:`unflushed`: the commit groups' flushes after it do), so the lock is held for its
  statements only;
* **crash-safe**: one transaction per slice; killed or failing, it leaves the logs as they
  were (what readers see is the same either way); a failure ends the passes until the next
  check (a pass is kept in the writer's memory only: a restarted one starts a new pass).

What readers see does not change (the state store's own tests); what changes is the cost of
the next reads, and the snapshot check of large groups (:mod:`roamlike.service.large_groups`),
whose groups prepared before a pass started (before its bound) are done again under the lock
when a slice of the pass ran meanwhile.

References
----------
``docs/state.md``, "Log-structured counters"; ``docs/service-speed.md``, "Compaction in slices".
"""

from __future__ import annotations

import collections
import contextlib
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from roamlike.state import Store, Transaction
from roamlike.state.log import CompactResult, compact_store, lock_tenant, pending_rows
from roamlike.state.slices import SLICE_ROWS, compact_slice

#: A tenant's logs are compacted by the service past this many rows in all (about 3,300
#: records of events: three log rows each). Every read of a subscriber's counters reads all of
#: its log rows, so a low threshold keeps reads short; folding costs about the same per row
#: whenever it runs (``docs/service-speed.md``, "Events of 100 records (round 9)": 10,000 rows
#: against 100,000, 20 % less CPU per request of 100 records).
COMPACT_LOG_ROWS = 10_000
#: Records a writer rates between two checks of the logs' sizes, at most (fewer for a low
#: threshold: a sixth of the records that would fill it).
CHECK_EVERY_RECORDS = 5_000
#: A pass folds up to the last log ``seq`` read this many readings before (steps that check
#: the logs or start a pass): a group worked out on a snapshot since, this writer's next one
#: or another writer's, is not sent under the lock by its slices (one reading before was not
#: enough: with one worker, 17 of 48 groups were done again under the lock).
LAG_STEPS = 2
#: Rows of each log a slice of the service folds, about (after a group of few records; the
#: state store's own default, :data:`roamlike.state.slices.SLICE_ROWS`, is 1,000). A slice
#: holds the writers' lock for its whole transaction, so every group of either worker that
#: wants it meanwhile waits: a slice of 1,000 rows of each log held it 7-10 ms at the median
#: and 13-18 ms at the 90th percentile over HTTP, and the groups waiting behind slices were
#: most of the slowest 1 % of events of one record; 300 rows hold it about 4 ms, for about 25 %
#: more CPU per folded row (``docs/service-speed.md``, "Round 14: events of one record").
SERVICE_SLICE_ROWS = 300
#: Log rows a rated record appends: its counters' period and subscriber rows and its day row.
_LOG_ROWS_PER_RECORD = 3
#: ``ROAMLIKE_COMPACTION`` = ``whole``: a tenant past the threshold is compacted whole at once,
#: as before the slices (for before/after measurements only: ``docs/service.md``).
_WHOLE = os.environ.get("ROAMLIKE_COMPACTION", "slices") == "whole"


def compact_due(
    store: Store, tenants: Iterable[str], min_rows: int = COMPACT_LOG_ROWS
) -> list[CompactResult]:
    """Compact the logs of each of ``tenants`` that hold more than ``min_rows`` rows, whole
    (one transaction per tenant, holding its writer lock: :func:`compact_store`).

    Call it holding the writers' lock of the store (``StoreRunner.run``).

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


@dataclass(frozen=True)
class Pass:
    """A compaction in slices of one tenant's logs, under way (:mod:`roamlike.state.slices`).

    Attributes
    ----------
    tenant : str
    through : int
        The pass's bound: the tenant's last log ``seq`` when it started.
    after : str
        The last subscriber folded so far (``""``: none yet).
    """

    tenant: str
    through: int
    after: str = ""


@dataclass(frozen=True)
class Step:
    """What :func:`compaction_step` did.

    Attributes
    ----------
    pending : dict of str to int
        Rows in the logs of each tenant read (checked, or sliced: after the slice).
    sliced : CompactResult, optional
        The slice folded (None: no tenant was due).
    next : Pass, optional
        Where the pass goes on (None: no slice, or the slice ended its pass).
    seen : dict of str to int
        The last log ``seq`` of each tenant read (checked, or whose pass started).
    """

    pending: dict[str, int] = field(default_factory=dict)
    sliced: CompactResult | None = None
    next: Pass | None = None
    seen: dict[str, int] = field(default_factory=dict)


def _seqs(tx: Transaction, tenant: str) -> tuple[int, int]:
    """The tenant's last log ``seq`` and the bound its compactions folded up to (0, 0: none)."""
    found = tx.execute("SELECT seq, folded_seq FROM state_log_seq WHERE tenant = ?", (tenant,))
    return (int(found[0][0]), int(found[0][1] or 0)) if found else (0, 0)


def _bound(tx: Transaction, tenant: str, earlier: Mapping[str, int]) -> tuple[int | None, int]:
    """A new pass's bound (None: not now), and the tenant's last ``seq``.

    The bound is the ``seq`` ``earlier`` holds for the tenant (read some steps before,
    :meth:`CompactionSchedule.earlier`) when it is above what compactions folded (at most the
    last); none when it is not (nothing that old left to fold: the pass waits for a later
    step); the last ``seq`` when ``earlier`` holds none. The lag was made for the large groups'
    check, which until round 16 sent a group worked out on a snapshot under the lock when a
    slice's bound passed the snapshot's last ``seq``; since round 16 that check compares the
    written keys (``roamlike.service.written_keys``) and no longer reads the folded bound, so
    the lag only keeps slices off the newest rows (measured with it; not changed since)."""
    last, folded = _seqs(tx, tenant)
    hint = earlier.get(tenant)
    if hint is None:
        return last, last
    if hint <= folded:
        return None, last
    return min(hint, last), last


@contextlib.contextmanager
def unflushed(store: Store) -> Iterator[None]:
    """On a SQLite file, the commits inside write the WAL without flushing it
    (``synchronous=NORMAL``; ``FULL`` again after): a slice's ``COMMIT`` then holds the
    writers' lock for no flush of the disk.

    Why that is safe: a slice changes nothing any reader sees, so it acknowledges nothing.
    SQLite's recovery keeps the WAL's frames up to the first one missing or torn, so a slice
    lost in a crash is lost with every commit written after it, and each of those that was
    acknowledged had its own flush, which made the slice durable too (the same reasoning as
    the commit groups' flush after their ``COMMIT``, :mod:`roamlike.service.loop_commit`).
    A checkpoint flushes the WAL before it copies frames into the database file.

    The commit groups on the writer's thread commit the same way, then flush the WAL themselves
    before they are answered (:meth:`roamlike.service.runtime.StoreRunner.commit_taking_turns`).
    """
    if store.dialect != "sqlite":
        yield
        return
    conn = store.connection
    conn.execute("PRAGMA synchronous=NORMAL")
    try:
        yield
    finally:
        conn.execute("PRAGMA synchronous=FULL")


def compaction_step(
    store: Store,
    check: Sequence[str],
    job: Pass | str | None,
    min_rows: int = COMPACT_LOG_ROWS,
    slice_rows: int = SLICE_ROWS,
    earlier: Mapping[str, int] | None = None,
) -> Step:
    """Read how many rows the logs of the tenants ``check`` hold; then fold one slice: of the
    pass ``job``, or of a new pass of the tenant ``job`` names, or (None) of a new pass of the
    first of ``check`` past ``min_rows``, if any. The slice runs in a transaction of its own
    holding the tenant's writer lock. A new pass folds up to the tenant's ``seq`` in
    ``earlier`` (what an earlier step saw, :meth:`CompactionSchedule.earlier`) when that is
    above what was folded, waits when it is not, and folds up to the last ``seq`` when
    ``earlier`` holds none.

    Call it holding the writers' lock of the store (``StoreRunner.run``).

    Raises
    ------
    StoreError
        The store fails (the slice is not folded; the logs are left as they were).
    """
    if _WHOLE:
        done = compact_due(store, check, min_rows)
        return Step({r.tenant: 0 for r in done}, done[0] if done else None)
    pending: dict[str, int] = {}
    seen: dict[str, int] = {}
    if check or not isinstance(job, Pass):  # a pass under way reads nothing first
        with store.transaction() as tx:
            pending = {t: pending_rows(tx, t) for t in sorted(set(check))}
            seen = {t: _seqs(tx, t)[0] for t in pending}
            if job is None:
                job = next((t for t, n in pending.items() if n > min_rows), None)
            if isinstance(job, str):  # a new pass: up to a seq written before this step
                through, seen[job] = _bound(tx, job, earlier or {})
                if through is None:  # later: it stays due
                    pending[job] = pending_rows(tx, job)
                    job = None
                else:
                    job = Pass(job, through)
    if job is None:
        return Step(pending, seen=seen)
    with unflushed(store), store.transaction() as tx:
        lock_tenant(tx, job.tenant)
        sliced = compact_slice(tx, job.tenant, job.through, job.after, slice_rows)
        pending[job.tenant] = pending_rows(tx, job.tenant)
    later = None if sliced.last is None else Pass(job.tenant, job.through, sliced.last)
    return Step(pending, sliced.result, later, seen)


class CompactionSchedule:
    """When a writer checks the logs (every ``check_every`` records it rated) and which
    tenants' logs it is compacting, slice by slice.

    Parameters
    ----------
    min_rows : int
        :data:`COMPACT_LOG_ROWS`; 0 or less: the service never compacts.
    check_every : int, optional
        Records rated between two checks; default :data:`CHECK_EVERY_RECORDS` or, for a low
        ``min_rows``, a sixth of the records whose log rows would reach it.
    slice_rows : int
        Rows of each log a slice folds, about (:data:`SERVICE_SLICE_ROWS`).
    """

    def __init__(
        self,
        min_rows: int = COMPACT_LOG_ROWS,
        check_every: int | None = None,
        slice_rows: int = SERVICE_SLICE_ROWS,
    ) -> None:
        self.min_rows = min_rows
        self.check_every = (
            check_every
            if check_every is not None
            else max(1, min(CHECK_EVERY_RECORDS, min_rows // (2 * _LOG_ROWS_PER_RECORD)))
        )
        self.slice_rows = slice_rows
        self._rated = 0
        self._tenants: set[str] = set()
        self._passes: list[Pass] = []  # under way, in turn
        #: The last log seq of each tenant read at the latest steps that read it, oldest first.
        self._seen: dict[str, collections.deque[int]] = {}
        self._due: list[str] = []  # past the threshold, their pass not started

    @property
    def busy(self) -> bool:
        """True while a tenant's logs are being compacted (a slice is due)."""
        return bool(self._passes or self._due)

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

    def slice_after(self, rated: int) -> int:
        """Rows of each log the slice after a group of ``rated`` records folds: at least
        :attr:`slice_rows`, and twice the rows the group appended to each log (one per
        record), so that the logs shrink even under groups of thousands of records."""
        return max(self.slice_rows, 2 * rated)

    def next_job(self) -> Pass | str | None:
        """What the next slice folds, in turn: a pass under way, else the tenant of a pass to
        start, else None (nothing due). Taken out until :meth:`record` puts it back."""
        if self._passes:
            return self._passes.pop(0)
        if self._due:
            return self._due.pop(0)
        return None

    def record(self, step: Step) -> int:
        """Take in what a step did; how many passes it ended (0 or 1)."""
        for tenant, seq in step.seen.items():
            self._seen.setdefault(tenant, collections.deque(maxlen=LAG_STEPS + 1)).append(seq)
        if step.next is not None:
            self._passes.append(step.next)
        busy = {p.tenant for p in self._passes} | set(self._due)
        for tenant, rows in step.pending.items():
            if rows > self.min_rows and tenant not in busy:
                self._due.append(tenant)
        return int(step.sliced is not None and step.next is None)

    def earlier(self) -> dict[str, int]:
        """For each tenant, the last ``seq`` read :data:`LAG_STEPS` readings of it ago (the
        oldest kept, when fewer): the bound of its next pass (:func:`compaction_step`)."""
        return {tenant: seen[0] for tenant, seen in self._seen.items()}

    def failed(self) -> None:
        """A step failed: no tenant is compacted until a check finds it due again."""
        self._passes.clear()
        self._due.clear()
