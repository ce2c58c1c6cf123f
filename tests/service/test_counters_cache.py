"""The counters kept between groups (``roamlike.service.counters_cache``) equal a fresh read.

Two processes (two caches, two connections to one SQLite file) take turns at random with the
other writers of the store: each process works a group out on a snapshot (its counters taken
from its cache, the others read), commits it under the lock (its writes framed by the written
keys' row, the group done again there when a write of its subscribers came in between) and
keeps what it wrote only once its commit returned, possibly after the other process already
moved on; ``roamlike rate --state``'s writes (no row), compaction slices, whole compactions,
packed writes, prunes and rolled-back commits come in between. Most groups also leave the
counters they wrote for the other process (``roamlike.service.written_states``), which brings
its entries forward to them; old ones are deleted. Every time, what a process takes is what
the store's read on its snapshot gives, row for row and in the same order.
"""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path
from typing import Any

import msgspec
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roamlike.reference import CounterStates
from roamlike.reference.history import FLAG_OF_KIND, PeriodState, SubscriberState
from roamlike.service import written_keys, written_states
from roamlike.service.counters_cache import CountersCache
from roamlike.service.runtime import reading
from roamlike.service.state_rows import load_states_rows, save_states_rows
from roamlike.state import Store, migrate, open_store
from roamlike.state.log import compact_store, lock_tenant
from roamlike.state.packs import append_pack
from roamlike.state.prune import prune
from roamlike.state.slices import compact_slice, last_seq

TENANT = "t1"
_SUBS = [f"s{i}" for i in range(4)]
_STARTS = [dt.date(2025, 11, 1), dt.date(2026, 1, 1), dt.date(2026, 2, 1)]
_COUNT = st.integers(0, 2**40)


@st.composite
def _states(draw: st.DrawFn, subscribers: list[str] | None = None) -> CounterStates:
    """Counters of some of ``subscribers`` (all of them by default)."""
    pool = _SUBS if subscribers is None else subscribers
    keys = draw(
        st.lists(
            st.tuples(st.sampled_from(pool), st.sampled_from(["p", "q"]), st.sampled_from(_STARTS)),
            min_size=1,
            max_size=6,
            unique=True,
        )
    )
    periods = {
        key: PeriodState(
            {"voice": draw(_COUNT), "sms": draw(_COUNT), "data": draw(_COUNT)},
            draw(_COUNT),
            draw(_COUNT),
            set(draw(st.sets(st.sampled_from(sorted(FLAG_OF_KIND))))),
        )
        for key in keys
    }
    subs = {
        sid: SubscriberState(
            draw(st.sampled_from([None, "FR", "ME"])),
            draw(
                st.none()
                | st.tuples(
                    st.datetimes(dt.datetime(2025, 1, 1), dt.datetime(2027, 1, 1)).map(
                        lambda t: t.replace(tzinfo=dt.UTC)
                    ),
                    st.sampled_from(["r1", "r2"]),
                )
            ),
        )
        for sid in draw(st.lists(st.sampled_from(pool), min_size=1, max_size=3, unique=True))
    }
    return CounterStates(dict(sorted(periods.items())), dict(sorted(subs.items())))


def _written(states: CounterStates) -> set[str]:
    return {k[0] for k in states.periods} | set(states.subscribers)


def _same(got: CounterStates, fresh: CounterStates) -> None:
    assert list(got.periods.items()) == list(fresh.periods.items())
    assert list(got.subscribers.items()) == list(fresh.subscribers.items())


