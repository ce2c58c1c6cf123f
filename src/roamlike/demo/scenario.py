"""The demo scenario: one synthetic year of roaming traffic, sample plans, FX, and re-dating.

The same records are rated as if they had happened on each key date of the Western Balkans
Regional Roaming Agreement and of the EU rules (:data:`KEY_DATES`), so that only the law changes
between runs. Everything here is deterministic: the same arguments give the same frames.

Traffic model
-------------
A synthetic **traveller** makes one trip in the year (so one trip is one billing period once the
trip is moved to a key date). Travellers come from the six Western Balkan economies (WB6), five
EU countries, Ukraine and Moldova, and travel on five route groups (:data:`ROUTE_GROUPS`):
WB6 within the region, WB6 in the EU, EU in the WB6, UA/MD in the WB6 and UA/MD in the EU.
Events: calls made and received (lognormal, median 2 min), SMS sent and received, data sessions
(lognormal, median 2 MB). Only roaming records are generated.

Plans and their provenance
--------------------------
* Albanian plan ``al-akep-max``: the **pre-agreement maxima** reported by AKEP, ALL 215/min for
  calls made, ALL 365/MB for data and ALL 65 per SMS (source ``commsupdate_2019``, CommsUpdate
  5 Jul 2019, grade secondary). They are maxima, not every plan's price. They are
  taken as **including VAT** (inference: ALBtelecom publishes its WB tariffs with VAT, and
  AKEP's post-cap ALL 28.5/min equals EUR 0.19 x 1.20 VAT x ~125 ALL/EUR, our arithmetic).
* Serbian plan ``rs-standard``: RATEL's reported pre-agreement regional prices, about RSD 28/min,
  RSD 30/MB and RSD 9 per SMS (source ``ratel_phases_kurir``, grade secondary).
* Every other price (the other WB6 plans' regional prices, all EU <-> WB and UA/MD prices,
  received calls, domestic bundles) is **illustrative**: plausible, not sourced.

From 2019-07-01 the engine applies the WB caps itself: the plans' roaming prices are clipped at
the phase-1 caps, phases 2-3 charge the domestic price plus a capped surcharge, and RLAH applies
from 2021-07-01. EU <-> WB routes are ``unregulated`` before 2023-10-01 and ``offer_cap`` after;
both are rated with the plan's own price list (the offer cap binds packages, not per-unit
prices). UA/MD in the EU is ``unregulated`` until 2025-12-31 and RLAH from 2026-01-01, with the
EU only (docs/law/ukraine-moldova.md).

Every plan sets ``billshock_continue: true`` (the customer chose to keep using data past the
bill-shock limit), so that averages show list prices rather than the effect of a cut-off.
"""

from __future__ import annotations

import bisect
import calendar
import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl

from roamlike.synth import fx_reference_rows
from roamlike.synth.areas import zone_countries
from roamlike.tariffs import FxRate, FxTable, Plan, parse_plan

__all__ = [
    "FX_GRADES",
    "FX_SOURCE",
    "HEADLINE_GROUP",
    "KEY_DATES",
    "ROUTE_GROUPS",
    "TRAVELLERS",
    "TYPICAL_TRIP",
    "FxUse",
    "KeyDate",
    "Scenario",
    "build_scenario",
    "demo_plans",
    "fx_used",
    "generate_traffic",
    "redate",
    "route_group_expr",
    "scenario_usage",
    "typical_travellers",
    "wb6",
]


def wb6() -> tuple[str, ...]:
    """The six Western Balkans countries: the members of the catalog's ``wb6`` zone."""
    return zone_countries("wb6")


EU_HOMES: tuple[str, ...] = ("DE", "AT", "IT", "SI", "GR")
#: The extra summary group the headline is computed on: Albanian subscribers in the WB6.
HEADLINE_GROUP = "AL -> WB"
ROUTE_GROUPS: tuple[str, ...] = ("WB -> WB", "WB -> EU", "EU -> WB", "UA/MD -> WB", "UA/MD -> EU")


@dataclass(frozen=True)
class KeyDate:
    """A date on which the demo rates the whole year of traffic, and what changes on it."""

    on: dt.date
    phase: str
    change: str


