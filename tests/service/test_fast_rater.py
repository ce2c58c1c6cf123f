"""The memoised segments' rater answers byte for byte as the reference rater's path and the engine.

Random groups (the shared ``strategies.records`` batches as the service's typed records, the
reference rater's rejects mostly left out, so that most groups are in the memoised rater's
scope) are rated with the same stored counters three ways: by
:func:`~roamlike.service.fast_rater.rate_memoised`, by the reference rater's path of
:func:`~roamlike.service.group_rating.rate_group` and by the engine alone. Answers, counters and
days' rows must be identical; and every group the reference rater's path rates whole, the
memoised rater must rate too (its scope is no narrower), with one memo kept across examples.
"""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roamlike.counters import Counters
from roamlike.law import default_catalog
from roamlike.rating import RATED_COLUMNS
from roamlike.reference import CounterStates, rate_records
from roamlike.reference.formulas import charge, vat_amount
from roamlike.service import group_rating
from roamlike.service.day_rows import day_tuples
from roamlike.service.fast_rater import (
    RatedRows,
    SegmentMemo,
    _half_even,
    _local_date,
    is_clean,
    rate_memoised,
)
from roamlike.service.group_rating import GroupRating, rate_group
from roamlike.service.schemas import EventRecord
from service.test_group_rating import _typed, stored_and_rest
from strategies import FX, PLANS, records

CATALOG = default_catalog()
MEMO = SegmentMemo()


@st.composite
def groups(draw: st.DrawFn) -> tuple[list[EventRecord], int]:
    rows = draw(records())
    typed = [_typed(r, 0) for r in rows]
    if draw(st.integers(0, 4)):
        rejected = {
            r["row_number"]
            for r in rate_records([msgspec.structs.asdict(t) for t in typed], PLANS, FX).rejects
        }
        typed = [t for i, t in enumerate(typed) if i not in rejected]
    return typed, draw(st.integers(0, len(typed)))


def _outcome(rating: GroupRating, group: list[EventRecord]) -> tuple[Any, ...]:
    return (
        [a.decode() for a in rating.answers(group)],
        rating.counters.periods.to_dicts(),
        rating.counters.subscribers.to_dicts(),
        rating.day_tuples("t"),
    )


def _by_reference(group: list[EventRecord], stored: Counters) -> GroupRating | None:
    return group_rating._by_reference(
        group, PLANS, FX, CATALOG, CounterStates.from_counters(stored), {}
    )


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(groups())
def test_memoised_equals_the_reference_path_and_the_engine(
    drawn: tuple[list[EventRecord], int],
) -> None:
    stored, rest = stored_and_rest(*drawn)
    if not rest:
        return
    reference = _by_reference(rest, stored)
    states = CounterStates.from_counters(stored)
    got = rate_memoised(rest, PLANS, FX, CATALOG, states, MEMO)
    if reference is None:
        return  # a reject: the memoised rater may not rate it either (the engine words it)
    assert got is not None, "a group the reference path rates whole is in the memoised scope"
    rated, notes, after = got
    memoised = GroupRating(rated, [], notes, after, "memoised")
    engine = rate_group(rest, PLANS, FX, CATALOG, stored, small_group_max=0)
    want = _outcome(engine, rest)
    assert _outcome(reference, rest) == want
    assert _outcome(memoised, rest) == want
    # the stored counters were not modified
    assert states.to_counters().periods.equals(stored.periods)


def test_rate_group_takes_the_memoised_path() -> None:
    group = [
        EventRecord(
            record_id=f"m{i}", subscriber_id="s-fast", plan_id="de-small", event_type="data",
            started_at=f"2026-03-0{i + 1}T10:00:00Z", utc_offset_min=60, home_country="DE",
            visited_country="FR", volume_bytes=700_000,
        )
        for i in range(4)
    ]  # fmt: skip
    got = rate_group(group, PLANS, FX, CATALOG, Counters.empty(), {})
    assert got.path == "memoised"
    engine = rate_group(group, PLANS, FX, CATALOG, Counters.empty(), small_group_max=0)
    assert _outcome(got, group) == _outcome(engine, group)


