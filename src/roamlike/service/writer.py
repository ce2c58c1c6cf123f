"""The events writer of a service process: gathers submissions and commits them in groups.

Requests of ``POST /v1/events`` and session steps are queued; one task takes the queue as a
group and commits it (:mod:`roamlike.service.events`) in two steps, pipelined:

1. on the *preparer's* thread and connection, the group is worked out on a snapshot of the
   last commit (:func:`~roamlike.service.events.prepare_group`: reads, rating, the writes to
   make), while the previous group may still be committing (its fsync) on the writer's thread;
2. on the *writer's* thread, under the writers' lock of the store file, its reads are checked
   and its writes applied and committed (:func:`~roamlike.service.events.commit_prepared`);
   the WAL is flushed after the lock was released (round 18,
   :meth:`~roamlike.service.runtime.StoreRunner.commit_taking_turns`), and only then are its
   requests answered.

Unless ``ROAMLIKE_GROUP_PATHS=threads`` (below), a small group (at most :data:`LOOP_GROUP_MAX`
records and session steps) on a SQLite file takes a shorter path
(:mod:`roamlike.service.loop_commit`): its statements (the check and the writes) run on the
event loop's own thread, in the write transaction, and only the ``COMMIT`` runs on a thread; it
is worked out on the loop or on the preparer's thread. One hand-off out and one wake-up back
per group, and no statement waits for the loop's hold on the GIL.

One group commits at a time, in order. On the loop's path a group's ``COMMIT`` writes the WAL
without flushing it and the flush follows outside the writers' lock (round 9,
:mod:`roamlike.service.loop_commit`): the next group may commit while that flush runs, and each
group is answered once its own flush returned. A group prepared before the previous one committed
reads that one's rows as they were before it: when it read any of them, the check under the
lock sees the difference and the group is done again there (correct either way). Later groups
are what arrived while the previous one was worked out and committed.

The first group after an idle spell waits for company, at most ``gather_s``, and no longer
than it takes as many requests to arrive as the largest of the last :data:`COHORT_GROUPS`
groups held: clients that wait for each answer before they send again (a charging front end
with a fixed pool of connections, or a load generator) come back together once their group
is answered, so the writer starts as soon as that cohort is back instead of sleeping the
whole ``gather_s``; requests that arrive at random still wait at most ``gather_s``.
"""

from __future__ import annotations

import asyncio
import collections
import os
from typing import Any

from roamlike.law import Catalog
from roamlike.service import events_index, group_trace, loop_commit
from roamlike.service.compaction import CompactionSchedule, compaction_step
from roamlike.service.counters_cache import MAX_SUBSCRIBERS, CountersCache
from roamlike.service.events import (
    GroupResult,
    Submission,
    commit_prepared,
    group_statements,
    prepare_group,
)
from roamlike.service.group_rating import ParameterCache
from roamlike.service.metrics import Metrics
from roamlike.service.runtime import StoreRunner
from roamlike.service.schemas import EventRecord
from roamlike.service.session_steps import SessionStep
from roamlike.service.snapshot import VersionRead, WorkedOut, version_read
from roamlike.service.tenants import PlanVersion
from roamlike.tariffs import FxTable

#: How many recent groups the cohort awaited after an idle spell is taken from (their largest).
COHORT_GROUPS = 8
#: Largest group (records plus session steps) worked out and whose statements run on the
#: event loop's thread (:mod:`roamlike.service.loop_commit`); larger ones on the threads.
LOOP_GROUP_MAX = 64
#: Which path small groups take (``ROAMLIKE_GROUP_PATHS=mix python
#: benchmarks/bench_service.py``; ``docs/service-speed.md``, "Round 8"): ``threads`` (every group on
#: the preparer's and writer's threads, round 7's path), ``thread-prep`` (small groups prepared
#: on the preparer's thread, their statements on the loop), ``loop-prep`` (small groups
#: prepared and their statements run on the loop) or ``mix`` (``loop-prep`` for groups of
#: events alone, ``thread-prep`` for groups with session steps; the default: on a quiet machine
#: it beat ``threads`` in every alternated pair, above all for session updates).
_EXPERIMENT = os.environ.get("ROAMLIKE_GROUP_PATHS", "mix")
#: Subscribers' counters kept between groups per tenant (:mod:`roamlike.service.counters_cache`;
#: ``ROAMLIKE_COUNTERS_CACHE=0``: none, every group reads them from the store as in round 15).
_KEPT_SUBSCRIBERS = int(os.environ.get("ROAMLIKE_COUNTERS_CACHE", str(MAX_SUBSCRIBERS)))


