"""``roamlike.state.store``: opening, durability settings, transactions and error translation,
on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from roamlike.errors import RoamlikeError, StoreConflictError, StoreError
from roamlike.sqlite_driver import sqlite3
from roamlike.state import open_store, redact
from roamlike.state.store import SQLITE_PAGE_BYTES, _to_pyformat

TABLE = "CREATE TABLE t (k TEXT PRIMARY KEY, n BIGINT NOT NULL)"


def test_sqlite_store_is_wal_with_full_synchronous_commits(tmp_path: Path) -> None:
    with open_store(tmp_path / "s.db") as store:
        assert store.dialect == "sqlite"
        conn = store.connection
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_a_new_sqlite_store_has_large_pages_and_an_existing_one_keeps_its_own(
    tmp_path: Path,
) -> None:
    with open_store(tmp_path / "new.db") as store, store.transaction() as tx:
        tx.execute(TABLE)
    with open_store(tmp_path / "new.db") as again:
        assert again.connection.execute("PRAGMA page_size").fetchone()[0] == SQLITE_PAGE_BYTES
    assert SQLITE_PAGE_BYTES == 16_384
    # a store created with SQLite's default pages (before round 12) is opened as it is
    older = sqlite3.connect(tmp_path / "old.db")
    older.execute(TABLE)
    older.execute("INSERT INTO t (k, n) VALUES ('a', 1)")
    older.commit()
    older.close()
    with open_store(tmp_path / "old.db", create=False) as store, store.transaction() as tx:
        assert tx.execute("PRAGMA page_size") == [(4096,)]
        assert tx.execute("SELECT k, n FROM t") == [("a", 1)]


def test_transaction_commits_at_the_end_of_the_block(store_url: str) -> None:
    with open_store(store_url) as store, store.transaction() as tx:
        tx.execute(TABLE)
        tx.executemany("INSERT INTO t (k, n) VALUES (?, ?)", [("a", 1), ("b", 2)])
    with open_store(store_url) as again, again.transaction() as tx:
        assert tx.execute("SELECT k, n FROM t ORDER BY k") == [("a", 1), ("b", 2)]


def test_transaction_rolls_back_when_the_block_raises(store_url: str) -> None:
    with open_store(store_url) as store:
        with store.transaction() as tx:
            tx.execute(TABLE)

        def insert_then_fail() -> None:
            with store.transaction() as tx:
                tx.execute("INSERT INTO t (k, n) VALUES (?, ?)", ("a", 1))
                raise ZeroDivisionError

        with pytest.raises(ZeroDivisionError):
            insert_then_fail()
        with store.transaction() as tx:
            assert tx.execute("SELECT count(*) FROM t") == [(0,)]


def test_placeholders_and_literal_percent_and_question_marks(store_url: str) -> None:
    with open_store(store_url) as store, store.transaction() as tx:
        tx.execute(TABLE)
        tx.execute("INSERT INTO t (k, n) VALUES (?, ?)", ("50% off?", 7))
        rows = tx.execute("SELECT n FROM t WHERE k LIKE '50%' AND k <> 'x?' AND n = ?", (7,))
        assert rows == [(7,)]


def test_copy_rows_bulk_inserts(store_url: str) -> None:
    rows = [(f"s{i:05d}", i) for i in range(5000)]
    with open_store(store_url) as store, store.transaction() as tx:
        tx.execute(TABLE)
        tx.copy_rows("t", ["k", "n"], rows)
        assert tx.execute("SELECT count(*), sum(n) FROM t") == [(5000, sum(range(5000)))]


def test_constraint_violation_is_a_store_conflict(store_url: str) -> None:
    with open_store(store_url) as store:
        with store.transaction() as tx:
            tx.execute(TABLE)
            tx.execute("INSERT INTO t (k, n) VALUES ('a', 1)")
        with pytest.raises(StoreConflictError, match="constraint"), store.transaction() as tx:
            tx.execute("INSERT INTO t (k, n) VALUES ('a', 2)")
        with store.transaction() as tx:  # the failed transaction left nothing behind
            assert tx.execute("SELECT n FROM t") == [(1,)]


def test_bad_statement_is_a_store_error_naming_it(store_url: str) -> None:
    with open_store(store_url) as store:
        with pytest.raises(StoreError, match="SELEC nothing") as info, store.transaction() as tx:
            tx.execute("SELEC nothing")
        assert not isinstance(info.value, StoreConflictError)
        with store.transaction() as tx:  # the store is still usable
            assert tx.execute("SELECT 1") == [(1,)]


def test_nested_transactions_are_refused(tmp_path: Path) -> None:
    with (
        open_store(tmp_path / "s.db") as store,
        store.transaction(),
        pytest.raises(StoreError, match="already open"),
        store.transaction(),
    ):
        pass


def test_closed_store_is_refused(tmp_path: Path) -> None:
    store = open_store(tmp_path / "s.db")
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"), store.transaction():
        pass


def test_missing_sqlite_store_is_refused_unless_created(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="roamlike state init"):
        open_store(tmp_path / "none.db", create=False)
    assert not (tmp_path / "none.db").exists()


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        open_store(tmp_path / "no" / "such" / "s.db")


def test_a_file_that_is_not_sqlite_is_a_store_error(tmp_path: Path) -> None:
    bad = tmp_path / "s.db"
    bad.write_bytes(b"not a database at all, just some bytes " * 100)
    with pytest.raises(StoreError):
        open_store(bad)


def test_unreachable_postgres_is_a_store_error_without_the_password() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, never listening: the connection is refused
        with pytest.raises(StoreError) as info:
            open_store(f"postgresql://rl:hunter2@127.0.0.1:{port}/rl")
    assert "hunter2" not in str(info.value)
    assert "rl:***@127.0.0.1" in str(info.value)
    assert isinstance(info.value, RoamlikeError)


def test_redact_hides_only_the_password() -> None:
    assert redact("postgres://a:b@h/d") == "postgres://a:***@h/d"
    assert redact("postgresql://a@h:1/d") == "postgresql://a@h:1/d"
    assert redact(Path("x.db")) == "x.db"


def test_pyformat_translation_respects_quotes() -> None:
    assert _to_pyformat("SELECT ? WHERE a = '?%' AND b LIKE \"x%\"") == (
        "SELECT %s WHERE a = '?%%' AND b LIKE \"x%%\""
    )


def test_a_snapshot_reads_beside_a_writer_and_sees_only_what_was_committed(
    tmp_path: Path,
) -> None:
    """SQLite (WAL): a reader's snapshot neither waits for nor sees a writer's open transaction
    (what ``roamlike.state.preload`` relies on)."""
    path = tmp_path / "s.db"
    with open_store(path) as writer, open_store(path) as reader:
        with writer.transaction() as tx:
            tx.execute(TABLE)
            tx.execute("INSERT INTO t (k, n) VALUES ('a', 1)")
        with writer.transaction() as tx:
            tx.execute("INSERT INTO t (k, n) VALUES ('b', 2)")  # holds the write lock
            with reader.snapshot() as snap:
                assert snap.execute("SELECT k FROM t ORDER BY k") == [("a",)]
                snap.execute("CREATE TEMP TABLE mine (v TEXT)")  # a reader's own table
                with pytest.raises(StoreError, match="already open"), reader.snapshot():
                    pass
        with reader.snapshot() as snap:
            assert snap.execute("SELECT k FROM t ORDER BY k") == [("a",), ("b",)]


def test_a_snapshot_writes_nothing(store_url: str) -> None:
    with open_store(store_url) as store:
        with store.transaction() as tx:
            tx.execute(TABLE)
        if store.dialect == "postgresql":  # READ ONLY: a write fails
            with pytest.raises(StoreError), store.snapshot() as snap:
                snap.execute("INSERT INTO t (k, n) VALUES ('a', 1)")
        else:  # rolled back at the end
            with store.snapshot() as snap:
                snap.execute("INSERT INTO t (k, n) VALUES ('a', 1)")
        with store.transaction() as tx:
            assert tx.execute("SELECT count(*) FROM t") == [(0,)]
