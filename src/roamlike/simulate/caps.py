"""The rules of a catalog per (home, visited) pair and date segment: regime, wholesale caps, and
whether anything hypothetical decides them.

One row per pair and per catalog change date within the dates the usage covers, so the usage can
be joined as-of its local date (the governing date of docs/rating.md §2). Wholesale caps are
decimal strings in euro per minute (calls made), per SMS (SMS sent) and per GB (data; a per-MB
cap is multiplied by 1000, decimal units). Services without a wholesale cap in the regime
(received calls, received SMS, MMS, and every service of ``offer_cap``, ``unregulated`` and
``domestic``) have none: their wholesale flows are not valued.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl

from roamlike.law import Catalog, Rules, format_decimal, resolve
from roamlike.law.scenarios import rests_on_hypothesis

#: Services with a wholesale cap, the unit the cap is expressed in here, and the unit of volume.
WHOLESALE_SERVICES: dict[str, tuple[str, str]] = {
    "voice_mo": ("EUR/min", "s"),
    "sms_mo": ("EUR/SMS", "msg"),
    "data": ("EUR/GB", "byte"),
}

SCHEMA: dict[str, pl.DataType] = {
    "home_country": pl.String(),
    "visited_country": pl.String(),
    "valid_from": pl.Date(),
    "regime": pl.String(),
    "is_hypothetical": pl.Boolean(),
    **{f"wholesale_{s}": pl.String() for s in WHOLESALE_SERVICES},
}


def wholesale_cap(rules: Rules, service: str) -> Decimal | None:
    """The wholesale cap of ``service`` in euro per minute, SMS or GB, or None.

    Examples
    --------
    >>> import datetime as dt
    >>> wholesale_cap(resolve("RS", "ME", dt.date(2026, 3, 1)), "data")
    Decimal('2.5')
    """
    cap = rules.cap(service, "wholesale_max")
    if cap is None:
        return None
    value = cap.value * 1000 if cap.unit == "EUR/MB" else cap.value
    return value.normalize() if value else Decimal(0)


def rules_table(pairs: pl.DataFrame, catalog: Catalog) -> pl.DataFrame:
    """The rules per pair from its first to its last date (as-of table, sorted by ``valid_from``).

    Parameters
    ----------
    pairs : polars.DataFrame
        Columns ``home_country``, ``visited_country``, ``lo``, ``hi`` (first and last local date
        of the pair's records).
    catalog : Catalog
        The law to apply (the baseline or a scenario's).
    """
    change_dates = catalog.change_dates()
    rows: list[dict[str, object]] = []
    for home, visited, lo, hi in pairs.select(
        "home_country", "visited_country", "lo", "hi"
    ).iter_rows():
        starts: list[dt.date] = [lo, *(d for d in change_dates if lo < d <= hi)]
        for start in starts:
            rules = resolve(home, visited, start, catalog)
            row: dict[str, object] = {
                "home_country": home,
                "visited_country": visited,
                "valid_from": start,
                "regime": rules.regime,
                "is_hypothetical": rests_on_hypothesis(rules, catalog),
            }
            for service in WHOLESALE_SERVICES:
                cap = wholesale_cap(rules, service)
                row[f"wholesale_{service}"] = None if cap is None else format_decimal(cap)
            rows.append(row)
    return pl.DataFrame(rows, schema=SCHEMA, orient="row").sort("valid_from")
