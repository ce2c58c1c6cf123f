"""The grant of a credit-control request: the most units usable before the next threshold.

The candidates are 64 amounts (1/64 ... 64/64 of what is available); the grant is the largest
candidate before the first one that *crosses a threshold* when rated as the subscriber's next
event with the stored counters:

* the bill-shock limit (Regulation (EU) 2022/612, Art. 14): the record is cut or reaches 100 %;
* the end of a domestic allowance: the allowance ends inside the amount;
* the fair-use volume: the amount is over it and the smallest candidate is not.

Each of the three grows with the amount (a larger amount costs at least as much, bills at least
as many units and draws at least as much on the fair-use volume), so "crosses" is false up to
some candidate and true from the next on. The first crossing candidate is therefore found by a
binary search: the largest candidate first (one rating call for every request of a commit
group, usually the last: a largest candidate that crosses nothing and is within the fair-use
volume is the grant), then the smallest, then the midpoints, about seven more rating calls of
one record per request in the worst case, instead of 64 ratings. ``tests/service/test_grants.py``
checks the search against rating all 64 candidates on random counters.

Every candidate is rated as the subscriber's next event (record ``~grant<i>.<k>``) on its
counters, and nothing is stored. A question whose record the memoised rater takes
(:func:`roamlike.service.fast_rater.rate_memoised`: clean text, every check passed, its price
segment in scope) is searched by :class:`roamlike.service.fast_rater.NextEvent`: that rater's
own arithmetic for the record alone on a copy of its period's counters, a few microseconds per
candidate, without a rating call (what that rater gives of the record rated alone, by
construction; ``tests/service/test_grants.py`` compares the two searches on counters near and
far from every threshold). Any other question is searched by
:func:`roamlike.service.group_rating.rate_group` (the reference rater for such small groups, the
engine otherwise): a round rates one candidate per question; when two questions name the same
subscriber, each candidate is rated for a private copy of the subscriber (``~grant<i>.<k>``)
carrying its counters, so candidates never share a counter.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

from roamlike.law import Catalog
from roamlike.reference import CounterStates
from roamlike.service.fast_rater import NextEvent, WhatIf, is_clean
from roamlike.service.group_rating import Carried, ParameterCache, as_states, rate_group
from roamlike.service.problems import ProblemError
from roamlike.service.schemas import EventRecord, SessionOpen
from roamlike.tariffs import FxTable, Plan

#: Number of candidate amounts (the grant's resolution is 1/STEPS of what is available).
STEPS = 64


@dataclass(frozen=True)
class Grant:
    """Units granted, and whether they are the last before the service is cut."""

    granted_units: int
    final_unit_indication: bool
    threshold: str | None  # "allowance", "fair_use", "billshock_limit", "reserved" or None


@dataclass(frozen=True)
class GrantQuestion:
    """One request's grant to find: the session, its plan and the units available to it."""

    opened: SessionOpen
    plan: Plan
    available: int  # requested units less what the subscriber's other sessions hold


