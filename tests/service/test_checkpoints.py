"""The WAL's checkpoints off the commit path: a PASSIVE checkpoint copies the WAL into the
database file holding no lock; past the restart bound a RESTART under the writers' lock lets
the next commit overwrite the WAL from its start instead of growing it; a reader holding an
old snapshot, another writer or a failure leave things as they were."""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from roamlike.service.checkpoints import CHECKPOINT_COMMITS, Checkpointer, without_autocheckpoint
from roamlike.service.writers_lock import open_writers_lock
from roamlike.sqlite_driver import sqlite3
from roamlike.state import Store, migrate, open_store
from roamlike.synth.generator import generate
from service.conftest import metric_once_at, synthetic_client


@pytest.fixture
def writer(tmp_path: Path) -> Store:
    target = tmp_path / "state.db"
    with open_store(target) as store:
        migrate(store)
        store.connection.execute("CREATE TABLE probe (n INTEGER PRIMARY KEY, pad BLOB)")
    store = without_autocheckpoint(open_store(target, create=False))
    yield store
    store.close()


def _commits(store: Store, start: int, count: int) -> None:
    """``count`` commits of one row of ~16 KiB each (four WAL frames or more)."""
    for n in range(start, start + count):
        store.connection.execute("INSERT INTO probe VALUES (?, zeroblob(16000))", (n,))


def _wal_bytes(store: Store) -> int:
    return os.path.getsize(f"{store.name}-wal")


class _WritersBetween:
    """A connection whose ``PASSIVE`` checkpoint runs while a reader holds a snapshot older
    than the writer's last commits (so it cannot copy those), the reader ending right after:
    what happens under load, where writers append while the checkpoint runs and no checkpoint
    copies every frame before a writer begins."""

    def __init__(self, conn: sqlite3.Connection, writer: Store) -> None:
        self.conn = conn
        self.writer = writer

    def execute(self, sql: str) -> sqlite3.Cursor:
        if "PASSIVE" not in sql:
            return self.conn.execute(sql)
        with open_store(self.writer.name, create=False) as reader:
            reader.connection.execute("BEGIN")
            reader.connection.execute("SELECT count(*) FROM probe").fetchall()
            _commits(self.writer, 1000, 2)  # frames the reader must not see
            row = self.conn.execute(sql).fetchone()
            reader.connection.execute("COMMIT")
        return self.conn.execute("SELECT ?, ?, ?", row)


def _checkpoint(store: Store, restart_frames: int, busy: bool = True) -> Checkpointer:
    """One checkpoint of a checkpointer with this restart bound, on a connection of its own;
    ``busy``: the writer commits while it runs (:class:`_WritersBetween`)."""
    checkpointer = Checkpointer(store.name, restart_frames=restart_frames)
    own = open_store(store.name, create=False)
    turns = open_writers_lock(store.name)
    try:
        own.connection.execute("PRAGMA busy_timeout=50")
        conn: Any = _WritersBetween(own.connection, store) if busy else own.connection
        checkpointer.checkpoint(conn, turns)
    finally:
        os.close(turns)
        own.close()
    return checkpointer


def test_a_passive_checkpoint_copies_the_wal_into_the_database_file(writer: Store) -> None:
    _commits(writer, 0, 20)
    before = os.path.getsize(writer.name)
    done = _checkpoint(writer, restart_frames=10**9, busy=False)
    assert (done.checkpoints, done.restarts) == (1, 0)
    assert os.path.getsize(writer.name) >= before + 20 * 16000  # the rows' pages copied


def test_past_the_restart_bound_the_next_commits_overwrite_the_wal_from_its_start(
    writer: Store,
) -> None:
    _commits(writer, 0, 20)
    done = _checkpoint(writer, restart_frames=1)
    assert (done.checkpoints, done.restarts) == (1, 1)
    grown = _wal_bytes(writer)
    _commits(writer, 20, 10)
    assert _wal_bytes(writer) == grown  # started again at the beginning: no growth
    with open_store(writer.name, create=False) as other:  # nothing lost on the way
        assert other.connection.execute("SELECT count(*) FROM probe").fetchone() == (32,)