KEY_DATES: tuple[KeyDate, ...] = (
    KeyDate(
        dt.date(2019, 6, 30),
        "before the agreement",
        "WB6 <-> WB6 unregulated: operators' own prices (AKEP and RATEL pre-agreement levels)",
    ),
    KeyDate(
        dt.date(2019, 7, 1),
        "WB phase 1",
        "WB retail maxima EUR 0.19/min, 0.06/SMS, 0.18/MB, received EUR 0.04/min",
    ),
    KeyDate(
        dt.date(2020, 1, 1),
        "WB phase 2",
        "domestic price + surcharge (max EUR 0.05/min, 0.02/SMS, 0.025/MB)",
    ),
    KeyDate(
        dt.date(2020, 7, 1),
        "WB phase 3",
        "received calls max EUR 0.025/min, data surcharge max EUR 0.015/MB",
    ),
    KeyDate(dt.date(2021, 7, 1), "WB RLAH", "Roam-Like-At-Home in the WB6 (RRA Art. 5)"),
    KeyDate(
        dt.date(2023, 10, 1),
        "EU-WB offer caps",
        "signatories offer data at <= EUR 18/GB between the EU and the WB6",
    ),
    KeyDate(
        dt.date(2026, 1, 1),
        "UA/MD in EU RLAH",
        "Ukraine and Moldova join EU Roam-Like-At-Home (with the EU only); "
        "EU-WB offer cap EUR 14/GB",
    ),
)

#: Where the shipped FX table comes from and how good each currency's figures are
#: (``roamlike/data/fx_reference.md``).
FX_SOURCE = "roamlike/data/fx_reference.csv (see fx_reference.md)"
FX_GRADES: dict[str, str] = {
    "ALL": "approximate: annual average (ALL about 123 per EUR in mid-2019), placed on 1 July "
    "and interpolated monthly; no source read (fx_reference.md)",
    "RSD": "approximate: annual average (RSD about 117-118 since 2018), interpolated monthly; "
    "no source read (fx_reference.md)",
    "MKD": "approximate: annual average (MKD about 61.5), interpolated monthly; no source read "
    "(fx_reference.md)",
    "UAH": "approximate: annual average, interpolated monthly; no source read (fx_reference.md)",
    "MDL": "approximate: annual average, interpolated monthly; no source read (fx_reference.md)",
    "BAM": "peg 1.95583 (currency board; fx_reference.md)",
    "EUR": "1 (no conversion)",
}

# -- traveller model ------------------------------------------------------------------------

#: Share of travellers by home country.
_HOME_WEIGHTS: dict[str, float] = {
    "AL": 0.12, "RS": 0.16, "BA": 0.08, "MK": 0.07, "ME": 0.05, "XK": 0.07,
    "DE": 0.10, "AT": 0.06, "IT": 0.07, "SI": 0.03, "GR": 0.04,
    "UA": 0.09, "MD": 0.06,
}  # fmt: skip
_WB_DEST_EU: dict[str, float] = {
    "DE": 3.0, "AT": 2.0, "IT": 2.0, "GR": 1.5, "HR": 1.5, "SI": 1.0, "FR": 1.0,
}  # fmt: skip
_EU_DEST_WB: dict[str, float] = {
    "ME": 3.0, "AL": 3.0, "MK": 1.0, "RS": 1.5, "BA": 1.0, "XK": 0.5,
}  # fmt: skip
_UAMD_DEST_WB: dict[str, float] = {"ME": 2.0, "AL": 1.5, "RS": 1.0}
_UAMD_DEST_EU: dict[str, float] = {
    "PL": 4.0, "RO": 3.0, "DE": 2.0, "CZ": 1.5, "IT": 1.0,
}  # fmt: skip
#: Share of a home's trips that stay in the WB6 region (the rest go to the EU).
_P_REGION = {"wb": 0.6, "uamd": 0.4}
#: Standard UTC offset [min]; every country in the demo observes EU-style summer time.
_STD_OFFSET_MIN: dict[str, int] = {"GR": 120, "RO": 120, "UA": 120, "MD": 120}
_DEFAULT_STD_OFFSET_MIN = 60
_EVENTS: tuple[str, ...] = ("voice_mo", "voice_mt", "sms_mo", "sms_mt", "data")
_EVENT_P = np.array([0.20, 0.15, 0.10, 0.10, 0.45])
_HOUR_P = np.array(
    [0.6, 0.3, 0.2, 0.15, 0.15, 0.3, 1.0, 2.5, 4.0, 5.0, 5.5, 5.6,
     5.8, 5.6, 5.4, 5.4, 5.5, 5.8, 6.0, 6.2, 6.0, 5.0, 3.5, 1.8]
)  # fmt: skip
_HOUR_P = _HOUR_P / _HOUR_P.sum()
_BASE_YEAR = 2025
_RECORDS_PER_TRAVELLER = 40


