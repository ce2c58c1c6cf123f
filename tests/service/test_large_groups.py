"""A large commit group worked out on a snapshot stands only if its subscribers' counters did
not change (``roamlike.service.large_groups``): a write of one of them or a prune committed
meanwhile sends it to be done again under the lock, with the result of running the groups in
turn, and so does a write of one of them whose log rows a compaction or a slice folded before
the check; a write of other subscribers, or a compaction or slice of the rows the snapshot
read, does not. Its counters are written as the state store writes them."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import msgspec
import polars as pl
import pytest

from roamlike.counters import Counters
from roamlike.law import default_catalog
from roamlike.reference import CounterStates
from roamlike.service import events, large_groups, written_states
from roamlike.service.counters_cache import CountersCache
from roamlike.service.events import (
    PLAIN_ROWS_MAX,
    Submission,
    commit_group,
    commit_group_in_turn,
    commit_prepared,
    prepare_group,
)
from roamlike.service.group_rating import SMALL_GROUP_MAX, rate_group
from roamlike.service.schemas import EventRecord
from roamlike.service.snapshot import SnapshotTransaction, no_lock, work_out
from roamlike.service.tenants import add_tenant, plan_versions, put_plans
from roamlike.state import Store, Transaction, migrate, open_store
from roamlike.state.counters import load_counters, save_counters
from roamlike.state.log import compact_store, lock_tenant
from roamlike.state.packs import append_pack
from roamlike.state.slices import compact_slice, last_seq
from roamlike.synth.generator import generate
from roamlike.tariffs import FxTable

CATALOG = default_catalog()
FX = FxTable()
SYNTH = generate(10, seed=7)
PLAN = next(p for p in SYNTH.plans if p["home_country"] == "DE")
_LOOP = asyncio.new_event_loop()


def _store(path: Path) -> tuple[Store, str]:
    store = open_store(str(path))
    migrate(store)
    tenant, _ = add_tenant(store, "acme")
    plans = json.dumps({"plans": SYNTH.plans}, default=str)
    put_plans(store, tenant.tenant_id, plans, "json", "2017-01-01T00:00:00.000000+00:00")
    return store, tenant.tenant_id


def _record(rid: str, subscriber: str, second: int) -> EventRecord:
    return EventRecord(
        record_id=rid,
        subscriber_id=subscriber,
        plan_id=PLAN["id"],
        event_type="data",
        started_at=f"2026-01-05T10:{second // 60:02d}:{second % 60:02d}Z",
        utc_offset_min=60,
        home_country="DE",
        visited_country="FR",
        volume_bytes=700_000_000,
    )


#: Large groups of each rater: counters read as plain states for the reference rater (up to
#: SMALL_GROUP_MAX records), as frames for the engine.
SIZES = [PLAIN_ROWS_MAX + 5, SMALL_GROUP_MAX + 5]


def _big(store: Store, tenant: str, tag: str, size: int = PLAIN_ROWS_MAX + 5) -> list[Submission]:
    records = [_record(f"{tag}{i}", f"s{i}", 60 + i) for i in range(size)]
    return [Submission(tenant, plan_versions(store, tenant), records, _LOOP.create_future())]


def _one(store: Store, tenant: str, rid: str, subscriber: str) -> list[Submission]:
    rec = _record(rid, subscriber, 1)
    return [Submission(tenant, plan_versions(store, tenant), [rec], _LOOP.create_future())]


def _seen(store: Store) -> list[tuple[object, ...]]:
    """What readers see of the counters and days, without the tenant's id."""
    with store.transaction() as tx:
        rows = (
            tx.execute("SELECT * FROM state_periods_now")
            + tx.execute("SELECT * FROM state_subscribers_now")
            + tx.execute("SELECT * FROM state_days_now")
        )
    return sorted((r[1:] for r in rows), key=repr)


