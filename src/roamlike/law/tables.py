"""The rules as an effective-dated table, for the engine's as-of join per row.

One row per (home_country, visited_country, valid_from) where the regime, kind or any cap changes.
A pair's rows are in force from ``valid_from`` until the next row; a final row with a null
``regime`` marks the end of the catalog's coverage. Cap values are decimal strings in the law's
unit, with the parameter id beside them (``<service>__<measure>`` and ``..._parameter``).
``resolve`` and this table are tested to agree.
"""

from __future__ import annotations

import datetime as dt
from functools import cache

import polars as pl

from roamlike.law.catalog import MEASURES, SERVICES, Catalog, default_catalog
from roamlike.law.resolution import Rules, format_decimal, resolve

#: (service, measure) pairs, in a fixed order, that get a column each.
CAP_COLUMNS: tuple[tuple[str, str], ...] = tuple((s, m) for s in SERVICES for m in MEASURES)


def cap_column(service: str, measure: str) -> str:
    """Column name of a cap value, e.g. ``data__retail_surcharge_max``."""
    return f"{service}__{measure}"


def _row(home: str, visited: str, start: dt.date, rules: Rules | None) -> dict[str, object]:
    row: dict[str, object] = {
        "home_country": home,
        "visited_country": visited,
        "valid_from": start,
        "regime": None if rules is None else rules.regime,
        "rule_kind": None if rules is None else rules.kind,
    }
    for service, measure in CAP_COLUMNS:
        cap = None if rules is None else rules.cap(service, measure)
        col = cap_column(service, measure)
        row[col] = None if cap is None else format_decimal(cap.value)
        row[col + "_parameter"] = None if cap is None else cap.parameter
    return row


def _signature(row: dict[str, object]) -> tuple[object, ...]:
    return tuple(v for k, v in row.items() if k not in ("valid_from",))


@cache
def _table(cat: Catalog) -> pl.DataFrame:
    dates = cat.change_dates()
    end = cat.coverage.end + dt.timedelta(days=1)
    codes = sorted(cat.countries)
    rows: list[dict[str, object]] = []
    for home in codes:
        for visited in codes:
            last: tuple[object, ...] | None = None
            for d in dates:
                rules = None if d >= end else resolve(home, visited, d, cat)
                row = _row(home, visited, d, rules)
                sig = _signature(row)
                if sig != last:
                    rows.append(row)
                    last = sig
    schema: dict[str, pl.DataType] = {
        "home_country": pl.String(),
        "visited_country": pl.String(),
        "valid_from": pl.Date(),
        "regime": pl.String(),
        "rule_kind": pl.String(),
    }
    for service, measure in CAP_COLUMNS:
        schema[cap_column(service, measure)] = pl.String()
        schema[cap_column(service, measure) + "_parameter"] = pl.String()
    return pl.DataFrame(rows, schema=schema, orient="row").sort(
        "home_country", "visited_country", "valid_from"
    )


def effective_table(catalog: Catalog | None = None) -> pl.DataFrame:
    """The effective-dated rules table for every ordered pair of catalog countries."""
    return _table(catalog or default_catalog())


def lookup_table(
    table: pl.DataFrame, home: str, visited: str, on: dt.date
) -> dict[str, object] | None:
    """As-of lookup of one (home, visited, date) in an effective table (for tests and tools).

    Returns the row in force, or None before the first row. A row whose ``regime`` is null means
    the date is past the catalog's coverage.
    """
    probe = pl.DataFrame(
        {"home_country": [home], "visited_country": [visited], "on": [on]},
        schema={"home_country": pl.String(), "visited_country": pl.String(), "on": pl.Date()},
    )
    joined = probe.sort("on").join_asof(
        table,
        left_on="on",
        right_on="valid_from",
        by=["home_country", "visited_country"],
        strategy="backward",
    )
    row = joined.row(0, named=True)
    if row["valid_from"] is None:
        return None
    return row
