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

from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roamlike.counters import Counters
from roamlike.law import default_catalog
from roamlike.reference import CounterStates, rate_records
from roamlike.reference.formulas import charge, vat_amount
from roamlike.service import group_rating
from roamlike.service.fast_rater import SegmentMemo, _half_even, rate_memoised
from roamlike.service.group_rating import GroupRating, rate_group
from roamlike.service.schemas import EventRecord
from service.test_group_rating import _typed
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
    group, cut = drawn
    before = rate_group(group[:cut], PLANS, FX, CATALOG, Counters.empty(), small_group_max=0)
    stored = before.counters
    rest = group[cut:]
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
        {"started_at": "2026-02-30T10:00:00Z"},  # BAD_TIMESTAMP
        {"utc_offset_min": 900},  # BAD_TIMESTAMP
        {"event_type": "fax"},  # BAD_EVENT_TYPE
        {"subscriber_id": "a\x00b"},  # BAD_ID
        {"started_at": "1990-01-01T00:00:00Z"},  # NO_RULE_IN_FORCE
    ],
)
def test_a_record_out_of_scope_sends_the_group_back(change: dict[str, Any]) -> None:
    good = EventRecord(
        record_id="g1", subscriber_id="s1", plan_id="de-small", event_type="data",
        started_at="2026-03-01T10:00:00Z", utc_offset_min=60, home_country="DE",
        visited_country="FR", volume_bytes=700_000,
    )  # fmt: skip
    bad = msgspec.structs.replace(good, record_id="g2", **change)
    assert rate_memoised([good], PLANS, FX, CATALOG, CounterStates(), SegmentMemo()) is not None
    assert rate_memoised([good, bad], PLANS, FX, CATALOG, CounterStates(), SegmentMemo()) is None
    # a repeated record id likewise (DUPLICATE_RECORD_ID)
    assert rate_memoised([good, good], PLANS, FX, CATALOG, CounterStates(), SegmentMemo()) is None


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