def _meanwhile(tmp_path: Path, change: str, size: int) -> tuple[str, bool]:
    """Work out a large group on a snapshot, let ``change`` commit, then commit the group.

    Returns the path the commit took and whether the store ends as if the change, then the
    group, had run in turn."""
    store, tenant = _store(tmp_path / "a.db")
    sequential, other = _store(tmp_path / "b.db")
    same_as_run = True
    with store, sequential, open_store(str(tmp_path / "a.db"), create=False) as preparer:
        for target, name in ((store, tenant), (sequential, other)):
            commit_group(target, _one(target, name, "older", "t9"), FX, CATALOG)
            commit_group(target, _one(target, name, "first", "s3"), FX, CATALOG)
        if change.startswith("same subscriber, then"):  # none of them has log rows
            assert compact_store(store, tenant)
        big = _big(store, tenant, "r", size)
        worked = prepare_group(preparer, big, FX, CATALOG, {})
        assert worked is not None
        assert worked.done
        if change == "same subscriber":
            commit_group(store, _one(store, tenant, "x", "s7"), FX, CATALOG)
            commit_group(sequential, _one(sequential, other, "x", "s7"), FX, CATALOG)
        elif change == "other subscriber":
            commit_group(store, _one(store, tenant, "x", "t7"), FX, CATALOG)
            commit_group(sequential, _one(sequential, other, "x", "t7"), FX, CATALOG)
        elif change == "compaction":
            assert compact_store(store, tenant)
        elif change.startswith("same subscriber, then"):  # a write whose log rows are folded
            commit_group(store, _one(store, tenant, "x", "s7"), FX, CATALOG)
            commit_group(sequential, _one(sequential, other, "x", "s7"), FX, CATALOG)
            if change.endswith("compaction"):
                assert compact_store(store, tenant)
            else:  # a pass that started after the write
                assert _slice(store, tenant, None) is None
        elif change == "slice of older rows":  # a pass bound before the snapshot: t9's rows
            assert _slice(store, tenant, 3) is None
        elif change == "slice of the rows read":  # a pass bound at the snapshot's last seq
            assert _slice(store, tenant, None) is None
        elif change == "packed write":  # a subscriber's row as a pack (state.packs)
            with store.transaction() as tx:
                lock_tenant(tx, tenant)
                row = {"tenant": tenant, "subscriber_id": "s7", "last_visited_country": "AT",
                       "last_started_at_us": 1, "last_record_id": "x"}  # fmt: skip
                append_pack(tx, "state_subscribers", pl.DataFrame([row]))
            same_as_run = False
        elif change == "prune":
            with store.transaction() as tx:
                tx.execute(
                    "INSERT INTO state_pruned (tenant, before_day, pruned_at) VALUES (?, ?, ?)",
                    (tenant, "2025-01-01", "2026-01-01T00:00:00Z"),
                )
        elif change == "state store's write of another subscriber":  # as rate --state writes
            for target, name in ((store, tenant), (sequential, other)):
                with target.transaction() as tx:
                    lock_tenant(tx, name)
                    counters = load_counters(tx, pl.Series(["t9"]), name)
                    save_counters(tx, counters, name)
        outcomes, rated, rejected, path = commit_prepared(
            store, no_lock, big, worked, FX, CATALOG, {}
        )
        assert (rated, rejected) == (size, 0)
        if not same_as_run:  # a write the sequential store cannot replay: the path alone
            return path, True
        mine = _big(sequential, other, "r", size)
        expected, _, _ = commit_group(sequential, mine, FX, CATALOG)
        return path, outcomes == expected and _seen(store) == _seen(sequential)


def _slice(store: Store, tenant: str, through: int | None) -> str | None:
    """Fold the first slice (of every subscriber) of a pass bound at ``through`` (None: the
    last seq now); its last subscriber."""
    with store.transaction() as tx:
        lock_tenant(tx, tenant)
        bound = last_seq(tx, tenant) if through is None else through
        return compact_slice(tx, tenant, bound, "", 10**6).last


