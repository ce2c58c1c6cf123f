"""A small commit group's statements and ``COMMIT`` run on the event loop; its flush on a thread.

SQLite's Python driver releases the GIL around every statement (and every row it steps), so a
thread that runs a group's dozen statements while the event loop runs Python hands the GIL
over at each one and waits for it back, each wait up to the interpreter's switch interval
(``docs/service.md``, "Speed"). Here the group's statements (the check of its snapshot's reads
and its writes) run on the event loop's own thread, on a connection of their own, inside a
write transaction; only the ``COMMIT`` — the one call that blocks, on the disk's flush — runs
on the committer's thread, which takes the GIL once to start and once to hand the result back.

The connection is used by one thread at a time: the loop until it hands the ``COMMIT`` over,
then the committer until the commit returned. The writers' lock of the store file (an
exclusive ``flock`` of ``<store>.writers``, :mod:`roamlike.service.runtime`) is taken on a
descriptor of its own, so it also excludes the same process's other writer (its compactions,
plans uploads): first without waiting, on the loop; when another writer holds it, the wait
is done on the committer's thread, off the loop. ``BEGIN IMMEDIATE`` likewise: on the loop
with no busy wait, and when another connection (``roamlike rate --state``) holds SQLite's
write lock, waited for on the committer's thread. The lock is released on that thread as soon
as the commit (or its rollback) returned.

**The flush outside the locks** (round 9, the default). With ``synchronous=FULL`` SQLite
flushes the WAL inside the ``COMMIT``, holding its write lock (and the service its writers'
lock) for the disk's flush, so the commits of both workers queued behind each other's flush.
Here the committing connection runs ``synchronous=NORMAL``: its ``COMMIT`` writes the group's
WAL frames without a flush, on the loop, and the writers' lock is released at once; then the
WAL file is flushed (``fdatasync``, :func:`flush_wal`) on the flusher's thread, and only after
that is the group answered. A flush makes durable every frame written before it, and SQLite's
recovery keeps the WAL's frames up to the first one missing or torn, so what was answered is
durable exactly as with ``FULL`` (``docs/service-speed.md``, "Round 9"). Checkpoints, which FULL and
NORMAL flush alike, run off the commit path (:mod:`roamlike.service.checkpoints`).
``ROAMLIKE_WAL_FLUSH=commit`` in the server's environment restores round 8's path (``FULL``,
the ``COMMIT`` on the committer's thread, the lock released after it).

Nothing is acknowledged before the flush (or the ``FULL`` commit) returned: a failure of the
statements or of the commit rolls the transaction back, releases the lock and raises (a
:class:`~roamlike.errors.StoreError` for the store's own failures), and every request of the
group gets that error; so does a failed flush (the group was committed but is not known to be
durable: it is not acknowledged).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from roamlike.errors import StoreError
from roamlike.service import group_trace
from roamlike.service.checkpoints import Checkpointer, without_autocheckpoint
from roamlike.service.writers_lock import open_writers_lock
from roamlike.sqlite_driver import sqlite3
from roamlike.state import Store, Transaction, open_store
from roamlike.state.store import SQLITE_BUSY_TIMEOUT_S

T = TypeVar("T")

#: Whether commits on the loop flush the WAL after the ``COMMIT``, outside the locks (module
#: docstring; ``ROAMLIKE_WAL_FLUSH=commit``: round 8's ``synchronous=FULL`` commit instead).
FLUSH_AFTER_COMMIT = os.environ.get("ROAMLIKE_WAL_FLUSH", "after") != "commit"


def flush_wal(target: str) -> None:
    """``fdatasync`` of the WAL file of the SQLite file ``target``: every commit written to it
    before the call is durable once it returned. Opened by name for each flush (the WAL in
    use, never a file it replaced); a WAL that is gone was checkpointed into the database file
    and deleted by SQLite, which flushed that file first: nothing to do.

    Raises
    ------
    StoreError
        The WAL cannot be opened or flushed.
    """
    try:
        fd = os.open(f"{target}-wal", os.O_RDONLY)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StoreError(f"store {target}: cannot open its WAL to flush it: {exc}") from exc
    try:
        os.fdatasync(fd)
    except OSError as exc:
        raise StoreError(f"store {target}: the flush of its WAL failed: {exc}") from exc
    finally:
        os.close(fd)


def _traced_flush(row: dict[str, object]) -> Callable[[str], None]:
    """:func:`flush_wal` noting in the group's trace row when it started and returned on the
    flusher's thread (:mod:`roamlike.service.group_trace`)."""

    def flush(target: str) -> None:
        row["f0"] = group_trace.now()
        flush_wal(target)
        row["f1"] = group_trace.now()

    return flush