class EventWriter:
    """The one writer task of a process: gathers submissions, commits them as a group.

    Parameters
    ----------
    runner : StoreRunner
    fx : FxTable
    catalog : Catalog
    metrics : Metrics
    gather_s : float
        How long the writer waits for more submissions after an idle spell [s].
    compaction : CompactionSchedule, optional
        When the state logs are compacted (:mod:`roamlike.service.compaction`; default: its
        defaults).
    """

    def __init__(
        self,
        runner: StoreRunner,
        fx: FxTable,
        catalog: Catalog,
        metrics: Metrics,
        gather_s: float = 0.002,
        compaction: CompactionSchedule | None = None,
    ) -> None:
        self.runner = runner
        self.fx = fx
        self.catalog = catalog
        self.metrics = metrics
        self.gather_s = gather_s
        self.compaction = compaction or CompactionSchedule()
        self._queue: list[Submission] = []
        self._parameters: ParameterCache = {}
        self.counters = CountersCache(_KEPT_SUBSCRIBERS) if _KEPT_SUBSCRIBERS > 0 else None
        self._task: asyncio.Task[None] | None = None
        # sizes of the last groups; the wait after an idle spell ends when `_want` have come
        self._sizes: collections.deque[int] = collections.deque(maxlen=COHORT_GROUPS)
        self._want = 0
        self._gathered: asyncio.Event | None = None
        self._queued_at: dict[int, float] = {}  # while tracing: each submission's arrival
        self._unfolded = 0  # records stored since the last check of the events' index

    async def submit(
        self,
        tenant_id: str,
        versions: list[PlanVersion],
        records: list[EventRecord],
        fx: FxTable | None = None,
    ) -> bytes:
        """Rate and commit ``records``; return the response body once they are durable."""
        return await self._submit(Submission(tenant_id, versions, records, self._future(), fx))

    async def submit_step(
        self,
        tenant_id: str,
        versions: list[PlanVersion],
        step: SessionStep,
        fx: FxTable | None = None,
    ) -> bytes:
        """Apply a session step (:mod:`roamlike.service.session_steps`); its stored answer.

        Raises
        ------
        ProblemError
            404 unknown session, 409 terminated or expired, 422 not rateable.
        """
        return await self._submit(Submission(tenant_id, versions, [], self._future(), fx, step))

    @staticmethod
    def _future() -> asyncio.Future[bytes]:
        return asyncio.get_running_loop().create_future()

    async def _submit(self, submission: Submission) -> bytes:
        if group_trace.TRACE is not None:
            self._queued_at[id(submission)] = group_trace.now()
        self._queue.append(submission)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        elif self._gathered is not None and len(self._queue) >= self._want:
            self._gathered.set()  # the cohort is back: the gathering writer starts now
        return await submission.future

    async def _gather(self) -> None:
        """Wait for company after an idle spell (module docstring): at most ``gather_s``,
        until as many submissions as the largest recent group are queued."""
        self._want = max(self._sizes, default=0)
        if 0 < self._want <= len(self._queue):
            return
        self._gathered = asyncio.Event()
        try:
            await asyncio.wait_for(self._gathered.wait(), self.gather_s)
        except TimeoutError:
            pass
        finally:
            self._gathered = None

    async def _flushes_or_cohort(self, flushing: set[asyncio.Task[None]]) -> None:
        """Wait until the groups being flushed were answered, or until as many submissions as
        the largest recent group are queued, whichever comes first: the next group starts
        without waiting for those flushes once it is as large as groups get."""
        self._want = max(self._sizes, default=1)
        if len(self._queue) >= self._want:
            return
        self._gathered = asyncio.Event()
        cohort = asyncio.ensure_future(self._gathered.wait())
        flushed = asyncio.ensure_future(asyncio.wait(flushing))
        try:
            await asyncio.wait({cohort, flushed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            cohort.cancel()
            flushed.cancel()  # not the flushes: only this wait for them
            self._gathered = None

    async def _drain(self) -> None:
        await self._gather()
        committing: asyncio.Task[None] | None = None
        flushing: set[asyncio.Task[None]] = set()  # committed on the loop, being flushed
        while True:
            if not self._queue:
                if committing is None and not flushing:
                    if self.compaction.busy:  # an idle writer folds slice after slice
                        await self._compaction_step([], idle=True)
                        continue
                    return
                if committing is not None:
                    await committing  # what arrives meanwhile is the next group
                    committing = None
                else:  # the next group: what arrives until the flushes end, or a cohort
                    await self._flushes_or_cohort(flushing)
                continue
            group, self._queue = self._queue, []
            self._sizes.append(len(group))
            row = None if group_trace.TRACE is None else self._traced(group)
            on_loop = self._on_loop(group)
            worked: WorkedOut[GroupResult] | None = None
            here = on_loop and self._prepared_here(group)
            prepare = self.runner.prepare_here if here else self.runner.prepare
            read: VersionRead | None = None
            try:
                if on_loop and not here:
                    # worked out on the preparer's thread: the loop's connection's version
                    # read first, so that its commit on the loop can skip the check of its
                    # reads when nothing committed since (WorkedOut.read_before)
                    read = await self.runner.prepare_here(version_read)
                worked = await prepare(
                    prepare_group, group, self.fx, self.catalog, self._parameters, self.counters
                )
            except Exception:
                worked = None
            if worked is not None:
                worked.read_before(read)
            if row is not None:
                row["p"] = group_trace.now()
            if committing is not None:
                await committing  # one commit at a time, in order
            handed = asyncio.Event() if on_loop else None
            if row is None:
                committing = asyncio.create_task(self._commit(group, worked, handed))
            else:
                row["w"] = group_trace.now()
                token = group_trace.GROUP_ROW.set(row)  # copied into the commit's task
                committing = asyncio.create_task(self._commit(group, worked, handed))
                group_trace.GROUP_ROW.reset(token)
            if handed is not None:
                # the next group is worked out on the loop once this one's statements ran and
                # its COMMIT returned (or is on the committer's thread): never while it waits
                # for (or holds) the writers' lock, which the other workers need
                await handed.wait()
                if loop_commit.FLUSH_AFTER_COMMIT:
                    # committed, the lock released: the next group may commit while this
                    # one's flush runs (each group is answered after its own flush)
                    flushing.add(committing)
                    committing.add_done_callback(flushing.discard)
                    committing = None

    def _traced(self, group: list[Submission]) -> dict[str, Any]:
        """The trace's row of a group just taken (:mod:`roamlike.service.group_trace`)."""
        queued = [self._queued_at.pop(id(s), 0.0) for s in group]
        records = sum(len(s.records) + (s.step is not None) for s in group)
        return {"kind": "group", "n": len(group), "records": records, "q": queued,
                "g": group_trace.now()}  # fmt: skip

    def _answered(self, group: list[Submission], later: list[Submission], path: str) -> None:
        """Complete and keep the trace's row of a group just answered (``later``: its
        submissions left for the next group, whose arrival is kept for it)."""
        row = group_trace.GROUP_ROW.get()
        if group_trace.TRACE is None or row is None:
            return
        row["a"], row["path"], row["later"] = group_trace.now(), path, len(later)
        for sub in later:
            self._queued_at[id(sub)] = row["q"][group.index(sub)]
        group_trace.TRACE.add(row)

    @staticmethod
    def _prepared_here(group: list[Submission]) -> bool:
        """Whether a group on the loop's path is also worked out on the loop: one of events
        alone; one with session steps (their grants: about twice an event's work) on the
        preparer's thread, which keeps the loop free to answer meanwhile (measured,
        ``docs/service-speed.md``, "Round 8")."""
        if _EXPERIMENT in ("thread-prep", "loop-prep"):
            return _EXPERIMENT == "loop-prep"
        return all(s.step is None for s in group)

    def _on_loop(self, group: list[Submission]) -> bool:
        """Whether the group's statements run on the event loop (module docstring)."""
        if _EXPERIMENT == "threads" or not self.runner.commits_on_loop():
            return False
        return sum(len(s.records) + (s.step is not None) for s in group) <= LOOP_GROUP_MAX

    async def _commit(
        self,
        group: list[Submission],
        worked: WorkedOut[GroupResult] | None,
        handed: asyncio.Event | None,
    ) -> None:
        """Commit the group: on the loop's path when ``handed`` is given (set once its
        ``COMMIT`` is on the committer's thread), else on the writer's thread."""
        try:
            if handed is not None:
                try:
                    outcomes, rated, rejected, path = await self.runner.commit_on_loop(
                        group_statements(
                            group, worked, self.fx, self.catalog, self._parameters, self.counters
                        ),
                        handed,
                    )
                finally:
                    handed.set()  # also when it failed before the hand-over
            else:
                # durable once it returns: what it wrote (flushed after the writers' lock was
                # released), and what it answered from rows read
                outcomes, rated, rejected, path = await self.runner.commit_taking_turns(
                    commit_prepared,
                    group,
                    worked,
                    self.fx,
                    self.catalog,
                    self._parameters,
                    self.counters,
                )
        except Exception as exc:  # every request of the group gets the error (a 5xx)
            if self.counters is not None:
                self.counters.discard(id(group))  # not committed: nothing of it kept
            for sub in group:
                if not sub.future.done():
                    sub.future.set_exception(exc)
            return
        if self.counters is not None:  # committed: what it wrote is kept
            self.counters.committed(id(group))
            self.metrics.counters["counters_kept"] = self.counters.hits
            self.metrics.counters["counters_read"] = self.counters.misses
            self.metrics.counters["counters_shared"] = self.counters.shared
        self.metrics.add("commits")
        self.metrics.add(f"commits_{path}")  # snapshot, changed or locked
        self.metrics.add("events_rated", rated)
        self.metrics.add("events_rejected", rejected)
        later: list[Submission] = []
        for sub, outcome in zip(group, outcomes, strict=True):
            if sub.future.done():
                continue
            if outcome is None:
                later.append(sub)
            elif isinstance(outcome, Exception):
                sub.future.set_exception(outcome)
            else:
                sub.future.set_result(outcome)
        self._queue[:0] = later
        if group_trace.TRACE is not None:
            self._answered(group, later, path)
        await self._compact_if_due(group, rated)
        await self._fold_if_due(rated + rejected)

    async def _fold_if_due(self, stored: int) -> None:
        """After the group was answered: every :data:`~roamlike.service.events_index.
        CHECK_EVERY` records this writer stored, fold the events' index by subscriber when
        due (:func:`roamlike.service.events_index.fold_store`, under the writers' lock). A
        failure leaves it as it was; the next check tries again."""
        self._unfolded += stored
        if self._unfolded < events_index.CHECK_EVERY:
            return
        self._unfolded = 0
        try:
            if await self.runner.run(events_index.fold_store):
                self.metrics.add("events_folds")
        except Exception:
            self.metrics.add("events_folds_failed")

    async def _compact_if_due(self, group: list[Submission], rated: int) -> None:
        """After the group was answered: check the logs of the tenants written to when the
        schedule says so, and fold one slice of a tenant being compacted
        (:mod:`roamlike.service.compaction`)."""
        check = self.compaction.rated({s.tenant_id for s in group}, rated)
        if check or self.compaction.busy:
            await self._compaction_step(check, rated)

    async def _compaction_step(self, check: list[str], rated: int = 0, idle: bool = False) -> None:
        """One :func:`~roamlike.service.compaction.compaction_step` under the writers' lock,
        its slice :meth:`~roamlike.service.compaction.CompactionSchedule.slice_after` a group
        of ``rated`` records; a new pass bounded as :meth:`~roamlike.service.compaction.
        CompactionSchedule.earlier` says, or (``idle``: no group of this writer in flight) by
        the last ``seq``. A failure leaves the logs as they were; the next check tries
        again."""
        started = 0.0 if group_trace.TRACE is None else group_trace.now()
        try:
            step = await self.runner.run(
                compaction_step,
                check,
                self.compaction.next_job(),
                self.compaction.min_rows,
                self.compaction.slice_after(rated),
                {} if idle else self.compaction.earlier(),
            )
        except Exception:
            self.metrics.add("compactions_failed")
            self.compaction.failed()
            return
        if group_trace.TRACE is not None:
            group_trace.TRACE.add(
                {"kind": "compaction", "t0": started, "t1": group_trace.now(), "idle": idle,
                 "sliced": step.sliced is not None}
            )  # fmt: skip
        self.metrics.add("compactions", self.compaction.record(step))
        if step.sliced is not None:
            self.metrics.add("compaction_slices")
            self.metrics.add("compacted_log_rows", sum(step.sliced.log_rows.values()))