def candidate_amounts(available: int) -> list[int]:
    """The distinct candidate amounts, ascending: ``max(1, available * k // STEPS)``."""
    return sorted({max(1, available * k // STEPS) for k in range(1, STEPS + 1)})


@functools.lru_cache(maxsize=4096)
def _amounts(available: int) -> tuple[int, ...]:
    """:func:`candidate_amounts`, kept: sessions ask for the same amounts again and again."""
    return tuple(candidate_amounts(available))


@dataclass
class _Search:
    amounts: tuple[int, ...]
    probed: dict[int, WhatIf]  # candidate -> (in-bundle, billed, over the fair use, cut)
    lo: int = -1  # largest candidate known not to cross (-1: none yet)
    hi: int | None = None  # smallest candidate known to cross
    grant: Grant | ProblemError | None = None


def _crossed(search: _Search, k: int, pool_unit: int) -> str | None:
    """The threshold candidate ``k`` crosses (the smallest must be probed if ``k`` is over the
    fair-use volume)."""
    in_bundle, billed, over_fup, cut = search.probed[k]
    if cut:
        return "billshock_limit"
    if 0 < in_bundle < billed * pool_unit:
        return "allowance"  # the domestic allowance ends inside this amount
    if over_fup and not search.probed[0][2]:
        return "fair_use"  # over the fair-use volume with this amount, not before
    return None


def _clear(search: _Search, k: int, pool_unit: int) -> bool:
    """Candidate ``k`` crosses nothing whatever the smallest candidate's row."""
    in_bundle, billed, over_fup, cut = search.probed[k]
    return not (cut or 0 < in_bundle < billed * pool_unit or over_fup)


def _probe_record(
    q: GrantQuestion, record_id: str, amount: int, subscriber: str | None = None
) -> EventRecord:
    """The candidate as an event of ``subscriber`` (default: a private copy, ``record_id``)."""
    is_data = q.opened.event_type == "data"
    return EventRecord(
        record_id=record_id,
        subscriber_id=subscriber or record_id,
        plan_id=q.plan.id,
        event_type=q.opened.event_type,
        started_at=q.opened.started_at,
        utc_offset_min=q.opened.utc_offset_min,
        home_country=q.opened.home_country or q.plan.home_country,
        visited_country=q.opened.visited_country,
        volume_bytes=amount if is_data else None,
        duration_s=None if is_data else amount,
    )


def _cloned(states: CounterStates, clones: dict[str, str]) -> CounterStates:
    """The counters of each clone: its subscriber's states under the clone's id (the rater
    works on a copy: clones never share a counter)."""
    periods = {
        (clone, plan, start): state
        for clone, sub in clones.items()
        for (owner, plan, start), state in states.periods.items()
        if owner == sub
    }
    subscribers = {
        clone: states.subscribers[sub] for clone, sub in clones.items() if sub in states.subscribers
    }
    return CounterStates(periods, subscribers)


def _probe(
    searches: list[_Search],
    questions: Sequence[GrantQuestion],
    wanted: dict[int, list[int]],
    counters: CounterStates,
    fx: FxTable,
    catalog: Catalog,
    cache: ParameterCache,
) -> None:
    """Rate the wanted candidates of each question, one call per distinct plan."""
    by_plan: dict[int, list[tuple[int, int]]] = {}
    for i, ks in wanted.items():
        for k in ks:
            by_plan.setdefault(id(questions[i].plan), []).append((i, k))
    for probes in by_plan.values():
        plan = questions[probes[0][0]].plan
        owners = {f"~grant{i}.{k}": questions[i].opened.subscriber_id.strip() for i, k in probes}
        own = len(set(owners.values())) == len(owners)  # one candidate per subscriber
        records = [
            _probe_record(
                questions[i],
                f"~grant{i}.{k}",
                searches[i].amounts[k],
                owners[f"~grant{i}.{k}"] if own else None,
            )
            for i, k in probes
        ]
        probe_counters = counters if own else _cloned(counters, owners)
        result = rate_group(records, {plan.id: plan}, fx, catalog, probe_counters, cache)
        for reject in result.rejects:
            i = probes[int(reject["row_number"])][0]
            searches[i].grant = ProblemError(
                422,
                f"the session's service cannot be rated: {reject['message']}",
                "session-rejected",
                reason_code=reject["reason_code"],
            )
        cut = {str(n["record_id"]) for n in result.notifications if n["kind"] == "billshock_100"}
        for row in result.rated:
            i, k = probes[int(row["row_number"])]
            searches[i].probed[k] = (
                int(row["in_bundle_units"]),
                int(row["billed_units"]),
                bool(row["is_over_fup"]),
                bool(row["is_blocked_by_cutoff"]) or str(row["record_id"]) in cut,
            )


def _next_events(
    searches: list[_Search],
    questions: Sequence[GrantQuestion],
    states: CounterStates,
    fx: FxTable,
    catalog: Catalog,
) -> dict[int, NextEvent]:
    """The questions the memoised rater's arithmetic searches (module docstring): each one's
    largest candidate as its subscriber's next event, when that rater takes it."""
    out: dict[int, NextEvent] = {}
    for i, (s, q) in enumerate(zip(searches, questions, strict=True)):
        if s.grant is not None:
            continue
        subscriber = q.opened.subscriber_id.strip()
        record = _probe_record(q, f"~grant{i}.{len(s.amounts) - 1}", s.amounts[-1], subscriber)
        if not is_clean(record):
            continue  # rate_group words it through another rater
        found = NextEvent.of(record, {q.plan.id: q.plan}, fx, catalog, states)
        if found is not None:
            out[i] = found
    return out


def find_grants(
    questions: Sequence[GrantQuestion],
    counters: Carried,
    fx: FxTable,
    catalog: Catalog,
    cache: ParameterCache | None = None,
    *,
    arithmetic: bool = True,
) -> list[Grant | ProblemError]:
    """The grant of each question, from the counters of the subscribers (module docstring).

    Parameters
    ----------
    questions : sequence of GrantQuestion
    counters : Counters or CounterStates
        The counters of the questions' subscribers (stored, after the group's usage).
    fx : FxTable
    catalog : Catalog
    cache : dict, optional
        Parameter lists kept between calls (:data:`roamlike.service.group_rating.ParameterCache`).
    arithmetic : bool
        Search the questions the memoised rater takes by its arithmetic
        (:class:`roamlike.service.fast_rater.NextEvent`); False: rate every candidate by
        :func:`roamlike.service.group_rating.rate_group` (the tests' reference).

    Returns
    -------
    list of Grant or ProblemError
        In the order of ``questions``; a 422 problem (``session-rejected``, with the engine's
        reason code) when the session's service cannot be rated.
    """
    cache = {} if cache is None else cache
    states = as_states(counters)
    searches = [_Search(_amounts(max(q.available, 1)), {}) for q in questions]
    for s, q in zip(searches, questions, strict=True):
        if q.available <= 0:
            s.grant = Grant(0, False, "reserved")
    fast = _next_events(searches, questions, states, fx, catalog) if arithmetic else {}
    wanted = {i: [len(s.amounts) - 1] for i, s in enumerate(searches) if s.grant is None}
    while wanted:
        rated: dict[int, list[int]] = {}
        for i, ks in wanted.items():
            event = fast.get(i)
            if event is None:
                rated[i] = ks
                continue
            for k in ks:
                searches[i].probed[k] = event.rate(searches[i].amounts[k])
        if rated:
            _probe(searches, questions, rated, states, fx, catalog, cache)
        wanted = {}
        for i, s in enumerate(searches):
            if s.grant is not None:
                continue
            q = questions[i]
            pool_unit = (
                (1024 if q.plan.binary_units else 1000) if q.opened.event_type == "data" else 1
            )
            top = len(s.amounts) - 1
            if 0 not in s.probed:  # the first round: the largest candidate alone
                if _clear(s, top, pool_unit):
                    s.grant = Grant(s.amounts[top], False, None)
                else:
                    wanted[i] = [0]
                continue
            if s.hi is None:  # the second round: the smallest candidate too
                first = _crossed(s, 0, pool_unit)
                if first is not None:
                    s.grant = Grant(0, first == "billshock_limit", first)
                    continue
                if _crossed(s, top, pool_unit) is None:  # within the fair-use volume, both
                    s.grant = Grant(s.amounts[top], False, None)
                    continue
                s.lo, s.hi = 0, top
            else:
                mid = (s.lo + s.hi) // 2
                if _crossed(s, mid, pool_unit) is None:
                    s.lo = mid
                else:
                    s.hi = mid
            if s.hi - s.lo > 1:
                wanted[i] = [(s.lo + s.hi) // 2]
            else:
                crossed = _crossed(s, s.hi, pool_unit)
                s.grant = Grant(s.amounts[s.lo], crossed == "billshock_limit", crossed)
    out: list[Grant | ProblemError] = []
    for s in searches:
        assert s.grant is not None
        out.append(s.grant)
    return out
