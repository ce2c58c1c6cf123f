"""A commit group worked out on a snapshot outside the writers' lock is applied only when its
reads are unchanged under the lock; otherwise it is done again there (``service.snapshot``).

The "other writer" is simulated by a ``turn`` (the writers' lock) that commits a change through
a second connection just before the lock is granted, as the other worker process would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgspec
import pytest

from roamlike.law import default_catalog
from roamlike.service.events import (
    PLAIN_ROWS_MAX,
    Submission,
    commit_group,
    commit_group_in_turn,
    commit_prepared,
    prepare_group,
)
from roamlike.service.schemas import EventRecord
from roamlike.service.snapshot import (
    NotOnSnapshotError,
    SnapshotTransaction,
    WorkedOut,
    apply_worked_out,
    commit_overlapped,
    no_lock,
    version_read,
    work_out,
)
from roamlike.service.tenants import add_tenant, plan_versions, put_plans
from roamlike.state import Store, Transaction, migrate, open_store
from roamlike.synth.generator import generate
from roamlike.tariffs import FxTable

CATALOG = default_catalog()
SYNTH = generate(10, seed=7)
PLAN = next(p for p in SYNTH.plans if p["home_country"] == "DE")


def _counter_store(path: Path) -> Store:
    store = open_store(str(path))
    with store.transaction() as tx:
        tx.execute("CREATE TABLE c (k TEXT PRIMARY KEY, v INTEGER NOT NULL)")
        tx.execute("INSERT INTO c VALUES ('a', 1)")
    return store


def _add_one(tx: Transaction) -> int:
    """Read a counter and write it plus one: a result that depends on its read."""
    [(v,)] = tx.execute("SELECT v FROM c WHERE k = ?", ("a",))
    tx.execute("UPDATE c SET v = ? WHERE k = ?", (int(v) + 1, "a"))
    return int(v) + 1


def _other_writer(path: Path, sql: str) -> Callable[[], contextlib.AbstractContextManager[None]]:
    """A writers' lock granted after another connection committed ``sql``."""

    @contextlib.contextmanager
    def turn() -> Iterator[None]:
        with open_store(str(path), create=False) as other, other.transaction() as tx:
            tx.execute(sql)
        yield

    return turn


def _value(store: Store) -> int:
    with store.transaction() as tx:
        return int(tx.execute("SELECT v FROM c")[0][0])


def test_unchanged_reads_apply_the_snapshots_writes_once(tmp_path: Path) -> None:
    with _counter_store(tmp_path / "s.db") as store:
        assert commit_overlapped(store, no_lock, _add_one) == (2, "snapshot")
        assert _value(store) == 2
        # another row changed meanwhile: the reads are the same, the snapshot stands
        turn = _other_writer(tmp_path / "s.db", "INSERT INTO c VALUES ('b', 7)")
        assert commit_overlapped(store, turn, _add_one) == (3, "snapshot")
        assert _value(store) == 3


def test_a_read_changed_by_another_writer_is_done_again_under_the_lock(tmp_path: Path) -> None:
    with _counter_store(tmp_path / "s.db") as store:
        turn = _other_writer(tmp_path / "s.db", "UPDATE c SET v = 10 WHERE k = 'a'")
        assert commit_overlapped(store, turn, _add_one) == (11, "changed")
        assert _value(store) == 11  # not 2: the other writer's change is not lost


def test_a_read_after_a_write_or_a_bulk_statement_is_not_done_on_a_snapshot(
    tmp_path: Path,
) -> None:
    def read_after_write(tx: Transaction) -> int:
        _add_one(tx)
        return _add_one(tx)

    with _counter_store(tmp_path / "s.db") as store:
        assert commit_overlapped(store, no_lock, read_after_write) == (3, "locked")
        assert _value(store) == 3
    snapshot = SnapshotTransaction("sqlite", None)
    for call in (
        lambda: snapshot.execute("PRAGMA user_version"),
        lambda: snapshot.executemany("SELECT ?", [(1,)]),
        lambda: snapshot.execute_count("DELETE FROM c"),
        lambda: snapshot.copy_rows("c", ["k"], [("x",)]),
        lambda: snapshot.known("DELETE FROM c", (), []),  # a known read is a SELECT
    ):
        with pytest.raises(NotOnSnapshotError):
            call()
    snapshot.known("SELECT v FROM c", (), [(1,)])  # recorded, not run (no connection)
    assert snapshot.reads == [("SELECT v FROM c", (), [(1,)])]
    snapshot.execute("UPDATE c SET v = 2")
    with pytest.raises(NotOnSnapshotError, match="after a write"):
        snapshot.known("SELECT v FROM c", (), [(2,)])


