"""A group committed on the writer's thread (``StoreRunner.commit_taking_turns``): with the
flush after the ``COMMIT``, its ``COMMIT`` writes the WAL unflushed under the writers' lock and
the WAL is flushed once that lock was released, before the call returns; with round 8's
``FULL`` commit, the ``COMMIT`` flushes under the lock and nothing follows."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from roamlike.errors import StoreError
from roamlike.service.runtime import StoreRunner
from roamlike.service.writers_lock import open_writers_lock
from roamlike.state import Store, open_store

FULL, NORMAL = 2, 1


def _synchronous(store: Store) -> int:
    return int(store.connection.execute("PRAGMA synchronous").fetchone()[0])


def _lock_free(target: str) -> bool:
    """Whether another process could take the writers' lock of ``target`` now."""
    fd = open_writers_lock(target)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # (releases it when taken)
    return True


def _tenants(target: str) -> list[str]:
    with open_store(target) as store, store.transaction() as tx:
        return [str(r[0]) for r in tx.execute("SELECT name FROM service_tenants ORDER BY name")]


def _group(
    target: str, events: list[tuple[Any, ...]], fails: bool = False
) -> Callable[[Store, Callable[[], contextlib.AbstractContextManager[None]], str], str]:
    """A commit group's call as the writer makes it: the writers' lock taken around its write
    transaction; notes what it saw under the lock and after its commit."""

    def group(
        store: Store, turn: Callable[[], contextlib.AbstractContextManager[None]], name: str
    ) -> str:
        with turn(), store.transaction() as tx:
            tx.execute("INSERT INTO service_tenants VALUES (?, ?, 'now')", (name, name))
            events.append(("statements", _lock_free(target), _synchronous(store)))
            if fails:
                raise ValueError("the group failed")
        events.append(("committed", _lock_free(target), _tenants(target)))
        return name

    return group


@contextlib.contextmanager
def _runner(tmp_path: Path) -> Iterator[tuple[StoreRunner, str]]:
    target = str(tmp_path / "s.db")
    runner = StoreRunner(target)
    try:
        yield runner, target
    finally:
        runner.close()


def _commit(runner: StoreRunner, fn: Callable[..., str], *args: Any) -> tuple[str, int]:
    async def scenario() -> tuple[str, int]:
        await runner.start()
        done = await runner.commit_taking_turns(fn, *args)
        return done, await runner.run(_synchronous)

    return asyncio.run(scenario())


def test_the_wal_is_flushed_after_the_writers_lock_was_released(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("roamlike.service.loop_commit.FLUSH_AFTER_COMMIT", True)
    events: list[tuple[Any, ...]] = []

    def flush(target: str) -> None:
        events.append(("flush", _lock_free(target)))

    monkeypatch.setattr("roamlike.service.runtime.flush_wal", flush)
    with _runner(tmp_path) as (runner, target):
        done, synchronous = _commit(runner, _group(target, events), "acme")
    assert done == "acme"
    assert events == [
        ("statements", False, NORMAL),  # under the lock, the COMMIT not to flush
        ("committed", True, ["acme"]),  # the lock released, the row readable
        ("flush", True),  # then the flush, still outside the lock, before the answer
    ]
    assert synchronous == FULL  # the writer's connection as it was for its other calls


def test_a_failed_flush_is_a_store_error_of_a_committed_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("roamlike.service.loop_commit.FLUSH_AFTER_COMMIT", True)

    def flush(target: str) -> None:
        raise StoreError(f"store {target}: the flush of its WAL failed: EIO")

    monkeypatch.setattr("roamlike.service.runtime.flush_wal", flush)
    events: list[tuple[Any, ...]] = []
    with _runner(tmp_path) as (runner, target):
        with pytest.raises(StoreError, match="flush of its WAL failed"):
            _commit(runner, _group(target, events), "acme")
        assert _tenants(target) == ["acme"]  # committed, but not known durable: not answered


def test_a_group_that_fails_is_rolled_back_and_not_flushed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("roamlike.service.loop_commit.FLUSH_AFTER_COMMIT", True)
    flushes: list[str] = []
    monkeypatch.setattr("roamlike.service.runtime.flush_wal", flushes.append)
    events: list[tuple[Any, ...]] = []

    async def scenario(runner: StoreRunner, target: str) -> int:
        await runner.start()
        with pytest.raises(ValueError, match="the group failed"):
            await runner.commit_taking_turns(_group(target, events, fails=True), "acme")
        return await runner.run(_synchronous)

    with _runner(tmp_path) as (runner, target):
        assert asyncio.run(scenario(runner, target)) == FULL
        assert _tenants(target) == []
        assert _lock_free(target)
    assert events == [("statements", False, NORMAL)]
    assert flushes == []


def test_with_the_full_commit_the_commit_flushes_under_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("roamlike.service.loop_commit.FLUSH_AFTER_COMMIT", False)
    flushes: list[str] = []
    monkeypatch.setattr("roamlike.service.runtime.flush_wal", flushes.append)
    events: list[tuple[Any, ...]] = []
    with _runner(tmp_path) as (runner, target):
        done, synchronous = _commit(runner, _group(target, events), "acme")
    assert done == "acme"
    assert events == [("statements", False, FULL), ("committed", True, ["acme"])]
    assert flushes == []
    assert synchronous == FULL
