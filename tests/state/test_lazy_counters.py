"""Counters and known record ids handed to the engine as functions (``rate_usage``), which a
store resolves while the records are validated and priced (``roamlike.state.hooks``): the
same rated values, rejects, notifications and counters as the values themselves."""

from __future__ import annotations

from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comparison import text_frame
from roamlike.counters import Counters
from roamlike.rating import rate_usage
from strategies import FX, PLANS, records


def _frames(result: Any) -> list[pl.DataFrame]:
    return [
        result.rated,
        result.rejects,
        result.notifications,
        result.counters.periods,
        result.counters.subscribers,
    ]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(rows=records(), cut=st.integers(0, 40), known=st.sets(st.integers(0, 60), max_size=8))
def test_rating_md_9_counters_and_known_ids_given_as_functions_rate_as_the_values(
    rows: list[dict[str, Any]], cut: int, known: set[int]
) -> None:
    """The earlier part of the records leaves counters; some record ids are known from earlier
    runs (a row with one is a DUPLICATE_RECORD_ID unless another reason comes first)."""
    earlier, now = rows[:cut], rows[cut:]
    counters = rate_usage(text_frame(earlier), PLANS, FX).counters if earlier else Counters.empty()
    ids = pl.Series(
        sorted({str(now[i % len(now)]["record_id"]) for i in known}) if now else [],
        dtype=pl.String,
    )
    usage = text_frame(now) if now else text_frame(rows)
    given_values = rate_usage(usage, PLANS, FX, counters=counters, known_record_ids=ids)
    calls: list[str] = []

    def counters_now() -> Counters:
        calls.append("counters")
        return counters

    def known_now() -> pl.Series:
        calls.append("known")
        return ids

    lazy = rate_usage(usage, PLANS, FX, counters=counters_now, known_record_ids=known_now)
    assert calls == ["known", "counters"]  # each once, the ids first
    for a, b in zip(_frames(given_values), _frames(lazy), strict=True):
        assert a.equals(b), (a, b)
