"""Wholesale cap check: what a visited network charged against the cap in force, per event and
per partner and month.

Which events: calls made (``voice_mo``), SMS sent (``sms_mo``) and data (``data``), the services
whose wholesale charge the law caps. Calls received and SMS received have no wholesale roaming cap
(SMS termination may not be charged separately at all, Art. 10(4)); they are reported as
``not_regulated_service``.

The cap: ``resolve(home, visited, on).cap(service, "wholesale_max")`` on the event's **local start
date** (the governing date, ``docs/law/governing-date.md``). A pair whose regime has no wholesale
cap (the EU-Western Balkans offer caps are retail offer caps; any pair outside a regime) is
``unregulated`` and said so.

Units (Regulation (EU) 2022/612 Art. 9(3), 10(3), 11(3)): voice per second with an initial minimum
charging period of up to 30 s that the visited network may apply, so a call of ``d > 0`` seconds
counts ``max(d, 30)`` seconds; SMS per message; data per byte (decimal units, 1 MB = 10^6 bytes,
``docs/law/units-of-volume.md``).

Currency: the charges are in the file's TAP currency (SDR when the file names none). EUR charges
are used as they are; otherwise the FX table (``--fx``; Art. 1(4): mean of the ECB rates of 15
January, 15 February and 15 March, from 15 May) when it has the currency, else the file's own
exchange rate when the file's local currency is the euro. Otherwise ``no_rate_to_eur``.

Exactness: every amount is integer micro-euro; the amount at the cap is
``round_half_even(cap_nanos_per_unit x units / divisor)`` (:mod:`roamlike.money`).

References
----------
Regulation (EU) 2022/612 Art. 1(4), 9-11; Regulation (EU) No 531/2012 Art. 7, 9, 12 as amended;
Western Balkans Regional Roaming Agreement (wholesale caps), as held in the law catalog.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Final

import polars as pl

from roamlike.law import Catalog
from roamlike.money import round_div_expr
from roamlike.tariffs import FxTable
from roamlike.wholesale.cap_tables import CAP_DESCRIPTION, cap_table, eur_factors, eur_keys
from roamlike.wholesale.findings import Finding, finding

#: Service -> (unit of the counted quantity, units per law unit when the cap is per min/SMS/MB).
SERVICES: Final[dict[str, str]] = {"voice_mo": "s", "sms_mo": "message", "data": "byte"}
MIN_CHARGING_PERIOD_S: Final = 30


@dataclass
class CheckResult:
    """Per-event check rows, per-partner monthly totals, and findings."""

    events: pl.DataFrame
    partners: pl.DataFrame
    findings: list[Finding] = field(default_factory=list)


def check_wholesale(
    events: pl.DataFrame, catalog: Catalog, fx: FxTable | None = None
) -> CheckResult:
    """Check decoded TAP events against the wholesale caps in force.

    Parameters
    ----------
    events : polars.DataFrame
        Decoded events (:data:`roamlike.wholesale.EVENT_SCHEMA`), from one or more files.
    catalog : Catalog
        The law catalog.
    fx : FxTable, optional
        Euro exchange rates for charges not in euro.

    Returns
    -------
    CheckResult
        ``events``: one row per input event with ``status`` (``checked``, ``unregulated``,
        ``domestic``, ``not_regulated_service``, ``country_unknown``, ``not_in_force``,
        ``no_rate_to_eur``), units, ``charge_eur_micros``, the cap with basis and grade
        (``cap_nanos`` per ``cap_divisor`` units), the event's ``price_nanos_per_unit`` (its
        price in 10^-9 EUR per minute, SMS or MB, to compare with ``cap_nanos``),
        ``at_cap_eur_micros`` and ``is_above_cap``; ``partners``: per sender, recipient, month
        and service, the sums, the amount at the cap of the summed units, and whether the
        average is above the cap.
    """
    # the local start date: (UTC seconds + offset) floor-divided into days
    local_days = (
        pl.col("started_at").dt.epoch("s") + pl.col("utc_offset_min").cast(pl.Int64) * 60
    ) // 86_400
    et = pl.col("event_type")
    dur = pl.col("duration_s").fill_null(0)
    base = events.with_columns(
        local_days.cast(pl.Int32).cast(pl.Date).alias("on"),
        pl.when(et.is_in(list(SERVICES))).then(et).otherwise(None).alias("service"),
        pl.when(et == "voice_mo")
        .then(pl.when(dur > 0).then(pl.max_horizontal(dur, MIN_CHARGING_PERIOD_S)).otherwise(0))
        .when(et == "sms_mo")
        .then(1)
        .when(et == "data")
        .then(pl.col("volume_in_bytes").fill_null(0) + pl.col("volume_out_bytes").fill_null(0))
        .otherwise(None)
        .cast(pl.Int64)
        .alias("units"),
    ).with_columns(pl.col("on").dt.month_start().alias("month"))
    service = pl.col("service")
    keys = (
        base.filter(service.is_not_null())
        .select("home_country", "visited_country", "on", "service")
        .unique()
    )
    caps = cap_table(keys, catalog)
    eur = eur_factors(base, fx)
    identity = eur.filter((pl.col("eur_num") != 1) | (pl.col("eur_den") != 1)).is_empty()
    charge_eur = (
        pl.when(pl.col("eur_num").is_not_null()).then(pl.col("charge_micros"))
        if identity
        else round_div_expr(
            pl.col("charge_micros").cast(pl.Int128) * pl.col("eur_num"), pl.col("eur_den")
        )
    )
    has_cap = pl.col("cap_nanos").is_not_null()
    status = (
        pl.when(service.is_null())
        .then(pl.lit("not_regulated_service"))
        .when(pl.col("eur_num").is_null() & has_cap)
        .then(pl.lit("no_rate_to_eur"))
        .otherwise(pl.col("status"))
    )
    at_cap = at_cap_expr(pl.col("units"), pl.col("cap_nanos"), pl.col("cap_divisor"))
    joined = base.join(
        caps,
        on=["home_country", "visited_country", "on", "service"],
        how="left",
        nulls_equal=True,
        maintain_order="left",
    )
    if eur.height == 1:  # one currency setting for every event: no join needed
        joined = joined.with_columns(
            pl.lit(v, eur.schema[k]).alias(k)
            for k, v in eur.row(0, named=True).items()
            if k in ("eur_num", "eur_den", "fx_method")
        )
    else:
        joined = joined.join(
            eur, on=eur_keys(fx), how="left", nulls_equal=True, maintain_order="left"
        )
    checked = pl.col("is_checked")
    out = (
        joined.with_columns(
            status.alias("status"),
            charge_eur.alias("charge_eur_micros"),
            (has_cap & pl.col("eur_num").is_not_null()).alias("is_checked"),
        )
        .with_columns(
            pl.when(checked).then(at_cap).otherwise(None).alias("at_cap_eur_micros"),
            pl.when(checked & (pl.col("units") > 0))
            .then(
                round_div_expr(
                    pl.col("charge_eur_micros").cast(pl.Int128) * pl.col("cap_divisor") * 1000,
                    pl.col("units"),
                )
            )
            .otherwise(None)
            .alias("price_nanos_per_unit"),
        )
        .with_columns(
            (pl.col("charge_eur_micros") > pl.col("at_cap_eur_micros")).alias("is_above_cap")
        )
        .drop("eur_num", "eur_den", "is_checked")
    )
    partners = partner_totals(out)
    return CheckResult(out, partners, _findings(out, partners))


def at_cap_expr(units: pl.Expr, cap_nanos: pl.Expr, cap_divisor: pl.Expr) -> pl.Expr:
    """``round_half_even(cap_nanos x units / (divisor x 1000))``: micro-euro at the cap (exact).

    ``units`` are seconds, messages or bytes; ``cap_nanos`` is the cap in 10^-9 EUR per minute,
    message or MB; ``cap_divisor`` the units in one of those (60, 1, 10^6). Int128 inside, so
    any units below 2^63 are exact.
    """
    return round_div_expr(units.cast(pl.Int128) * cap_nanos, cap_divisor * 1000)


def partner_totals(checked: pl.DataFrame) -> pl.DataFrame:
    """Per sender, recipient, month, service and cap: sums in micro-euro and the average test.

    The amount at the cap is computed once from the summed units (Art. 9(3), 10(3), 11(3): the
    average is revenue over total minutes, messages or megabytes), not summed from events.
    """
    keys = ["sender", "recipient", "month", "service"]
    needed = [*keys, "cap_id", *CAP_DESCRIPTION, "units", "charge_eur_micros", "is_above_cap"]
    rows = checked.select(*needed, "at_cap_eur_micros").filter(
        pl.col("at_cap_eur_micros").is_not_null()
    )
    described = rows.select("cap_id", *CAP_DESCRIPTION).unique("cap_id")
    return (
        rows.group_by([*keys, "cap_id"])
        .agg(
            pl.len().alias("events"),
            pl.col("units").sum().alias("units"),
            pl.col("charge_eur_micros").sum().alias("charge_eur_micros"),
            pl.col("is_above_cap").sum().alias("events_above_cap"),
        )
        .join(described, on="cap_id", how="left")
        .select(*keys, *CAP_DESCRIPTION, "events", "units", "charge_eur_micros", "events_above_cap")
        .with_columns(
            at_cap_expr(pl.col("units"), pl.col("cap_nanos"), pl.col("cap_divisor")).alias(
                "at_cap_eur_micros"
            )
        )
        .with_columns(
            (pl.col("charge_eur_micros") > pl.col("at_cap_eur_micros")).alias(
                "is_average_above_cap"
            ),
            (pl.col("charge_eur_micros") - pl.col("at_cap_eur_micros"))
            .clip(lower_bound=0)
            .alias("excess_eur_micros"),
            pl.col("month").dt.strftime("%Y-%m"),
        )
        .sort(*keys, "cap_parameter", "cap_value")
    )


def average_per_unit(charge_micros: int, units: int, divisor: int) -> Decimal | None:
    """The average charge per law unit (EUR per min, SMS or MB), exact to 10^-9.

    Examples
    --------
    >>> average_per_unit(22_000, 60, 60)   # EUR 0.022 for one minute
    Decimal('0.022000000')
    """
    if units <= 0:
        return None
    value = Decimal(charge_micros) / Decimal(10**6) * Decimal(divisor) / Decimal(units)
    return value.quantize(Decimal("1e-9"))


def _findings(events: pl.DataFrame, partners: pl.DataFrame) -> list[Finding]:
    out: list[Finding] = []
    for r in partners.iter_rows(named=True):
        where = f"{r['sender']}->{r['recipient']} {r['month']} {r['service']}"
        avg = average_per_unit(r["charge_eur_micros"], r["units"], r["cap_divisor"])
        unit = "MB" if r["service"] == "data" else r["cap_unit"]
        if r["is_average_above_cap"]:
            out.append(
                finding(
                    "WS_AVERAGE_ABOVE_CAP",
                    where,
                    f"average EUR {avg} per {unit.split('/')[-1]} over {r['events']} events "
                    "is above "
                    f"the cap {r['cap_value']} {r['cap_unit']} ({r['cap_parameter']}, "
                    f"{r['cap_basis']}, grade {r['cap_grade']}); the law tests the average over "
                    "12 months (Art. 9(2), 10(2), 11(2) of 2022/612), this is the monthly average",
                )
            )
        if r["events_above_cap"]:
            out.append(
                finding(
                    "WS_EVENTS_ABOVE_CAP",
                    where,
                    f"{r['events_above_cap']} of {r['events']} events are priced above the cap "
                    f"{r['cap_value']} {r['cap_unit']}",
                )
            )
    codes = {
        "no_rate_to_eur": "WS_NO_RATE_TO_EUR",
        "not_in_force": "WS_NOT_IN_FORCE",
        "country_unknown": "WS_COUNTRY_UNKNOWN",
    }
    counts = (
        events.filter(pl.col("status").is_in(list(codes)))
        .group_by("file", "status", maintain_order=True)
        .agg(pl.len().alias("n"), pl.col("event_index").first().alias("first"))
    )
    for file, status, n, first in counts.iter_rows():
        out.append(
            finding(
                codes[status],
                str(file),
                f"{n} events not checked ({status.replace('_', ' ')}); first: event {first}",
            )
        )
    return out
