"""``resolve`` and the effective-dated table agree (the engine joins the table)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from roamlike.errors import NotInForceError
from roamlike.law import CAP_COLUMNS, default_catalog, effective_table, lookup_table, resolve
from roamlike.law.tables import cap_column

CATALOG = default_catalog()
CODES = sorted(CATALOG.countries)
CHANGE_DAYS = sorted(
    {d + dt.timedelta(days=k) for d in CATALOG.change_dates() for k in (-1, 0)}
    | {dt.date(2017, 6, 14), dt.date(2032, 6, 30), dt.date(2032, 7, 1)}
)

days = st.one_of(
    st.dates(min_value=dt.date(2017, 1, 1), max_value=dt.date(2033, 1, 1)),
    st.sampled_from(CHANGE_DAYS),
)


def _assert_agree(home: str, visited: str, on: dt.date, table: pl.DataFrame) -> None:
    row = lookup_table(table, home, visited, on)
    try:
        rules = resolve(home, visited, on)
    except NotInForceError:
        assert row is None or row["regime"] is None, (home, visited, on)
        return
    assert row is not None, (home, visited, on)
    assert (row["regime"], row["rule_kind"]) == (rules.regime, rules.kind), (home, visited, on)
    for service, measure in CAP_COLUMNS:
        col = cap_column(service, measure)
        cap = rules.cap(service, measure)
        if cap is None:
            assert row[col] is None, (home, visited, on, col)
            assert row[col + "_parameter"] is None, (home, visited, on, col)
        else:
            assert row[col] is not None, (home, visited, on, col)
            assert Decimal(row[col]) == cap.value, (home, visited, on, col)
            assert row[col + "_parameter"] == cap.parameter, (home, visited, on, col)


@settings(max_examples=200, deadline=None)
@given(home=st.sampled_from(CODES), visited=st.sampled_from(CODES), on=days)
def test_resolve_and_table_agree(home: str, visited: str, on: dt.date) -> None:
    _assert_agree(home, visited, on, effective_table())


def test_table_agrees_on_the_issue_examples() -> None:
    table = effective_table()
    d = dt.date
    for home, visited, on in [
        ("RS", "ME", d(2019, 8, 1)),
        ("RS", "ME", d(2020, 3, 1)),
        ("AL", "RS", d(2021, 7, 1)),
        ("DE", "AT", d(2026, 3, 1)),
        ("GB", "FR", d(2020, 12, 31)),
        ("GB", "FR", d(2021, 1, 1)),
        ("UA", "PL", d(2026, 1, 1)),
        ("RS", "DE", d(2023, 10, 1)),
        ("DE", "AT", d(2018, 3, 1)),
        ("DE", "AT", d(2017, 6, 14)),
        ("DE", "AT", d(2032, 7, 1)),
    ]:
        _assert_agree(home, visited, on, table)


def test_table_outside_coverage() -> None:
    table = effective_table()
    assert lookup_table(table, "DE", "AT", dt.date(2017, 6, 14)) is None
    after = lookup_table(table, "DE", "AT", dt.date(2032, 7, 1))
    assert after is not None
    assert after["regime"] is None
    row = lookup_table(table, "DE", "AT", dt.date(2026, 3, 1))
    assert row is not None
    assert row["data__wholesale_max"] == "1.10"
    assert row["data__wholesale_max_parameter"] == "eu.wholesale.data_eur_per_gb"


def test_table_has_every_ordered_pair() -> None:
    pairs = effective_table().select("home_country", "visited_country").unique()
    assert pairs.height == len(CODES) ** 2