#: A record the memoised rater rates, and another changed from it.
GOOD = EventRecord(
    record_id="g1", subscriber_id="s1", plan_id="de-small", event_type="data",
    started_at="2026-03-01T10:00:00Z", utc_offset_min=60, home_country="DE",
    visited_country="FR", volume_bytes=700_000,
)  # fmt: skip


def _changed(change: dict[str, Any]) -> EventRecord:
    return msgspec.structs.replace(GOOD, **{"record_id": "g2", **change})


@pytest.mark.parametrize(
    "change",
    [
        {"volume_bytes": None},  # MISSING_FIELD
        {"volume_bytes": -1},  # NEGATIVE_QUANTITY
        {"volume_bytes": 10**12 + 1},  # QUANTITY_OUT_OF_RANGE
        {"visited_country": "QQ"},  # UNKNOWN_COUNTRY
        {"plan_id": "nope"},  # UNKNOWN_PLAN
        {"home_country": "FR"},  # PLAN_HOME_MISMATCH
        {"started_at": "2026-03-01"},  # BAD_TIMESTAMP
        {"started_at": None},  # MISSING_FIELD
        {"started_at": ""},  # MISSING_FIELD
        # two times in one (the group's times are matched joined by newlines)
        {"started_at": "2026-03-01T10:00:00Z\n2026-03-01T10:00:00Z"},
        {"started_at": "2026-03-01T10:00:00Z\n"},
        {"started_at": "2026-02-30T10:00:00Z"},  # BAD_TIMESTAMP
        {"utc_offset_min": 900},  # BAD_TIMESTAMP
        {"event_type": "fax"},  # BAD_EVENT_TYPE
        {"subscriber_id": "a\x00b"},  # BAD_ID
        {"record_id": "g\x002"},  # BAD_ID
        {"record_id": "g2\x00"},  # BAD_ID
        {"subscriber_id": None},  # MISSING_FIELD
        {"subscriber_id": ""},  # MISSING_FIELD
        {"started_at": "1990-01-01T00:00:00Z"},  # NO_RULE_IN_FORCE
        # text the two raters would normalise each their own way (not clean)
        {"subscriber_id": " s1"},
        {"record_id": "g2 "},
        {"plan_id": "de-small\t"},
        {"home_country": "de"},
        {"visited_country": "fr"},
        {"started_at": " 2026-03-01T10:00:00Z"},
        {"event_type": "data "},
    ],
)
def test_a_record_out_of_scope_sends_the_group_back(change: dict[str, Any]) -> None:
    good, bad = GOOD, _changed(change)
    assert rate_memoised([good], PLANS, FX, CATALOG, CounterStates(), SegmentMemo()) is not None
    assert rate_memoised([good, bad], PLANS, FX, CATALOG, CounterStates(), SegmentMemo()) is None
    assert rate_memoised([bad, good], PLANS, FX, CATALOG, CounterStates(), SegmentMemo()) is None
    # a repeated record id likewise (DUPLICATE_RECORD_ID)
    assert rate_memoised([good, good], PLANS, FX, CATALOG, CounterStates(), SegmentMemo()) is None


@pytest.mark.parametrize(
    "change",
    [
        {"record_id": " g2"},
        {"subscriber_id": "s1\n"},
        {"subscriber_id": "s1\u00a0"},
        {"record_id": "\u2003g2"},
        {"plan_id": " de-small"},
        {"home_country": "de"},
        {"visited_country": "Fr"},
        {"started_at": "2026-03-01T10:00:00Z "},
    ],
)
def test_a_group_with_unclean_text_goes_to_the_engine(change: dict[str, Any]) -> None:
    # the memoised rater looks at the text itself (rate_group no longer does before it): such a
    # group is not the memoised rater's nor the reference rater's, but the engine's, as before
    good, bad = GOOD, _changed(change)
    assert is_clean(good)
    assert not is_clean(bad)
    got = rate_group([good, bad], PLANS, FX, CATALOG, CounterStates(), {})
    assert got.path == "engine"
    assert rate_group([good], PLANS, FX, CATALOG, CounterStates(), {}).path == "memoised"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(groups())