def test_an_error_is_raised_by_the_run_under_the_lock_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    def fails(tx: Transaction) -> int:
        _add_one(tx)
        raise ValueError("bad group")

    with _counter_store(tmp_path / "s.db") as store:
        with pytest.raises(ValueError, match="bad group"):
            commit_overlapped(store, no_lock, fails)
        assert _value(store) == 1


def _events_store(path: Path) -> tuple[Store, str]:
    store = open_store(str(path))
    migrate(store)
    tenant, _ = add_tenant(store, "acme")
    put_plans(
        store,
        tenant.tenant_id,
        json.dumps({"plans": SYNTH.plans}, default=str),
        "json",
        "2017-01-01T00:00:00.000000+00:00",
    )
    return store, tenant.tenant_id


def _record(record_id: str, second: int, volume: int) -> EventRecord:
    return EventRecord(
        record_id=record_id,
        subscriber_id="s1",
        plan_id=PLAN["id"],
        event_type="data",
        started_at=f"2026-01-05T10:00:{second:02d}Z",
        utc_offset_min=60,
        home_country="DE",
        visited_country="FR",
        volume_bytes=volume,
    )


def _subscriber_rows(store: Store) -> list[tuple[object, ...]]:
    """The subscribers' periods, last events and days as readers see them."""
    with store.transaction() as tx:
        return sorted(
            tx.execute("SELECT * FROM state_periods_now")
            + tx.execute("SELECT * FROM state_subscribers_now")
            + tx.execute("SELECT tenant, subscriber_id, day, rlah_data_bytes FROM state_days_now"),
            key=repr,
        )


def test_an_event_of_the_same_subscriber_committed_meanwhile_is_counted_first(
    tmp_path: Path,
) -> None:
    """Worker B commits an event of s1 while worker A rated its own on the snapshot: A's group
    is rated again on the counters after B's, so the store ends as if B then A ran in turn."""
    fx = FxTable()
    store, tenant = _events_store(tmp_path / "a.db")
    sequential, _ = _events_store(tmp_path / "b.db")
    first, second = _record("rb", 1, 3_000_000_000), _record("ra", 2, 5_000_000_000)
    with store, sequential:
        versions = plan_versions(store, tenant)

        def submission(rec: EventRecord) -> Submission:
            return Submission(tenant, versions, [rec], _future())

        @contextlib.contextmanager
        def turn() -> Iterator[None]:
            with open_store(str(tmp_path / "a.db"), create=False) as other:
                commit_group(other, [submission(first)], fx, CATALOG)
            yield

        outcomes, rated, rejected, path = commit_group_in_turn(
            store, turn, [submission(second)], fx, CATALOG
        )
        assert (rated, rejected, path) == (1, 0, "changed")
        for rec in (first, second):
            expected, _, _ = commit_group(sequential, [submission(rec)], fx, CATALOG)
        assert outcomes == expected
        assert _subscriber_rows(store) == _subscriber_rows(sequential)
        # the same group again: answered from the store, worked out on a snapshot
        again, rated, _, path = commit_group_in_turn(
            store, no_lock, [submission(second)], fx, CATALOG
        )
        assert (again, rated, path) == (outcomes, 0, "snapshot")


_LOOP = asyncio.new_event_loop()


def _future() -> asyncio.Future[bytes]:
    return _LOOP.create_future()  # never awaited: commit_group only returns outcomes


