"""Synthetic but realistic roaming usage, tariff plans and FX rates, generated vectorized.

The model, in order:

1. **Subscribers** of operators in the Western Balkans (AL, BA, XK, ME, MK, RS), EU countries and
   Ukraine/Moldova, each with one tariff plan of its home country and an activity weight
   (lognormal: a few heavy users, many light ones).
2. **Trips**: a Poisson number per subscriber (rate drawn per subscriber, so some travel often),
   starting anywhere in the window and lasting days to weeks (lognormal, median 4 days, at most
   28), to neighbouring and popular destinations of the home country (WB↔WB, WB↔EU, EU↔EU,
   UA/MD→EU, EU→WB and a few to GB, unregulated since 2021). Trips of one subscriber never overlap.
3. **Events**: each record picks a subscriber by activity, a day and a local hour (diurnal
   profile); it is roaming when it falls in one of the subscriber's trips, domestic otherwise.
   Event mix ``data`` 50 %, ``voice_mo`` 16 %, ``voice_mt`` 14 %, ``sms_mt`` 10 %, ``sms_mo``
   8 %, ``mms_mo`` 2 %. Calls: lognormal, median 90 s (2 % of outgoing calls unanswered, 0 s);
   data sessions: lognormal, median 1.5 MB (tens of kB to hundreds of MB).
4. **Local time**: ``utc_offset_min`` is the visited country's standard offset plus one hour
   under EU summer time (last Sunday of March to last Sunday of October, 01:00 UTC; Iceland
   none). ``started_at`` is UTC, microseconds, inside ``[start, start + months)``.

Everything is drawn from one :func:`numpy.random.default_rng` seeded with ``seed``: the same
arguments always give the same frame, byte for byte once written.
"""

from __future__ import annotations

import calendar
import csv
import datetime as dt
import importlib.resources
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from roamlike.law import default_catalog
from roamlike.synth.areas import zone_countries
from roamlike.tariffs.fx import FxTable

__all__ = ["EVENT_TYPES", "HOME_WEIGHTS", "SynthResult", "fx_reference_rows", "generate"]

#: Event types in the order of their codes, with their share of records.
EVENT_TYPES: tuple[str, ...] = ("data", "voice_mo", "voice_mt", "sms_mt", "sms_mo", "mms_mo")
_EVENT_P = np.array([0.50, 0.16, 0.14, 0.10, 0.08, 0.02])