class LoopCommitter:
    """Commits groups whose statements run on the calling (event loop's) thread.

    Parameters
    ----------
    target : str
        The SQLite file (its schema already migrated).
    checkpointer : Checkpointer, optional
        Runs the WAL's checkpoints (the connection's own are turned off) and is told of each
        commit; without one, SQLite's automatic checkpoint runs inside a ``COMMIT``.
    flush_after : bool
        ``synchronous=NORMAL``, the ``COMMIT`` on the loop and the WAL flushed after it,
        outside the locks (module docstring); False: round 8's ``FULL`` commit on the
        committer's thread.
    """

    def __init__(
        self,
        target: str,
        checkpointer: Checkpointer | None = None,
        flush_after: bool = FLUSH_AFTER_COMMIT,
    ) -> None:
        self.target = target
        self.checkpointer = checkpointer
        self.flush_after = flush_after
        self._store: Store | None = None
        self._turns: int | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._flusher: ThreadPoolExecutor | None = None
        self._orphan: asyncio.Future[None] | None = None  # a cancelled wait for the lock

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="roamlike-commit")
        return self._pool

    def _flushes(self) -> ThreadPoolExecutor:
        if self._flusher is None:
            self._flusher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="roamlike-flush")
        return self._flusher

    def _open(self) -> Store:
        if self._store is None:
            store = open_store(self.target, create=False)
            store.connection.execute("PRAGMA busy_timeout=0")  # the loop never waits in SQLite
            if self.checkpointer is not None:
                without_autocheckpoint(store)
            if self.flush_after:
                store.connection.execute("PRAGMA synchronous=NORMAL")  # flushed by flush_wal
            self._turns = open_writers_lock(self.target)
            self._store = store
        return self._store

    async def commit(
        self, statements: Callable[[Transaction], T], handed: asyncio.Event | None = None
    ) -> T:
        """``statements(tx)`` on this thread in one write transaction, committed; its result
        once the commit is durable. With :attr:`flush_after`, the ``COMMIT`` runs here and
        ``handed`` is set once it returned and the writers' lock was released, before the
        flush; else the ``COMMIT`` runs on the committer's thread and ``handed`` is set once it
        was handed to that thread. Either way ``handed`` is also set when the call failed
        before: the loop may then work out (and, after a flushed ``COMMIT``, commit) the next
        group without keeping the writers' lock held meanwhile.

        Raises
        ------
        StoreError
            The store failed (opening, the lock, a statement, the commit): rolled back; or
            the flush failed: committed, not known to be durable.
        Exception
            What ``statements`` raised: rolled back.
        """
        loop = asyncio.get_running_loop()
        store = self._store
        if store is None:
            store = await loop.run_in_executor(self._executor(), self._open)
        conn = store.connection
        row = None if group_trace.TRACE is None else group_trace.GROUP_ROW.get()
        turn = await self._take_turn(loop)
        if row is not None:
            row["l"] = group_trace.now()
        try:
            await self._begin(loop, conn)
        except BaseException:
            self._release(turn)
            raise
        try:
            result = statements(Transaction("sqlite", conn))
            if row is not None:
                row["s"] = group_trace.now()
            if self.flush_after:
                self._commit(conn)
        except BaseException:
            self._rollback(conn)
            self._release(turn)
            raise
        if self.flush_after:
            self._release(turn)
            if row is not None:
                row["c"] = group_trace.now()
            if handed is not None:
                handed.set()
            if self.checkpointer is not None:
                self.checkpointer.committed()
            flush = flush_wal if row is None else _traced_flush(row)
            # cancelled or not, the flush runs to its end
            await asyncio.shield(loop.run_in_executor(self._flushes(), flush, self.target))
            if row is not None:
                row["f"] = group_trace.now()
            return result
        done = loop.run_in_executor(self._executor(), self._commit_and_release, conn, turn)
        if handed is not None:
            handed.set()
        await asyncio.shield(done)  # cancelled or not, the thread commits and releases
        return result

    def _commit(self, conn: sqlite3.Connection) -> None:
        """``COMMIT`` (with ``synchronous=NORMAL``: the group's WAL frames written, not
        flushed; the caller rolls back on failure).

        Raises
        ------
        StoreError
            The commit failed.
        """
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise StoreError(f"store {self.target}: the commit failed: {exc}") from exc

    async def _take_turn(self, loop: asyncio.AbstractEventLoop) -> int:
        """The writers' lock, and the descriptor that holds it: at once when free; else waited
        for on the committer's thread, on a descriptor of its own (closed to release it, also
        when the wait was cancelled)."""
        turns = self._turns
        assert turns is not None
        orphan, self._orphan = self._orphan, None
        if orphan is not None:  # a cancelled wait still on the thread: let it end first
            with contextlib.suppress(BaseException):
                await asyncio.shield(orphan)
            await asyncio.sleep(0)  # its callback lets go of what it took
        try:
            fcntl.flock(turns, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return turns
        except BlockingIOError:
            pass
        own = open_writers_lock(self.target)
        waiting = loop.run_in_executor(self._executor(), fcntl.flock, own, fcntl.LOCK_EX)
        try:
            await asyncio.shield(waiting)
        except BaseException:  # cancelled, or the wait failed: let go once it returned
            waiting.add_done_callback(lambda _: os.close(own))
            if not waiting.done():
                self._orphan = waiting  # the next commit waits for it to end (one thread)
            raise
        return own

    async def _begin(self, loop: asyncio.AbstractEventLoop, conn: sqlite3.Connection) -> None:
        """``BEGIN IMMEDIATE``: on the loop without waiting; when SQLite's write lock is held
        by a writer that takes no ``flock``, waited for on the committer's thread.

        Raises
        ------
        StoreError
            The transaction cannot begin.
        """
        try:
            conn.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.Error:
            pass
        waiting = loop.run_in_executor(self._executor(), self._begin_waiting, conn)
        try:
            await asyncio.shield(waiting)
        except asyncio.CancelledError:  # the connection is left as it was before the call
            with contextlib.suppress(BaseException):
                await waiting
            self._rollback(conn)
            raise

    def _begin_waiting(self, conn: sqlite3.Connection) -> None:
        try:
            conn.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
            try:
                conn.execute("BEGIN IMMEDIATE")
            finally:
                conn.execute("PRAGMA busy_timeout=0")
        except sqlite3.Error as exc:
            raise StoreError(f"store {self.target}: cannot begin a write: {exc}") from exc

    def _commit_and_release(self, conn: sqlite3.Connection, turn: int) -> None:
        """``COMMIT`` (the flush to disk), then the writers' lock released; on failure rolled
        back and released.

        Raises
        ------
        StoreError
            The commit failed.
        """
        try:
            self._commit(conn)
        except StoreError:
            self._rollback(conn)
            raise
        finally:
            self._release(turn)

    @staticmethod
    def _rollback(conn: sqlite3.Connection) -> None:
        with contextlib.suppress(Exception):
            if conn.in_transaction:
                conn.execute("ROLLBACK")

    def _release(self, turn: int) -> None:
        """Let go of the writers' lock held by ``turn`` (:meth:`_take_turn`)."""
        if turn == self._turns:
            fcntl.flock(turn, fcntl.LOCK_UN)
        else:
            os.close(turn)

    def close(self) -> None:
        """Close the connection and stop the thread (a later commit opens them again)."""
        store, self._store = self._store, None
        pool, self._pool = self._pool, None
        turns, self._turns = self._turns, None
        flusher, self._flusher = self._flusher, None
        if flusher is not None:
            flusher.shutdown(wait=True)
        if pool is not None:
            if store is not None:
                pool.submit(store.close).result()
            pool.shutdown(wait=True)
        elif store is not None:
            store.close()
        if turns is not None:
            os.close(turns)