def test_the_memoised_rows_read_encode_and_sum_as_the_row_dicts(
    drawn: tuple[list[EventRecord], int],
) -> None:
    # RatedRows keeps one struct per record: read as dicts, they are the engine's rows with
    # their columns in the engine's order; their answers are the bytes of those dicts' answers
    # and their day rows those of the dicts
    stored, rest = stored_and_rest(*drawn)
    got = rate_memoised(rest, PLANS, FX, CATALOG, CounterStates.from_counters(stored), MEMO)
    if got is None or not rest:
        return
    rated, notes, after = got
    rows = list(rated)
    engine = rate_group(rest, PLANS, FX, CATALOG, stored, small_group_max=0)
    assert rows == list(engine.rated)
    assert all(list(row) == [*EventRecord.__struct_fields__, *RATED_COLUMNS] for row in rows)
    assert [row["row_number"] for row in rows] == list(range(len(rest)))
    assert len(rated) == len(rows)
    assert rated[-1] == rows[-1]
    assert rated[1::2] == rows[1::2]
    as_dicts = GroupRating(rows, [], notes, after, "memoised")
    assert GroupRating(rated, [], notes, after, "memoised").answers(rest) == as_dicts.answers(rest)
    assert rated.answers(notes) == as_dicts.answers(rest)
    assert rated.day_tuples("t") == day_tuples(rows, "t")
    # summed from the rated records' segments, or from the structs alone: the same day rows
    assert RatedRows(rated.rows).day_tuples("t") == day_tuples(rows, "t")


@given(st.integers(-(10**30), 10**30), st.integers(1, 10**12))
def test_half_even_is_the_decimal_rounding(numerator: int, denominator: int) -> None:
    with localcontext() as ctx:
        ctx.prec = 80
        want = int((Decimal(numerator) / Decimal(denominator)).quantize(1, ROUND_HALF_EVEN))
    assert _half_even(numerator, denominator) == want


@given(
    st.integers(0, 10**12),
    st.integers(0, 10**13),
    st.sampled_from([1, 60, 1_000_000, 1_048_576]),
    st.integers(0, 10**6),
)
def test_integer_charges_equal_the_reference_formulas(
    units: int, nanos: int, divisor: int, vat_millionths: int
) -> None:
    # what _rate_one computes in integers, against rating.md §5, §6 as the reference writes it
    total = _half_even(units * nanos, 1000 * divisor)
    assert total == charge(units, nanos, divisor)
    vat_rate = Decimal(vat_millionths).scaleb(-6)
    assert _half_even(total * vat_millionths, 1_000_000) == vat_amount(total, vat_rate)


def test_exact_halves_go_to_the_even_neighbour() -> None:
    # 0.5 and 1.5 micros: 0 and 2, as the reference's charge rounds them
    assert [_half_even(u * 500, 1000) for u in (1, 3)] == [charge(u, 500, 1) for u in (1, 3)]
    assert [charge(u, 500, 1) for u in (1, 3)] == [0, 2]


def _record(n: int, sid: str, plan: str, home: str, visited: str, **quantity: Any) -> EventRecord:
    fields = {"event_type": "data", "is_beyond_fair_use": None, **quantity}
    return EventRecord(
        record_id=f"c{n}", subscriber_id=sid, plan_id=plan, home_country=home,
        visited_country=visited, started_at=f"2026-03-01T10:{n:02d}:00Z", utc_offset_min=60,
        **fields,
    )  # fmt: skip


