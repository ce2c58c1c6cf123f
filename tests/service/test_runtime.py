"""The service's store access: reads take no write lock; a failing read is a StoreError."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from roamlike.errors import StoreError
from roamlike.service.runtime import StoreRunner, read_once, reading
from roamlike.state import Store, migrate, open_store


def test_reads_do_not_wait_for_a_writer(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    with open_store(path) as writer, open_store(path) as reader:
        migrate(writer)
        with writer.transaction() as tx:  # holds SQLite's write lock (BEGIN IMMEDIATE)
            tx.execute("INSERT INTO service_tenants VALUES ('t1', 'acme', 'now')")
            start = time.monotonic()
            assert read_once(reader, "SELECT count(*) FROM service_tenants", ()) == [(0,)]
            with reading(reader) as rtx:
                assert rtx.execute("SELECT count(*) FROM service_tenants") == [(0,)]
            assert time.monotonic() - start < 1  # not the busy timeout
        assert read_once(reader, "SELECT count(*) FROM service_tenants", ()) == [(1,)]


def test_a_read_that_cannot_begin_is_a_store_error(tmp_path: Path) -> None:
    with open_store(tmp_path / "state.db") as store:
        store.connection.execute("BEGIN")  # a transaction already open on this connection
        with pytest.raises(StoreError, match="cannot begin a read"), reading(store):
            pass


def test_in_memory_store_reads_on_the_writers_connection() -> None:
    runner = StoreRunner(":memory:")

    async def scenario() -> list[tuple[object, ...]]:
        await runner.start()
        rows = await runner.lookup(read_once, "SELECT count(*) FROM service_tenants", ())
        return rows + await runner.read(read_once, "SELECT 1", ())

    try:
        assert asyncio.run(scenario()) == [(0,), (1,)]
    finally:
        runner.close()


def test_lookup_memo_reads_again_once_another_connection_committed(tmp_path: Path) -> None:
    path = str(tmp_path / "state.db")
    runner = StoreRunner(path)
    calls: list[str] = []

    def tenants(store: Store, name: str) -> list[tuple[object, ...]]:
        calls.append(name)
        return read_once(store, "SELECT count(*) FROM service_tenants WHERE name = ?", (name,))

    async def scenario() -> list[list[tuple[object, ...]]]:
        seen = [await runner.lookup_memo(tenants, "acme") for _ in range(3)]
        seen.append(await runner.lookup_memo(tenants, "other"))  # other arguments: a read
        with open_store(path) as other, other.transaction() as tx:
            tx.execute("INSERT INTO service_tenants VALUES ('t1', 'acme', 'now')")
        seen += [await runner.lookup_memo(tenants, "acme") for _ in range(2)]
        return seen

    try:
        seen = asyncio.run(scenario())
    finally:
        runner.close()
    assert seen == [[(0,)]] * 4 + [[(1,)]] * 2
    assert calls == ["acme", "other", "acme"]