def test_a_group_prepared_before_the_previous_group_committed_is_checked(tmp_path: Path) -> None:
    """The writer prepares group N+1 on its preparer's connection while group N commits on the
    writer's: N+1 is applied from its snapshot only when it read nothing N wrote."""
    fx = FxTable()
    store, tenant = _events_store(tmp_path / "a.db")
    sequential, _ = _events_store(tmp_path / "b.db")
    with store, sequential, open_store(str(tmp_path / "a.db"), create=False) as preparer:
        versions = plan_versions(store, tenant)

        def group(*records: EventRecord) -> list[Submission]:
            return [Submission(tenant, versions, [r], _future()) for r in records]

        earlier = group(_record("r1", 1, 1_000_000))
        same = group(_record("r2", 2, 2_000_000))  # the same subscriber s1
        other = group(
            EventRecord(**{**msgspec.structs.asdict(_record("r3", 3, 1)), "subscriber_id": "s2"})
        )
        worked_same = prepare_group(preparer, same, fx, CATALOG, {})
        worked_other = prepare_group(preparer, other, fx, CATALOG, {})
        commit_group(store, earlier, fx, CATALOG)
        assert commit_prepared(store, no_lock, same, worked_same, fx, CATALOG, {})[3] == "changed"
        assert commit_prepared(store, no_lock, other, worked_other, fx, CATALOG, {})[3] == (
            "snapshot"
        )
        for g in (earlier, same, other):
            commit_group(sequential, g, fx, CATALOG)
        assert _subscriber_rows(store) == _subscriber_rows(sequential)


def test_a_large_group_is_worked_out_on_a_snapshot_and_equals_the_locked_commit(
    tmp_path: Path,
) -> None:
    fx = FxTable()
    store, tenant = _events_store(tmp_path / "a.db")
    locked, other = _events_store(tmp_path / "b.db")
    with store, locked:
        versions = plan_versions(store, tenant)
        records = [
            EventRecord(
                **{
                    **msgspec.structs.asdict(_record(f"r{i}", i % 60, 1_000)),
                    "subscriber_id": f"s{i}",
                }
            )
            for i in range(PLAIN_ROWS_MAX + 1)
        ]
        big = [Submission(tenant, versions, records, _future())]
        assert prepare_group(store, big, fx, CATALOG, {}) is not None
        outcomes, rated, rejected, path = commit_group_in_turn(store, no_lock, big, fx, CATALOG)
        assert (rated, rejected, path) == (PLAIN_ROWS_MAX + 1, 0, "snapshot")
        # the same group committed under the lock with the state store's frames
        mine = [Submission(other, plan_versions(locked, other), records, _future())]
        expected, _, _, how = commit_prepared(locked, no_lock, mine, None, fx, CATALOG, {})
        assert how == "locked"
        assert outcomes == expected
        # the same rows but for the tenant's id (the first column)
        assert [r[1:] for r in _subscriber_rows(store)] == [r[1:] for r in _subscriber_rows(locked)]
        again, rated, _, _ = commit_group_in_turn(store, no_lock, big, fx, CATALOG)
        assert (again, rated) == (outcomes, 0)


def _worked_on(reader: Store, counted: list[int]) -> WorkedOut[int]:
    """``_add_one`` worked out on ``reader``'s snapshot, its reads' checks counted."""
    worked = work_out(reader, _add_one)
    check = worked.snapshot.still_valid

    def still_valid(tx: Transaction) -> bool:
        counted.append(1)
        return check(tx)

    worked.snapshot.still_valid = still_valid  # type: ignore[method-assign]
    return worked