#: Share of subscribers by home country (normalised).
HOME_WEIGHTS: dict[str, float] = {
    "RS": 0.14, "AL": 0.06, "BA": 0.06, "MK": 0.04, "ME": 0.03, "XK": 0.04,
    "DE": 0.12, "AT": 0.05, "IT": 0.08, "HR": 0.05, "GR": 0.05, "SI": 0.03, "BG": 0.04,
    "FR": 0.06, "PL": 0.05, "RO": 0.04, "HU": 0.02, "UA": 0.05, "MD": 0.03,
}  # fmt: skip
_NEIGHBOURS: dict[str, tuple[str, ...]] = {
    "AL": ("XK", "ME", "MK", "GR", "IT"),
    "BA": ("RS", "HR", "ME"),
    "XK": ("AL", "MK", "RS", "ME"),
    "ME": ("RS", "BA", "AL", "HR", "XK"),
    "MK": ("RS", "AL", "GR", "BG", "XK"),
    "RS": ("BA", "ME", "MK", "HU", "RO", "BG", "HR", "XK"),
    "DE": ("AT", "FR", "NL", "PL", "CZ", "DK", "BE", "LU"),
    "AT": ("DE", "IT", "SI", "HU", "CZ", "SK"),
    "IT": ("FR", "AT", "SI", "HR", "GR"),
    "HR": ("SI", "BA", "RS", "HU", "ME", "IT"),
    "GR": ("BG", "MK", "AL", "CY", "IT"),
    "SI": ("AT", "IT", "HR", "HU"),
    "BG": ("RO", "GR", "RS", "MK"),
    "FR": ("ES", "IT", "DE", "BE", "LU"),
    "PL": ("DE", "CZ", "SK", "LT", "UA"),
    "RO": ("HU", "BG", "MD", "RS"),
    "HU": ("AT", "SK", "RO", "HR", "RS"),
    "UA": ("PL", "RO", "MD", "SK", "HU"),
    "MD": ("RO", "UA"),
}
_EU_POPULAR: dict[str, float] = {
    "IT": 2.0, "ES": 1.2, "HR": 1.5, "GR": 1.5, "DE": 1.5, "AT": 1.0, "FR": 1.0, "PT": 0.4,
    "NL": 0.4, "CZ": 0.4,
}  # fmt: skip
_EU_TO_WB: dict[str, float] = {
    "ME": 0.6, "AL": 0.6, "MK": 0.3, "RS": 0.3, "BA": 0.3, "XK": 0.1,
}  # fmt: skip
_UA_MD_TO_EU: dict[str, float] = {
    "PL": 4.0, "RO": 3.0, "DE": 2.0, "CZ": 1.5, "HU": 1.0, "SK": 1.0, "IT": 1.0, "ES": 0.5,
}  # fmt: skip
#: Standard UTC offset [min] of every country the generator can produce.
_STD_OFFSET_MIN: dict[str, int] = {
    "GB": 0, "PT": 0, "IE": 0, "IS": 0,
    "GR": 120, "BG": 120, "RO": 120, "CY": 120, "FI": 120, "EE": 120, "LV": 120, "LT": 120,
    "UA": 120, "MD": 120,
}  # fmt: skip
_DEFAULT_STD_OFFSET_MIN = 60  # CET
_NO_SUMMER_TIME = frozenset({"IS"})
#: Local-hour profile of mobile activity (share per hour 0..23).
_HOUR_P = np.array(
    [0.6, 0.3, 0.2, 0.15, 0.15, 0.3, 1.0, 2.5, 4.0, 5.0, 5.5, 5.6,
     5.8, 5.6, 5.4, 5.4, 5.5, 5.8, 6.0, 6.2, 6.0, 5.0, 3.5, 1.8]
)  # fmt: skip
_HOUR_P = _HOUR_P / _HOUR_P.sum()

_FX_RESOURCE = "fx_reference.csv"


@dataclass(frozen=True)
class SynthResult:
    """What :func:`generate` returns.

    Attributes
    ----------
    usage : polars.DataFrame
        Usage records with exactly the canonical columns (docs/rating.md §1.1).
    plans : list[dict]
        Tariff plans as ``parse_plan`` reads them (prices as quoted decimal strings).
    fx_rows : list[tuple[datetime.date, str, decimal.Decimal]]
        ``(date, currency, units_per_eur)`` rows of the shipped reference table for every
        non-EUR currency of the plans.
    """

    usage: pl.DataFrame
    plans: list[dict[str, Any]]
    fx_rows: list[tuple[dt.date, str, Decimal]]


def fx_reference_rows() -> list[tuple[dt.date, str, Decimal]]:
    """The shipped reference FX table (``roamlike/data/fx_reference.csv``), see its ``.md``."""
    text = (
        importlib.resources.files("roamlike")
        .joinpath("data")
        .joinpath(_FX_RESOURCE)
        .read_text(encoding="utf-8")
    )
    rows = list(csv.reader(text.splitlines()))
    return [
        (dt.date.fromisoformat(day), currency, Decimal(rate))
        for day, currency, rate in rows[1:]
        if day
    ]


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def _last_sunday(year: int, month: int) -> dt.date:
    last = dt.date(year, month, calendar.monthrange(year, month)[1])
    return last - dt.timedelta(days=(last.weekday() - 6) % 7)