@pytest.mark.parametrize(
    ("change", "path"),
    [
        ("same subscriber", "changed"),
        ("other subscriber", "snapshot"),
        ("compaction", "snapshot"),  # of the rows the snapshot read: nothing changed
        ("slice of the rows read", "snapshot"),
        ("prune", "changed"),
        ("packed write", "changed"),
        ("same subscriber, then a slice", "changed"),
        ("same subscriber, then compaction", "changed"),
        ("slice of older rows", "snapshot"),
        ("state store's write of another subscriber", "changed"),  # not named: unknown
    ],
)
@pytest.mark.parametrize("size", SIZES)
def test_a_change_committed_meanwhile_is_seen_by_the_check(
    tmp_path: Path, change: str, path: str, size: int
) -> None:
    taken, same = _meanwhile(tmp_path, change, size)
    assert taken == path
    assert same


def test_without_the_known_state_schema_a_large_group_is_committed_under_the_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store, tenant = _store(tmp_path / "a.db")
    with store:
        big = _big(store, tenant, "r")
        monkeypatch.setattr(events, "_PLAIN_ROWS", False)
        assert prepare_group(store, big, FX, CATALOG, {}) is None
        outcomes, rated, _, path = commit_prepared(store, no_lock, big, None, FX, CATALOG, {})
        assert (rated, path) == (PLAIN_ROWS_MAX + 5, "locked")
        assert all(b'"rated":[{' in o for o in outcomes if isinstance(o, bytes))


def test_counter_rows_are_written_as_the_state_store_writes_counters(tmp_path: Path) -> None:
    records = [
        msgspec.structs.replace(_record(f"r{i}", f"s{i % 7}", i), plan_id=p["id"])
        for i, p in enumerate(SYNTH.plans * 3)
        if p["home_country"] == "DE"
    ]
    store, tenant = _store(tmp_path / "plans.db")
    with store:
        plans = plan_versions(store, tenant)[0].plans
    counters = rate_group(records, plans, FX, CATALOG, Counters.empty(), small_group_max=0).counters
    assert counters.periods.height > 1
    logs = []
    for name, write in (
        ("a.db", lambda tx: save_counters(tx, counters, "t")),
        ("b.db", large_groups.counters_writer(counters, "t")),
        # the per-record raters' plain states (a large group the memoised rater rated)
        ("c.db", large_groups.counters_writer(CounterStates.from_counters(counters), "t")),
    ):
        with open_store(str(tmp_path / name)) as store:
            migrate(store)
            with store.transaction() as tx:
                write(tx)
                logs.append(
                    tx.execute("SELECT * FROM state_periods_log ORDER BY 1, 2, 3, 4, 5")
                    + tx.execute("SELECT * FROM state_subscribers_log ORDER BY 1, 2, 3")
                )
    assert logs[0] == logs[1] == logs[2]
    assert logs[0]


@pytest.mark.parametrize("size", SIZES)
def test_a_large_groups_counters_read_as_states_or_frames_are_the_same(
    tmp_path: Path, size: int
) -> None:
    store, tenant = _store(tmp_path / "a.db")
    with store:
        commit_group(store, _big(store, tenant, "first", size), FX, CATALOG)
        ids = {f"s{i}" for i in range(size + 40)}  # stored ones and new ones
        read = []
        for states in (True, False):
            worked = work_out(
                store, lambda tx, s=states: large_groups.load_checked(tx, ids, tenant, states=s)
            )
            read.append((worked.done[0], worked.snapshot.reads))
        (as_states, checked), (as_frames, checked_too) = read
        assert isinstance(as_states, CounterStates)
        assert isinstance(as_frames, Counters)
        assert as_states == CounterStates.from_counters(as_frames)
        assert len(as_states.subscribers) == size
        assert checked == checked_too  # the same check recorded, not the counters' rows


