"""The WAL of a SQLite store is copied into the file by the service's checkpointer thread, off
the writers' lock (``roamlike.service.checkpoints``); the writer's commits checkpoint only past
the safety net."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from roamlike.service.checkpoints import (
    WRITER_CHECKPOINT_PAGES,
    Checkpointer,
    checkpoint_rarely_on_commit,
)
from roamlike.service.runtime import StoreRunner
from roamlike.state import Store, migrate, open_store


def _write(store: Store, rows: int) -> None:
    with store.transaction() as tx:
        tx.executemany(
            "INSERT INTO t (k, v) VALUES (?, ?)",
            ((f"k{i}-{time.time_ns()}", "x" * 500) for i in range(rows)),
        )


def _wal(store: Store) -> tuple[int, int]:
    """(frames in the WAL, frames copied into the file), as a no-op checkpoint reports them."""
    [(_, logged, copied)] = store.connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    return int(logged), int(copied)


def test_the_checkpointer_copies_what_the_writer_left_in_the_wal(tmp_path: Path) -> None:
    path = str(tmp_path / "s.db")
    with open_store(path) as store:
        checkpoint_rarely_on_commit(store)
        [(pages,)] = store.connection.execute("PRAGMA wal_autocheckpoint").fetchall()
        assert pages == WRITER_CHECKPOINT_PAGES
        with store.transaction() as tx:
            tx.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)")
        # a commit of ~1,500 pages, past SQLite's default of 1,000
        _write(store, 12_000)
        with open_store(path, create=False) as other:
            checkpointer = Checkpointer(path, interval_s=3600)
            assert checkpointer.checkpoint(other)
            assert checkpointer.checkpoints == 1
            assert not checkpointer.checkpoint(other)  # nothing new
            logged, copied = _wal(other)
            assert logged == copied > 1_000


def test_the_thread_checkpoints_until_stopped(tmp_path: Path) -> None:
    path = str(tmp_path / "s.db")
    with open_store(path) as store:
        with store.transaction() as tx:
            tx.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT)")
        checkpointer = Checkpointer(path, interval_s=0.01)
        checkpointer.start()
        try:
            _write(store, 100)
            deadline = time.monotonic() + 10
            while checkpointer.checkpoints == 0 and time.monotonic() < deadline:
                time.sleep(0.01)
        finally:
            checkpointer.stop()
        assert checkpointer.checkpoints >= 1
        assert checkpointer.failures == 0


def test_a_missing_store_or_a_failing_checkpoint_is_counted(tmp_path: Path) -> None:
    missing = Checkpointer(str(tmp_path / "none.db"), interval_s=0.01)
    missing.start()
    missing.stop()
    assert missing.failures == 1
    store = open_store(str(tmp_path / "s.db"))
    store.close()
    closed = Checkpointer(str(tmp_path / "s.db"))
    assert not closed.checkpoint(store)
    assert closed.failures == 1


def test_the_store_runner_checkpoints_a_sqlite_file_off_the_writers_connection(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "s.db")
    with open_store(path) as store:
        migrate(store)
    runner = StoreRunner(path)

    async def pages() -> int:
        await runner.start()
        [(n,)] = await runner.run(
            lambda s: s.connection.execute("PRAGMA wal_autocheckpoint").fetchall()
        )
        return int(n)

    try:
        assert asyncio.run(pages()) == WRITER_CHECKPOINT_PAGES
        assert runner._checkpointer is not None
    finally:
        runner.close()
    assert runner._checkpointer is None