class _Process:
    """One service process: its cache, its connection, its group in flight."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.cache = CountersCache(max_subscribers=3)  # fewer than the subscribers: evictions
        self.prepared: tuple[int, list[str], CounterStates, list[Any]] | None = None
        self.unconfirmed: list[int] = []

    def prepare(self, ids: list[str]) -> None:
        with reading(self.store) as tx:
            seq = written_keys.last_seq(tx, TENANT)
            got = self.cache.load(
                tx, ids, TENANT, seq, lambda missing: load_states_rows(tx, missing, TENANT)
            )
            _same(got, load_states_rows(tx, ids, TENANT))
            pruned = tx.execute("SELECT * FROM state_pruned WHERE tenant = ?", (TENANT,))
        self.prepared = (seq, ids, got, pruned)

    def commit(self, token: int, wrote: CounterStates, fail: bool) -> None:
        assert self.prepared is not None
        seq, ids, got, pruned = self.prepared
        self.prepared = None
        after = CounterStates(
            {k: v for k, v in wrote.periods.items() if k[0] in ids},
            {k: v for k, v in wrote.subscribers.items() if k in ids},
        )
        if not after.periods and not after.subscribers:  # a group writes its subscribers
            after.subscribers[ids[0]] = SubscriberState(f"X{token % 7}")
        try:
            with self.store.transaction() as tx:
                still = written_keys.untouched(tx, TENANT, seq, ids) and pruned == tx.execute(
                    "SELECT * FROM state_pruned WHERE tenant = ?", (TENANT,)
                )
                loaded = got if still else load_states_rows(tx, ids, TENANT)
                cache = self.cache
                built = None
                if token % 3:  # most groups leave their counters for the other process
                    blob, built = written_states.leave(ids, loaded, after)
                mark = written_keys.Mark(
                    TENANT, lambda last: cache.stage(token, TENANT, last, ids, loaded, after, built)
                )
                mark.begin(tx)
                save_states_rows(tx, after, TENANT)
                mark.wrote(_written(after))
                if built is not None:
                    mark.share(blob)
                mark.end(tx)
                if fail:
                    raise RuntimeError("the commit fails")
        except RuntimeError:
            self.cache.discard(token)
            return
        self.unconfirmed.append(token)

    def confirm(self) -> None:
        self.cache.committed(self.unconfirmed.pop(0))


_IDS = st.lists(st.sampled_from(_SUBS), min_size=1)
_STEP = st.one_of(
    st.tuples(st.just("group"), st.integers(0, 1), _IDS, _states()),
    st.tuples(st.just("group"), st.integers(0, 1), _IDS, _states()),
    st.tuples(st.just("group kept later"), st.integers(0, 1), _IDS, _states()),
    st.tuples(st.just("prepare"), st.integers(0, 1), _IDS),
    st.tuples(st.just("commit"), st.integers(0, 1), _states(), st.booleans()),
    st.tuples(st.just("confirm"), st.integers(0, 1)),
    st.tuples(st.just("rate --state"), _states()),
    st.tuples(st.just("slice"), st.sampled_from(["", "s3"])),
    st.tuples(st.just("compaction")),
    st.tuples(st.just("pack"), st.sampled_from(_SUBS)),
    st.tuples(st.just("prune")),
)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(_STEP, min_size=1, max_size=30))
def test_what_a_process_takes_equals_the_stores_read(
    tmp_path_factory: pytest.TempPathFactory,
    monkeypatch: pytest.MonkeyPatch,
    steps: list[tuple[Any, ...]],
) -> None:
    # the stored counters of old groups deleted within a run: spans named, their states gone
    monkeypatch.setattr(written_states, "KEEP_SEQS", 6)
    monkeypatch.setattr(written_states, "PRUNE_EVERY", 2)
    path = tmp_path_factory.mktemp("cache") / "state.db"
    with open_store(str(path)) as store:
        migrate(store)
    tokens = itertools.count(1)
    prunes = iter(dt.date(2026, 1, 10) + dt.timedelta(days=40 * i) for i in itertools.count())
    with (
        open_store(str(path), create=False) as one,
        open_store(str(path), create=False) as two,
        open_store(str(path), create=False) as other,
    ):
        processes = [_Process(one), _Process(two)]
        for step in steps:
            kind = step[0]
            if kind.startswith("group") and processes[step[1]].prepared is None:
                process = processes[step[1]]
                process.prepare(sorted(set(step[2])))
                process.commit(next(tokens), step[3], False)
                if kind == "group":
                    process.confirm()
            elif kind == "prepare" and processes[step[1]].prepared is None:
                processes[step[1]].prepare(sorted(set(step[2])))
            elif kind == "commit" and processes[step[1]].prepared is not None:
                processes[step[1]].commit(next(tokens), step[2], step[3])
            elif kind == "confirm" and processes[step[1]].unconfirmed:
                processes[step[1]].confirm()
            elif kind == "rate --state":
                with other.transaction() as tx:
                    lock_tenant(tx, TENANT)
                    save_states_rows(tx, step[1], TENANT)
            elif kind == "slice":
                with other.transaction() as tx:
                    lock_tenant(tx, TENANT)
                    compact_slice(tx, TENANT, last_seq(tx, TENANT), step[1], 3)
            elif kind == "compaction":
                compact_store(other, TENANT)
            elif kind == "pack":
                row = {"tenant": TENANT, "subscriber_id": step[1], "last_visited_country": "AT",
                       "last_started_at_us": 1, "last_record_id": "x"}  # fmt: skip
                with other.transaction() as tx:
                    lock_tenant(tx, TENANT)
                    append_pack(tx, "state_subscribers", pl.DataFrame([row]))
            elif kind == "prune":
                with other.transaction() as tx:
                    prune(tx, next(prunes), TENANT)
        for process in processes:  # at the end, every subscriber
            while process.unconfirmed:
                process.confirm()
            process.prepared = None
            process.prepare(_SUBS)
            assert len(process.cache) <= process.cache.max_subscribers


def _kept(store: Store, states: CounterStates) -> _Process:
    """A process that committed ``states`` of ``s1`` and kept them."""
    migrate(store)
    process = _Process(store)
    process.prepare(["s1"])
    process.commit(1, states, fail=False)
    process.confirm()
    return process


def _write(store: Store, states: CounterStates) -> None:
    with store.transaction() as tx:
        mark = written_keys.Mark(TENANT)
        mark.begin(tx)
        save_states_rows(tx, states, TENANT)
        mark.wrote(_written(states))
        mark.end(tx)


def test_entries_written_by_the_process_are_taken_and_others_read(tmp_path: Path) -> None:
    """A group takes from the cache the subscribers the process wrote last (counted as hits)
    and reads those another process wrote since (misses)."""
    with open_store(str(tmp_path / "s.db")) as store:
        migrate(store)
        process = _Process(store)
        first = CounterStates(
            {("s1", "p", _STARTS[0]): PeriodState(), ("s2", "p", _STARTS[0]): PeriodState()},
            {"s1": SubscriberState("FR"), "s2": SubscriberState("ME")},
        )
        process.prepare(["s1", "s2"])
        process.commit(1, first, fail=False)
        process.confirm()
        hits, misses = process.cache.hits, process.cache.misses
        process.prepare(["s1", "s2"])
        assert (process.cache.hits - hits, process.cache.misses - misses) == (2, 0)
        process.prepared = None
        _write(store, CounterStates({}, {"s2": SubscriberState("AT")}))  # another process
        process.prepare(["s1", "s2"])
        assert (process.cache.hits - hits, process.cache.misses - misses) == (3, 1)
        assert process.prepared is not None
        assert process.prepared[2].subscribers["s2"] == SubscriberState("AT")


def test_a_rolled_back_commit_leaves_nothing_in_the_cache(tmp_path: Path) -> None:
    with open_store(str(tmp_path / "s.db")) as store:
        migrate(store)
        process = _Process(store)
        process.prepare(["s1"])
        process.commit(1, CounterStates({}, {"s1": SubscriberState("FR")}), fail=True)
        assert len(process.cache) == 0
        assert not process.unconfirmed
        process.prepare(["s1"])  # read: nothing stored
        assert process.prepared is not None
        assert process.prepared[2].subscribers == {}


def test_a_write_without_a_row_drops_what_is_kept(tmp_path: Path) -> None:
    """A write that no written keys' row covers (``roamlike rate --state``) may have changed
    any subscriber: every entry kept before it is dropped."""
    with open_store(str(tmp_path / "s.db")) as store:
        process = _kept(store, CounterStates({}, {"s1": SubscriberState("FR")}))
        assert len(process.cache) == 1
        with store.transaction() as tx:
            lock_tenant(tx, TENANT)
            save_states_rows(tx, CounterStates({}, {"s1": SubscriberState("ME")}), TENANT)
        process.prepare(["s1"])
        assert len(process.cache) == 0
        assert process.prepared is not None
        assert process.prepared[2].subscribers["s1"] == SubscriberState("ME")


def test_the_load_refuses_a_read_of_subscribers_it_did_not_ask_for(tmp_path: Path) -> None:
    with open_store(str(tmp_path / "s.db")) as store:
        process = _kept(store, CounterStates({("s1", "p", _STARTS[0]): PeriodState()}, {}))
        stray = CounterStates({("s9", "p", _STARTS[0]): PeriodState()}, {})
        with reading(store) as tx:
            seq = written_keys.last_seq(tx, TENANT)
            with pytest.raises(ValueError, match="s9"):
                process.cache.load(tx, ["s1", "s2"], TENANT, seq, lambda missing: stray)


def test_a_tenant_with_packed_writes_is_read_whole(tmp_path: Path) -> None:
    with open_store(str(tmp_path / "s.db")) as store:
        process = _kept(store, CounterStates({}, {"s1": SubscriberState("FR")}))
        row = {"tenant": TENANT, "subscriber_id": "s2", "last_visited_country": "AT",
               "last_started_at_us": 1, "last_record_id": "x"}  # fmt: skip
        with store.transaction() as tx:
            lock_tenant(tx, TENANT)
            append_pack(tx, "state_subscribers", pl.DataFrame([row]))
        misses = process.cache.misses
        process.prepare(["s1"])
        assert process.cache.misses == misses + 1
        assert len(process.cache) == 0


def test_a_commit_kept_after_the_cache_moved_on_is_checked_against_what_came_since(
    tmp_path: Path,
) -> None:
    """A process keeps a commit's counters only once it returned; meanwhile its next group may
    have brought the cache past a write of the same subscriber by another process: that
    entry is not kept."""
    with open_store(str(tmp_path / "s.db")) as one, open_store(str(tmp_path / "s.db")) as two:
        migrate(one)
        a, b = _Process(one), _Process(two)
        a.prepare(["s1"])
        a.commit(1, CounterStates({}, {"s1": SubscriberState("FR")}), fail=False)
        b.prepare(["s1"])
        b.commit(2, CounterStates({}, {"s1": SubscriberState("ME")}), fail=False)
        b.confirm()
        a.prepare(["s2"])  # brought past b's write, before a's first commit is kept
        a.commit(3, CounterStates({}, {"s2": SubscriberState("AT")}), fail=False)
        a.confirm()
        a.confirm()
        a.prepare(["s1", "s2"])  # s1 read again, s2 kept
        assert a.prepared is not None
        assert a.prepared[2].subscribers == {
            "s1": SubscriberState("ME"),
            "s2": SubscriberState("AT"),
        }


def test_a_group_of_another_process_brings_the_entries_forward(tmp_path: Path) -> None:
    """The subscribers another process's group read and wrote are taken from the counters it
    left (no read), equal to the store's; a group that left none has its subscribers read."""
    with open_store(str(tmp_path / "s.db")) as one, open_store(str(tmp_path / "s.db")) as two:
        migrate(one)
        a, b = _Process(one), _Process(two)
        b.prepare(["s1"])  # b's cache brought to the start
        b.prepared = None
        wrote = CounterStates(
            {
                ("s1", "p", _STARTS[0]): PeriodState(
                    {"voice": 1, "sms": 2, "data": 3}, 4, 5, {"billshock_80", "fup_exhausted"}
                )
            },
            {"s1": SubscriberState("FR", (dt.datetime(2026, 1, 2, 3, tzinfo=dt.UTC), "r7"))},
        )
        a.prepare(["s1", "s2"])
        a.commit(1, wrote, fail=False)  # token 1: shares its counters
        hits, misses = b.cache.hits, b.cache.misses
        b.prepare(["s1", "s2"])  # s2 read by a's group, not written: kept too
        assert (b.cache.hits - hits, b.cache.misses - misses, b.cache.shared) == (2, 0, 1)
        assert b.prepared is not None
        assert b.prepared[2].subscribers == wrote.subscribers
        b.prepared = None
        a.prepare(["s1"])
        a.commit(3, CounterStates({}, {"s1": SubscriberState("ME")}), fail=False)  # no share
        b.prepare(["s1", "s2"])
        assert (b.cache.hits - hits, b.cache.misses - misses, b.cache.shared) == (3, 1, 1)
        assert b.prepared[2].subscribers["s1"] == SubscriberState("ME")