@pytest.mark.parametrize(
    "history",
    ["nothing", "writes", "compaction", "slice", "writes after a slice", "pack", "prune"],
)
def test_the_check_holds_on_the_snapshot_itself(tmp_path: Path, history: str) -> None:
    """The check recorded in place of the counters' rows (the prune read, and the written keys
    since the snapshot's last seq) holds when run on the snapshot itself and under the lock
    with nothing committed since, whatever the store's history."""
    store, tenant = _store(tmp_path / "a.db")
    with store:
        if history != "nothing":
            commit_group(store, _big(store, tenant, "first"), FX, CATALOG)
            commit_group(store, _one(store, tenant, "x", "s3"), FX, CATALOG)
        if history == "compaction":
            assert compact_store(store, tenant)
        elif history in ("slice", "writes after a slice"):
            assert _slice(store, tenant, 3) is None
            if history == "writes after a slice":
                commit_group(store, _one(store, tenant, "y", "s4"), FX, CATALOG)
        elif history == "pack":
            with store.transaction() as tx:
                lock_tenant(tx, tenant)
                row = {"tenant": tenant, "subscriber_id": "s7", "last_visited_country": "AT",
                       "last_started_at_us": 1, "last_record_id": "x"}  # fmt: skip
                append_pack(tx, "state_subscribers", pl.DataFrame([row]))
        elif history == "prune":
            with store.transaction() as tx:
                tx.execute(
                    "INSERT INTO state_pruned (tenant, before_day, pruned_at) VALUES (?, ?, ?)",
                    (tenant, "2025-01-01", "2026-01-01T00:00:00Z"),
                )
        ids = [f"s{i}" for i in range(PLAIN_ROWS_MAX + 450)]
        held: list[bool] = []

        def check(tx: Transaction) -> None:
            assert isinstance(tx, SnapshotTransaction)
            large_groups.record_check(tx, ids, tenant)
            plain = Transaction(tx.dialect, tx.connection)  # the same snapshot, not recorded
            held.append(tx.still_valid(plain))

        worked = work_out(store, check)
        assert worked.done
        assert held == [True]
        assert len(worked.snapshot.reads) == 1  # the prune
        assert len(worked.snapshot.checks) == 1  # the written keys
        # under the lock with nothing committed since: the same rows
        with store.transaction() as tx:
            assert worked.snapshot.still_valid(tx)


def test_a_large_group_leaves_its_counters_for_the_other_processs_cache(tmp_path: Path) -> None:
    """Two processes (two connections, two caches): the second takes the subscribers of the
    first's large group from the counters it left, without reading them, and answers and
    writes exactly what a run without caches does."""
    store, tenant = _store(tmp_path / "a.db")
    plain, other = _store(tmp_path / "b.db")
    one, two = CountersCache(), CountersCache()
    size = PLAIN_ROWS_MAX + 5
    with store, plain, open_store(str(tmp_path / "a.db"), create=False) as second:
        for target, name in ((store, tenant), (plain, other)):
            commit_group(target, _one(target, name, "older", "s3"), FX, CATALOG)
        # the second process's cache brought to here by a large group of other subscribers
        for target, name, cache in ((second, tenant, two), (plain, other, None)):
            records = [_record(f"u{i}", f"u{i}", 60 + i) for i in range(size)]
            group = [Submission(name, plan_versions(target, name), records, _LOOP.create_future())]
            commit_group_in_turn(target, no_lock, group, FX, CATALOG, None, cache)
        commit_group_in_turn(store, no_lock, _big(store, tenant, "a", size), FX, CATALOG, None, one)
        commit_group(plain, _big(plain, other, "a", size), FX, CATALOG)
        with store.transaction() as tx:
            assert len(tx.execute(f"SELECT * FROM {written_states.TABLE}")) == 2
        hits, misses = two.hits, two.misses
        got = commit_group_in_turn(
            second, no_lock, _big(second, tenant, "b", size), FX, CATALOG, None, two
        )
        expected = commit_group(plain, _big(plain, other, "b", size), FX, CATALOG)
        assert (two.hits - hits, two.misses - misses, two.shared) == (size, 0, 1)
        assert got[:3] == expected
        assert _seen(store) == _seen(plain)
