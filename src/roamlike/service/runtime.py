"""The state store as the service uses it: one thread per connection, async callers queue.

Writes run on the writer's thread (one connection, statements in the order submitted); a commit
group is worked out beforehand on the preparer's thread and connection (a SQLite file:
:mod:`roamlike.service.snapshot`); reads (keys, plan versions, stored answers) run on a reader
thread with its own connection, in transactions that take no write lock (:func:`reading`): with
SQLite's WAL a reader sees the last commit and never waits for a commit in progress, so a
request's key check does not queue behind the group commit of other requests. The event loop
never blocks on the store, with one exception: the key check of a request on a SQLite file
(:meth:`StoreRunner.lookup`), one indexed read that costs less than the hand-off to a thread
and back (:meth:`StoreRunner.lookup_memo`: one ``PRAGMA`` while the store is unchanged).

With a SQLite file and several worker processes, the writers of the processes take turns on an
exclusive ``flock`` of ``<store>.writers`` around each write transaction (:meth:`StoreRunner.run`
around the whole call, :meth:`StoreRunner.run_taking_turns` where the call takes it itself):
SQLite's own wait for its write lock polls with sleeps of 1 to 100 ms, which a group commit of
a few milliseconds cannot afford, while a process blocked on ``flock`` wakes as soon as the
other one releases it.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar, cast

from roamlike.errors import StoreError
from roamlike.service import group_trace, loop_commit
from roamlike.service.checkpoints import Checkpointer, without_autocheckpoint
from roamlike.service.compaction import unflushed
from roamlike.service.loop_commit import LoopCommitter, flush_wal
from roamlike.service.problems import ProblemError
from roamlike.service.writers_lock import open_writers_lock
from roamlike.state import Store, Transaction, is_postgres_url, migrate, open_store

T = TypeVar("T")

#: Most answers :meth:`StoreRunner.lookup_memo` keeps (all dropped past it: keys tried at random
#: cannot grow it without bound).
LOOKUP_MEMO_MAX = 1024


@contextlib.contextmanager
def reading(store: Store) -> Iterator[Transaction]:
    """A read-only transaction: one consistent snapshot, no write lock taken.

    SQLite: ``BEGIN`` (deferred) and ``COMMIT``, so a read never waits for a writer nor makes
    one wait (WAL); PostgreSQL: the store's transaction (reads take no lock there).

    Raises
    ------
    StoreError
        The store fails.
    """
    if store.dialect != "sqlite":
        with store.transaction() as tx:
            yield tx
        return
    conn = store.connection
    try:
        conn.execute("BEGIN")
    except Exception as exc:  # the driver's error, translated
        raise StoreError(f"store {store.name}: cannot begin a read: {exc}") from exc
    try:
        yield Transaction("sqlite", conn)
    finally:
        with contextlib.suppress(Exception):
            conn.execute("COMMIT")


def read_once(store: Store, sql: str, params: tuple[Any, ...]) -> list[tuple[Any, ...]]:
    """The rows of one read statement, in its own implicit read transaction (SQLite) or the
    store's transaction (PostgreSQL): no write lock, no ``BEGIN``/``COMMIT`` round trips.

    Raises
    ------
    StoreError
        The store fails.
    """
    if store.dialect != "sqlite":
        with store.transaction() as tx:
            return tx.execute(sql, params)
    return Transaction("sqlite", store.connection).execute(sql, params)


class _OwnConnection:
    """A connection of its own to the store, used from one thread of its own."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.store: Store | None = None
        self.pool: ThreadPoolExecutor | None = None

    async def run(self, target: str, fn: Callable[..., T], *args: Any) -> T:
        if self.pool is None:
            self.pool = ThreadPoolExecutor(
                max_workers=1, thread_name_prefix=f"roamlike-{self.name}"
            )

        def call() -> T:
            if self.store is None:
                self.store = open_store(target, create=False)
            return fn(self.store, *args)

        return await asyncio.get_running_loop().run_in_executor(self.pool, call)

    def close(self) -> None:
        store, self.store = self.store, None
        pool, self.pool = self.pool, None
        if pool is not None:
            if store is not None:
                pool.submit(store.close).result()
            pool.shutdown(wait=True)


