"""``roamlike.state.counters`` and ``roamlike.state.bulk``: counters, record ids and rows moved
set-based between frames and the store, on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import datetime as dt

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from roamlike.counters import PERIOD_SCHEMA, SUBSCRIBER_SCHEMA, Counters
from roamlike.state import migrate, open_store
from roamlike.state.bulk import (
    KEYS_TABLE_MIN,
    distinct_sorted,
    json_array,
    keys_table,
    select_for_keys,
)
from roamlike.state.counters import (
    LONGEST_PERIOD_DAYS,
    claim_record_ids,
    iso_date_text,
    known_record_ids,
    load_counters,
    local_dates,
    periods_since,
    save_counters,
)

BIG = 2**62  # COUNTER_MAX: the largest value a counter holds


def _counters(rows: list[tuple[str, str, dt.date, int]]) -> Counters:
    """Periods (subscriber, plan, start, voice seconds), every other counter 0 or False."""
    periods = pl.DataFrame(
        [(s, p, d, v, 0, 0, 0, 0, v >= BIG, False, False, False) for s, p, d, v in rows],
        schema=PERIOD_SCHEMA,
        orient="row",
    )
    subs = pl.DataFrame(
        [
            (s, "FR", dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC), f"r-{s}")
            for s in sorted({r[0] for r in rows})
        ],
        schema=SUBSCRIBER_SCHEMA,
        orient="row",
    )
    return Counters(periods=periods, subscribers=subs)


def test_counters_round_trip_exactly_and_only_periods_since_a_day(store_url: str) -> None:
    stored = _counters(
        [
            ("s1", "p", dt.date(2026, 1, 1), 10),
            ("s1", "p", dt.date(2026, 2, 1), 20),
            ("s1", "p", dt.date(2026, 3, 1), BIG),
            ("s2 é\"'", "p", dt.date(2026, 3, 1), 40),
            ("s3", "p", dt.date(2026, 3, 1), 50),
        ]
    )
    with open_store(store_url) as store:
        migrate(store)
        with store.transaction() as tx:
            save_counters(tx, stored, "t1")
            save_counters(tx, _counters([("s1", "p", dt.date(2026, 3, 1), 99)]), "t2")
        with store.transaction() as tx:
            wanted = pl.Series(["s1", "s2 é\"'", "nobody", None])
            every = load_counters(tx, wanted, "t1")
            recent = load_counters(tx, wanted, "t1", since=dt.date(2026, 2, 1))
            none = load_counters(tx, pl.Series(["nobody"]), "t1")
    expected = stored.periods.filter(pl.col("subscriber_id") != "s3")
    key = ["subscriber_id", "plan_id", "period_start"]
    assert every.periods.sort(key).equals(expected.sort(key))
    assert recent.periods.sort(key).equals(
        expected.filter(pl.col("period_start") >= dt.date(2026, 2, 1)).sort(key)
    )
    assert every.subscribers.equals(
        stored.subscribers.filter(pl.col("subscriber_id") != "s3").sort("subscriber_id")
    )
    assert none.periods.height == 0
    assert none.subscribers.height == 0


def test_rating_md_2_periods_since_leaves_out_no_period_a_record_can_touch() -> None:
    days = pl.Series([dt.date(2026, 3, 16), dt.date(2026, 3, 15)])
    assert periods_since(days) == dt.date(2026, 3, 15) - dt.timedelta(days=LONGEST_PERIOD_DAYS)
    anchor = dt.date(2025, 12, 9)
    for offset in range(400):
        day = dt.date(2026, 1, 1) + dt.timedelta(days=offset)
        since = periods_since(pl.Series([day]))
        assert since is not None
        assert day.replace(day=1) >= since  # calendar-month periods
        assert anchor + dt.timedelta(days=(day - anchor).days // 28 * 28) >= since  # 28-day
    assert periods_since(pl.Series([dt.date(2026, 3, 16), None])) is None
    assert periods_since(pl.Series([], dtype=pl.Date)) is None


def test_claim_record_ids_stores_them_and_returns_those_seen_before(store_url: str) -> None:
    with open_store(store_url) as store:
        migrate(store)
        with store.transaction() as tx:
            first = claim_record_ids(tx, pl.Series(["a", "b", "b", None]), "t")
            assert first.to_list() == []
            # another tenant's ids are not this tenant's
            assert claim_record_ids(tx, pl.Series(["a"]), "other").to_list() == []
        with store.transaction() as tx:
            again = claim_record_ids(tx, pl.Series(["c", "a", "d", "b"]), "t")
            assert sorted(again.to_list()) == ["a", "b"]
            stored = known_record_ids(tx, pl.Series(["a", "b", "c", "d", "e"]), "t")
            assert sorted(stored.to_list()) == ["a", "b", "c", "d"]
            assert claim_record_ids(tx, pl.Series([], dtype=pl.String), "t").to_list() == []


def test_select_for_keys_returns_columns_with_their_types(store_url: str) -> None:
    frame = pl.DataFrame(
        {
            "k": ["x", "y", "z'\"\\ü", "w"],
            "n": [1, None, BIG, -5],
            "s": ["a,b", None, "", "line\nbreak"],
        }
    )
    with open_store(store_url) as store, store.transaction() as tx:
        tx.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, n BIGINT, s TEXT)")
        tx.executemany("INSERT INTO kv (k, n, s) VALUES (?, ?, ?)", frame.iter_rows())
        got = select_for_keys(
            tx, "kv", ["k", "n", "s"], "k", ["z'\"\\ü", "x", "y", "q"], schema=frame.schema
        )
        empty = select_for_keys(tx, "kv", ["k", "n"], "k", ["q"], schema=frame.schema)
    assert got.sort("k").equals(frame.filter(pl.col("k") != "w").sort("k"))
    assert empty.schema == pl.Schema({"k": pl.String, "n": pl.Int64})
    assert empty.height == 0


#: Ids with characters a JSON text must escape, and some it need not (U+0000 is left out: SQLite's
#: JSON functions end a text there).
ODD_IDS = ['q"uote', "back\\slash", "new\nline", "tab\t", "ü", "\u2028", "😀", " "]


def test_json_array_escapes_every_id_so_the_store_reads_it_back() -> None:
    import json

    ids = pl.Series([*ODD_IDS, "plain"])
    assert json.loads(json_array(ids)) == ids.to_list()
    assert json_array(pl.Series([], dtype=pl.String)) == "[]"


def test_record_ids_and_key_tables_keep_ids_with_json_special_characters(store_url: str) -> None:
    many = [f"s{i:05d}" for i in range(KEYS_TABLE_MIN)] + ODD_IDS
    with open_store(store_url) as store:
        migrate(store)
        with store.transaction() as tx:
            assert claim_record_ids(tx, pl.Series(many), "t").to_list() == []
        with store.transaction() as tx:
            again = claim_record_ids(tx, pl.Series([*ODD_IDS, "new"]), "t")
            assert sorted(again.to_list()) == sorted(ODD_IDS)
            table = keys_table(tx, pl.Series(many))
            if tx.dialect == "sqlite":
                assert table is not None
                stored = [str(v) for (v,) in tx.execute(f"SELECT value FROM {table}")]
                assert sorted(stored) == sorted(many)
            else:
                assert table is None


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.none() | st.text(alphabet="ab\u00e9 ", max_size=3), max_size=30),
    st.booleans(),
)
def test_distinct_sorted_is_the_sorted_distinct_ids_whether_or_not_they_came_in_order(
    values: list[str | None], in_order: bool
) -> None:
    """The one-pass path (ids in order already) gives what the hash-and-sort path gives, and
    both what ``drop_nulls().unique().sort()`` gives."""
    if in_order:  # nulls anywhere, the others in order (as a day's record ids may come)
        present = iter(sorted(v for v in values if v is not None))
        values = [None if v is None else next(present) for v in values]
    series = pl.Series(values, dtype=pl.String)
    got = distinct_sorted(series)
    assert got.to_list() == sorted({v for v in values if v is not None})
    assert got.equals(series.drop_nulls().unique().sort(), check_names=False)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([0, 1, 2, -1, 7]), st.sampled_from([0, 1, 3]), st.booleans()),
        max_size=12,
    ),
    st.booleans(),
)
def test_select_for_keys_flags_come_back_as_truth_values_in_column_order(
    rows: list[tuple[int, int, bool]], through_keys_table: bool
) -> None:
    """Flags sent as the bits of one integer (SQLite) come back as 1 where the stored value is
    not 0, else 0, beside the other columns and in the order asked for: what the flags' own
    columns read as truth values give; by a keys table or by one JSON parameter."""
    frame = pl.DataFrame(
        {
            "k": [f"k{i:03d}" for i in range(len(rows))],
            "a": [a for a, _, _ in rows],
            "n": [i * 10 for i in range(len(rows))],
            "b": [b for _, b, _ in rows],
        },
        schema={"k": pl.String, "a": pl.Int64, "n": pl.Int64, "b": pl.Int64},
    )
    wanted = [k for k, (_, _, keep) in zip(frame.get_column("k"), rows, strict=True) if keep]
    with open_store(":memory:") as store, store.transaction() as tx:
        tx.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, a BIGINT, n BIGINT, b BIGINT)")
        tx.executemany("INSERT INTO kv (k, a, n, b) VALUES (?, ?, ?, ?)", frame.iter_rows())
        table = None
        if through_keys_table:
            tx.execute("CREATE TEMP TABLE _t_keys (value TEXT PRIMARY KEY) WITHOUT ROWID")
            tx.executemany("INSERT INTO _t_keys VALUES (?)", [(k,) for k in sorted(wanted)])
            table = "temp._t_keys"
        columns = ["a", "k", "b", "n"]
        got = select_for_keys(
            tx, "kv", columns, "k", wanted, schema=frame.schema, keys_table=table, flags=["a", "b"]
        )
    expected = (
        frame.filter(pl.col("k").is_in(wanted))
        .with_columns((pl.col(c) != 0).cast(pl.Int64) for c in ("a", "b"))
        .select(columns)
    )
    assert got.schema == expected.schema
    assert got.sort("k").equals(expected.sort("k"))


def test_select_for_keys_with_flags_reads_flags_of_0_and_1_alike_on_both_stores(
    store_url: str,
) -> None:
    """Flags of 0 and 1 come back as stored, beside the other columns, on SQLite (as one
    integer's bits) and on PostgreSQL (every column as it is); nothing found: no rows."""
    with open_store(store_url) as store, store.transaction() as tx:
        tx.execute("CREATE TABLE kv (k TEXT PRIMARY KEY, a SMALLINT, n BIGINT)")
        tx.executemany("INSERT INTO kv (k, a, n) VALUES (?, ?, ?)", [("x", 1, 5), ("y", 0, 6)])
        got = select_for_keys(
            tx, "kv", ["k", "a", "n"], "k", pl.Series(["y", "x", "z"]),
            schema={"k": pl.String(), "a": pl.Int64(), "n": pl.Int64()}, flags=["a"],
        )  # fmt: skip
        none = select_for_keys(
            tx, "kv", ["k", "a"], "k", ["z"], schema={"k": pl.String(), "a": pl.Int64()},
            flags=["a"],
        )  # fmt: skip
    assert got.sort("k").rows() == [("x", 1, 5), ("y", 0, 6)]
    assert none.schema == pl.Schema({"k": pl.String, "a": pl.Int64})
    assert none.height == 0


def test_counters_keep_notification_flags_stored_as_any_non_zero_value(store_url: str) -> None:
    """A flag stored as a value other than 1 (a writer of plain rows) still reads True."""
    stored = _counters([(f"s{i:04d}", "p", dt.date(2026, 3, 1), 1) for i in range(300)])
    with open_store(store_url) as store:
        migrate(store)
        with store.transaction() as tx:
            save_counters(tx, stored, "t")
            tx.execute(
                "UPDATE state_periods_log SET has_billshock_100 = 2, has_fup_exhausted = -1 "
                "WHERE subscriber_id IN ('s0001', 's0299')"
            )
        with store.transaction() as tx:
            got = load_counters(tx, stored.subscribers.get_column("subscriber_id"), "t")
    flagged = got.periods.filter(pl.col("has_billshock_100"))
    assert flagged.get_column("subscriber_id").to_list() == ["s0001", "s0299"]
    assert flagged.get_column("has_fup_exhausted").to_list() == [True, True]
    assert got.periods.get_column("has_billshock_80").sum() == 0


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.none() | st.integers(0, 10**9), st.none() | st.integers(-32_768, 32_767)),
        max_size=20,
    ),
    st.sampled_from([pl.Int16, pl.Int32, pl.Int64, pl.UInt16, pl.UInt64]),
)
def test_local_dates_of_integer_offsets_are_those_of_their_text(
    rows: list[tuple[int | None, int | None]], kind: type[pl.DataType]
) -> None:
    """Offsets in an integer column give the local days their text gives (blanks around it,
    nulls, values out of the column's range as null), as the engine reads them."""
    at = [None if s is None else dt.datetime(2026, 1, 1) + dt.timedelta(seconds=s) for s, _ in rows]
    offsets = pl.Series([o for _, o in rows], dtype=pl.Int64).cast(kind, strict=False)
    as_int = pl.DataFrame({"started_at": at, "utc_offset_min": offsets})
    as_text = as_int.with_columns(" " + pl.col("utc_offset_min").cast(pl.String) + " ")
    got = as_int.select(local_dates(as_int)).to_series()
    assert got.equals(as_text.select(local_dates(as_text)).to_series())
    assert got.equals(as_int.lazy().select(local_dates(as_int.lazy())).collect().to_series())


@settings(max_examples=200, deadline=None)
@given(st.lists(st.none() | st.dates(), max_size=30), st.booleans())
def test_iso_date_text_is_the_text_of_each_date(days: list[dt.date | None], lazy: bool) -> None:
    """Dates formatted once per distinct day give, row for row, the text a cast gives them
    (nulls kept; any year; repeated days, as a batch has them)."""
    frame = pl.DataFrame({"d": [*days, *days[:3]]}, schema={"d": pl.Date})
    want = frame.select(pl.col("d").cast(pl.String)).to_series()
    query = frame.lazy().select(iso_date_text(pl.col("d")))
    got = (
        query.collect().to_series()
        if lazy
        else frame.select(iso_date_text(pl.col("d"))).to_series()
    )
    assert got.dtype == pl.String
    assert got.equals(want)
