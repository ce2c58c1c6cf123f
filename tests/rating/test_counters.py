"""Counters carried between runs (docs/rating.md §9), engine and reference rater alike.

* split = whole: records in chronological order, split at arbitrary points into consecutive
  chunks rated one after the other with the counters carried (and the record ids of earlier
  chunks given as known), rate exactly as all of them at once: every rated value, reject and
  notification, and the counters at the end;
* late records: chunks in any order still agree engine = reference, late records flagged;
* worked examples of the late rule and of a bill-shock cut falling in the second file.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import make_plan, rec
from comparison import COMPARED, differences, notes, text_frame
from roamlike.counters import PERIOD_SCHEMA, Counters
from roamlike.rating import rate_usage
from roamlike.reference import rate_records
from strategies import FX, PLANS, records

Rows = list[dict[str, Any]]


def _chronological(rows: Rows) -> Rows:
    return sorted(rows, key=lambda r: (str(r["started_at"]), str(r["record_id"])))


def _chunks(rows: Rows, cuts: list[int]) -> list[Rows]:
    points = sorted({min(c, len(rows)) for c in cuts})
    bounds = [0, *points, len(rows)]
    return [rows[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def _ids(rows: Rows) -> set[str]:
    return {str(r["record_id"]).strip() for r in rows if str(r["record_id"] or "").strip()}


#: What is compared: every rated value but the row number, which restarts in every chunk.
_KEEP = [c for c in COMPARED if c != "row_number"]
Outcome = tuple[list[dict[str, Any]], list[tuple[Any, ...]], list[tuple[Any, ...]], Counters]


def _engine(rows: Rows, counters: Counters | None, known: set[str]) -> Outcome:
    got = rate_usage(text_frame(rows), PLANS, FX, counters=counters, known_record_ids=known)
    assert got.rated.height + got.rejects.height == got.read == len(rows)
    rated = got.rated.select(_KEEP).to_dicts()
    rejects = list(zip(got.rejects["record_id"], got.rejects["reason_code"], strict=True))
    return rated, rejects, notes(got.notifications.to_dicts()), got.counters


def _reference(rows: Rows, counters: Counters | None, known: set[str]) -> Outcome:
    got = rate_records(rows, PLANS, FX, counters=counters, known_record_ids=known)
    rated = [{k: r[k] for k in _KEEP} for r in got.rated]
    rejects = [(r["record_id"], r["reason_code"]) for r in got.rejects]
    return rated, rejects, notes(got.notifications), got.counters


RATERS: dict[str, Callable[[Rows, Counters | None, set[str]], Outcome]] = {
    "engine": _engine,
    "reference": _reference,
}


def _in_chunks(
    rate: Callable[[Rows, Counters | None, set[str]], Outcome], chunks: list[Rows]
) -> Outcome:
    counters = Counters.empty()
    known: set[str] = set()
    rated: list[dict[str, Any]] = []
    rejects: list[tuple[Any, ...]] = []
    found: list[tuple[Any, ...]] = []
    for chunk in chunks:
        part_rated, part_rejects, part_notes, after = rate(chunk, counters, known)
        rated += part_rated
        rejects += part_rejects
        found += part_notes
        counters = counters.merge(after)
        known |= _ids(chunk)
    return rated, rejects, sorted(found), counters


def _by_record(rated: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["record_id"]: r for r in rated}


@pytest.mark.parametrize("rater", sorted(RATERS))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=records(), cuts=st.lists(st.integers(0, 30), max_size=4))
def test_rating_md_9_split_equals_whole(rater: str, rows: Rows, cuts: list[int]) -> None:
    rate = RATERS[rater]
    ordered = _chronological(rows)
    whole = rate(ordered, None, set())
    split = _in_chunks(rate, _chunks(ordered, cuts))
    assert _by_record(split[0]) == _by_record(whole[0])
    assert not any(r["is_late"] for r in split[0])
    assert sorted(split[1]) == sorted(whole[1])
    assert split[2] == whole[2]
    assert split[3].periods.equals(whole[3].periods)
    assert split[3].subscribers.equals(whole[3].subscribers)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=records(), cuts=st.lists(st.integers(0, 30), max_size=3))
def test_engine_equals_reference_with_counters_and_late_records(
    rows: Rows, cuts: list[int]
) -> None:
    # chunks in read order, not chronological: later chunks hold late records
    counters = Counters.empty()
    known: set[str] = set()
    for chunk in _chunks(rows, cuts):
        expected = rate_records(chunk, PLANS, FX, counters=counters, known_record_ids=known)
        got = rate_usage(text_frame(chunk), PLANS, FX, counters=counters, known_record_ids=known)
        assert differences(expected, got) == []  # is_late included
        assert got.counters.periods.equals(expected.counters.periods)
        assert got.counters.subscribers.equals(expected.counters.subscribers)
        counters = counters.merge(got.counters)
        known |= _ids(chunk)


def _data(record_id: str, day: int, mb: int) -> dict[str, Any]:
    return rec(
        record_id,
        started_at=f"2026-03-{day:02d}T10:00:00Z",
        volume_bytes=mb * 10**6,
        visited_country="AT",
    )


@pytest.mark.parametrize("rater", sorted(RATERS))
def test_rating_md_9_late_record_rated_after_the_others_and_flagged(rater: str) -> None:
    # 1 GB allowance at home prices abroad; the second file holds a record of 2026-03-05,
    # before the last event of the first file (2026-03-10): it is rated after the on-time
    # record of 2026-03-12 of the same file, so the allowance it finds is what is left then
    plans = {"de": make_plan(data_allowance_gb="1", billshock_limit_eur="1000")}
    first = [_data("a", 10, 600)]
    second = [_data("late", 5, 300), _data("b", 12, 300)]

    def run(rows: Rows, counters: Counters | None) -> tuple[dict[str, dict[str, Any]], Counters]:
        if rater == "engine":
            got = rate_usage(text_frame(rows), plans, counters=counters)
            return {r["record_id"]: r for r in got.rated.to_dicts()}, got.counters
        ref = rate_records(rows, plans, counters=counters)
        return {r["record_id"]: r for r in ref.rated}, ref.counters

    rated, counters = run(first, None)
    assert not rated["a"]["is_late"]
    rated, after = run(second, counters)
    assert rated["late"]["is_late"]
    assert not rated["b"]["is_late"]
    # a (600 MB) + b (300 MB) = 900 MB within the 1 GB; late (300 MB) gets the last 100 MB
    assert rated["b"]["in_bundle_units"] == 300 * 10**6
    assert rated["late"]["in_bundle_units"] == 100 * 10**6
    assert after.periods["data_used_bytes"].to_list() == [1_200 * 10**6]
    last = after.subscribers.row(0, named=True)
    assert last["last_record_id"] == "b"
    assert last["last_started_at"] == dt.datetime(2026, 3, 12, 10, tzinfo=dt.UTC)


@pytest.mark.parametrize("rater", sorted(RATERS))
def test_rating_md_9_a_record_at_the_last_event_s_instant_is_late_by_its_record_id(
    rater: str,
) -> None:
    # the last event is ("m", 2026-03-10T10:00): at the same instant "a" comes before it in
    # event order (late), "m" itself and "z" do not; one subscriber without a stored event
    plans = {"de": make_plan()}
    first = [_data("m", 10, 1)]
    second = [_data("a", 10, 1), _data("z", 10, 1), rec("x", subscriber_id="other")]

    def run(rows: Rows, counters: Counters | None) -> tuple[dict[str, bool], Counters]:
        if rater == "engine":
            got = rate_usage(text_frame(rows), plans, counters=counters)
            return {r["record_id"]: r["is_late"] for r in got.rated.to_dicts()}, got.counters
        ref = rate_records(rows, plans, counters=counters)
        return {r["record_id"]: r["is_late"] for r in ref.rated}, ref.counters

    _, counters = run(first, None)
    late, after = run(second, counters)
    assert late == {"a": True, "z": False, "x": False}
    last = {r["subscriber_id"]: r["last_record_id"] for r in after.subscribers.to_dicts()}
    assert last[first[0]["subscriber_id"]] == "z"
    assert last["other"] == "x"


def test_rating_md_9_known_record_ids_are_duplicates() -> None:
    got = rate_usage(text_frame([rec("a"), rec("b")]), {"de": make_plan()}, known_record_ids={"a"})
    assert got.rejects["reason_code"].to_list() == ["DUPLICATE_RECORD_ID"]
    assert got.rated["record_id"].to_list() == ["b"]


def test_counters_refuse_wrong_columns_and_duplicate_keys() -> None:
    empty = Counters.empty()
    with pytest.raises(ValueError, match="expected columns"):
        Counters(periods=empty.periods.drop("sms_used"), subscribers=empty.subscribers)
    twice = pl.concat([empty.subscribers, empty.subscribers]).vstack(
        pl.DataFrame(
            [{"subscriber_id": "s", "last_visited_country": None, "last_started_at": None,
              "last_record_id": None}] * 2,
            schema=empty.subscribers.schema,
        )
    )  # fmt: skip
    with pytest.raises(ValueError, match="more than one row"):
        Counters(periods=empty.periods, subscribers=twice)


def test_catalog_is_an_argument_and_not_loaded_at_import() -> None:
    import dataclasses
    import subprocess
    import sys

    from roamlike.law import default_catalog

    code = (
        "import roamlike.rating, roamlike.reference, roamlike.pipeline, roamlike.cli\n"
        "from roamlike.law.catalog import default_catalog\n"
        "print(default_catalog.cache_info().currsize)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "0"
    # a catalog without Austria: both raters reject the record in AT with UNKNOWN_COUNTRY
    full = default_catalog()
    no_at = dataclasses.replace(
        full, countries={k: v for k, v in full.countries.items() if k != "AT"}
    )
    rows = [rec("a"), rec("b", visited_country="FR")]
    got = rate_usage(text_frame(rows), {"de": make_plan()}, catalog=no_at)
    expected = rate_records(rows, {"de": make_plan()}, catalog=no_at)
    assert got.rejects["reason_code"].to_list() == ["UNKNOWN_COUNTRY"]
    assert differences(expected, got) == []


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=records(), parts=st.integers(1, 4))
def test_rating_md_7c_batch_protocol_partitions_equal_the_whole(rows: Rows, parts: int) -> None:
    # what a distributed runner does: batch keys over the whole input, partition on the
    # normalised subscriber key, rate each partition, put the results together
    from roamlike.rating import BATCH_SUBSCRIBER, batch_keys

    padded = [{**r, "subscriber_id": f"  {r['subscriber_id']} "} if i % 3 == 0 else r
              for i, r in enumerate(rows)]  # fmt: skip
    frame = text_frame(padded)
    whole = rate_usage(frame, PLANS, FX)
    keyed = batch_keys(frame.lazy()).collect()
    part = keyed.get_column(BATCH_SUBSCRIBER).fill_null("").hash(seed=1) % parts
    results = [rate_usage(keyed.filter(part == k), PLANS, FX) for k in range(parts)]
    rated = pl.concat([r.rated for r in results]).sort("row_number")
    rejects = pl.concat([r.rejects for r in results]).sort("row_number")
    assert rated.equals(whole.rated)
    assert rejects.equals(whole.rejects)
    notes_parts = pl.concat([r.notifications for r in results])
    assert sorted(notes_parts.rows()) == sorted(whole.notifications.rows())


@pytest.mark.parametrize("rows", [2, 64, 65, 500])
def test_duplicate_keys_are_refused_in_small_and_large_frames(rows: int) -> None:
    """Frames of up to 64 rows are checked in Python, larger ones by Polars: both refuse a
    repeated key (a null period start equals another null) and accept distinct keys."""
    day = dt.date(2026, 1, 1)
    distinct = [(f"s{i}", "p", day) for i in range(rows)]
    repeated = [*distinct[:-1], ("s0", "p", day)]
    nulls = [*distinct[:-2], ("s0", "p", None), ("s0", "p", None)]

    def periods(keys: list[tuple[str, str, dt.date | None]]) -> pl.DataFrame:
        zeros = dict.fromkeys(list(PERIOD_SCHEMA)[3:], 0)
        return pl.DataFrame(
            [{"subscriber_id": s, "plan_id": p, "period_start": d, **zeros} for s, p, d in keys],
            schema=PERIOD_SCHEMA,
        ).with_columns(pl.col(c).cast(pl.Boolean) for c in PERIOD_SCHEMA if c.startswith("has_"))

    subscribers = Counters.empty().subscribers
    assert Counters(periods=periods(distinct), subscribers=subscribers).periods.height == rows
    for keys in (repeated, nulls):
        with pytest.raises(ValueError, match="more than one row"):
            Counters(periods=periods(keys), subscribers=subscribers)


@settings(max_examples=60, deadline=None)
@given(
    keys=st.lists(
        st.tuples(
            st.integers(0, 40).map(lambda i: f"s\u00e9{i}" if i % 7 == 0 else f"s{i}"),
            st.sampled_from(["p", "q"]),
            st.one_of(st.none(), st.dates(dt.date(2026, 1, 1), dt.date(2026, 1, 3))),
        ),
        min_size=65,
        max_size=90,
    ),
    order=st.sampled_from(["as drawn", "sorted", "distinct sorted", "distinct as drawn"]),
    nulls=st.booleans(),
)
def test_duplicate_check_of_sorted_frames_is_the_hashed_one(
    keys: list[tuple[str, str, dt.date | None]], order: str, nulls: bool
) -> None:
    """A frame in key order is checked by comparing neighbours: the same answer as hashing every
    row, for frames in and out of order, with and without repeats and null keys."""
    from roamlike.counters import _has_duplicates, _neighbours

    names = ["subscriber_id", "plan_id", "period_start"]
    frame = pl.DataFrame(keys, schema=dict(list(PERIOD_SCHEMA.items())[:3]), orient="row")
    if not nulls:
        frame = frame.with_columns(pl.col("period_start").fill_null(dt.date(2026, 1, 4)))
    if order.startswith("distinct"):
        frame = frame.unique(maintain_order=True)
    if order.endswith("sorted"):
        frame = frame.sort(names)
    hashed = bool(frame.select(names).is_duplicated().any())
    assert _has_duplicates(frame, names) == hashed
    ordered, repeated = _neighbours(frame, names)
    in_order = frame.equals(frame.sort(names))
    assert ordered == (in_order and frame.get_column("period_start").null_count() == 0)
    if ordered:
        assert repeated == hashed