def local_offset_min(
    countries: Sequence[str],
    visited: npt.NDArray[np.int64],
    local_s: npt.NDArray[np.int64],
    epoch: dt.datetime,
    last_year: int,
) -> npt.NDArray[np.int64]:
    """UTC offset [min] of the visited network: standard time, plus 60 min under EU summer time.

    ``visited`` indexes ``countries``; ``local_s`` are seconds after ``epoch`` (UTC midnight),
    compared with the summer-time switches (last Sunday of March and October, 01:00 UTC) of the
    years from ``epoch`` to ``last_year``.
    """
    std = np.array([_STD_OFFSET_MIN.get(c, _DEFAULT_STD_OFFSET_MIN) for c in countries])
    has_dst = np.array([c not in _NO_SUMMER_TIME for c in countries])
    summer = np.zeros(local_s.shape[0], dtype=bool)
    for year in range(epoch.year, last_year + 1):
        begin, stop = (
            (dt.datetime.combine(_last_sunday(year, m), dt.time(1), tzinfo=dt.UTC) - epoch)
            for m in (3, 10)
        )
        summer |= (local_s >= begin.total_seconds()) & (local_s < stop.total_seconds())
    out: npt.NDArray[np.int64] = std[visited] + np.where(summer & has_dst[visited], 60, 0)
    return out


def _destinations(home: str) -> dict[str, float]:
    """Trip destinations of subscribers of ``home`` with relative weights."""
    weights: dict[str, float] = {}

    def add(country: str, w: float) -> None:
        if country != home:
            weights[country] = weights.get(country, 0.0) + w

    for country in _NEIGHBOURS.get(home, ()):
        add(country, 3.0)
    if home in ("UA", "MD"):
        for country, w in _UA_MD_TO_EU.items():
            add(country, w)
        return weights
    for country, w in _EU_POPULAR.items():
        add(country, w)
    wb = zone_countries("wb6")
    if home in wb:
        for country in wb:
            add(country, 1.0)
        add("DE", 1.5)  # diaspora
        add("AT", 1.0)
        add("GB", 0.3)
    else:
        for country, w in _EU_TO_WB.items():
            add(country, w)
        add("GB", 0.5)
    return weights


def _money(eur: str, rate: Decimal, whole: bool = False) -> str:
    """A price given in euro, in a plan currency at ``rate`` units per euro, as a string."""
    amount = Decimal(eur) * rate
    if amount == 0:
        return "0"
    quantum = Decimal(1) if whole and rate >= 20 else Decimal("0.01")
    value = max(amount.quantize(quantum, rounding=ROUND_HALF_EVEN), Decimal("0.01"))
    return str(value)


_TEMPLATES: tuple[str, ...] = ("basic", "unlimited", "max", "travel")


def _plan(home: str, currency: str, rate: Decimal, template: str) -> dict[str, Any]:
    """One plan of ``home`` built from a template priced in euro and converted at ``rate``."""

    def m(eur: str, whole: bool = False) -> str:
        return _money(eur, rate, whole)

    star = {
        "countries": ["*"],
        "voice_mo_per_min": m("0.50"),
        "voice_mt_per_min": m("0.15"),
        "sms_mo": m("0.15"),
        "sms_mt": "0",
        "data_per_mb": m("0.05"),
        "mms": m("0.30"),
    }
    plan: dict[str, Any] = {
        "id": f"{home.lower()}-{template}",
        "name": f"{template.title()} {home}",
        "operator": f"{home} Mobile",
        "home_country": home,
        "currency": currency,
        "billing_period": "month",
        "out_of_bundle": {
            "voice_per_min": m("0.10"),
            "sms": m("0.06"),
            "data_per_mb": m("0.02"),
            "mms": m("0.20"),
        },
    }
    if template == "basic":
        plan |= {
            "price": m("8", whole=True), "price_includes_vat": True,
            "data_allowance_gb": "5", "voice_allowance_min": "200", "sms_allowance": 100,
            "roaming": {"prices": [star]},
        }  # fmt: skip
    elif template == "unlimited":
        plan |= {
            "price": m("25", whole=True), "price_includes_vat": True,
            "data_allowance_gb": "unlimited", "voice_allowance_min": "unlimited",
            "sms_allowance": "unlimited",
            "roaming": {"surcharges": {"data_per_gb": m("1.20")}, "prices": [star]},
        }  # fmt: skip
    elif template == "max":
        plan |= {
            "price": m("40", whole=True), "price_includes_vat": False,
            "data_allowance_gb": "40", "voice_allowance_min": "unlimited",
            "sms_allowance": "unlimited", "billshock_limit_eur": "100",
            "roaming": {
                "surcharges": {"voice_mo_per_min": m("0.02"), "sms_mo": m("0.01"),
                               "data_per_gb": m("1.00")},
                "prices": [star],
            },
        }  # fmt: skip
    else:
        wb = zone_countries("wb6")
        region = list(wb) if home not in wb else ["DE", "AT", "IT", "HR", "GR", "SI"]
        plan |= {
            "price": m("15", whole=True), "price_includes_vat": True, "binary_units": True,
            "data_allowance_gb": "10", "voice_allowance_min": "500", "sms_allowance": 500,
            "roaming": {
                "prices": [
                    {"countries": region, "voice_mo_per_min": m("0.20"),
                     "voice_mt_per_min": m("0.05"), "sms_mo": m("0.06"), "sms_mt": "0",
                     "data_per_mb": m("0.01"), "mms": m("0.20")},
                    star,
                ],
                "data_packages": [{"name": "Travel 5 GB", "volume_gb": "5",
                                   "price": m("5"), "countries": region}],
            },
        }  # fmt: skip
    return plan