def test_below_the_restart_bound_a_busy_wal_goes_on_growing(writer: Store) -> None:
    _commits(writer, 0, 20)
    assert _checkpoint(writer, restart_frames=10**9).restarts == 0
    grown = _wal_bytes(writer)
    _commits(writer, 20, 10)
    assert _wal_bytes(writer) > grown


def test_the_restart_waits_for_the_writers_lock(writer: Store) -> None:
    _commits(writer, 0, 5)
    holder = open_writers_lock(writer.name)
    fcntl.flock(holder, fcntl.LOCK_EX)  # a worker's commit, in effect
    found: list[Checkpointer] = []
    thread = threading.Thread(target=lambda: found.append(_checkpoint(writer, restart_frames=1)))
    try:
        thread.start()
        time.sleep(0.1)
        assert thread.is_alive()  # the PASSIVE pass ran; the RESTART waits
        assert not found
    finally:
        fcntl.flock(holder, fcntl.LOCK_UN)
        os.close(holder)
        thread.join(30)
    assert found[0].restarts == 1


def test_a_reader_of_an_older_snapshot_makes_the_restart_give_up_and_release_the_lock(
    writer: Store,
) -> None:
    _commits(writer, 0, 5)
    reader = open_store(writer.name, create=False)
    try:
        reader.connection.execute("BEGIN")
        reader.connection.execute("SELECT count(*) FROM probe").fetchall()  # holds its snapshot
        _commits(writer, 5, 5)  # frames the reader must not see
        done = _checkpoint(writer, restart_frames=1)
        assert (done.checkpoints, done.restarts) == (1, 0)
        lock = open_writers_lock(writer.name)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released: free at once
        finally:
            os.close(lock)
    finally:
        reader.connection.execute("COMMIT")
        reader.close()


def test_the_thread_checkpoints_every_so_many_commits_and_survives_a_failure(
    writer: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    checkpointer = Checkpointer(writer.name, every=3, restart_frames=10**9)
    real = Checkpointer.checkpoint
    calls: list[str] = []
    ran = threading.Event()

    def failing_first(self: Checkpointer, conn: sqlite3.Connection, turns: int) -> None:
        calls.append("checkpoint")
        try:
            if len(calls) == 1:
                raise sqlite3.OperationalError("disk I/O error")
            real(self, conn, turns)
        finally:
            ran.set()

    monkeypatch.setattr(Checkpointer, "checkpoint", failing_first)
    try:
        for _ in range(2):
            checkpointer.committed()
        assert calls == []  # two commits: not yet
        for attempt in range(2):
            ran.clear()
            for _ in range(3):
                checkpointer.committed()
            assert ran.wait(30), attempt
    finally:
        checkpointer.close()
    assert calls == ["checkpoint", "checkpoint"]
    assert (checkpointer.failures, checkpointer.checkpoints) == (1, 1)


def test_the_service_checkpoints_off_its_commits_and_counts_it_in_metrics(
    tmp_path: Path,
) -> None:
    synth = generate(20, seed=3, start=dt.date(2026, 1, 1), months=1)
    with synthetic_client(str(tmp_path / "state.db"), synth) as (client, headers):
        rows = synth.usage.head(5).to_dicts()
        for n in range(CHECKPOINT_COMMITS + 5):  # one commit each
            row = dict(rows[n % len(rows)], record_id=f"r{n}")
            row["started_at"] = row["started_at"].isoformat()
            record = {k: v for k, v in row.items() if v is not None}
            posted = client.post("/v1/events", json={"records": [record]}, headers=headers)
            assert posted.is_success, posted.text
        # the checkpointer's thread runs after the commit that made it due was answered
        assert metric_once_at(client, "wal_checkpoints", 1) == 1
        assert "roamlike_wal_checkpoint_failures_total 0\n" in client.get("/metrics").text


def test_a_store_the_thread_cannot_open_is_counted_and_ends_it(tmp_path: Path) -> None:
    checkpointer = Checkpointer(str(tmp_path / "gone.db"), every=1)
    checkpointer.committed()
    try:
        assert checkpointer.ended.wait(30)
    finally:
        checkpointer.close()
    assert (checkpointer.failures, checkpointer.checkpoints) == (1, 0)