def test_the_cut_off_takes_roaming_then_surcharge_then_domestic_as_the_engine() -> None:
    # large surcharged, roaming-priced and out-of-bundle records crossing the bill-shock limit,
    # in both directions of each rule (allowance, fair use, cut, alerts), rated in two groups
    group = [
        _record(1, "cut-a", "de-small", "DE", "FR", volume_bytes=40 * 10**9,
                is_beyond_fair_use=True),
        _record(2, "cut-a", "de-small", "DE", "FR", volume_bytes=10**6),
        _record(3, "cut-b", "rs-basic", "RS", "DE", volume_bytes=3 * 10**6),
        _record(4, "cut-b", "rs-basic", "RS", "ME", volume_bytes=900 * 10**6),
        _record(5, "cut-c", "de-28d-bin", "DE", "US", volume_bytes=10**5),
        _record(6, "cut-c", "de-28d-bin", "DE", "US", event_type="voice_mo", duration_s=61),
        _record(7, "cut-d", "de-small", "DE", "AT", event_type="voice_mo", duration_s=7_000,
                is_beyond_fair_use=True),
        _record(8, "cut-d", "de-small", "DE", "AT", event_type="sms_mo"),
    ]  # fmt: skip
    counters = Counters.empty()
    answers: list[bytes] = []
    for part in (group[:3], group[3:]):
        got = rate_group(part, PLANS, FX, CATALOG, counters, {})
        engine = rate_group(part, PLANS, FX, CATALOG, counters, small_group_max=0)
        assert got.path == "memoised"
        assert _outcome(got, part) == _outcome(engine, part)
        counters = counters.merge(engine.counters)
        answers.extend(got.answers(part))
    # the first record is cut to the limit (its surcharge first, then its domestic price),
    # the next one blocked
    assert b'"domestic_micros":50000000,"surcharge_micros":0' in answers[0]
    assert b'"is_blocked_by_cutoff":true' in answers[1]


def _at(n: int, when: str, sid: str, visited: str, **fields: Any) -> EventRecord:
    return msgspec.structs.replace(
        _record(n, sid, "de-small", "DE", visited, **fields), started_at=when
    )


def test_a_subscribers_records_walked_in_event_order_across_periods_and_late_ones() -> None:
    # the walk goes subscriber by subscriber: records in arrival order that is not event
    # order, across two billing periods, back and forth between countries (welcome), with
    # stored counters, late records (before the stored last event) and a second subscriber
    # whose records interleave; every value, notification, counter and day row as the engine
    stored_group = [
        _at(1, "2026-03-10T10:00:00Z", "w-a", "FR", volume_bytes=10**6),
        _at(2, "2026-03-10T10:00:00Z", "w-b", "AT", event_type="sms_mo"),
    ]
    stored = rate_group(
        stored_group, PLANS, FX, CATALOG, Counters.empty(), small_group_max=0
    ).counters
    group = [
        _at(10, "2026-04-02T09:00:00Z", "w-a", "FR", volume_bytes=3 * 10**6),
        _at(11, "2026-03-31T23:30:00Z", "w-a", "AT", event_type="voice_mo", duration_s=65),
        _at(12, "2026-03-09T08:00:00Z", "w-a", "FR", volume_bytes=10**5),  # late
        _at(13, "2026-04-01T00:10:00Z", "w-b", "FR", event_type="sms_mo"),
        _at(14, "2026-03-31T12:00:00Z", "w-a", "FR", volume_bytes=7 * 10**6),
        _at(15, "2026-03-01T00:00:00Z", "w-a", "AT", volume_bytes=1),  # late
        _at(16, "2026-03-11T00:00:00Z", "w-b", "DE", event_type="voice_mt", duration_s=30),
        _at(17, "2026-04-02T09:00:00Z", "w-a", "AT", volume_bytes=10),  # same instant as 10
    ]
    got = rate_group(group, PLANS, FX, CATALOG, CounterStates.from_counters(stored), {})
    engine = rate_group(group, PLANS, FX, CATALOG, stored, small_group_max=0)
    assert got.path == "memoised"
    assert _outcome(got, group) == _outcome(engine, group)
    assert got.notifications == engine.notifications
    assert sum(n["kind"] == "welcome" for n in got.notifications) >= 4
    assert sum(b'"is_late":true' in a for a in got.answers(group)) == 2
    assert len({key[2] for key in got.states.periods}) == 2  # two billing periods


@given(st.datetimes(), st.integers(-720, 840))
def test_local_date_is_the_sums(stamp: dt.datetime, offset: int) -> None:
    try:
        want: dt.date | None = (stamp + dt.timedelta(minutes=offset)).date()
    except OverflowError:
        want = None
    try:
        got: dt.date | None = _local_date(stamp, offset)
    except OverflowError:
        got = None
    assert got == want