class StoreRunner:
    """Runs store functions ``fn(store, *args)`` on the store's own thread.

    Parameters
    ----------
    target : str or None
        SQLite path or PostgreSQL URL; None: no store (store calls answer 503).
    """

    def __init__(self, target: str | None) -> None:
        self.target = target
        self._store: Store | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._reader = _OwnConnection("reader")
        self._preparer = _OwnConnection("preparer")
        self._turns: int | None = None  # the descriptor of the writers' lock file
        self._inline: Store | None = None  # the event loop's own connection (SQLite lookups)
        # lookup_memo's answers, valid while the inline connection reads this version
        self._memo: dict[tuple[Any, ...], Any] = {}
        self._memo_version: tuple[int, int] | None = None
        # the loop and version lookup_memo read, until the callback it queued on it ran
        self._queued_version: tuple[asyncio.AbstractEventLoop, int, int] | None = None
        self._committer: LoopCommitter | None = None  # small groups' statements on the loop
        # the WAL's checkpoints off the commit path (a SQLite file, commits flushed after)
        self._checkpointer: Checkpointer | None = None

    @property
    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="roamlike-store")
        return self._pool

    def _open(self) -> None:
        assert self.target is not None
        if self._store is not None:
            return
        store = open_store(self.target)
        try:
            migrate(store)
        except BaseException:
            store.close()
            raise
        if store.dialect == "sqlite" and self.target != ":memory:":
            self._turns = open_writers_lock(self.target)
            if loop_commit.FLUSH_AFTER_COMMIT:
                self._checkpointer = Checkpointer(self.target)
                without_autocheckpoint(store)
        self._store = store

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        """The writers' lock of a SQLite file (exclusive ``flock``); nothing to take otherwise."""
        turns = self._turns
        if turns is None:
            yield
            return
        fcntl.flock(turns, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(turns, fcntl.LOCK_UN)

    def _in_turn(self, fn: Callable[..., T], store: Store, *args: Any) -> T:
        trace = group_trace.TRACE
        if trace is not None:
            started = group_trace.now()
        with self.turn():
            if trace is not None:
                taken, cpu = group_trace.now(), time.thread_time()
            result = fn(store, *args)
        if trace is not None:
            name = getattr(fn, "__name__", "?")
            ended, cpu = group_trace.now(), time.thread_time() - cpu
            trace.add({"kind": "turn", "fn": name, "t0": started, "l": taken, "t1": ended,
                       "cpu": cpu})  # fmt: skip
        self._committed()
        return result

    def _committed(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.committed()

    async def start(self) -> None:
        """Open the store and bring its schema up to date (every component)."""
        if self.target is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._open)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(store, *args)`` on the writer's thread, holding the writers' lock.

        Raises
        ------
        ProblemError
            503 when the service runs without a store.
        """
        return await self._on_writer(self._in_turn, fn, *args)

    async def run_taking_turns(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(store, turn, *args)`` on the writer's thread, where ``fn`` takes the writers'
        lock itself (``with turn():``) around its write transaction only.

        Raises
        ------
        ProblemError
            503 when the service runs without a store.
        """
        return await self._on_writer(self._without_turn, fn, *args)

    def _without_turn(self, fn: Callable[..., T], store: Store, *args: Any) -> T:
        result = fn(store, self.turn, *args)
        self._committed()
        return result

    async def commit_taking_turns(self, fn: Callable[..., T], *args: Any) -> T:
        """:meth:`run_taking_turns` for a call that commits a group to answer: its result once
        what it committed (or read) is durable. When the loop's commits flush after their
        ``COMMIT`` (a SQLite file with the checkpointer), its ``COMMIT`` writes the WAL
        without flushing it (``synchronous=NORMAL``) and the WAL is flushed on the writer's
        thread after ``fn`` returned, the writers' lock released: the other workers commit
        while this flush runs, as with the loop's commits (:mod:`roamlike.service.loop_commit`,
        the same reasoning). Otherwise the ``COMMIT`` flushes (``FULL``) under the lock, as
        :meth:`run_taking_turns`.

        Raises
        ------
        ProblemError
            503 when the service runs without a store.
        StoreError
            The store failed (rolled back), or the flush failed (committed, not known to be
            durable: not to be acknowledged).
        """
        return await self._on_writer(self._flushed_after, fn, *args)

    def _flushed_after(self, fn: Callable[..., T], store: Store, *args: Any) -> T:
        if self._checkpointer is None or self.target is None:
            return self._without_turn(fn, store, *args)
        with unflushed(store):
            result = fn(store, self.turn, *args)
        self._committed()
        flush_wal(self.target)
        return result

    def checkpoint_counts(self) -> dict[str, int]:
        """The WAL checkpointer's counts (:mod:`roamlike.service.checkpoints`) for
        ``/metrics``: ``wal_checkpoints``, ``wal_restarts``, ``wal_checkpoint_failures``
        (none without a checkpointer)."""
        done = self._checkpointer
        if done is None:
            return {}
        return {
            "wal_checkpoints": done.checkpoints,
            "wal_restarts": done.restarts,
            "wal_checkpoint_failures": done.failures,
        }

    async def _on_writer(self, wrapper: Callable[..., T], fn: Callable[..., T], *args: Any) -> T:
        if self._store is None and self.target is not None:
            await self.start()  # an app run without its lifespan (some test harnesses)
        store = self._store
        if store is None:
            raise ProblemError(
                503,
                "this service runs without a state store: start it with --state STORE",
                "no-store",
            )
        call = functools.partial(wrapper, fn, store, *args)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(store, *args)`` on the reader's thread and connection; ``fn`` only reads, in
        :func:`reading` transactions. An in-memory store has one connection: the writer's.

        Raises
        ------
        ProblemError
            503 when the service runs without a store.
        """
        if self.target is None or self.target == ":memory:":
            return await self.run(fn, *args)
        if self._store is None:
            await self.start()  # the schema is migrated by the writer first
        return await self._reader.run(self.target, fn, *args)

    async def prepare(self, fn: Callable[..., T], *args: Any) -> T | None:
        """``fn(store, *args)`` on the preparer's thread and its own connection, for a SQLite
        file (work done on a snapshot while the writer's thread commits); None for another
        store (the writer then does the work itself)."""
        target = self.target
        if target is None or target == ":memory:" or is_postgres_url(target):
            return None
        if self._store is None:
            await self.start()  # the schema is migrated by the writer first
        return await self._preparer.run(target, fn, *args)

    def commits_on_loop(self) -> bool:
        """True for a SQLite file: a small group's statements can run on the event loop
        (:meth:`commit_on_loop`)."""
        target = self.target
        return target is not None and target != ":memory:" and not is_postgres_url(target)

    async def prepare_here(self, fn: Callable[..., T], *args: Any) -> T | None:
        """``fn(store, *args)`` on the calling (event loop's) thread, on its own connection
        (the one :meth:`lookup` reads with), for a SQLite file; None for another store.
        For a small group worked out on a snapshot while the previous group's ``COMMIT`` runs
        on the committer's thread (no statement of that thread waits for this one)."""
        inline = await self._loop_store()
        return None if inline is None else fn(inline, *args)

    async def _loop_store(self) -> Store | None:
        """The event loop's own connection to a SQLite file (opened at its first use); None
        for another store."""
        if not self.commits_on_loop():
            return None
        if self._store is None:
            await self.start()  # the schema is migrated by the writer first
        if self._inline is None:
            assert self.target is not None
            self._inline = open_store(self.target, create=False)
        return self._inline

    async def commit_on_loop(
        self, statements: Callable[[Transaction], T], handed: asyncio.Event | None = None
    ) -> T:
        """``statements(tx)`` on the calling thread in one write transaction under the
        writers' lock, committed on the committer's thread (:mod:`roamlike.service.loop_commit`;
        ``handed``: set once the ``COMMIT`` is on that thread).

        Raises
        ------
        StoreError
            The store failed; the transaction was rolled back.
        """
        if self._store is None:
            await self.start()  # the schema is migrated by the writer first
        if self._committer is None:
            assert self.target is not None
            self._committer = LoopCommitter(
                self.target, self._checkpointer, flush_after=loop_commit.FLUSH_AFTER_COMMIT
            )
        return await self._committer.commit(statements, handed)

    async def lookup(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(store, *args)``, one indexed read: on the event loop itself for a SQLite file
        (its own connection; WAL readers do not wait for writers), else as :meth:`read`."""
        inline = await self._loop_store()
        return await self.read(fn, *args) if inline is None else fn(inline, *args)

    async def lookup_memo(self, fn: Callable[..., T], *args: Any) -> T:
        """:meth:`lookup`, its answer memoised until the store changes (a SQLite file).

        The loop's connection reads ``PRAGMA data_version``, which changes when any other
        connection (another thread, worker process or ``roamlike`` command) committed since
        its last reading; with that and the connection's own count of changes unchanged, the
        database is what the memoised answer was read from, so ``fn`` would read the same rows
        again. One ``PRAGMA`` (a read of the WAL's index, no table read) instead of the
        statement: the key check of every request of a burst between two commits. ``fn``
        must be a pure function of the store and ``args``.

        The ``PRAGMA`` is read once for every call made before the event loop runs the
        callback the reading queued (:meth:`_version`): the loop runs its callbacks in the
        order they were queued, so each of those calls belongs to a request that arrived
        before the reading (the requests of one turn of the loop share it); a commit that
        returned before a request arrived is seen by it.

        Raises
        ------
        StoreError
            The store fails.
        """
        inline = await self._loop_store()
        if inline is None:
            return await self.read(fn, *args)
        version = self._version(inline)
        if version != self._memo_version or len(self._memo) > LOOKUP_MEMO_MAX:
            self._memo.clear()
            self._memo_version = version
        key = (fn, args)
        if key in self._memo:
            return cast(T, self._memo[key])
        found = self._memo[key] = fn(inline, *args)
        return found

    def _version(self, inline: Store) -> tuple[int, int]:
        """The loop's connection's ``(PRAGMA data_version, total_changes)``: read, and a
        callback queued on the loop that forgets it; until that callback ran, the reading
        again (unless the connection's own changes moved).

        Raises
        ------
        StoreError
            The store fails.
        """
        conn = inline.connection
        loop = asyncio.get_running_loop()
        queued = self._queued_version
        if queued is not None and queued[0] is loop and queued[2] == conn.total_changes:
            return queued[1], queued[2]
        try:
            version = (conn.execute("PRAGMA data_version").fetchone()[0], conn.total_changes)
        except Exception as exc:  # the driver's error, translated
            raise StoreError(f"store {inline.name}: cannot read its data version: {exc}") from exc
        if queued is None or queued[0] is not loop:  # (a loop that ended: its callback lost)
            loop.call_soon(self._forget_version)
        self._queued_version = (loop, *version)
        return version

    def _forget_version(self) -> None:
        """The loop ran the callback :meth:`_version` queued: the next call reads again."""
        self._queued_version = None

    def close(self) -> None:
        """Close the store and stop the threads (a later call opens them again)."""
        if group_trace.TRACE is not None:
            group_trace.TRACE.flush()
        self._memo.clear()
        self._memo_version = None
        self._queued_version = None
        inline, self._inline = self._inline, None
        if inline is not None:
            inline.close()
        committer, self._committer = self._committer, None
        if committer is not None:
            committer.close()
        checkpointer, self._checkpointer = self._checkpointer, None
        if checkpointer is not None:
            checkpointer.close()
        self._preparer.close()
        self._reader.close()
        store, self._store = self._store, None
        pool, self._pool = self._pool, None
        turns, self._turns = self._turns, None
        if turns is not None:
            os.close(turns)
        if pool is not None:
            if store is not None:
                pool.submit(store.close).result()
            pool.shutdown(wait=True)