def _plans(start: dt.date, fx: FxTable) -> list[dict[str, Any]]:
    catalog = default_catalog()
    plans: list[dict[str, Any]] = []
    for i, home in enumerate(HOME_WEIGHTS):
        currency = catalog.country(home).currency_at(start)
        rate = fx.rate(currency, start).units_per_eur
        for template in _TEMPLATES[: 2 + i % 3]:
            plans.append(_plan(home, currency, rate, template))
    return plans


def _choice_by_group(
    rng: np.random.Generator,
    group: npt.NDArray[np.int64],
    options: Sequence[tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]],
) -> npt.NDArray[np.int64]:
    """For each element, draw one option of its group (``options[g] = (values, weights)``)."""
    out = np.empty(group.shape[0], dtype=np.int64)
    for g, (values, weights) in enumerate(options):
        idx = np.flatnonzero(group == g)
        if idx.size:
            out[idx] = values[rng.choice(values.shape[0], size=idx.size, p=weights)]
    return out


def generate(
    records: int,
    seed: int = 7,
    start: dt.date = dt.date(2026, 1, 1),
    months: int = 3,
) -> SynthResult:
    """Generate synthetic usage records with the plans and FX rates needed to rate them.

    Parameters
    ----------
    records : int
        Number of usage records (>= 0).
    seed : int
        Seed of the random generator; the same arguments give the same result.
    start : datetime.date
        First day of the window (UTC).
    months : int
        Length of the window [calendar months, >= 1]; records fall in ``[start, start+months)``.

    Returns
    -------
    SynthResult
        ``usage`` (canonical columns, ordered by ``started_at``), ``plans`` (2-4 per home country,
        valid for :func:`roamlike.tariffs.schema.parse_plan`) and ``fx_rows`` (the reference
        rates of every non-EUR plan currency).

    Raises
    ------
    ValueError
        ``records < 0`` or ``months < 1``.

    Notes
    -----
    Plans depend only on ``start`` (the plan currency is the home country's currency on that
    date, prices are euro templates converted at the reference rate), so runs with different
    seeds share their plans. The model is described in the module docstring.
    """
    if records < 0:
        raise ValueError(f"records must be >= 0, found {records}")
    if months < 1:
        raise ValueError(f"months must be >= 1, found {months}")
    fx_rows_all = fx_reference_rows()
    fx = FxTable.from_rows(fx_rows_all, source=_FX_RESOURCE)
    plans = _plans(start, fx)
    currencies = {p["currency"] for p in plans} - {"EUR"}
    fx_rows = [row for row in fx_rows_all if row[1] in currencies]
    usage = _usage(records, seed, start, months, plans)
    return SynthResult(usage=usage, plans=plans, fx_rows=fx_rows)


