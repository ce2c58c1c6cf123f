"""The grant's binary search equals rating all 64 candidates (the search it replaced).

For random plans, earlier usage (so allowances, fair-use volumes and bill-shock spend are partly
used), services and requested amounts, :func:`find_grants` must give the same grant, threshold
and final-unit indication as the linear scan: every candidate rated by the engine in one call,
the grant the largest candidate before the first that crosses a threshold. On counters drawn
near and far from every threshold (a pool's allowance, the fair-use volume, the bill-shock
limit and its 80 % alert), the search by the memoised rater's arithmetic must give what the
search by rating calls gives, and the linear scan.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roamlike.counters import Counters
from roamlike.law import default_catalog
from roamlike.reference import CounterStates
from roamlike.reference.history import PeriodState
from roamlike.service import grants
from roamlike.service.fast_rater import NextEvent
from roamlike.service.grants import Grant, GrantQuestion, candidate_amounts, find_grants
from roamlike.service.group_rating import as_counters, as_states, rate_group
from roamlike.service.problems import ProblemError
from roamlike.service.schemas import EventRecord, SessionOpen
from strategies import FX, NEIGHBOURS, PLANS, SUBSCRIBERS

CATALOG = default_catalog()
DAYS = [dt.date(2020, 3, 2), dt.date(2023, 11, 6), dt.date(2026, 2, 9)]
VOLUMES = [0, 10**5, 3 * 10**6, 10**9, 8 * 10**9]


def _linear(q: GrantQuestion, counters: Counters) -> Grant | str:
    """The former search: rate every candidate, scan up to the first crossing."""
    amounts = candidate_amounts(q.available)
    sub = q.opened.subscriber_id
    clones = {f"~c{k}": sub for k in range(len(amounts))}
    rows = [
        msgspec.structs.asdict(
            EventRecord(
                record_id=clone,
                subscriber_id=clone,
                plan_id=q.plan.id,
                event_type=q.opened.event_type,
                started_at=q.opened.started_at,
                utc_offset_min=0,
                home_country=q.plan.home_country,
                visited_country=q.opened.visited_country,
                volume_bytes=amounts[k] if q.opened.event_type == "data" else None,
                duration_s=None if q.opened.event_type == "data" else amounts[k],
            )
        )
        for k, clone in enumerate(clones)
    ]
    periods = [
        {**r, "subscriber_id": c}
        for c in clones
        for r in counters.periods.to_dicts()
        if r["subscriber_id"] == sub
    ]
    subs = [
        {**r, "subscriber_id": c}
        for c in clones
        for r in counters.subscribers.to_dicts()
        if r["subscriber_id"] == sub
    ]
    cloned = Counters(
        periods=_frame(periods, counters.periods), subscribers=_frame(subs, counters.subscribers)
    )
    records = [msgspec.convert(r, EventRecord) for r in rows]
    result = rate_group(records, {q.plan.id: q.plan}, FX, CATALOG, cloned, small_group_max=0)
    if result.rejects:
        return str(result.rejects[0]["reason_code"])
    rated = {r["record_id"]: r for r in result.rated}
    cut = {n["record_id"] for n in result.notifications if n["kind"] == "billshock_100"}
    unit = (1024 if q.plan.binary_units else 1000) if q.opened.event_type == "data" else 1
    smallest = rated["~c0"]
    granted = 0
    for k, amount in enumerate(amounts):
        row = rated[f"~c{k}"]
        crossed = None
        if row["is_blocked_by_cutoff"] or row["record_id"] in cut:
            crossed = "billshock_limit"
        elif 0 < row["in_bundle_units"] < row["billed_units"] * unit:
            crossed = "allowance"
        elif row["is_over_fup"] and not smallest["is_over_fup"]:
            crossed = "fair_use"
        if crossed is not None:
            return Grant(granted, crossed == "billshock_limit", crossed)
        granted = amount
    return Grant(granted, False, None)


def _frame(rows: list[dict[str, Any]], like: Any) -> Any:
    import polars as pl

    return pl.DataFrame(rows, schema=like.schema) if rows else like.clear()


def _usage(
    record_id: str, sub: str, event: str, started_at: str, visited: str, used: int
) -> EventRecord:
    """An earlier record of ``sub`` (its plan's), ``used`` bytes or seconds."""
    plan = PLANS[SUBSCRIBERS[sub]]
    data = event == "data"
    return EventRecord(
        record_id=record_id,
        subscriber_id=sub,
        plan_id=plan.id,
        event_type=event,
        started_at=started_at,
        utc_offset_min=0,
        home_country=plan.home_country,
        visited_country=visited,
        volume_bytes=used if data else None,
        duration_s=None if data else used,
    )


def _session(
    draw: st.DrawFn, n: int, sub: str, visited: str, day: dt.date, event: Any
) -> GrantQuestion:
    """Session ``s<n>`` of ``sub`` at 09:00 of ``day``, asking a drawn amount."""
    plan = PLANS[SUBSCRIBERS[sub]]
    opened = SessionOpen(
        session_id=f"s{n}",
        subscriber_id=sub,
        plan_id=plan.id,
        event_type=event,
        visited_country=visited,
        started_at=f"{day.isoformat()}T09:00:00Z",
        requested_units=0,
    )
    return GrantQuestion(opened, plan, _amount(draw, event))


def _amount(draw: st.DrawFn, event: str) -> int:
    return draw(st.integers(1, 3 * 10**10 if event == "data" else 3600))


def _second_session(draw: st.DrawFn, asked: list[GrantQuestion]) -> None:
    """Perhaps a second session of the first subscriber (its candidates rated on copies)."""
    if draw(st.booleans()):
        first = asked[0]
        amount = _amount(draw, first.opened.event_type)
        asked.append(GrantQuestion(first.opened, first.plan, amount))


@st.composite
def questions(draw: st.DrawFn) -> tuple[list[GrantQuestion], Counters]:
    subs = draw(st.lists(st.sampled_from(sorted(SUBSCRIBERS)), min_size=1, max_size=3, unique=True))
    day = draw(st.sampled_from(DAYS))
    event = draw(st.sampled_from(["data", "data", "voice_mo"]))
    earlier: list[EventRecord] = []
    asked: list[GrantQuestion] = []
    for n, sub in enumerate(subs):
        plan = PLANS[SUBSCRIBERS[sub]]
        visited = draw(st.sampled_from(NEIGHBOURS[plan.home_country]))
        for i in range(draw(st.integers(0, 3))):
            used = draw(st.sampled_from(VOLUMES) if event == "data" else st.integers(0, 600))
            started = f"{day.isoformat()}T08:0{i}:00Z"
            earlier.append(_usage(f"e{n}.{i}", sub, event, started, visited, used))
        asked.append(_session(draw, n, sub, visited, day, event))
    _second_session(draw, asked)
    counters = Counters.empty()
    if earlier:
        counters = rate_group(earlier, PLANS, FX, CATALOG, counters, small_group_max=0).counters
    return asked, counters


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(questions())
def test_binary_search_grant_equals_rating_every_candidate(
    drawn: tuple[list[GrantQuestion], Counters],
) -> None:
    asked, counters = drawn
    found = find_grants(asked, counters, FX, CATALOG, {})
    for q, got in zip(asked, found, strict=True):
        want = _linear(q, counters)
        if isinstance(want, str):
            assert isinstance(got, ProblemError)
            assert got.extra.get("reason_code") == want
        else:
            assert got == want, (q.available, q.opened)


def test_nothing_available_grants_nothing() -> None:
    plan = PLANS["de-unl"]
    opened = SessionOpen(
        session_id="s",
        subscriber_id="s-de1",
        plan_id=plan.id,
        event_type="data",
        visited_country="FR",
        started_at="2026-02-09T09:00:00Z",
        requested_units=5,
    )
    found = find_grants([GrantQuestion(opened, plan, 0)], Counters.empty(), FX, CATALOG)
    assert found == [Grant(0, False, "reserved")]


NOTICES = ["billshock_80", "billshock_100", "billshock_extra", "fup_exhausted"]


def _near(draw: st.DrawFn, bound: int | None, step: int) -> int:
    """A counter value near ``bound`` (within a few units, or a few candidate steps), or
    anywhere up to twice it."""
    if bound is None:
        return draw(st.integers(0, 10**10))
    near = draw(
        st.one_of(
            st.integers(-3, 3),
            st.integers(-64, 64).map(lambda k: k * max(step, 1)),
            st.integers(0, 36).flatmap(lambda e: st.integers(-(2**e), 2**e // 2)),
        )
    )
    return max(draw(st.sampled_from([bound + near, bound + near, bound + near, 0, bound * 2])), 0)


@st.composite
def near_thresholds(draw: st.DrawFn) -> tuple[list[GrantQuestion], CounterStates]:
    """Questions of one to three subscribers whose period counters sit near the thresholds of
    their questions' segment (the counters of a first record, overwritten)."""
    subs = draw(st.lists(st.sampled_from(sorted(SUBSCRIBERS)), min_size=1, max_size=3, unique=True))
    day = draw(st.sampled_from(DAYS))
    event = draw(st.sampled_from(["data", "data", "voice_mo"]))
    first: list[EventRecord] = []
    asked: list[GrantQuestion] = []
    for n, sub in enumerate(subs):
        plan = PLANS[SUBSCRIBERS[sub]]
        visited = draw(st.sampled_from(NEIGHBOURS[plan.home_country]))
        first.append(_usage(f"e{n}", sub, event, f"{day.isoformat()}T08:00:00Z", visited, 0))
        asked.append(_session(draw, n, sub, visited, day, event))
    _second_session(draw, asked)
    states = as_states(rate_group(first, PLANS, FX, CATALOG, CounterStates({}, {})).counters)
    for q in asked[: len(subs)]:
        probe = _probe(q, q.available)
        event_of = NextEvent.of(probe, {q.plan.id: q.plan}, FX, CATALOG, states)
        if event_of is None:
            continue  # outside the memoised rater's scope: both searches rate
        pool, fup, limit, alert = event_of.limits()
        step = q.available // 64
        for key, state in states.periods.items():
            if key[0] != q.opened.subscriber_id:
                continue
            states.periods[key] = PeriodState(
                {name: _near(draw, pool, step) for name in state.pool_used},
                _near(draw, fup, step),
                _near(draw, draw(st.sampled_from([limit, alert if limit else None])), 1000),
                set(draw(st.lists(st.sampled_from(NOTICES), unique=True))),
            )
    return asked, states


def _probe(q: GrantQuestion, amount: int) -> EventRecord:
    data = q.opened.event_type == "data"
    return EventRecord(
        record_id="~probe",
        subscriber_id=q.opened.subscriber_id,
        plan_id=q.plan.id,
        event_type=q.opened.event_type,
        started_at=q.opened.started_at,
        utc_offset_min=q.opened.utc_offset_min,
        home_country=q.plan.home_country,
        visited_country=q.opened.visited_country,
        volume_bytes=amount if data else None,
        duration_s=None if data else amount,
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(near_thresholds())
def test_arithmetic_search_equals_rating_search_near_thresholds(
    drawn: tuple[list[GrantQuestion], CounterStates],
) -> None:
    asked, states = drawn
    by_arithmetic = find_grants(asked, states, FX, CATALOG, {})
    by_rating = find_grants(asked, states, FX, CATALOG, {}, arithmetic=False)
    assert [_compared(g) for g in by_arithmetic] == [_compared(g) for g in by_rating]


def _compared(found: Grant | ProblemError) -> object:
    """A grant, or a problem's status, text and extras (exceptions compare by identity)."""
    if isinstance(found, ProblemError):
        return (found.status, str(found), found.extra)
    return found


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(near_thresholds())
def test_arithmetic_search_equals_linear_scan_near_thresholds(
    drawn: tuple[list[GrantQuestion], CounterStates],
) -> None:
    asked, states = drawn
    found = find_grants(asked, states, FX, CATALOG, {})
    counters = as_counters(states)
    for q, got in zip(asked, found, strict=True):
        want = _linear(q, counters)
        if isinstance(want, str):
            assert isinstance(got, ProblemError)
        else:
            assert got == want, (q.available, q.opened)


def _question(visited: str = "FR", available: int = 10**6) -> GrantQuestion:
    plan = PLANS["de-small"]
    opened = SessionOpen(
        session_id="s",
        subscriber_id="s-de2",
        plan_id=plan.id,
        event_type="data",
        visited_country=visited,
        started_at="2026-02-09T09:00:00Z",
        requested_units=available,
    )
    return GrantQuestion(opened, plan, available)


def test_questions_in_scope_are_searched_without_rating(monkeypatch: pytest.MonkeyPatch) -> None:
    # 2 MB of allowance: the search goes past the largest and smallest candidates (of 100 kB)
    asked = [_question(available=6_400_000), _question()]
    want = [Grant(2_000_000, False, "allowance"), Grant(1_000_000, False, None)]
    assert find_grants(asked, Counters.empty(), FX, CATALOG, arithmetic=False) == want

    def no_rating(*args: object, **kwargs: object) -> None:
        raise AssertionError("a rating call")

    monkeypatch.setattr(grants, "rate_group", no_rating)
    assert find_grants(asked, Counters.empty(), FX, CATALOG) == want


def test_question_outside_scope_is_rated_and_its_reject_answered() -> None:
    found = find_grants([_question("QQ")], Counters.empty(), FX, CATALOG)
    assert isinstance(found[0], ProblemError)
    assert found[0].status == 422
    assert found[0].extra.get("reason_code") == "UNKNOWN_COUNTRY"


def test_next_event_rates_each_quantity_on_a_fresh_copy() -> None:
    q = _question()
    states = CounterStates({}, {})
    event_of = NextEvent.of(_probe(q, 10**6), {q.plan.id: q.plan}, FX, CATALOG, states)
    assert event_of is not None
    assert event_of.rate(1000) == event_of.rate(1000)  # the first call changed no counter
    rated = rate_group([_probe(q, 1000)], {q.plan.id: q.plan}, FX, CATALOG, states).rated[0]
    assert event_of.rate(1000) == (rated["in_bundle_units"], rated["billed_units"], False, False)
    bad = _probe(q, 10**6)
    bad = EventRecord(**{**msgspec.structs.asdict(bad), "subscriber_id": ""})
    assert NextEvent.of(bad, {q.plan.id: q.plan}, FX, CATALOG, states) is None