def route_group_expr(home: pl.Expr, visited: pl.Expr) -> pl.Expr:
    """The route group (:data:`ROUTE_GROUPS`) of a record from its home and visited country."""
    src = (
        pl.when(home.is_in(list(wb6())))
        .then(pl.lit("WB"))
        .when(home.is_in(["UA", "MD"]))
        .then(pl.lit("UA/MD"))
        .otherwise(pl.lit("EU"))
    )
    dst = pl.when(visited.is_in(list(wb6()))).then(pl.lit("WB")).otherwise(pl.lit("EU"))
    return pl.concat_str(src, pl.lit(" -> "), dst)


def _destinations(home: str) -> list[tuple[dict[str, float], float]]:
    """(destination weights, probability of that set) for travellers of ``home``."""
    if home in wb6():
        region = {c: 1.0 for c in wb6() if c != home}
        return [(region, _P_REGION["wb"]), (_WB_DEST_EU, 1.0 - _P_REGION["wb"])]
    if home in ("UA", "MD"):
        return [(_UAMD_DEST_WB, _P_REGION["uamd"]), (_UAMD_DEST_EU, 1.0 - _P_REGION["uamd"])]
    return [(_EU_DEST_WB, 1.0)]


def _last_sunday(year: int, month: int) -> dt.date:
    last = dt.date(year, month, calendar.monthrange(year, month)[1])
    return last - dt.timedelta(days=(last.weekday() - 6) % 7)


def _is_summer(on: dt.date) -> bool:
    """EU summer time on local date ``on`` (a whole day; the switch day counts as summer)."""
    return _last_sunday(on.year, 3) <= on < _last_sunday(on.year, 10)


def _offset_min(country: str, on: dt.date) -> int:
    return _STD_OFFSET_MIN.get(country, _DEFAULT_STD_OFFSET_MIN) + (60 if _is_summer(on) else 0)