def test_a_group_whose_stored_counters_were_deleted_drops_its_subscribers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(written_states, "KEEP_SEQS", 1)
    monkeypatch.setattr(written_states, "PRUNE_EVERY", 1)
    with open_store(str(tmp_path / "s.db")) as one, open_store(str(tmp_path / "s.db")) as two:
        migrate(one)
        a, b = _Process(one), _Process(two)
        b.prepare(["s1"])
        b.prepared = None
        a.prepare(["s1"])
        a.commit(1, CounterStates({}, {"s1": SubscriberState("FR")}), fail=False)
        a.confirm()
        a.prepare(["s2"])
        a.commit(2, CounterStates({}, {"s2": SubscriberState("ME")}), fail=False)  # deletes 1's
        with one.transaction() as tx:
            kept = tx.execute(f"SELECT last_seq FROM {written_states.TABLE}")
        assert [int(r[0]) for r in kept] == [2]  # one seq per group here
        misses = b.cache.misses
        b.prepare(["s1", "s2"])  # s1: named, its counters gone: read; s2: brought forward
        assert (b.cache.misses - misses, b.cache.shared) == (1, 1)


def test_counters_left_in_the_earlier_layout_are_read_from_the_store(tmp_path: Path) -> None:
    """A blob stored in the layout before round 19 (an array of ``[id, [subscriber row,
    [period row, ...]]]`` pairs, as an earlier version's process leaves it) brings nothing:
    the subscribers its group named are read, and equal the store's."""
    with open_store(str(tmp_path / "s.db")) as one, open_store(str(tmp_path / "s.db")) as two:
        migrate(one)
        a, b = _Process(one), _Process(two)
        b.prepare(["s1"])
        b.prepared = None
        wrote = CounterStates(
            {("s1", "p", _STARTS[1]): PeriodState({"voice": 1, "sms": 2, "data": 3}, 4, 5, set())},
            {"s1": SubscriberState("FR", (dt.datetime(2026, 1, 2, tzinfo=dt.UTC), "r7"))},
        )
        a.prepare(["s1", "s2"])
        a.commit(1, wrote, fail=False)  # token 1: shares its counters
        earlier = msgspec.msgpack.encode(
            [
                ["s1", [["FR", 1767312000000000, "r7"], [["p", 738521, 1, 2, 3, 4, 5, 0]]]],
                ["s2", [None, []]],
            ]
        )
        with one.transaction() as tx:
            assert tx.execute_count(f"UPDATE {written_states.TABLE} SET states = ?", (earlier,))
        assert written_states.pairs(earlier) == []
        hits, misses = b.cache.hits, b.cache.misses
        b.prepare(["s1", "s2"])  # the store's read, compared with it by prepare
        assert (b.cache.hits - hits, b.cache.misses - misses, b.cache.shared) == (0, 2, 0)
        assert b.prepared is not None
        assert b.prepared[2].subscribers == wrote.subscribers


