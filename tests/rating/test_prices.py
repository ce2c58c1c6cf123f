"""``roamlike.rating.prices``: the price table, its segments priced once per set of rules."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest

from roamlike.law import default_catalog
from roamlike.rating import prices
from strategies import FX, PLANS

#: Visited countries of every kind of route from the plans' homes (DE, RS, AL, UA, PL, GB):
#: EU, EEA, Western Balkans, UA/MD, elsewhere; DE and AT have their own roaming price entry in
#: ``rs-basic`` (the others fall under its ``*`` entry), FR in ``gb-gbp`` (no entry elsewhere).
VISITED = ["AL", "AT", "BA", "CH", "DE", "ES", "FR", "GB", "MD", "ME", "NO", "PL", "RS", "UA", "US"]


def _pairs(lo: dt.date, hi: dt.date) -> pl.DataFrame:
    return pl.DataFrame(
        [(plan_id, visited, lo, hi) for plan_id in sorted(PLANS) for visited in VISITED],
        schema=["plan_id", "visited_country", "lo", "hi"],
        orient="row",
    )


def _one_by_one(pairs: pl.DataFrame) -> pl.DataFrame:
    """The table with every segment priced on its own (no rows shared)."""
    catalog = default_catalog()
    rows: list[dict[str, object]] = []
    for plan_id, visited, lo, hi in pairs.iter_rows():
        plan = PLANS[plan_id]
        for start in prices.segment_starts(plan, visited, lo, hi, FX, catalog.change_dates()):
            rows.extend(prices.segment_rows(plan, visited, start, FX, catalog))
    return pl.DataFrame(rows, schema=prices.SCHEMA, orient="row").sort("valid_from")


@pytest.mark.parametrize(
    ("lo", "hi", "kinds"),
    [
        # WB phase 1 (retail caps), then phases 2-3 and RLAH for the WB; the end of the EU
        # total price cap
        (
            dt.date(2019, 6, 20),
            dt.date(2022, 7, 10),
            {"domestic", "rlah", "retail_cap", "surcharge_cap", "unregulated"},
        ),
        # the EU-WB offer caps
        (
            dt.date(2025, 11, 1),
            dt.date(2026, 3, 31),
            {"domestic", "rlah", "offer_cap", "unregulated"},
        ),
    ],
)
def test_segments_of_the_same_rules_share_their_rows_and_price_as_one_by_one(
    lo: dt.date, hi: dt.date, kinds: set[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pairs = _pairs(lo, hi)
    expected = _one_by_one(pairs)
    computed: list[str] = []
    rules_rows = prices._rules_rows

    def counting(plan: Any, visited: str, *args: Any) -> list[dict[str, object]]:
        computed.append(visited)
        return rules_rows(plan, visited, *args)

    monkeypatch.setattr(prices, "_rules_rows", counting)
    table = prices.price_table(pairs, PLANS, FX, {}, catalog=default_catalog())
    assert table.equals(expected)
    segments = expected.height // len(prices.reasons.EVENT_TYPES)
    assert len(computed) < segments  # some segments were copies with another country
    # every route kind of the period is in the table, and rows that name their country: a
    # copy that took another price entry's prices or another country's message would differ
    assert set(table.get_column("rule_kind")) == kinds
    messages = table.get_column("seg_message").drop_nulls()
    assert messages.str.contains(" in CH ").any()
    assert messages.str.contains(" in US ").any()


def test_a_message_naming_the_visited_country_is_never_copied() -> None:
    # gb-gbp names a roaming price for FR only: outside RLAH every other country's rows say
    # which country has no price, each its own
    shared: prices.SharedRows = {}
    catalog = default_catalog()
    on = dt.date(2026, 3, 10)
    plan = PLANS["gb-gbp"]
    for visited in ("ES", "IT", "FR", "PT"):
        rows = prices.segment_rows(plan, visited, on, FX, catalog, shared=shared)
        assert rows == prices.segment_rows(plan, visited, on, FX, catalog)
        worded = [r["seg_message"] for r in rows if r.get("seg_message")]
        assert visited == "FR" or (worded and all(f"in {visited}" in m for m in worded))
