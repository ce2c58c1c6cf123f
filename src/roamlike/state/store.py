"""The durable store: one SQLite file (embedded default) or one PostgreSQL database.

A :class:`Store` wraps one connection and hands out :class:`Transaction` objects. SQL is written
once with ``?`` placeholders and runs on both back ends; the few statements that differ are
chosen with :attr:`Transaction.dialect`. Driver exceptions never leave this module: they are
translated into :class:`~roamlike.errors.StoreError` (or its subclass
:class:`~roamlike.errors.StoreConflictError` for a broken constraint).

Durability: SQLite runs in WAL mode with ``synchronous=FULL`` (a commit that returned survives a
power loss); PostgreSQL commits are durable with the server's defaults (``fsync`` and
``synchronous_commit`` on).

A Store is not thread-safe: use one per thread or worker process, or serialise the calls.
"""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol

import polars as pl

from roamlike.errors import StoreConflictError, StoreError, first_line
from roamlike.sqlite_driver import sqlite3
from roamlike.state.sqlite_memstatus import memory_statistics_off

Dialect = Literal["sqlite", "postgresql"]

#: Seconds a SQLite writer waits for another writer's lock before giving up.
SQLITE_BUSY_TIMEOUT_S = 60.0
#: SQLite page cache per connection [KiB]: a batch touches pages all over a large store.
SQLITE_CACHE_KIB = 131_072
#: SQLite reads the store file through a memory map of up to this size [B] (no copy per page
#: read: measured 15 % less CPU to load a batch's counters from a store of 1 M subscribers).
SQLITE_MMAP_BYTES = 1 << 30
#: Page size [B] of a SQLite store this module creates (a store keeps the size it was created
#: with). A run's commit writes every page it changed into the WAL and the checkpoint copies
#: them into the file: 16 KiB pages take about a third less time for a day's file than SQLite's
#: default of 4 KiB (fewer frames, fewer writes; ``docs/state-speed.md``, "Round 12"), and the
#: batch's probes of the counters cost the same.
SQLITE_PAGE_BYTES = 16_384
#: The oldest SQLite the stores' statements run on: ``INSERT … RETURNING`` (the log's sequence
#: numbers) came with 3.35.0. ``roamlike.sqlite_driver`` brings 3.51 on Linux x86-64.
SQLITE_MIN_VERSION = (3, 35, 0)

_PG_PREFIXES = ("postgresql://", "postgres://")


def _is_driver_error(exc: BaseException) -> bool:
    """An exception of a database driver (sqlite3 or psycopg, the latter imported only when a
    PostgreSQL store is opened)."""
    return isinstance(exc, sqlite3.Error) or type(exc).__module__.startswith("psycopg")


def is_postgres_url(target: str | Path) -> bool:
    """True when ``target`` names a PostgreSQL database (``postgresql://…``)."""
    return isinstance(target, str) and target.startswith(_PG_PREFIXES)


def redact(target: str | Path) -> str:
    """The store's name for messages, without any password of a PostgreSQL URL.

    Examples
    --------
    >>> redact("postgresql://rl:secret@127.0.0.1:5432/rl")
    'postgresql://rl:***@127.0.0.1:5432/rl'
    >>> redact("state.db")
    'state.db'
    """
    text = str(target)
    if not is_postgres_url(text):
        return text
    return re.sub(r"^(postgres(?:ql)?://[^:/@]+):[^@]*@", r"\1:***@", text)


@functools.lru_cache(maxsize=512)
def _to_pyformat(sql: str) -> str:
    """``?`` placeholders (outside quotes) to psycopg's ``%s``; a literal ``%`` doubled."""
    out: list[str] = []
    quote: str | None = None
    for ch in sql:
        if quote is not None:
            out.append("%%" if ch == "%" else ch)
            if ch == quote:
                quote = None
        elif ch in ("'", '"'):
            quote = ch
            out.append(ch)
        elif ch == "?":
            out.append("%s")
        elif ch == "%":
            out.append("%%")
        else:
            out.append(ch)
    return "".join(out)


class _Cursor(Protocol):
    description: Any

    def fetchall(self) -> list[Any]: ...


