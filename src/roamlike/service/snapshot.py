"""Work out a commit group outside the writers' lock; under it, check its reads and write.

A group's commit reads a few rows (stored answers, counters, sessions), rates, and writes. Run
whole under the writers' lock (``roamlike.service.runtime``), the rating of one worker process
waits for the other's, so the two processes' cycles never overlap. Instead:

1. **outside the lock**, in a read transaction of a connection to the store (SQLite WAL: a
   snapshot of the last commit, no lock; the service uses a connection of its own, the
   *preparer's*, so this overlaps the writer's previous commit), the group's commit runs
   against a :class:`SnapshotTransaction`: each read runs on the snapshot and is recorded with
   its result (or, given to :meth:`SnapshotTransaction.known`, is recorded with the result the
   caller knows it has there, without running); each write is recorded, not run (or, given to
   :func:`write_later`, deferred whole);
2. **under the lock**, in the writer's write transaction, every recorded read runs again: when each
   returns exactly what it returned on the snapshot, the work done in step 1 is what the same
   code would do now (it is a function of those reads), so the recorded writes are applied in
   order and the transaction commits; when any differs (the other process, or ``roamlike
   rate --state``, committed a change to one of those rows in between), the group's commit
   runs again for real, under the lock. Correct by construction either way.

Only what does not depend on the group's own writes can be worked out this way: a read issued
after a write of the same group (which in a real transaction could see that write) stops step
1 and the group is committed under the lock, as are statements other than ``SELECT``,
``INSERT``, ``UPDATE`` and ``DELETE``.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import polars as pl

from roamlike.service.runtime import reading
from roamlike.state import Store, Transaction

T = TypeVar("T")

_WRITES = ("INSERT", "UPDATE", "DELETE")


class NotOnSnapshotError(Exception):
    """The work cannot be done on a snapshot (a read after a write, or a bulk statement)."""


def _verb(sql: str) -> str:
    return sql.lstrip()[:6].upper()


class SnapshotTransaction(Transaction):
    """A transaction whose reads run (and are recorded) and whose writes are only recorded.

    Attributes
    ----------
    reads : list of (str, tuple, list)
        Each read's SQL, parameters and rows, in order.
    writes : list
        Each write, in order: its SQL and parameter rows (one row for ``execute``), or a
        function of the transaction given to :func:`write_later`.
    """

    def __init__(self, dialect: Any, connection: Any) -> None:
        super().__init__(dialect, connection)
        self.reads: list[tuple[str, tuple[Any, ...], list[tuple[Any, ...]]]] = []
        self.writes: list[tuple[str, list[tuple[Any, ...]]] | Callable[[Transaction], object]] = []
        self.checks: list[Callable[[Transaction], bool]] = []

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """A read runs on the snapshot and is recorded; a write is recorded (no rows).

        Raises
        ------
        NotOnSnapshotError
            A read after a write, or a statement that is neither.
        """
        verb = _verb(sql)
        if verb == "SELECT":
            if self.writes:
                raise NotOnSnapshotError("a read after a write of the same group")
            rows = super().execute(sql, params)
            self.reads.append((sql, tuple(params), rows))
            return rows
        if verb in _WRITES:
            self.writes.append((sql, [tuple(params)]))
            return []
        raise NotOnSnapshotError(f"statement {verb!r} is neither a read nor a write")

    def known(self, sql: str, params: Sequence[Any], rows: list[tuple[Any, ...]]) -> None:
        """Record the read ``sql`` with the rows it returns on this snapshot, known to the
        caller without running it (an invariant of the store, e.g. no log row above the
        tenant's last sequence number): only its run under the lock (:meth:`still_valid`)
        reads the store.

        Raises
        ------
        NotOnSnapshotError
            A read after a write, or ``sql`` is not a read.
        """
        if _verb(sql) != "SELECT":
            raise NotOnSnapshotError("a known read that is not a SELECT")
        if self.writes:
            raise NotOnSnapshotError("a read after a write of the same group")
        self.reads.append((sql, tuple(params), rows))

    def check(self, still: Callable[[Transaction], bool]) -> None:
        """Record a check that stands for reads of this snapshot: ``still(tx)``, run under the
        lock (:meth:`still_valid`), is true only if those reads would return there what they
        returned here (e.g. no write of the group's subscribers since the snapshot's last
        sequence number, :func:`roamlike.service.written_keys.untouched`).

        Raises
        ------
        NotOnSnapshotError
            A check after a write of the same group.
        """
        if self.writes:
            raise NotOnSnapshotError("a read after a write of the same group")
        self.checks.append(still)

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """A write of many rows, recorded.

        Raises
        ------
        NotOnSnapshotError
            Not an ``INSERT``, ``UPDATE`` or ``DELETE``.
        """
        if _verb(sql) not in _WRITES:
            raise NotOnSnapshotError("executemany of a statement that is not a write")
        self.writes.append((sql, [tuple(r) for r in rows]))

    def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Not done on a snapshot.

        Raises
        ------
        NotOnSnapshotError
            Always.
        """
        raise NotOnSnapshotError("bulk copy")

    def copy_frame(self, table: str, frame: pl.DataFrame) -> None:
        """Not done on a snapshot.

        Raises
        ------
        NotOnSnapshotError
            Always.
        """
        raise NotOnSnapshotError("bulk copy")

    def execute_count(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Not done on a snapshot (the count would be a read of the write).

        Raises
        ------
        NotOnSnapshotError
            Always.
        """
        raise NotOnSnapshotError("a write whose count is read")

    def still_valid(self, tx: Transaction) -> bool:
        """True when every recorded read returns the same rows in ``tx`` and every recorded
        check (:meth:`check`) holds there."""
        return all(tx.execute(sql, params) == rows for sql, params, rows in self.reads) and all(
            still(tx) for still in self.checks
        )

    def apply(self, tx: Transaction) -> None:
        """Run the recorded writes in ``tx``, in order."""
        for write in self.writes:
            if callable(write):
                write(tx)
                continue
            sql, rows = write
            if len(rows) == 1:
                tx.execute(sql, rows[0])
            else:
                tx.executemany(sql, rows)


def write_later(tx: Transaction, write: Callable[[Transaction], object]) -> None:
    """``write(tx)`` now, or, on a snapshot, when its writes are applied under the lock: for a
    write that reads what it needs as it writes (a log sequence number, a sum in SQL) and
    whose result the work does not use."""
    if isinstance(tx, SnapshotTransaction):
        tx.writes.append(write)
    else:
        write(tx)


#: How a commit ended: "snapshot" (worked out outside the lock, reads unchanged), "changed"
#: (a read differed: done again under the lock), "locked" (could not use a snapshot).
Path = str


def _data_version(conn: Any) -> tuple[int, int]:
    """SQLite's ``PRAGMA data_version`` of ``conn`` (it changes once any other connection
    committed) and the connection's own count of changes."""
    return int(conn.execute("PRAGMA data_version").fetchone()[0]), int(conn.total_changes)


@dataclass(frozen=True)
class VersionRead:
    """A connection's :func:`_data_version`, read on the thread ``thread`` outside any
    transaction of that connection (:func:`version_read`)."""

    connection: Any
    version: tuple[int, int]
    thread: int


def version_read(store: Store) -> VersionRead | None:
    """``store``'s connection's :func:`_data_version` read now, on this thread: before a group
    is worked out on another thread's connection, for :meth:`WorkedOut.read_before`; None
    when the connection is in a transaction or cannot be asked."""
    conn = store.connection
    if store.dialect != "sqlite" or conn.in_transaction:
        return None
    try:
        return VersionRead(conn, _data_version(conn), threading.get_ident())
    except Exception:  # the driver's error: the reads are checked instead
        return None


@dataclass
class WorkedOut(Generic[T]):
    """What :func:`work_out` did on a snapshot: the recorded reads and writes and the result
    (none when the work could not be done there).

    ``version`` is a :func:`_data_version` read on the thread ``thread``: the snapshot's
    own, in its read transaction, or one read before the snapshot began on another
    connection, ``connection`` (:meth:`read_before`; None: the snapshot's); None: not
    read. :meth:`unchanged` compares it."""

    snapshot: SnapshotTransaction
    done: list[T]
    version: tuple[int, int] | None = None
    thread: int = 0
    connection: Any = None

    def read_before(self, read: VersionRead | None) -> None:
        """Compare :meth:`unchanged` with ``read``, a version read on another connection
        before this snapshot's read transaction began (a group worked out on the preparer's
        thread, the version read on the event loop's connection before it was handed over).
        The snapshot holds every commit that version did (it began later); when that
        connection, asked again, gives the same version, nothing was committed since that
        reading, so nothing since the snapshot either."""
        if read is not None and self.done:
            self.version, self.thread, self.connection = read.version, read.thread, read.connection

    def unchanged(self) -> bool:
        """True when nothing was committed to the store since the snapshot: the connection
        its version was read on (the snapshot's, or :meth:`read_before`'s), asked again now
        (on the same thread, outside any transaction of its own), gives the same
        :func:`_data_version`. Every recorded read would then return what it returned, so
        checking them again under the lock can be skipped. False when that cannot be asked
        here (another thread's connection, or one in a transaction)."""
        conn = self.snapshot.connection if self.connection is None else self.connection
        if self.version is None or self.thread != threading.get_ident() or conn.in_transaction:
            return False
        try:
            return _data_version(conn) == self.version
        except Exception:  # the driver's error: check the reads instead
            return False


def work_out(store: Store, work: Callable[[Transaction], T]) -> WorkedOut[T]:
    """Step 1 (module docstring): ``work`` on a snapshot of the store's last commit, in a read
    transaction of ``store``'s connection (take no lock). Any failure, NotOnSnapshotError
    included, leaves the result empty: the run under the lock does the work, and raises the
    error again if it is one."""
    snapshot = SnapshotTransaction(store.dialect, store.connection)
    worked: WorkedOut[T] = WorkedOut(snapshot, [])
    if store.dialect == "sqlite":
        with contextlib.suppress(Exception), reading(store):
            # read first: it starts the read transaction, so the version is the snapshot's
            worked.version = _data_version(store.connection)
            worked.thread = threading.get_ident()
            worked.done.append(work(snapshot))
    return worked


def commit_worked_out(
    store: Store,
    turn: Callable[[], contextlib.AbstractContextManager[None]],
    work: Callable[[Transaction], T],
    worked: WorkedOut[T] | None,
) -> tuple[T, Path]:
    """Step 2 (module docstring): under ``turn``, in one write transaction of ``store``, the
    writes ``worked`` recorded when its reads are unchanged, else ``work`` itself.

    ``worked`` may come from another connection to the same store (a snapshot taken while
    this one committed an earlier group: its reads then differ if they touched that group's
    rows, and the work is done again)."""
    with turn(), store.transaction() as tx:
        return apply_worked_out(tx, work, worked)


def apply_worked_out(
    tx: Transaction, work: Callable[[Transaction], T], worked: WorkedOut[T] | None
) -> tuple[T, Path]:
    """In the write transaction ``tx`` (the writers' lock held): the writes ``worked``
    recorded when its reads are unchanged, else ``work`` itself; its result and
    :data:`Path`."""
    if worked is None or not worked.done:
        return work(tx), "locked"
    if not worked.unchanged() and not worked.snapshot.still_valid(tx):
        return work(tx), "changed"
    worked.snapshot.apply(tx)
    return worked.done[0], "snapshot"


def commit_overlapped(
    store: Store,
    turn: Callable[[], contextlib.AbstractContextManager[None]],
    work: Callable[[Transaction], T],
) -> tuple[T, Path]:
    """``work(tx)`` committed in one write transaction, worked out outside the lock if it can
    (:func:`work_out` then :func:`commit_worked_out` on the same connection).

    Parameters
    ----------
    store : Store
        A SQLite store (on PostgreSQL ``work`` simply runs in a transaction under ``turn``).
    turn : callable
        The writers' lock as a context manager (taken only around the write transaction).
    work : callable
        Reads and writes through the transaction it is given; its result must depend only on
        what its reads return (and on its arguments).

    Returns
    -------
    (object, str)
        ``work``'s result and how the commit ended (:data:`Path`).
    """
    return commit_worked_out(store, turn, work, work_out(store, work))


@contextlib.contextmanager
def no_lock() -> Iterator[None]:
    """A writers' lock for a single writer: nothing to take."""
    yield
