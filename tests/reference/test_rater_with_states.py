"""``rate_records_with_states`` is ``rate_records`` with its counters as plain states.

Random batches, split into chunks rated one after the other (counters and known record ids
carried, chunks in read order so later chunks hold late records), are rated by
:func:`rate_records` (counters as frames) and by :func:`rate_records_with_states` (counters as
:class:`CounterStates`, pricing taken from one :class:`PriceMemo` kept across the chunks and
the examples, so most records are priced from a segment seen before with other quantities):
every rated row, reject, notification and the counters after each chunk must be equal, and
the states given to a run are never modified.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roamlike.counters import Counters
from roamlike.law import default_catalog
from roamlike.reference import (
    CounterStates,
    PriceMemo,
    rate_records,
    rate_records_with_states,
)
from strategies import FX, PLANS, records

CATALOG = default_catalog()
MEMO = PriceMemo()


def _chunks(rows: list[dict[str, Any]], cuts: list[int]) -> list[list[dict[str, Any]]]:
    bounds = [0, *sorted({min(c, len(rows)) for c in cuts}), len(rows)]
    return [rows[a:b] for a, b in itertools.pairwise(bounds) if b > a]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=records(), cuts=st.lists(st.integers(0, 30), max_size=3))
def test_rating_with_states_and_a_price_memo_equals_rate_records(
    rows: list[dict[str, Any]], cuts: list[int]
) -> None:
    counters = Counters.empty()
    states = CounterStates()
    known: set[str] = set()
    for chunk in _chunks(rows, cuts):
        want = rate_records(chunk, PLANS, FX, catalog=CATALOG, counters=counters,
                            known_record_ids=known)  # fmt: skip
        given_states = copy.deepcopy(states)
        got = rate_records_with_states(
            chunk, PLANS, FX, catalog=CATALOG, states=states, memo=MEMO, known_record_ids=known
        )
        assert states == given_states  # the run worked on a copy
        assert got.rated == want.rated
        assert got.rejects == want.rejects
        assert got.notifications == want.notifications
        assert got.states == CounterStates.from_counters(want.counters)
        assert got.states.to_counters().periods.equals(want.counters.periods)
        assert got.states.to_counters().subscribers.equals(want.counters.subscribers)
        counters = counters.merge(want.counters)
        states = states.merge(got.states)
        known |= {str(r["record_id"]).strip() for r in chunk if str(r["record_id"] or "").strip()}
    assert states == CounterStates.from_counters(counters)


def test_a_memo_is_emptied_when_full_and_prices_alike() -> None:
    rows = [
        {"record_id": f"r{i}", "subscriber_id": "s-de2", "plan_id": "de-small",
         "event_type": "data", "started_at": f"2026-03-0{1 + i}T10:00:00Z",
         "utc_offset_min": 60, "home_country": "DE", "visited_country": "FR",
         "volume_bytes": 1000 * (i + 1)}
        for i in range(4)
    ]  # fmt: skip
    small = PriceMemo(size=2)
    got = rate_records_with_states(rows, PLANS, FX, catalog=CATALOG, states=CounterStates(),
                                   memo=small)  # fmt: skip
    assert len(small._entries) <= 2  # four days: four segments through a memo of two
    want = rate_records(rows, PLANS, FX, catalog=CATALOG)
    assert got.rated == want.rated
    assert got.notifications == want.notifications
