"""Lookup tables the wholesale check joins: the cap in force per distinct (home, visited, date,
service), and the factor to the euro per distinct currency setting.

Both are built in plain Python over the *distinct* keys of a run (a few hundred rows for millions
of events), from the law catalog (:func:`roamlike.law.resolve`) and the FX table, then joined to
the events in Polars.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import polars as pl

from roamlike.errors import FxError, NotInForceError, UnknownCountryError
from roamlike.law import Catalog, resolve
from roamlike.tariffs import FxTable

#: The columns that describe a cap (one ``cap_id`` per distinct combination).
CAP_DESCRIPTION = [
    "regime",
    "cap_parameter",
    "cap_value",
    "cap_unit",
    "cap_basis",
    "cap_grade",
    "cap_nanos",
    "cap_divisor",
]
CAP_SCHEMA = {
    "home_country": pl.String(),
    "visited_country": pl.String(),
    "on": pl.Date(),
    "service": pl.String(),
    "status": pl.String(),
    "regime": pl.String(),
    "rule_kind": pl.String(),
    "cap_value": pl.String(),
    "cap_unit": pl.String(),
    "cap_parameter": pl.String(),
    "cap_basis": pl.String(),
    "cap_grade": pl.String(),
    "cap_nanos": pl.Int64(),
    "cap_divisor": pl.Int64(),
}


def _cap_row(
    catalog: Catalog, home: str, visited: str, on: dt.date, service: str
) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(CAP_SCHEMA)
    row.update(home_country=home, visited_country=visited, on=on, service=service)
    try:
        rules = resolve(home, visited, on, catalog)
    except UnknownCountryError:
        row["status"] = "country_unknown"
        return row
    except NotInForceError:
        row["status"] = "not_in_force"
        return row
    row["regime"], row["rule_kind"] = rules.regime, rules.kind
    cap = rules.cap(service, "wholesale_max")
    if rules.regime == "domestic":
        row["status"] = "domestic"
        return row
    if cap is None:
        row["status"] = "unregulated"
        return row
    per_mb = {"EUR/GB": Decimal("0.001"), "EUR/MB": Decimal(1)}
    if service == "data":
        if cap.unit not in per_mb:
            raise ValueError(f"unexpected data cap unit {cap.unit}")
        nanos, divisor = cap.value * per_mb[cap.unit] * 10**9, 10**6
    else:
        nanos, divisor = cap.value * 10**9, 60 if service == "voice_mo" else 1
    if nanos != nanos.to_integral_value():
        raise ValueError(f"cap {cap.parameter} {cap.value} is finer than 10^-9 EUR")
    row.update(
        status="checked",
        cap_value=format(cap.value, "f"),
        cap_unit=cap.unit,
        cap_parameter=cap.parameter,
        cap_basis=f"{cap.basis.instrument} {cap.basis.article}",
        cap_grade=cap.grade,
        cap_nanos=int(nanos),
        cap_divisor=divisor,
    )
    return row


def _scaled(value: Decimal) -> tuple[int, int]:
    """(integer, power of ten) with value = integer / 10^power."""
    exp = int(value.normalize().as_tuple().exponent)
    power = max(0, -exp)
    return int(value.scaleb(power)), 10**power


def eur_keys(fx: FxTable | None) -> list[str]:
    """What the conversion to euro depends on (the date only when an FX table is used)."""
    return ["currency", "local_currency", "exchange_rate"] + (["on"] if fx is not None else [])


def eur_factors(events: pl.DataFrame, fx: FxTable | None) -> pl.DataFrame:
    """Per currency, local currency, exchange rate (and date): eur = charge x num / den."""
    keys = eur_keys(fx)
    combos = events.select(keys).unique()
    rows = []
    for combo in combos.iter_rows():
        cur, local, xr = combo[:3]
        on = combo[3] if fx is not None else None
        num = den = None
        method = None
        if cur == "EUR":
            num, den, method = 1, 1, "EUR"
        elif fx is not None and cur is not None and on is not None:
            try:
                rate = fx.rate(cur, on)
                value, power = _scaled(rate.units_per_eur)
                num, den, method = power, value, f"FX table: {rate.method}"
            except FxError:
                pass
        if num is None and local == "EUR" and xr is not None:
            value, power = _scaled(Decimal(xr))
            num, den, method = value, power, "file exchange rate to EUR"
        rows.append((*combo, num, den, method))
    schema = {
        "currency": pl.String(),
        "local_currency": pl.String(),
        "exchange_rate": pl.String(),
        "on": pl.Date(),
        "eur_num": pl.Int64(),
        "eur_den": pl.Int64(),
        "fx_method": pl.String(),
    }
    return pl.DataFrame(
        rows, schema={k: v for k, v in schema.items() if k != "on" or fx is not None}, orient="row"
    )


def cap_table(keys: pl.DataFrame, catalog: Catalog) -> pl.DataFrame:
    """The cap row (:data:`CAP_SCHEMA`) of every distinct (home, visited, on, service), with a
    small integer ``cap_id`` per distinct cap description (for cheap grouping)."""
    rows = [
        _cap_row(catalog, h, v, on, s)
        if h is not None and v is not None and on is not None
        else {
            **dict.fromkeys(CAP_SCHEMA),
            "home_country": h,
            "visited_country": v,
            "on": on,
            "service": s,
            "status": "country_unknown",
        }
        for h, v, on, s in keys.iter_rows()
    ]
    caps = (
        pl.DataFrame(rows, schema=CAP_SCHEMA, orient="row")
        if rows
        else pl.DataFrame(schema=CAP_SCHEMA)
    )
    return caps.with_columns(
        pl.struct(CAP_DESCRIPTION).rank("dense").cast(pl.Int32).alias("cap_id")
    )
