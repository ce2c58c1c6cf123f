"""A small group's statements on the event loop, its COMMIT there too and the WAL flushed
after it outside the writers' lock (round 9; round 8's path: the COMMIT on the committer's
thread): the result is durable once answered, every failure rolls back and releases the
writers' lock, and a writer holding either lock is waited for off the loop."""

from __future__ import annotations

import asyncio
import datetime as dt
import fcntl
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from roamlike.errors import StoreError
from roamlike.service import loop_commit, writer
from roamlike.service.events import group_statements
from roamlike.service.loop_commit import LoopCommitter, flush_wal
from roamlike.state import Transaction, migrate, open_store
from roamlike.synth.generator import generate
from service.conftest import synthetic_client


@pytest.fixture
def target(tmp_path: Path) -> str:
    path = tmp_path / "state.db"
    with open_store(path) as store:
        migrate(store)
        store.connection.execute("CREATE TABLE probe (n INTEGER PRIMARY KEY, parent INTEGER)")
        # a child row of no parent: the COMMIT itself fails (the check is deferred to it)
        store.connection.execute(
            "CREATE TABLE orphan (n INTEGER, parent INTEGER REFERENCES probe (n) "
            "DEFERRABLE INITIALLY DEFERRED)"
        )
    return str(path)


def _count(target: str, table: str = "probe") -> int:
    with open_store(target) as store:
        return int(store.connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def _lock_is_free(target: str) -> bool:
    fd = os.open(f"{target}.writers", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing releases what it took
    return True


def _fails_then_next_commits(
    target: str,
    statements: Callable[[Transaction], object],
    match: str,
    then: int,
    flush_after: bool = True,
) -> list[tuple[int]]:
    """``statements`` committed and failing with ``match``, then a group storing ``then``:
    the probe rows stored afterwards (the connection is usable again after the failure)."""
    committer = LoopCommitter(target, flush_after=flush_after)

    async def scenario() -> None:
        with pytest.raises(StoreError, match=match):
            await committer.commit(statements)
        await committer.commit(lambda tx: tx.execute("INSERT INTO probe (n) VALUES (?)", (then,)))

    try:
        asyncio.run(scenario())
    finally:
        committer.close()
    assert _lock_is_free(target)
    with open_store(target) as store:
        return list(store.connection.execute("SELECT n FROM probe").fetchall())


def test_statements_run_on_the_loop_and_the_commit_on_the_committers_thread(target: str) -> None:
    committer = LoopCommitter(target)
    threads: list[str] = []

    def statements(tx: Transaction) -> str:
        threads.append(threading.current_thread().name)
        tx.execute("INSERT INTO probe (n) VALUES (1)")
        return "done"

    async def scenario() -> str:
        threads.append(threading.current_thread().name)
        return await committer.commit(statements)

    try:
        assert asyncio.run(scenario()) == "done"
    finally:
        committer.close()
    assert threads[0] == threads[1]  # the statements ran on the caller's (loop's) thread
    assert _count(target) == 1  # committed: another connection reads it
    assert _lock_is_free(target)


@pytest.mark.parametrize("flush_after", [True, False], ids=["flushed after", "round 8"])
def test_a_failing_statement_rolls_back_and_releases_the_lock(
    target: str, flush_after: bool
) -> None:
    def statements(tx: Transaction) -> None:
        tx.execute("INSERT INTO probe (n) VALUES (1)")
        tx.execute("INSERT INTO probe (n) VALUES (1)")  # the same key: a constraint error

    assert _fails_then_next_commits(target, statements, "constraint", 2, flush_after) == [(2,)]


@pytest.mark.parametrize("flush_after", [True, False], ids=["flushed after", "round 8"])
def test_a_failed_commit_after_the_statements_ran_is_rolled_back(
    target: str, flush_after: bool
) -> None:
    def statements(tx: Transaction) -> str:
        tx.execute("INSERT INTO probe (n) VALUES (7)")
        tx.execute("INSERT INTO orphan VALUES (1, 99)")  # checked only at COMMIT
        return "acknowledged"

    # nothing of the failed group, the next one stored
    stored = _fails_then_next_commits(target, statements, "the commit failed", 8, flush_after)
    assert stored == [(8,)]
    assert _count(target, "orphan") == 0


def test_the_commit_is_answered_after_a_flush_of_the_wal_outside_the_writers_lock(
    target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    committer = LoopCommitter(target)  # flushed after its COMMIT: the default
    seen: list[tuple[bool, bool, int, bool]] = []
    returned = False
    fdatasync = os.fdatasync

    def observed(fd: int) -> None:
        wal = os.stat(f"{target}-wal").st_ino == os.fstat(fd).st_ino
        # flushing the WAL file, committed (another connection reads the row), the writers'
        # lock already released, the commit not yet answered
        seen.append((wal, _lock_is_free(target), _count(target), returned))
        fdatasync(fd)

    monkeypatch.setattr(loop_commit.os, "fdatasync", observed)

    async def scenario() -> None:
        nonlocal returned
        handed = asyncio.Event()
        await committer.commit(lambda tx: tx.execute("INSERT INTO probe (n) VALUES (1)"), handed)
        returned = True
        assert handed.is_set()

    try:
        asyncio.run(scenario())
    finally:
        committer.close()
    assert seen == [(True, True, 1, False)]
    assert returned


def test_a_failed_flush_is_not_acknowledged_and_leaves_the_committer_usable(
    target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    committer = LoopCommitter(target)
    fdatasync = os.fdatasync
    failures = [OSError(5, "Input/output error")]

    def failing_once(fd: int) -> None:
        if failures:
            raise failures.pop()
        fdatasync(fd)

    monkeypatch.setattr(loop_commit.os, "fdatasync", failing_once)

    async def scenario() -> str:
        with pytest.raises(StoreError, match=r"the flush of its WAL failed: .*Input/output"):
            await committer.commit(lambda tx: tx.execute("INSERT INTO probe (n) VALUES (1)"))
        return await committer.commit(lambda tx: str(tx.execute("SELECT count(*) FROM probe")))

    try:
        assert asyncio.run(scenario()) == "[(1,)]"  # committed, flushed by the next one
    finally:
        committer.close()
    assert _lock_is_free(target)


def test_flush_wal_without_a_wal_does_nothing_and_an_unopenable_one_is_a_store_error(
    tmp_path: Path,
) -> None:
    flush_wal(str(tmp_path / "state.db"))  # no WAL: checkpointed and deleted, nothing to do
    (tmp_path / "file").write_text("")
    with pytest.raises(StoreError, match="cannot open its WAL to flush it"):
        flush_wal(str(tmp_path / "file" / "state.db"))


def test_the_next_commit_runs_while_the_previous_ones_flush_is_pending(
    target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    committer = LoopCommitter(target)
    release = threading.Event()

    def slow_flush(target: str) -> None:
        release.wait(30)
        flush_wal(target)

    monkeypatch.setattr(loop_commit, "flush_wal", slow_flush)

    async def scenario() -> tuple[bool, bool, int]:
        first_handed = asyncio.Event()
        first = asyncio.create_task(
            committer.commit(
                lambda tx: tx.execute("INSERT INTO probe (n) VALUES (1)"), first_handed
            )
        )
        await first_handed.wait()  # committed, its flush held
        second_handed = asyncio.Event()
        second = asyncio.create_task(
            committer.commit(
                lambda tx: tx.execute("INSERT INTO probe (n) VALUES (2)"), second_handed
            )
        )
        await asyncio.wait_for(second_handed.wait(), 30)  # committed too, the lock free
        stored = _count(target)
        answered = first.done() or second.done()
        release.set()
        await asyncio.gather(first, second)
        return answered, _lock_is_free(target), stored

    try:
        assert asyncio.run(scenario()) == (False, True, 2)
    finally:
        release.set()
        committer.close()


def test_a_writer_holding_the_lock_is_waited_for_off_the_loop(target: str) -> None:
    committer = LoopCommitter(target)
    holder = os.open(f"{target}.writers", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(holder, fcntl.LOCK_EX)  # another process's writer, in effect

    def statements(tx: Transaction) -> str:
        tx.execute("INSERT INTO probe (n) VALUES (1)")
        return "ok"

    async def scenario() -> tuple[int, str]:
        ticks = 0
        commit = asyncio.create_task(committer.commit(statements))
        for _ in range(5):  # the loop keeps running while the commit waits for the lock
            await asyncio.sleep(0.01)
            ticks += 1
        assert not commit.done()
        fcntl.flock(holder, fcntl.LOCK_UN)
        return ticks, await commit

    try:
        assert asyncio.run(scenario()) == (5, "ok")
    finally:
        os.close(holder)
        committer.close()
    assert _count(target) == 1


def test_a_writer_holding_sqlites_lock_without_the_flock_is_waited_for(target: str) -> None:
    committer = LoopCommitter(target)
    other = open_store(target)  # e.g. `roamlike rate --state`: SQLite's lock only
    other.connection.execute("BEGIN IMMEDIATE")
    other.connection.execute("INSERT INTO probe (n) VALUES (1)")

    async def scenario() -> None:
        commit = asyncio.create_task(
            committer.commit(lambda tx: tx.execute("INSERT INTO probe (n) VALUES (2)"))
        )
        await asyncio.sleep(0.05)
        assert not commit.done()
        await asyncio.get_running_loop().run_in_executor(None, other.connection.execute, "COMMIT")
        await commit

    try:
        asyncio.run(scenario())
    finally:
        other.close()
        committer.close()
    assert _count(target) == 2
    assert _lock_is_free(target)


def test_a_commit_cancelled_while_waiting_for_the_lock_releases_it_once_taken(
    target: str,
) -> None:
    committer = LoopCommitter(target)
    holder = os.open(f"{target}.writers", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(holder, fcntl.LOCK_EX)

    async def scenario() -> None:
        commit = asyncio.create_task(
            committer.commit(lambda tx: tx.execute("INSERT INTO probe (n) VALUES (1)"))
        )
        await asyncio.sleep(0.05)
        commit.cancel()
        with pytest.raises(asyncio.CancelledError):
            await commit
        fcntl.flock(holder, fcntl.LOCK_UN)  # the committer's thread takes it, then lets go
        await committer.commit(lambda tx: tx.execute("INSERT INTO probe (n) VALUES (2)"))

    try:
        asyncio.run(scenario())
    finally:
        os.close(holder)
        committer.close()
    with open_store(target) as store:
        assert store.connection.execute("SELECT n FROM probe").fetchall() == [(2,)]
    assert _lock_is_free(target)


def test_a_group_whose_commit_fails_is_answered_503_and_acknowledges_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("roamlike.service.writer._EXPERIMENT", "mix")  # the loop's path
    synth = generate(20, seed=3, start=dt.date(2026, 1, 1), months=1)
    records = []
    for row in synth.usage.head(5).to_dicts():
        row["started_at"] = row["started_at"].isoformat()
        records.append({k: v for k, v in row.items() if v is not None})
    state = str(tmp_path / "state.db")
    original = group_statements

    def failing_at_commit(*args: Any) -> Any:
        statements = original(*args)

        def run(tx: Transaction) -> Any:
            done = statements(tx)  # the group's statements all ran...
            tx.execute("INSERT INTO orphan VALUES (1)")  # ...and its COMMIT will fail
            return done

        return run

    with synthetic_client(state, synth) as (client, headers):
        with open_store(state) as store:
            store.connection.execute("CREATE TABLE probe (n INTEGER PRIMARY KEY)")
            store.connection.execute(
                "CREATE TABLE orphan "
                "(parent INTEGER REFERENCES probe (n) DEFERRABLE INITIALLY DEFERRED)"
            )
        monkeypatch.setattr(writer, "group_statements", failing_at_commit)
        failed = client.post("/v1/events", json={"records": records}, headers=headers)
        assert failed.status_code == 503
        assert failed.headers["content-type"] == "application/problem+json"
        assert "the commit failed" in failed.json()["detail"]
        assert _count(state, "service_events") == 0  # nothing acknowledged, nothing stored
        monkeypatch.setattr(writer, "group_statements", original)
        retried = client.post("/v1/events", json={"records": records}, headers=headers)
        assert retried.status_code == 200, retried.text
        assert len(retried.json()["rated"]) + len(retried.json()["rejects"]) == len(records)
    assert _count(state, "service_events") == len(records)
