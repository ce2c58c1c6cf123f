"""A small commit group's statements run on the event loop; only its ``COMMIT`` on a thread.

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

Nothing is acknowledged before the ``COMMIT`` returned: a failure of the statements or of the
commit rolls the transaction back, releases the lock and raises (a
:class:`~roamlike.errors.StoreError` for the store's own failures), and every request of the
group gets that error.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from roamlike.errors import StoreError
from roamlike.state import Store, Transaction, open_store
from roamlike.state.store import SQLITE_BUSY_TIMEOUT_S

T = TypeVar("T")


def open_writers_lock(target: str) -> int:
    """A new descriptor of the writers' lock file of the SQLite file ``target``
    (``<target>.writers``, created if missing), to ``flock`` exclusively around a write."""
    return os.open(f"{target}.writers", os.O_RDWR | os.O_CREAT, 0o600)


class LoopCommitter:
    """Commits groups whose statements run on the calling (event loop's) thread.

    Parameters
    ----------
    target : str
        The SQLite file (its schema already migrated).
    """

    def __init__(self, target: str) -> None:
        self.target = target
        self._store: Store | None = None
        self._turns: int | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._orphan: asyncio.Future[None] | None = None  # a cancelled wait for the lock

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="roamlike-commit")
        return self._pool

    def _open(self) -> Store:
        if self._store is None:
            store = open_store(self.target, create=False)
            store.connection.execute("PRAGMA busy_timeout=0")  # the loop never waits in SQLite
            self._turns = open_writers_lock(self.target)
            self._store = store
        return self._store

    async def commit(
        self, statements: Callable[[Transaction], T], handed: asyncio.Event | None = None
    ) -> T:
        """``statements(tx)`` on this thread in one write transaction, committed on the
        committer's thread; its result once the commit returned. ``handed`` is set once the
        ``COMMIT`` was handed to that thread (or the call failed before): the loop may then
        work out the next group without keeping the writers' lock held meanwhile.

        Raises
        ------
        StoreError
            The store failed (opening, the lock, a statement, the commit): rolled back.
        Exception
            What ``statements`` raised: rolled back.
        """
        loop = asyncio.get_running_loop()
        store = self._store
        if store is None:
            store = await loop.run_in_executor(self._executor(), self._open)
        conn = store.connection
        turn = await self._take_turn(loop)
        try:
            await self._begin(loop, conn)
        except BaseException:
            self._release(turn)
            raise
        try:
            result = statements(Transaction("sqlite", conn))
        except BaseException:
            self._rollback(conn)
            self._release(turn)
            raise
        done = loop.run_in_executor(self._executor(), self._commit_and_release, conn, turn)
        if handed is not None:
            handed.set()
        await asyncio.shield(done)  # cancelled or not, the thread commits and releases
        return result

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
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback(conn)
            raise StoreError(f"store {self.target}: the commit failed: {exc}") from exc
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
        if pool is not None:
            if store is not None:
                pool.submit(store.close).result()
            pool.shutdown(wait=True)
        elif store is not None:
            store.close()
        if turns is not None:
            os.close(turns)
