"""``roamlike.service.state_rows`` reads and writes the state store's rows exactly as the state
store's own frame functions do, on SQLite and on a real PostgreSQL server.

Random counters (a few subscribers, plans, periods; counters up to 2^62, flags, missing last
events) are saved one way and loaded both ways, also after a compaction folded part of them
into the base tables and newer rows were logged over them; saved both ways, readers see the
same rows; day rows added twice (a day seen again adds up) give the same days either way. The
same holds for the counters read and written as the reference rater's plain states
(``load_states_rows``, ``save_states_rows``: the small groups' path).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roamlike.counters import PERIOD_SCHEMA, SUBSCRIBER_SCHEMA, Counters
from roamlike.reference import CounterStates
from roamlike.service.day_rows import SCHEMA as DAY_SCHEMA
from roamlike.service.state_rows import (
    json_readable,
    load_counters_json,
    load_counters_rows,
    load_states_rows,
    save_counters_rows,
    save_day_rows,
    save_states_rows,
    usable,
)
from roamlike.state import Store, migrate, open_store
from roamlike.state.counters import load_counters, save_counters
from roamlike.state.days import save_days
from roamlike.state.log import compact

_IDS = st.sampled_from(["s1", "s2", "s 3", "é\"'", "s5"])
_COUNT = st.integers(0, 2**62)
_DAY = st.dates(dt.date(2025, 12, 1), dt.date(2026, 3, 1))


@st.composite
def counters(draw: st.DrawFn) -> Counters:
    keys = draw(
        st.lists(st.tuples(_IDS, st.sampled_from(["p", "q"]), _DAY), max_size=8, unique=True)
    )
    periods = [
        (s, p, d, *draw(st.tuples(*[_COUNT] * 5)), *draw(st.tuples(*[st.booleans()] * 4)))
        for s, p, d in keys
    ]
    subscribers = [
        (
            s,
            draw(st.sampled_from([None, "FR", "ME"])),
            draw(
                st.none()
                | st.datetimes(dt.datetime(1969, 12, 31), dt.datetime(2027, 1, 1)).map(
                    lambda t: t.replace(tzinfo=dt.UTC)
                )
            ),
            draw(st.none() | st.sampled_from(["r1", "r 2"])),
        )
        for s in draw(st.lists(_IDS, max_size=5, unique=True))
    ]
    return Counters(
        periods=pl.DataFrame(periods, schema=PERIOD_SCHEMA, orient="row"),
        subscribers=pl.DataFrame(subscribers, schema=SUBSCRIBER_SCHEMA, orient="row"),
    )


_TABLES = ("state_periods", "state_subscribers", "state_days")


def _tables(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    """What readers see: base tables and logs merged (the ``*_now`` views)."""
    with store.transaction() as tx:
        return {t: sorted(tx.execute(f"SELECT * FROM {t}_now"), key=repr) for t in _TABLES}


def _sorted(c: Counters) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return (
        c.periods.sort("subscriber_id", "plan_id", "period_start").to_dicts(),
        c.subscribers.sort("subscriber_id").to_dicts(),
    )


def _empty(store: Store) -> None:
    with store.transaction() as tx:
        for table in (*_TABLES, *(f"{t}_log" for t in _TABLES), "state_log_seq"):
            tx.execute(f"DELETE FROM {table}")


day_rows = st.lists(
    st.tuples(
        st.just("t"),  # one tenant per write, as the service writes
        _IDS,
        _DAY.map(dt.date.isoformat),
        st.sampled_from(["DE", "RS"]),
        *[st.integers(0, 2**40)] * 4,
        st.sampled_from(["", "eu_rlah", "wb_rla"]),
        *[st.integers(0, 2**40)] * 4,
    ),
    max_size=6,
    unique_by=lambda r: r[:3],
)


@pytest.fixture
def stores(store_url: str, tmp_path: Any) -> Any:
    """The store under test written by the frame functions, and a SQLite file written by the
    plain rows (PostgreSQL: the same database, the two ways taking turns)."""
    with open_store(store_url) as frames:
        migrate(frames)
        if store_url.startswith("postgresql"):
            yield frames, frames
            return
        with open_store(str(tmp_path / "rows.db")) as rows:
            migrate(rows)
            yield frames, rows


def test_the_plain_rows_follow_the_registered_state_schema() -> None:
    assert usable()


def _save_states(tx: Any, counters: Counters, tenant: str) -> None:
    save_states_rows(tx, CounterStates.from_counters(counters), tenant)


@pytest.mark.parametrize("way", ["rows", "states"])
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(older=counters(), middle=counters(), stored=counters(), days=day_rows, again=day_rows)
def test_counters_and_days_as_plain_rows_equal_the_state_stores_frames(
    way: str,
    stores: tuple[Store, Store],
    older: Counters,
    middle: Counters,
    stored: Counters,
    days: list[tuple[Any, ...]],
    again: list[tuple[Any, ...]],
) -> None:
    frames, rows = stores
    _empty(frames)
    _empty(rows)
    if way == "states":  # what the states hold: a last record id only with its time
        older, middle, stored = (
            CounterStates.from_counters(c).to_counters() for c in (older, middle, stored)
        )
    current = older.merge(middle).merge(stored)
    wanted = sorted({*current.periods["subscriber_id"], *current.subscribers["subscriber_id"]})
    with frames.transaction() as tx:
        save_counters(tx, older, "t")
        compact(tx, "t")  # base rows, replaced by the log rows of the newer counters
        save_counters(tx, middle, "t")
        save_counters(tx, stored, "t")  # a key's latest log row wins
        save_counters(tx, stored, "other")  # another tenant's rows are never read
        for batch in (days, again):
            save_days(tx, pl.DataFrame(batch, schema=DAY_SCHEMA, orient="row"))
        by_frames = load_counters(tx, pl.Series([*wanted, "nobody"], dtype=pl.String), "t")
        by_rows = load_counters_rows(tx, [*wanted, "nobody"], "t")
        by_states = load_states_rows(tx, [*wanted, "nobody"], "t")
        if json_readable(tx, "t"):  # SQLite: the large groups' load, in the same order
            by_json = load_counters_json(tx, [*wanted, "nobody"], "t")
            assert by_json.periods.equals(by_frames.periods)
            assert by_json.subscribers.equals(by_frames.subscribers)
            assert by_json.periods.schema == by_frames.periods.schema == PERIOD_SCHEMA
            assert by_json.subscribers.schema == by_frames.subscribers.schema
    assert _sorted(by_rows) == _sorted(by_frames) == _sorted(current)
    assert by_states == CounterStates.from_counters(current)
    assert by_rows.periods.schema == by_frames.periods.schema
    assert by_rows.subscribers.schema == by_frames.subscribers.schema
    expected = _tables(frames)
    if rows is frames:
        _empty(rows)
    save = save_counters_rows if way == "rows" else _save_states
    with rows.transaction() as tx:
        save(tx, older, "t")
        compact(tx, "t")
        save(tx, middle, "t")
        save(tx, stored, "t")
        save(tx, stored, "other")
        for batch in (days, again):
            save_day_rows(tx, batch)
    assert _tables(rows) == expected


def test_subscribers_with_nothing_stored_load_as_empty_counters(
    stores: tuple[Store, Store],
) -> None:
    """New subscribers (no stored row: the frames are cut from empty templates) load as the
    state store's own load gives them, and a later load with rows is not affected."""
    frames, _ = stores
    _empty(frames)
    with frames.transaction() as tx:
        by_rows = load_counters_rows(tx, ["new-1", "new-2"], "t")
        by_frames = load_counters(tx, pl.Series(["new-1", "new-2"], dtype=pl.String), "t")
        assert by_rows.periods.height == by_rows.subscribers.height == 0
        assert by_rows.periods.schema == by_frames.periods.schema == PERIOD_SCHEMA
        assert by_rows.subscribers.schema == by_frames.subscribers.schema == SUBSCRIBER_SCHEMA
        stored = Counters(
            periods=pl.DataFrame(
                [("new-1", "p", dt.date(2026, 1, 1), 1, 2, 3, 4, 5, True, False, False, True)],
                schema=PERIOD_SCHEMA,
                orient="row",
            ),
            subscribers=Counters.empty().subscribers,
        )
        save_counters(tx, stored, "t")
        again = load_counters_rows(tx, ["new-1"], "t")
    assert _sorted(again) == _sorted(stored)
    assert by_rows.periods.height == 0