def _usage(
    n: int, seed: int, start: dt.date, months: int, plans: list[dict[str, Any]]
) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    end = _add_months(start, months)
    days = (end - start).days
    window_s = days * 86_400

    homes = list(HOME_WEIGHTS)
    dest_maps = [_destinations(h) for h in homes]
    countries = sorted(set(homes).union(*dest_maps))
    code = {c: i for i, c in enumerate(countries)}
    home_codes = np.array([code[h] for h in homes], dtype=np.int64)

    plan_ids = [p["id"] for p in plans]
    plans_of_home = [[i for i, p in enumerate(plans) if p["home_country"] == h] for h in homes]
    plan_weights = np.array([0.40, 0.30, 0.15, 0.15])

    # -- subscribers ----------------------------------------------------------------------
    n_subs = max(1, min(n, 20), n // (50 * months))
    p_home = np.array(list(HOME_WEIGHTS.values()))
    sub_home = rng.choice(len(homes), size=n_subs, p=p_home / p_home.sum())
    sub_plan = _choice_by_group(
        rng,
        sub_home,
        [
            (
                np.array(ids, dtype=np.int64),
                plan_weights[: len(ids)] / plan_weights[: len(ids)].sum(),
            )
            for ids in plans_of_home
        ],
    )
    activity = rng.lognormal(0.0, 0.8, size=n_subs)
    beyond_fair_use = rng.random(n_subs) < 0.003
    trips_per_month = 0.9 * rng.gamma(1.0, 1.0, size=n_subs)

    # -- trips ----------------------------------------------------------------------------
    n_trips = rng.poisson(trips_per_month * months)
    trip_sub = np.repeat(np.arange(n_subs, dtype=np.int64), n_trips)
    trip_start = rng.integers(0, window_s, size=trip_sub.shape[0], dtype=np.int64)
    trip_len = np.clip(rng.lognormal(math.log(4.0), 0.7, size=trip_sub.shape[0]), 1.0, 28.0)
    trip_end = trip_start + (trip_len * 86_400).astype(np.int64)
    trip_dest = _choice_by_group(
        rng,
        sub_home[trip_sub],
        [
            (
                np.array([code[c] for c in d], dtype=np.int64),
                np.array(list(d.values())) / sum(d.values()),
            )
            for d in dest_maps
        ],
    )
    order = np.lexsort((trip_start, trip_sub))
    trip_sub, trip_start, trip_end, trip_dest = (
        trip_sub[order], trip_start[order], trip_end[order], trip_dest[order]
    )  # fmt: skip
    if trip_sub.shape[0] > 1:  # a trip ends when the subscriber's next one starts
        same = trip_sub[1:] == trip_sub[:-1]
        trip_end[:-1] = np.where(same, np.minimum(trip_end[:-1], trip_start[1:]), trip_end[:-1])
    trip_key = trip_sub * window_s + trip_start

    # -- records --------------------------------------------------------------------------
    rec_sub = rng.choice(n_subs, size=n, p=activity / activity.sum())
    local_s = rng.integers(0, days, size=n, dtype=np.int64) * 86_400
    local_s += rng.choice(24, size=n, p=_HOUR_P).astype(np.int64) * 3600
    local_s += rng.integers(0, 3600, size=n, dtype=np.int64)
    home_c = home_codes[sub_home[rec_sub]]
    visited = home_c.copy()
    if trip_key.shape[0]:
        idx = np.searchsorted(trip_key, rec_sub * window_s + local_s, side="right") - 1
        safe = np.maximum(idx, 0)
        on_trip = (idx >= 0) & (trip_sub[safe] == rec_sub) & (local_s < trip_end[safe])
        visited = np.where(on_trip, trip_dest[safe], home_c)
        del idx, safe, on_trip
    roaming = visited != home_c

    epoch = dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC)
    offset_min = local_offset_min(countries, visited, local_s, epoch, end.year)
    # local time to UTC, wrapped so that every record stays inside the window
    utc_s = np.mod(local_s - offset_min * 60, window_s)
    start_us = int(epoch.timestamp()) * 1_000_000
    started_us = start_us + utc_s * 1_000_000 + rng.integers(0, 1_000_000, size=n)

    event = rng.choice(len(EVENT_TYPES), size=n, p=_EVENT_P)
    duration = np.rint(rng.lognormal(math.log(90.0), 1.0, size=n)).astype(np.int64)
    duration = np.clip(duration, 1, 14_400)
    duration[rng.random(n) < 0.02] = 0
    volume = np.rint(rng.lognormal(math.log(1.5e6), 1.9, size=n)).astype(np.int64)
    volume = np.clip(volume, 200, 4_000_000_000)
    count = 1 + (rng.random(n) < 0.08).astype(np.int64) + (rng.random(n) < 0.02).astype(np.int64)
    dest_u = rng.random(n)
    popular = np.array([code[c] for c in ("DE", "IT", "AT", "RS", "HR", "GR")], dtype=np.int64)
    dest_other = popular[rng.integers(0, popular.shape[0], size=n)]
    destination = np.where(
        dest_u < 0.6, home_c, np.where((dest_u < 0.9) & roaming, visited, dest_other)
    )

    order = np.argsort(started_us, kind="stable")
    ev = event[order]
    country_names = pl.Series(countries, dtype=pl.String)
    frame = pl.DataFrame(
        {
            "sub": rec_sub[order].astype(np.uint32),
            "started_us": started_us[order],
            "utc_offset_min": offset_min[order].astype(np.int32),
            "home": home_c[order].astype(np.uint32),
            "visited": visited[order].astype(np.uint32),
            "destination": destination[order].astype(np.uint32),
            "event": ev.astype(np.uint8),
            "duration": duration[order],
            "volume": volume[order],
            "count": count[order],
            "beyond": (beyond_fair_use[rec_sub] & roaming)[order],
        }
    )
    # the frame holds its own copies: free the per-record arrays before the strings are built
    del rec_sub, local_s, home_c, visited, roaming, offset_min, utc_s, started_us
    del event, duration, volume, count, dest_u, dest_other, destination, order, ev
    width = max(10, len(str(n)))
    sub_width = max(7, len(str(n_subs)))
    sub_ids = pl.Series([f"s{i:0{sub_width}d}" for i in range(n_subs)], dtype=pl.String)
    sub_plan_ids = pl.Series([plan_ids[i] for i in sub_plan], dtype=pl.String)
    ev_names = pl.Series(EVENT_TYPES, dtype=pl.String)
    is_message = pl.col("event").is_in([3, 4, 5])
    makes = pl.col("event").is_in([1, 4, 5])
    return frame.select(
        record_id=pl.lit("r")
        + pl.int_range(1, n + 1, dtype=pl.Int64).cast(pl.String).str.zfill(width),
        subscriber_id=sub_ids.gather(frame["sub"]),
        plan_id=sub_plan_ids.gather(frame["sub"]),
        event_type=ev_names.gather(frame["event"]),
        started_at=pl.col("started_us").cast(pl.Datetime("us", "UTC")),
        utc_offset_min=pl.col("utc_offset_min"),
        home_country=country_names.gather(frame["home"]),
        visited_country=country_names.gather(frame["visited"]),
        destination_country=pl.when(makes).then(country_names.gather(frame["destination"])),
        # a received call that is recorded was answered: unanswered (0 s) calls are outgoing only
        duration_s=pl.when(pl.col("event") == 1)
        .then(pl.col("duration"))
        .when(pl.col("event") == 2)
        .then(pl.col("duration").clip(1)),
        volume_bytes=pl.when(pl.col("event") == 0).then(pl.col("volume")),
        count=pl.when(is_message).then(pl.col("count")),
        is_beyond_fair_use=pl.col("beyond"),
    )