class Transaction:
    """One open transaction of a :class:`Store`; obtained from :meth:`Store.transaction`.

    Attributes
    ----------
    dialect : {"sqlite", "postgresql"}
        The back end, for the few statements that differ.
    connection : sqlite3.Connection or psycopg.Connection
        The driver's connection, for bulk paths (e.g. PostgreSQL ``COPY``); its exceptions are
        translated by the enclosing :meth:`Store.transaction`.
    seqs : list of (str, int), optional
        The log sequence numbers taken in this transaction, (tenant, seq) in the order they
        were taken, once a caller asked for them (:func:`roamlike.state.log.watch_seqs`);
        None: not kept.
    """

    def __init__(self, dialect: Dialect, connection: Any) -> None:
        self.dialect: Dialect = dialect
        self.connection = connection
        self.seqs: list[tuple[str, int]] | None = None

    def _sql(self, sql: str) -> str:
        return _to_pyformat(sql) if self.dialect == "postgresql" else sql

    def execute(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement (``?`` placeholders) and return its rows (empty when none)."""
        with self._translated(sql):
            if self.dialect == "sqlite":
                cur: _Cursor = self.connection.execute(sql, tuple(params))
                return [tuple(r) for r in cur.fetchall()] if cur.description else []
            with self.connection.cursor() as pcur:
                pcur.execute(self._sql(sql), tuple(params) if params else None)
                return [tuple(r) for r in pcur.fetchall()] if pcur.description else []

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """Run one statement for many parameter rows, in one round of the driver."""
        with self._translated(sql):
            if self.dialect == "sqlite":
                self.connection.executemany(sql, rows)
                return
            with self.connection.cursor() as pcur:
                pcur.executemany(self._sql(sql), list(rows))

    def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Insert many rows into ``table``: ``COPY`` on PostgreSQL, a bulk insert on SQLite.

        ``table`` and ``columns`` are identifiers written by the program, never user input.
        """
        cols = ", ".join(columns)
        if self.dialect == "sqlite":
            marks = ", ".join("?" for _ in columns)
            self.executemany(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows)
            return
        with (
            self._translated(f"COPY {table}"),
            self.connection.cursor() as pcur,
            pcur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)

    def copy_frame(self, table: str, frame: pl.DataFrame) -> None:
        """Insert the rows of ``frame`` (columns named as the table's) into ``table``.

        PostgreSQL: one ``COPY … (FORMAT csv)`` of the frame's CSV text, written by Polars (no
        Python object per value; a null is an unquoted empty field, an empty text ``""``).
        SQLite: one ``executemany`` of an ``INSERT``.
        """
        if self.dialect == "sqlite":
            self.copy_rows(table, frame.columns, frame.iter_rows())
            return
        cols = ", ".join(frame.columns)
        with (
            self._translated(f"COPY {table}"),
            self.connection.cursor() as pcur,
            pcur.copy(f"COPY {table} ({cols}) FROM STDIN (FORMAT csv)") as copy,
        ):
            copy.write(frame.write_csv(include_header=False).encode())

    def execute_count(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one data-changing statement and return how many rows it changed."""
        with self._translated(sql):
            if self.dialect == "sqlite":
                return int(self.connection.execute(sql, tuple(params)).rowcount)
            with self.connection.cursor() as pcur:
                pcur.execute(self._sql(sql), tuple(params) if params else None)
                return int(pcur.rowcount)

    @contextlib.contextmanager
    def _translated(self, what: str) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            if not _is_driver_error(exc):
                raise
            raise _translate(exc, what) from exc


def _translate(exc: Exception, what: str) -> StoreError:
    """A driver exception as a roamlike error (never a driver traceback for the user)."""
    first = first_line(exc)
    name = type(exc).__name__
    if isinstance(exc, sqlite3.IntegrityError) or name in {
        "IntegrityError",
        "UniqueViolation",
        "ForeignKeyViolation",
        "CheckViolation",
        "NotNullViolation",
    }:
        return StoreConflictError(f"store constraint violated: {first}")
    statement = " ".join(what.split())[:80]
    return StoreError(f"store error ({name}) in {statement!r}: {first}")


class Store:
    """A durable store opened by :func:`open_store`.

    Use :meth:`transaction` for every read or write; close with :meth:`close` or a ``with`` block.
    """

    def __init__(self, dialect: Dialect, connection: Any, name: str) -> None:
        self.dialect: Dialect = dialect
        self.name = name
        self._connection = connection
        self._in_transaction = False

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.close()
            self._connection = None

    @property
    def connection(self) -> Any:
        """The driver's connection (for bulk paths); the store must be open."""
        if self._connection is None:
            raise StoreError(f"store {self.name} is closed")
        return self._connection

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One transaction: committed when the block ends, rolled back if it raises.

        SQLite takes the write lock at the start (``BEGIN IMMEDIATE``), so two writers never
        deadlock; the second waits up to :data:`SQLITE_BUSY_TIMEOUT_S`.

        Raises
        ------
        StoreError
            The store fails, or a transaction is already open on this store (no nesting).
        """
        with self._alone() as conn:
            if self.dialect == "sqlite":
                with _translating("BEGIN IMMEDIATE"):
                    conn.execute("BEGIN IMMEDIATE")
                try:
                    yield Transaction("sqlite", conn)
                except BaseException:
                    with contextlib.suppress(Exception):
                        conn.execute("ROLLBACK")
                    raise
                with _translating("COMMIT"):
                    conn.execute("COMMIT")
            else:
                block = conn.transaction()
                with _translating("BEGIN"):
                    block.__enter__()
                try:
                    yield Transaction("postgresql", conn)
                except BaseException as exc:
                    with contextlib.suppress(Exception):
                        block.__exit__(type(exc), exc, exc.__traceback__)
                    raise
                with _translating("COMMIT"):
                    block.__exit__(None, None, None)

    @contextlib.contextmanager
    def _alone(self) -> Iterator[Any]:
        """The connection, for one transaction at a time (no nesting)."""
        conn = self.connection
        if self._in_transaction:
            raise StoreError(f"store {self.name}: a transaction is already open (no nesting)")
        self._in_transaction = True
        try:
            yield conn
        finally:
            self._in_transaction = False

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Transaction]:
        """A read-only transaction: what it reads is one consistent state of the store, and it
        takes no write lock (SQLite: a deferred ``BEGIN``, so a reader works beside a writer in
        WAL mode; PostgreSQL: ``READ ONLY``). Ended by a rollback: a write through it fails
        (PostgreSQL) or is undone (SQLite; temporary tables are the reader's own).

        Raises
        ------
        StoreError
            As :meth:`transaction`.
        """
        begin = "BEGIN" if self.dialect == "sqlite" else "BEGIN READ ONLY"
        with self._alone() as conn:
            with _translating(begin):
                conn.execute(begin)
            try:
                yield Transaction(self.dialect, conn)
            finally:
                with contextlib.suppress(Exception):
                    conn.execute("ROLLBACK")


@contextlib.contextmanager
def _translating(what: str) -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        if not _is_driver_error(exc):
            raise
        raise _translate(exc, what) from exc


def _open_sqlite(path: Path, create: bool) -> Store:
    if str(path) != ":memory:":
        if not create and not path.is_file():
            raise StoreError(
                f"no store at {path}: create it with `roamlike state init --state {path}`"
            )
        if not path.parent.is_dir():
            raise StoreError(f"cannot create the store {path}: folder {path.parent} does not exist")
    if sqlite3.sqlite_version_info < SQLITE_MIN_VERSION:
        oldest = ".".join(map(str, SQLITE_MIN_VERSION))
        raise StoreError(
            f"a SQLite store needs SQLite {oldest} or newer; this Python's is "
            f"{sqlite3.sqlite_version} (on Linux x86-64 the pysqlite3-binary package brings "
            "one; or use a PostgreSQL store)"
        )
    memory_statistics_off()  # before the process's first connection (less CPU per statement)
    try:
        conn = sqlite3.connect(
            str(path),
            timeout=SQLITE_BUSY_TIMEOUT_S,
            isolation_level=None,
            check_same_thread=False,
        )
        # a new file's page size, before anything (WAL mode first) writes its header; a store
        # that exists keeps its own (SQLite ignores the pragma then)
        conn.execute(f"PRAGMA page_size={SQLITE_PAGE_BYTES}")
        mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        conn.execute("PRAGMA temp_store=MEMORY")
        conn.execute(f"PRAGMA mmap_size={SQLITE_MMAP_BYTES}")
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the store {path}: {exc}") from exc
    if str(path) != ":memory:" and str(mode).lower() != "wal":
        conn.close()
        raise StoreError(f"store {path}: SQLite refused WAL mode (journal_mode is {mode})")
    return Store("sqlite", conn, str(path))


def _open_postgres(url: str) -> Store:
    try:
        import psycopg
    except ImportError as exc:  # pragma: no cover - psycopg is a dependency
        raise StoreError("PostgreSQL stores need psycopg: pip install 'psycopg[binary]'") from exc
    try:
        conn = psycopg.connect(url, autocommit=True, connect_timeout=30)
    except psycopg.Error as exc:
        first = first_line(exc)
        raise StoreError(f"cannot connect to the store {redact(url)}: {first}") from exc
    return Store("postgresql", conn, redact(url))


def open_store(target: str | Path, *, create: bool = True) -> Store:
    """Open (and, for SQLite, create) a store; its schema is not migrated here.

    Parameters
    ----------
    target : str or Path
        A SQLite file path, or a PostgreSQL URL ``postgresql://user@host:port/db`` (the database
        must exist).
    create : bool
        Create a missing SQLite file (``False``: a missing file is an error).

    Returns
    -------
    Store
        Call :func:`roamlike.state.migrate` (or :func:`roamlike.state.require_current`) next.

    Raises
    ------
    StoreError
        The store cannot be opened or reached.
    """
    if is_postgres_url(target):
        return _open_postgres(str(target))
    return _open_sqlite(Path(target), create)