def generate_traffic(records: int, seed: int = 2019) -> pl.DataFrame:
    """One synthetic year of roaming traffic (canonical usage columns plus ``route_group``).

    Parameters
    ----------
    records : int
        Number of records (>= 0).
    seed : int
        Seed of :func:`numpy.random.default_rng`; the same arguments give the same frame.

    Returns
    -------
    polars.DataFrame
        Canonical usage columns (docs/rating.md §1.1) with local dates in the base year 2025,
        plus ``route_group`` (one of :data:`ROUTE_GROUPS`). Ordered by traveller, then time.

    Raises
    ------
    ValueError
        ``records < 0``.
    """
    if records < 0:
        raise ValueError(f"records must be >= 0, found {records}")
    rng = np.random.default_rng(seed)
    n = records
    n_trav = max(1, n // _RECORDS_PER_TRAVELLER)
    homes = list(_HOME_WEIGHTS)
    p_home = np.array(list(_HOME_WEIGHTS.values()))
    trav_home = rng.choice(len(homes), size=n_trav, p=p_home / p_home.sum())

    countries = sorted(set(homes) | set(wb6()) | set(_WB_DEST_EU) | set(_UAMD_DEST_EU))
    code = {c: i for i, c in enumerate(countries)}
    trav_dest = np.empty(n_trav, dtype=np.int64)
    u = rng.random(n_trav)
    for h, home in enumerate(homes):
        idx = np.flatnonzero(trav_home == h)
        if not idx.size:
            continue
        sets = _destinations(home)
        cum = np.cumsum([p for _, p in sets])
        which = np.searchsorted(cum, u[idx], side="right").clip(0, len(sets) - 1)
        for s, (weights, _) in enumerate(sets):
            sub = idx[which == s]
            if sub.size:
                values = np.array([code[c] for c in weights], dtype=np.int64)
                w = np.array(list(weights.values()))
                trav_dest[sub] = values[rng.choice(values.size, size=sub.size, p=w / w.sum())]
    plan_ids = demo_plan_ids()
    trav_plan = np.array(
        [
            plan_ids[homes[h]][k % len(plan_ids[homes[h]])]
            for h, k in zip(trav_home, rng.integers(0, 2, size=n_trav), strict=True)
        ],
        dtype=object,
    )
    trip_start = rng.integers(0, 365 - 14, size=n_trav)
    trip_days = np.clip(np.rint(rng.lognormal(math.log(5.0), 0.5, size=n_trav)), 1, 14)
    activity = rng.lognormal(0.0, 0.6, size=n_trav)

    rec_trav = np.sort(rng.choice(n_trav, size=n, p=activity / activity.sum()))
    day = trip_start[rec_trav] + (rng.random(n) * trip_days[rec_trav]).astype(np.int64)
    tod_s = rng.choice(24, size=n, p=_HOUR_P).astype(np.int64) * 3600
    tod_s += rng.integers(0, 3600, size=n, dtype=np.int64)
    event = rng.choice(len(_EVENTS), size=n, p=_EVENT_P)
    duration = np.clip(np.rint(rng.lognormal(math.log(120.0), 0.9, size=n)), 1, 7200)
    duration = duration.astype(np.int64)
    volume = np.clip(np.rint(rng.lognormal(math.log(2.0e6), 1.3, size=n)), 1_000, 500_000_000)
    volume = volume.astype(np.int64)
    count = 1 + (rng.random(n) < 0.05).astype(np.int64)

    home_c = np.array([code[homes[h]] for h in trav_home], dtype=np.int64)[rec_trav]
    visited_c = trav_dest[rec_trav]
    names = np.array(countries, dtype=object)
    base = dt.date(_BASE_YEAR, 1, 1)
    local_date = np.datetime64(base.isoformat(), "D") + day
    frame = pl.DataFrame(
        {
            "_trav": rec_trav.astype(np.int64),
            "_local_date": local_date,
            "_tod_s": tod_s,
            "home_country": names[home_c].tolist(),
            "visited_country": names[visited_c].tolist(),
            "plan_id": trav_plan[rec_trav].tolist(),
            "_event": event.astype(np.int64),
            "_duration": duration,
            "_volume": volume,
            "_count": count,
        },
        schema_overrides={"home_country": pl.String, "visited_country": pl.String},
    )
    frame = frame.sort("_trav", "_local_date", "_tod_s", maintain_order=True)
    ev_names = pl.Series(_EVENTS, dtype=pl.String)
    offsets = _offset_expr(pl.col("visited_country"), pl.col("_local_date"))
    local_ts = pl.col("_local_date").cast(pl.Datetime("us")) + pl.duration(seconds=pl.col("_tod_s"))
    width = max(7, len(str(n)))
    event_name = ev_names.gather(frame["_event"])
    return frame.with_columns(_event_name=event_name, utc_offset_min=offsets).select(
        record_id=pl.lit("r") + pl.int_range(1, n + 1).cast(pl.String).str.zfill(width),
        subscriber_id=pl.lit("t") + pl.col("_trav").cast(pl.String).str.zfill(6),
        plan_id=pl.col("plan_id"),
        event_type=pl.col("_event_name"),
        started_at=(local_ts - pl.duration(minutes=pl.col("utc_offset_min"))).dt.replace_time_zone(
            "UTC"
        ),
        utc_offset_min=pl.col("utc_offset_min"),
        home_country=pl.col("home_country"),
        visited_country=pl.col("visited_country"),
        destination_country=pl.when(pl.col("_event_name").is_in(["voice_mo", "sms_mo"])).then(
            pl.col("home_country")
        ),
        duration_s=pl.when(pl.col("_event_name").is_in(["voice_mo", "voice_mt"])).then(
            pl.col("_duration")
        ),
        volume_bytes=pl.when(pl.col("_event_name") == "data").then(pl.col("_volume")),
        count=pl.when(pl.col("_event_name").is_in(["sms_mo", "sms_mt"])).then(pl.col("_count")),
        is_beyond_fair_use=pl.lit(False),
        route_group=route_group_expr(pl.col("home_country"), pl.col("visited_country")),
    )


def _offset_expr(country: pl.Expr, local_date: pl.Expr) -> pl.Expr:
    """UTC offset [min] of ``country`` on ``local_date`` (standard + EU summer time)."""
    std = country.replace_strict(
        _STD_OFFSET_MIN, default=_DEFAULT_STD_OFFSET_MIN, return_dtype=pl.Int32
    )
    year = local_date.dt.year()
    march = pl.date(year, 3, 31)
    october = pl.date(year, 10, 31)
    # last Sunday of the month: the 31st minus (weekday mod 7), with Monday = 1 ... Sunday = 7
    begin = march - pl.duration(days=march.dt.weekday() % 7)
    end = october - pl.duration(days=october.dt.weekday() % 7)
    summer = (local_date >= begin) & (local_date < end)
    return (std + pl.when(summer).then(60).otherwise(0)).cast(pl.Int32)


def redate(usage: pl.DataFrame, on: dt.date) -> pl.DataFrame:
    """The same records moved to local date ``on``, keeping each record's local time of day.

    ``started_at`` becomes ``on`` + local time of day - the visited network's UTC offset on
    ``on``; ``utc_offset_min`` is that offset. Subscriber and record ids get the suffix
    ``@YYYY-MM-DD`` so that copies rated together never share counters or ids, and a
    ``scenario_date`` column records ``on``.
    """
    suffix = "@" + on.isoformat()
    local = pl.col("started_at").dt.replace_time_zone(None) + pl.duration(
        minutes=pl.col("utc_offset_min")
    )
    tod = local - local.dt.truncate("1d")
    summer = _is_summer(on)
    new_offset = pl.col("visited_country").replace_strict(
        _STD_OFFSET_MIN, default=_DEFAULT_STD_OFFSET_MIN, return_dtype=pl.Int32
    ) + (60 if summer else 0)
    midnight = dt.datetime(on.year, on.month, on.day)
    return usage.with_columns(
        record_id=pl.col("record_id") + suffix,
        subscriber_id=pl.col("subscriber_id") + suffix,
        utc_offset_min=new_offset.cast(pl.Int32),
        started_at=(pl.lit(midnight) + tod - pl.duration(minutes=new_offset))
        .dt.cast_time_unit("us")
        .dt.replace_time_zone("UTC"),
        scenario_date=pl.lit(on),
    )


def scenario_usage(usage: pl.DataFrame, dates: tuple[dt.date, ...]) -> pl.DataFrame:
    """All re-dated copies of ``usage``, one per date, stacked (see :func:`redate`)."""
    return pl.concat([redate(usage, d) for d in dates], how="vertical")


#: The typical travellers of the report: (name, plan, home, visited).
TRAVELLERS: tuple[tuple[str, str, str, str], ...] = (
    ("Albanian in Montenegro (plan at AKEP maxima)", "al-akep-max", "AL", "ME"),
    ("Serbian in Bosnia and Herzegovina", "rs-standard", "RS", "BA"),
    ("Albanian in Italy", "al-standard", "AL", "IT"),
    ("German in Montenegro", "de-standard", "DE", "ME"),
    ("Ukrainian in Poland", "ua-standard", "UA", "PL"),
)
#: One typical trip: (event, quantity, how many); 10 calls of 3 min made, 5 calls of 4 min
#: received, 10 SMS sent, 5 received, 30 data sessions of 10 MB (300 MB).
TYPICAL_TRIP: tuple[tuple[str, int, int], ...] = (
    ("voice_mo", 180, 10),
    ("voice_mt", 240, 5),
    ("sms_mo", 1, 10),
    ("sms_mt", 1, 5),
    ("data", 10_000_000, 30),
)


def typical_travellers() -> pl.DataFrame:
    """The trips of :data:`TRAVELLERS` (each :data:`TYPICAL_TRIP`), one local day, 08:00-22:00.

    Canonical usage columns plus ``traveller`` and ``route_group``; re-date with :func:`redate`.
    """
    rows: list[dict[str, Any]] = []
    base = dt.date(_BASE_YEAR, 7, 15)
    for t, (name, plan_id, home, visited) in enumerate(TRAVELLERS):
        events = [(e, q) for e, q, times in TYPICAL_TRIP for _ in range(times)]
        offset = _offset_min(visited, base)
        for i, (event, qty) in enumerate(events):
            local = dt.datetime(base.year, base.month, base.day, 8) + dt.timedelta(
                seconds=i * 14 * 3600 // len(events)
            )
            rows.append(
                {
                    "record_id": f"typ{t}-{i:03d}",
                    "subscriber_id": f"typ{t}",
                    "plan_id": plan_id,
                    "event_type": event,
                    "started_at": (local - dt.timedelta(minutes=offset)).replace(tzinfo=dt.UTC),
                    "utc_offset_min": offset,
                    "home_country": home,
                    "visited_country": visited,
                    "destination_country": home if event in ("voice_mo", "sms_mo") else None,
                    "duration_s": qty if event.startswith("voice") else None,
                    "volume_bytes": qty if event == "data" else None,
                    "count": qty if event.startswith("sms") else None,
                    "is_beyond_fair_use": False,
                    "traveller": name,
                }
            )
    frame = pl.DataFrame(
        rows,
        schema={
            "record_id": pl.String,
            "subscriber_id": pl.String,
            "plan_id": pl.String,
            "event_type": pl.String,
            "started_at": pl.Datetime("us", "UTC"),
            "utc_offset_min": pl.Int32,
            "home_country": pl.String,
            "visited_country": pl.String,
            "destination_country": pl.String,
            "duration_s": pl.Int64,
            "volume_bytes": pl.Int64,
            "count": pl.Int64,
            "is_beyond_fair_use": pl.Boolean,
            "traveller": pl.String,
        },
    )
    return frame.with_columns(
        route_group=route_group_expr(pl.col("home_country"), pl.col("visited_country"))
    )


# -- plans ----------------------------------------------------------------------------------


def _prices(countries: list[str], mo: str, mt: str, sms: str, data: str) -> dict[str, Any]:
    return {
        "countries": countries,
        "voice_mo_per_min": mo,
        "voice_mt_per_min": mt,
        "sms_mo": sms,
        "sms_mt": "0",
        "data_per_mb": data,
    }


_EU_ROAMING_DESTS = sorted(set(_WB_DEST_EU) | set(_UAMD_DEST_EU))

# id, home, currency, monthly price, allowance GB/min/SMS, out of bundle (min, SMS, MB),
# WB prices (mo, mt, SMS, MB), EU prices (mo, mt, SMS, MB), provenance of the WB prices
_PLAN_ROWS: tuple[tuple[Any, ...], ...] = (
    ("al-akep-max", "AL", "ALL", "1500", ("5", "300", 300), ("12", "6", "5"),
     ("215", "60", "65", "365"), ("150", "60", "40", "300"),
     "WB6 prices: AKEP pre-agreement maxima ALL 215/min, ALL 365/MB, ALL 65/SMS "
     "(commsupdate_2019, CommsUpdate 2019-07-05, secondary), taken as incl. VAT (inference); "
     "received calls, EU prices and the bundle are illustrative"),
    ("al-standard", "AL", "ALL", "1000", ("3", "200", 200), ("12", "6", "5"),
     ("120", "40", "30", "200"), ("150", "60", "40", "300"),
     "illustrative: a cheaper Albanian plan below the AKEP maxima"),
    ("rs-standard", "RS", "RSD", "1200", ("5", "300", 300), ("10", "5", "4"),
     ("28", "8", "9", "30"), ("120", "50", "30", "250"),
     "WB6 prices: RATEL pre-agreement levels about RSD 28/min, RSD 30/MB, RSD 9/SMS "
     "(ratel_phases_kurir, Kurir, secondary), taken as incl. VAT (inference); the rest is "
     "illustrative"),
    ("rs-plus", "RS", "RSD", "2000", ("15", "unlimited", "unlimited"), ("10", "5", "4"),
     ("25", "8", "8", "28"), ("100", "40", "25", "200"),
     "illustrative"),
    ("ba-standard", "BA", "BAM", "25", ("5", "300", 300), ("0.20", "0.10", "0.05"),
     ("0.60", "0.20", "0.20", "0.70"), ("2.00", "0.80", "0.50", "5.00"), "illustrative"),
    ("mk-standard", "MK", "MKD", "700", ("5", "300", 300), ("6", "3", "2"),
     ("18", "6", "6", "20"), ("60", "25", "15", "150"), "illustrative"),
    ("me-standard", "ME", "EUR", "12", ("5", "300", 300), ("0.10", "0.05", "0.03"),
     ("0.30", "0.10", "0.10", "0.35"), ("1.00", "0.40", "0.30", "2.00"), "illustrative"),
    ("xk-standard", "XK", "EUR", "10", ("4", "200", 200), ("0.10", "0.05", "0.03"),
     ("0.59", "0.20", "0.15", "1.00"), ("1.50", "0.60", "0.40", "4.00"), "illustrative"),
    ("ua-standard", "UA", "UAH", "250", ("10", "500", 200), ("1.5", "1", "0.5"),
     ("45", "20", "12", "80"), ("30", "15", "10", "60"), "illustrative"),
    ("md-standard", "MD", "MDL", "150", ("10", "500", 200), ("1", "0.6", "0.3"),
     ("30", "12", "8", "50"), ("22", "10", "6", "40"), "illustrative"),
)  # fmt: skip
_EU_PLAN = (
    "20", ("10", "unlimited", "unlimited"), ("0.10", "0.09", "0.01"),
    ("1.99", "0.79", "0.49", "0.99"),
)  # fmt: skip


def _plan_rows() -> list[tuple[Any, ...]]:
    rows = list(_PLAN_ROWS)
    for home in EU_HOMES:
        price, allowance, oob, wb = _EU_PLAN
        rows.append(
            (
                f"{home.lower()}-standard", home, "EUR", price, allowance, oob, wb, None,
                "illustrative (EU plan; prices in the WB6 are the operator's own)",
            )
        )  # fmt: skip
    return rows


def demo_plan_ids() -> dict[str, list[str]]:
    """Plan ids by home country, in the order travellers draw them."""
    out: dict[str, list[str]] = {}
    for row in _plan_rows():
        out.setdefault(row[1], []).append(row[0])
    return out


def demo_plans() -> list[dict[str, Any]]:
    """The sample tariff plans as ``parse_plan`` reads them (prices as quoted strings).

    All prices include VAT (``price_includes_vat: true``); see the module docstring for their
    provenance, also recorded in each plan's ``notes``.
    """
    plans: list[dict[str, Any]] = []
    for pid, home, currency, price, allowance, oob, wb, eu, notes in _plan_rows():
        gb, minutes, sms = allowance
        entries = [_prices([c for c in wb6() if c != home], *wb)]
        if eu is not None:
            entries.append(_prices(_EU_ROAMING_DESTS, *eu))
        plans.append(
            {
                "id": pid,
                "name": pid.replace("-", " ").title(),
                "operator": f"{home} demo operator",
                "home_country": home,
                "currency": currency,
                "price": price,
                "price_includes_vat": True,
                "billing_period": "month",
                "data_allowance_gb": gb,
                "voice_allowance_min": minutes,
                "sms_allowance": sms,
                "out_of_bundle": {"voice_per_min": oob[0], "sms": oob[1], "data_per_mb": oob[2]},
                "roaming": {"prices": entries},
                "billshock_continue": True,
                "notes": notes + "; EU prices of WB6/UA/MD plans are illustrative",
            }
        )
    return plans


# -- FX -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FxUse:
    """An exchange rate the demo uses: currency, key date, rate, and where it comes from."""

    currency: str
    on: dt.date
    units_per_eur: Decimal
    row_date: dt.date | None
    method: str
    grade: str


def fx_used(fx: FxTable, currencies: list[str], dates: tuple[dt.date, ...]) -> list[FxUse]:
    """Every (currency, date) rate the demo converts with, with its table row and grade."""
    out: list[FxUse] = []
    for currency in sorted(currencies):
        for on in dates:
            rate: FxRate = fx.rate(currency, on)
            series = fx.rates.get(currency, [])
            i = bisect.bisect_right(series, (on, Decimal("Infinity"))) - 1
            row = series[i][0] if i >= 0 and currency != "EUR" else None
            out.append(
                FxUse(
                    currency,
                    on,
                    rate.units_per_eur,
                    row,
                    rate.method,
                    FX_GRADES.get(currency, "see fx_reference.md"),
                )
            )
    return out


# -- the whole scenario ---------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """Traffic, plans and FX of the demo."""

    traffic: pl.DataFrame
    plan_docs: list[dict[str, Any]]
    plans: dict[str, Plan]
    fx: FxTable
    fx_rows: list[tuple[dt.date, str, Decimal]]


def build_scenario(records: int, seed: int = 2019) -> Scenario:
    """Generate the traffic and build the plans and FX table of the demo (deterministic)."""
    docs = demo_plans()
    plans = {d["id"]: parse_plan(d, None, i) for i, d in enumerate(docs)}
    currencies = {p.currency for p in plans.values()} - {"EUR"}
    rows = [r for r in fx_reference_rows() if r[1] in currencies]
    fx = FxTable.from_rows(rows, source=FX_SOURCE)
    return Scenario(generate_traffic(records, seed), docs, plans, fx, rows)