def test_no_counters_are_left_while_the_tenant_has_packed_writes(tmp_path: Path) -> None:
    with open_store(str(tmp_path / "s.db")) as store:
        migrate(store)
        row = {"tenant": TENANT, "subscriber_id": "s2", "last_visited_country": "AT",
               "last_started_at_us": 1, "last_record_id": "x"}  # fmt: skip
        with store.transaction() as tx:
            lock_tenant(tx, TENANT)
            append_pack(tx, "state_subscribers", pl.DataFrame([row]))
        process = _Process(store)
        process.prepare(["s1"])
        process.commit(1, CounterStates({}, {"s1": SubscriberState("FR")}), fail=False)
        with store.transaction() as tx:
            assert tx.execute(f"SELECT * FROM {written_states.TABLE}") == []
            assert written_keys.changes(tx, TENANT, 1, 2)[0][2] == ["s1"]


def test_a_process_whose_groups_seldom_hit_stops_sharing_and_starts_again(
    tmp_path: Path,
) -> None:
    """The groups leave their counters only while the process's own groups take enough of
    their subscribers from its cache (``SHARE_MIN_REUSE``, a moving average over groups)."""
    with open_store(str(tmp_path / "s.db")) as store:
        migrate(store)
        process = _Process(store)
        assert process.cache.sharing(TENANT)  # not seen yet
        misses = 0
        while process.cache.sharing(TENANT):
            process.prepare(["s1"])  # never kept: every load a miss
            misses += 1
        assert misses == 14  # 0.8 ** 14 < 0.05 <= 0.8 ** 13
        process.prepare(["s1"])
        process.commit(1, CounterStates({}, {"s1": SubscriberState("FR")}), fail=False)
        process.confirm()
        for _ in range(2):
            process.prepare(["s1"])  # kept: hits
            process.prepared = None
        assert process.cache.sharing(TENANT)
        assert process.cache.sharing("another tenant")