def test_reads_are_not_checked_again_when_nothing_committed_since_the_snapshot(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"
    with _counter_store(path) as reader, open_store(str(path), create=False) as writer:
        counted: list[int] = []
        worked = _worked_on(reader, counted)
        assert worked.unchanged()
        with writer.transaction() as tx:
            assert apply_worked_out(tx, _add_one, worked) == (2, "snapshot")
        assert counted == []  # the data version said nothing changed
        # that commit (another connection's) changes the version: the next group's reads are
        # checked, and a changed read sends the group to be done again
        worked = _worked_on(reader, counted)
        with open_store(str(path), create=False) as other, other.transaction() as tx:
            tx.execute("UPDATE c SET v = 10")
        assert not worked.unchanged()
        with writer.transaction() as tx:
            assert apply_worked_out(tx, _add_one, worked) == (11, "changed")
        assert counted == [1]
        assert _value(writer) == 11


def test_the_version_is_not_asked_on_another_thread_or_in_a_transaction(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with _counter_store(path) as store:
        worked = work_out(store, _add_one)
        assert worked.unchanged()
        with store.transaction():
            assert not worked.unchanged()  # the connection is in a transaction
        with ThreadPoolExecutor(1) as pool:
            assert not pool.submit(worked.unchanged).result()


def _worked_on_thread(path: Path, counted: list[int]) -> WorkedOut[int]:
    """``_add_one`` worked out on a connection of another thread (closed after), its reads'
    checks counted."""

    def work() -> WorkedOut[int]:
        with open_store(str(path), create=False) as preparer:
            return _worked_on(preparer, counted)

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(work).result()


def test_a_version_read_before_a_snapshot_on_another_thread_skips_the_check(
    tmp_path: Path,
) -> None:
    """A group worked out on the preparer's thread: the version read on this thread's own
    connection before the snapshot began stands for it; a commit after that reading (before
    the snapshot or after it) has the reads checked."""
    path = tmp_path / "s.db"
    with (
        _counter_store(path) as writer,
        open_store(str(path), create=False) as loop_conn,
        open_store(str(path), create=False) as other,
    ):
        counted: list[int] = []
        worked = _worked_on_thread(path, counted)
        assert not worked.unchanged()  # another thread's connection: not asked
        read = version_read(loop_conn)
        worked = _worked_on_thread(path, counted)
        worked.read_before(read)
        assert worked.unchanged()
        with writer.transaction() as tx:
            assert apply_worked_out(tx, _add_one, worked) == (2, "snapshot")
        assert counted == []
        # a commit between the reading and the snapshot: the snapshot holds it, but the
        # version moved, so the reads are checked (and are unchanged)
        read = version_read(loop_conn)
        with other.transaction() as tx:
            tx.execute("UPDATE c SET v = 5")
        worked = _worked_on_thread(path, counted)
        worked.read_before(read)
        assert not worked.unchanged()
        with writer.transaction() as tx:
            assert apply_worked_out(tx, _add_one, worked) == (6, "snapshot")
        assert counted == [1]
        # a commit after the snapshot: checked, changed, done again under the lock
        read = version_read(loop_conn)
        worked = _worked_on_thread(path, counted)
        worked.read_before(read)
        with other.transaction() as tx:
            tx.execute("UPDATE c SET v = 10")
        assert not worked.unchanged()
        with writer.transaction() as tx:
            assert apply_worked_out(tx, _add_one, worked) == (11, "changed")
        assert counted == [1, 1]
        assert _value(writer) == 11


def test_no_version_is_read_in_a_transaction_and_none_replaces_nothing(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with _counter_store(path) as store, open_store(str(path), create=False) as loop_conn:
        with loop_conn.transaction():
            assert version_read(loop_conn) is None
        worked = work_out(store, _add_one)
        worked.read_before(None)  # the snapshot's own version stays
        assert worked.unchanged()
        failed: WorkedOut[int] = WorkedOut(SnapshotTransaction("sqlite", store.connection), [])
        failed.read_before(version_read(loop_conn))  # nothing worked out: nothing to skip
        assert failed.version is None
        assert not failed.unchanged()
        read = version_read(loop_conn)
        assert read is not None
        with ThreadPoolExecutor(1) as pool:
            worked = work_out(store, _add_one)
            worked.read_before(read)
            assert not pool.submit(worked.unchanged).result()  # asked on another thread


@pytest.mark.parametrize(("holds", "path"), [(True, "snapshot"), (False, "changed")])
def test_a_recorded_check_stands_for_reads_under_the_lock(
    tmp_path: Path, holds: bool, path: str
) -> None:
    """A check recorded on the snapshot (``SnapshotTransaction.check``) is run under the lock
    with the reads: when it fails there, the work is done again; a check after a write of the
    same work is refused."""
    asked: list[Transaction] = []

    def work(tx: Transaction) -> int:
        if isinstance(tx, SnapshotTransaction):
            tx.check(lambda under: asked.append(under) is None and holds)
        return _add_one(tx)

    with _counter_store(tmp_path / "s.db") as store:
        worked = work_out(store, work)
        assert worked.done
        worked.version = None  # not skipped by the snapshot's version: the check runs
        with store.transaction() as tx:
            assert apply_worked_out(tx, work, worked)[1] == path
        assert len(asked) == 1
        assert _value(store) == 2
    snapshot = SnapshotTransaction("sqlite", None)
    snapshot.execute("UPDATE c SET v = 2")
    with pytest.raises(NotOnSnapshotError, match="after a write"):
        snapshot.check(lambda under: True)
