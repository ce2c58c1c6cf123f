"""The engine equals the reference rater, record by record (docs/rating.md).

Hypothesis draws batches of usage (``strategies.records``); both raters must agree on every
rated value, every reject code and every notification.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings

from comparison import differences, text_frame
from roamlike.rating import rate_usage
from roamlike.reference import rate_records
from strategies import FX, PLANS, records


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records())
def test_engine_equals_reference(rows: list[dict[str, Any]]) -> None:
    expected = rate_records(rows, PLANS, FX)
    got = rate_usage(text_frame(rows), PLANS, FX)
    assert got.read == len(rows) == got.rated.height + got.rejects.height
    assert differences(expected, got) == []