def _large(n: int, *, first: int = 0) -> list[EventRecord]:
    """``n`` clean records of the plans' segments (several plans, countries, event types and
    days; subscribers with several records each), past the reference rater's threshold."""
    kinds: list[tuple[str, str, str, dict[str, Any]]] = [
        ("de-small", "DE", "FR", {"event_type": "data", "volume_bytes": 9_000_000}),
        ("de-small", "DE", "AT", {"event_type": "voice_mo", "duration_s": 95}),
        ("de-28d-bin", "DE", "US", {"event_type": "sms_mo"}),
        ("rs-basic", "RS", "ME", {"event_type": "data", "volume_bytes": 40_000_000}),
        ("de-small", "DE", "DE", {"event_type": "voice_mt", "duration_s": 30}),
    ]
    out = []
    for i in range(first, first + n):
        plan, home, visited, fields = kinds[i % len(kinds)]
        out.append(
            EventRecord(
                record_id=f"L{i}", subscriber_id=f"L{i % 97}-{plan}", plan_id=plan,
                home_country=home, visited_country=visited,
                started_at=f"2026-03-{1 + i % 20:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
                utc_offset_min=60, is_beyond_fair_use=i % 13 == 0, **fields,
            )
        )  # fmt: skip
    return out


def test_a_large_group_takes_the_memoised_path_with_the_engines_answers() -> None:
    # past SMALL_GROUP_MAX (the reference rater's) and within MEMOISED_GROUP_MAX; stored
    # counters from a first group, late records among the second
    first = _large(700)
    stored = rate_group(first, PLANS, FX, CATALOG, Counters.empty(), small_group_max=0).counters
    group = _large(900, first=300)
    group = [msgspec.structs.replace(r, record_id=f"n{r.record_id}") for r in group]
    assert group_rating.SMALL_GROUP_MAX < len(group) <= group_rating.MEMOISED_GROUP_MAX
    got = rate_group(group, PLANS, FX, CATALOG, CounterStates.from_counters(stored), {})
    engine = rate_group(group, PLANS, FX, CATALOG, stored, small_group_max=0)
    assert got.path == "memoised"
    assert engine.path == "engine"
    assert _outcome(got, group) == _outcome(engine, group)
    assert any(b'"is_late":true' in a for a in got.answers(group))


def test_a_large_group_out_of_the_memoised_scope_goes_to_the_engine() -> None:
    group = _large(group_rating.SMALL_GROUP_MAX + 50)
    assert group[5].event_type == "data"
    group[5] = msgspec.structs.replace(group[5], volume_bytes=None)  # MISSING_FIELD
    got = rate_group(group, PLANS, FX, CATALOG, CounterStates(), {})
    # not the reference rater (past its threshold): the engine, with its reject
    assert got.path == "engine"
    assert [r["row_number"] for r in got.rejects] == [5]


def test_a_group_past_the_memoised_threshold_goes_to_the_engine() -> None:
    group = _large(40)
    got = rate_group(
        group, PLANS, FX, CATALOG, CounterStates(), {}, small_group_max=10, memoised_group_max=39
    )
    assert got.path == "engine"
    within = rate_group(
        group, PLANS, FX, CATALOG, CounterStates(), {}, small_group_max=10, memoised_group_max=40
    )
    assert within.path == "memoised"
    assert _outcome(got, group) == _outcome(within, group)
    # small_group_max=0: the engine alone, whatever memoised_group_max
    assert rate_group(group, PLANS, FX, CATALOG, CounterStates(), small_group_max=0).path == (
        "engine"
    )


def test_a_large_group_with_counters_as_frames_stays_with_the_engine() -> None:
    # PostgreSQL reads a large group's counters as frames: no conversion to states and back
    group = _large(group_rating.SMALL_GROUP_MAX + 1)
    assert rate_group(group, PLANS, FX, CATALOG, Counters.empty(), {}).path == "engine"
    assert rate_group(group, PLANS, FX, CATALOG, CounterStates(), {}).path == "memoised"
    small = group[: group_rating.SMALL_GROUP_MAX]
    assert rate_group(small, PLANS, FX, CATALOG, Counters.empty(), {}).path == "memoised"
