"""The service's store access: reads take no write lock; a failing read is a StoreError."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, cast

import pytest
import uvloop

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


def _tenants_counted(calls: list[str]) -> Callable[[Store, str], list[tuple[object, ...]]]:
    """A lookup of the tenants named ``name``, noting each call in ``calls``."""

    def tenants(store: Store, name: str) -> list[tuple[object, ...]]:
        calls.append(name)
        return read_once(store, "SELECT count(*) FROM service_tenants WHERE name = ?", (name,))

    return tenants


def _run_closing(
    runner: StoreRunner,
    scenario: Coroutine[Any, Any, list[list[tuple[object, ...]]]],
    run: Callable[..., Any] = asyncio.run,
) -> list[list[tuple[object, ...]]]:
    """What ``scenario`` returns, run on a new loop by ``run``; ``runner`` closed after."""
    try:
        return cast(list[list[tuple[object, ...]]], run(scenario))
    finally:
        runner.close()


def _add_acme(path: str) -> None:
    """Another connection commits a tenant named acme."""
    with open_store(path) as other, other.transaction() as tx:
        tx.execute("INSERT INTO service_tenants VALUES ('t1', 'acme', 'now')")


def test_lookup_memo_reads_again_once_another_connection_committed(tmp_path: Path) -> None:
    path = str(tmp_path / "state.db")
    runner = StoreRunner(path)
    calls: list[str] = []

    tenants = _tenants_counted(calls)

    async def scenario() -> list[list[tuple[object, ...]]]:
        seen = [await runner.lookup_memo(tenants, "acme") for _ in range(3)]
        seen.append(await runner.lookup_memo(tenants, "other"))  # other arguments: a read
        _add_acme(path)
        await asyncio.sleep(0)  # a request arriving after the commit runs in a later turn
        seen += [await runner.lookup_memo(tenants, "acme") for _ in range(2)]
        return seen

    seen = _run_closing(runner, scenario())
    assert seen == [[(0,)]] * 4 + [[(1,)]] * 2
    assert calls == ["acme", "other", "acme"]


def _count_readings(runner: StoreRunner, readings: list[str]) -> None:
    """Note in ``readings`` every ``PRAGMA data_version`` the loop's connection runs."""
    inline = runner._inline
    assert inline is not None
    inline.connection.set_trace_callback(
        lambda sql: readings.append(sql) if sql.startswith("PRAGMA data_version") else None
    )


@pytest.mark.parametrize("run", [asyncio.run, uvloop.run], ids=["asyncio", "uvloop"])
def test_lookup_memo_reads_the_version_once_for_the_calls_of_one_turn(
    tmp_path: Path, run: Callable[..., Any]
) -> None:
    """Calls made before the loop ran the callback the reading queued (the requests of one
    turn, which all arrived before it) share one reading; a commit returned before the next
    turn is seen there. On asyncio's loop and on uvloop (the server's)."""
    path = str(tmp_path / "state.db")
    runner = StoreRunner(path)
    calls: list[str] = []
    readings: list[str] = []

    tenants = _tenants_counted(calls)

    async def scenario() -> list[list[tuple[object, ...]]]:
        await runner.lookup_memo(tenants, "warm")  # opens the loop's connection
        _count_readings(runner, readings)
        await asyncio.sleep(0)
        one_turn = await asyncio.gather(*(runner.lookup_memo(tenants, "acme") for _ in range(5)))
        assert len(readings) == 1
        _add_acme(path)
        await asyncio.sleep(0)
        later = await asyncio.gather(*(runner.lookup_memo(tenants, "acme") for _ in range(3)))
        assert len(readings) == 2
        return [*one_turn, *later]

    seen = _run_closing(runner, scenario(), run)
    assert seen == [[(0,)]] * 5 + [[(1,)]] * 3
    assert calls == ["warm", "acme", "acme"]


def test_lookup_memo_reads_again_on_another_loop(tmp_path: Path) -> None:
    """A reading whose loop stopped before running its callback is not reused by the next
    loop (which would otherwise never read again)."""
    path = str(tmp_path / "state.db")
    runner = StoreRunner(path)
    readings: list[str] = []

    def tenants(store: Store) -> list[tuple[object, ...]]:
        return read_once(store, "SELECT count(*) FROM service_tenants", ())

    try:
        assert asyncio.run(runner.lookup_memo(tenants)) == [(0,)]
        _count_readings(runner, readings)
        inline = runner._inline
        assert inline is not None
        first = asyncio.new_event_loop()
        try:
            first.call_soon(lambda: (runner._version(inline), first.stop()))
            first.run_forever()  # stops after this turn: the queued callback never runs
        finally:
            first.close()
        assert len(readings) == 1
        _add_acme(path)
        assert asyncio.run(runner.lookup_memo(tenants)) == [(1,)]
        assert len(readings) == 2
    finally:
        runner.close()
