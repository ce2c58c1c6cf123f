"""``rate_what_if`` rates each quantity as ``rate_records_with_states`` rates that record alone.

Random histories (random batches rated into counters), then a random record of the same
subscribers and a few quantities (0, small, large, beyond the event's bound, negative): each
quantity's what-if row must equal the row ``rate_records_with_states`` gives the record with
that quantity, alone, on the same states (its ``is_late`` flag aside), and its notifications the
same but for ``welcome``; a quantity whose record is rejected answers None. The memos are kept
across examples, so most calls take a record validated and priced before.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roamlike.law import default_catalog
from roamlike.reference import CounterStates, PriceMemo, rate_records_with_states
from roamlike.reference.what_if import WhatIfMemo, rate_what_if
from strategies import FX, PLANS, records

CATALOG = default_catalog()
MEMO = PriceMemo()
VALIDATED = WhatIfMemo()
_COLUMN = {
    "voice_mo": "duration_s",
    "voice_mt": "duration_s",
    "data": "volume_bytes",
    "sms_mo": "count",
    "sms_mt": "count",
    "mms_mo": "count",
}
QUANTITIES = st.lists(
    st.sampled_from([0, 1, 59, 60, 61, 999, 1000, 1001, 10**6, 3 * 10**9, 10**12, 10**12 + 1, -1])
    | st.integers(0, 10**10),
    min_size=1,
    max_size=4,
)


def _alone(record: dict[str, Any], quantity: int, states: CounterStates) -> Any:
    column = _COLUMN.get(str(record.get("event_type") or "").strip(), "volume_bytes")
    return rate_records_with_states(
        [{**record, column: quantity}], PLANS, FX, catalog=CATALOG, states=states, memo=MEMO
    )


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(history=records(), asked=records(), quantities=QUANTITIES, twice=st.booleans())
def test_each_quantity_is_rated_as_the_record_alone(
    history: list[dict[str, Any]],
    asked: list[dict[str, Any]],
    quantities: list[int],
    twice: bool,
) -> None:
    states = rate_records_with_states(
        history, PLANS, FX, catalog=CATALOG, states=CounterStates(), memo=MEMO
    ).states
    record = {**asked[-1], "record_id": "~what-if"}
    given_states = copy.deepcopy(states)
    if twice:  # the memo's entry made by another record id, hit by this one
        rate_what_if({**record, "record_id": "~other"}, quantities, PLANS, FX, catalog=CATALOG,
                     states=states, memo=MEMO, validated=VALIDATED)  # fmt: skip
    found = rate_what_if(
        record, quantities, PLANS, FX, catalog=CATALOG, states=states, memo=MEMO,
        validated=VALIDATED,
    )  # fmt: skip
    assert states == given_states  # the candidates worked on copies
    assert len(found) == len(quantities)
    for quantity, what in zip(quantities, found, strict=True):
        want = _alone(record, quantity, states)
        if want.rejects:
            assert what is None, (quantity, want.rejects)
            continue
        ids_are_text = isinstance(record["subscriber_id"], str)
        if what is None:
            assert not ids_are_text  # the only candidates left to the ordinary way
            continue
        row = dict(want.rated[0])
        del row["is_late"]
        assert what.rated == row
        notes = sorted(want.notifications, key=lambda n: n["kind"])
        assert sorted(what.notifications, key=lambda n: n["kind"]) == [
            n for n in notes if n["kind"] != "welcome"
        ]


def test_a_rejected_record_answers_none_and_a_full_memo_is_emptied() -> None:
    record = {
        "record_id": "~c", "subscriber_id": "s-de2", "plan_id": "de-small", "event_type": "data",
        "started_at": "2026-03-01T10:00:00Z", "utc_offset_min": 60, "home_country": "DE",
        "visited_country": "FR",
    }  # fmt: skip
    small = WhatIfMemo(size=1)
    found = rate_what_if(record, [1000, 10**12 + 1, -1], PLANS, FX, catalog=CATALOG,
                         states=CounterStates(), validated=small)  # fmt: skip
    assert found[0] is not None
    assert found[0].rated["billed_units"] == 1
    assert found[1:] == [None, None]  # QUANTITY_OUT_OF_RANGE, NEGATIVE_QUANTITY
    unknown = {**record, "plan_id": "no-such-plan"}
    assert rate_what_if(unknown, [1000], PLANS, FX, catalog=CATALOG, states=CounterStates(),
                        validated=small) == [None]  # fmt: skip
    other = {**record, "started_at": "2026-03-02T10:00:00Z"}
    rate_what_if(other, [1000], PLANS, FX, catalog=CATALOG, states=CounterStates(),
                 validated=small)  # fmt: skip
    assert len(small._entries) == 1
