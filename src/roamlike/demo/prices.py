"""Average demo prices per route group and key date, the Commission's headline, travellers' bills.

The same synthetic year of traffic (:mod:`roamlike.demo.scenario`) is rated as if it had
happened on each key date; these functions turn the rated records into average euro prices per
route group and key date (exact: sums of micro-units converted with the stated rate, one per
currency and key date, the rate the engine uses for that date; docs/law/exchange-rates.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

import polars as pl

from roamlike.demo.scenario import (
    HEADLINE_GROUP,
    KEY_DATES,
    ROUTE_GROUPS,
    KeyDate,
    Scenario,
    redate,
    typical_travellers,
    wb6,
)
from roamlike.rating import rate_usage
from roamlike.tariffs import FxTable

_MICROS = Decimal(1_000_000)
_SECONDS_PER_MIN = Decimal(60)
_KB_PER_MB = Decimal(1000)


def _ratio(before: Decimal | None, now: Decimal | None) -> Decimal | None:
    """How many times cheaper ``now`` is than ``before`` (None when undefined)."""
    if before is None or now is None or now == 0:
        return None
    return before / now


@dataclass(frozen=True)
class PriceRow:
    """Average prices of one route group on one key date, in euro.

    Money is exact (sums of micro-units converted with the stated rate); units are billed
    minutes of calls made and billed MB of data (1 MB = 1000 kB).
    """

    on: dt.date
    phase: str
    route_group: str
    records: int
    call_min: Decimal
    calls_excl_eur: Decimal
    calls_incl_eur: Decimal
    data_mb: Decimal
    data_excl_eur: Decimal
    data_incl_eur: Decimal
    total_excl_eur: Decimal
    total_incl_eur: Decimal
    calls_times_cheaper: Decimal | None = None
    data_times_cheaper: Decimal | None = None

    @property
    def call_eur_per_min_excl(self) -> Decimal | None:
        return self.calls_excl_eur / self.call_min if self.call_min else None

    @property
    def call_eur_per_min_incl(self) -> Decimal | None:
        return self.calls_incl_eur / self.call_min if self.call_min else None

    @property
    def data_eur_per_mb_excl(self) -> Decimal | None:
        return self.data_excl_eur / self.data_mb if self.data_mb else None

    @property
    def data_eur_per_mb_incl(self) -> Decimal | None:
        return self.data_incl_eur / self.data_mb if self.data_mb else None


@dataclass(frozen=True)
class Headline:
    """The Commission's 1 July 2019 claim recomputed from the rated records.

    References: docs/law/commission-headline.md.

    ``avg_*``: all Albanian subscribers roaming in the WB6; ``max_*``: the plan with the
    largest call ratio ("up to"), which is the plan priced at AKEP's pre-agreement maxima.
    Prices are EUR per billed minute of calls made and per billed MB.
    """

    before: dt.date
    after: dt.date
    avg_before: PriceRow
    avg_after: PriceRow
    max_plan: str
    max_before: PriceRow
    max_after: PriceRow

    @property
    def avg_call_ratio(self) -> Decimal | None:
        return _ratio(self.avg_before.call_eur_per_min_incl, self.avg_after.call_eur_per_min_incl)

    @property
    def max_call_ratio(self) -> Decimal | None:
        return _ratio(self.max_before.call_eur_per_min_incl, self.max_after.call_eur_per_min_incl)

    @property
    def avg_data_ratio(self) -> Decimal | None:
        return _ratio(self.avg_before.data_eur_per_mb_incl, self.avg_after.data_eur_per_mb_incl)

    @property
    def max_data_ratio(self) -> Decimal | None:
        return _ratio(self.max_before.data_eur_per_mb_incl, self.max_after.data_eur_per_mb_incl)


@dataclass(frozen=True)
class Bill:
    """The bill of one typical traveller's trip on one key date (EUR, converted)."""

    traveller: str
    on: dt.date
    regime: str
    calls_incl_eur: Decimal
    sms_incl_eur: Decimal
    data_incl_eur: Decimal
    total_excl_eur: Decimal
    total_incl_eur: Decimal


def _eur(micros: int, rate: Decimal) -> Decimal:
    return Decimal(micros) / _MICROS / rate


def _aggregate(rated: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Sums per key, scenario date, currency and event type (integers only)."""
    return (
        rated.group_by([*keys, "scenario_date", "currency", "event_type"])
        .agg(
            records=pl.len(),
            billed=pl.col("billed_units").sum(),
            excl=pl.col("charge_excl_vat_micros").sum(),
            incl=pl.col("charge_incl_vat_micros").sum(),
        )
        .sort([*keys, "scenario_date", "currency", "event_type"])
    )


def _rows(
    sums: pl.DataFrame, key: str, fx: FxTable, key_dates: Iterable[KeyDate]
) -> dict[tuple[str, dt.date], PriceRow]:
    phases = {k.on: k.phase for k in key_dates}
    acc: dict[tuple[str, dt.date], dict[str, Decimal]] = {}
    for r in sums.iter_rows(named=True):
        on: dt.date = r["scenario_date"]
        a = acc.setdefault((r[key], on), {})
        rate = fx.rate(r["currency"], on).units_per_eur
        excl, incl = _eur(r["excl"], rate), _eur(r["incl"], rate)

        def add(name: str, value: Decimal, a: dict[str, Decimal] = a) -> None:
            a[name] = a.get(name, Decimal(0)) + value

        add("records", Decimal(r["records"]))
        add("total_excl", excl)
        add("total_incl", incl)
        if r["event_type"] == "voice_mo":
            add("call_min", Decimal(r["billed"]) / _SECONDS_PER_MIN)
            add("calls_excl", excl)
            add("calls_incl", incl)
        elif r["event_type"] == "data":
            add("data_mb", Decimal(r["billed"]) / _KB_PER_MB)
            add("data_excl", excl)
            add("data_incl", incl)
    out: dict[tuple[str, dt.date], PriceRow] = {}
    for (name, on), a in acc.items():
        z = Decimal(0)
        out[(name, on)] = PriceRow(
            on=on,
            phase=phases.get(on, ""),
            route_group=name,
            records=int(a.get("records", z)),
            call_min=a.get("call_min", z),
            calls_excl_eur=a.get("calls_excl", z),
            calls_incl_eur=a.get("calls_incl", z),
            data_mb=a.get("data_mb", z),
            data_excl_eur=a.get("data_excl", z),
            data_incl_eur=a.get("data_incl", z),
            total_excl_eur=a.get("total_excl", z),
            total_incl_eur=a.get("total_incl", z),
        )
    return out


def _with_ratios(rows: dict[tuple[str, dt.date], PriceRow], baseline: dt.date) -> None:
    for (name, on), row in list(rows.items()):
        base = rows.get((name, baseline))
        if base is None:
            continue
        rows[(name, on)] = PriceRow(
            **{
                **row.__dict__,
                "calls_times_cheaper": _ratio(
                    base.call_eur_per_min_incl, row.call_eur_per_min_incl
                ),
                "data_times_cheaper": _ratio(base.data_eur_per_mb_incl, row.data_eur_per_mb_incl),
            }
        )


def _headline_mask() -> pl.Expr:
    return (pl.col("home_country") == "AL") & pl.col("visited_country").is_in(list(wb6()))


def summarise(
    rated: pl.DataFrame, fx: FxTable, key_dates: tuple[KeyDate, ...] = KEY_DATES
) -> list[PriceRow]:
    """Average EUR prices by key date and route group, plus the headline group ``AL -> WB``.

    Parameters
    ----------
    rated : polars.DataFrame
        Rated records with ``scenario_date`` and ``route_group`` columns.
    fx : FxTable
        The table the records were rated with; each currency is converted at its rate on the
        key date (the rate the engine used for caps on that date).
    key_dates : tuple of KeyDate
        The first one is the baseline of the "times cheaper" ratios.

    Returns
    -------
    list of PriceRow
        Ordered by key date, then :data:`ROUTE_GROUPS` order, then ``AL -> WB``.

    Notes
    -----
    ``EUR/min = sum(charge of voice_mo) / sum(billed seconds of voice_mo) * 60`` and
    ``EUR/MB = sum(charge of data) / sum(billed kB of data) * 1000``, where each plan-currency
    sum of micro-units is divided by 10^6 and by the currency's units per euro on the key date.
    The ratio is ``price on the pre-agreement date / price on the key date`` (incl. VAT; the
    VAT rate of a plan is the same on all key dates, so excl. VAT gives the same ratio).
    """
    rows = _rows(_aggregate(rated, ["route_group"]), "route_group", fx, key_dates)
    al = rated.filter(_headline_mask()).with_columns(group=pl.lit(HEADLINE_GROUP))
    rows |= _rows(_aggregate(al, ["group"]), "group", fx, key_dates)
    _with_ratios(rows, key_dates[0].on)
    order = [*ROUTE_GROUPS, HEADLINE_GROUP]
    return [rows[(g, k.on)] for k in key_dates for g in order if (g, k.on) in rows]


def headline(
    rated: pl.DataFrame,
    fx: FxTable,
    before: dt.date = KEY_DATES[0].on,
    after: dt.date = KEY_DATES[1].on,
) -> Headline:
    """Albanian subscribers in the WB6: average price before and on 1 July 2019.

    References: docs/law/commission-headline.md.

    Raises
    ------
    ValueError
        The rated records hold no Albanian calls or data in the WB6 on both dates.
    """
    al = rated.filter(_headline_mask() & pl.col("scenario_date").is_in([before, after]))
    avg = _rows(_aggregate(al.with_columns(group=pl.lit("all")), ["group"]), "group", fx, ())
    per_plan = _rows(_aggregate(al, ["plan_id"]), "plan_id", fx, ())
    best: tuple[Decimal, str] | None = None
    for plan_id in sorted({k for k, _ in per_plan}):
        b, a = per_plan.get((plan_id, before)), per_plan.get((plan_id, after))
        if b is None or a is None:
            continue
        ratio = _ratio(b.call_eur_per_min_incl, a.call_eur_per_min_incl)
        if ratio is not None and (best is None or ratio > best[0]):
            best = (ratio, plan_id)
    if best is None or ("all", before) not in avg or ("all", after) not in avg:
        raise ValueError("no Albanian calls in the WB6 on both headline dates: too few records")
    plan_id = best[1]
    return Headline(
        before,
        after,
        avg[("all", before)],
        avg[("all", after)],
        plan_id,
        per_plan[(plan_id, before)],
        per_plan[(plan_id, after)],
    )


def traveller_bills(scenario: Scenario, key_dates: tuple[KeyDate, ...] = KEY_DATES) -> list[Bill]:
    """Rate the typical travellers' trips (:func:`scenario.typical_travellers`) on each date."""
    trips = typical_travellers()
    usage = pl.concat([redate(trips, k.on) for k in key_dates], how="vertical")
    result = rate_usage(usage, scenario.plans, scenario.fx)
    if result.rejects.height:
        raise ValueError(f"typical travellers: {result.rejects.height} records rejected")
    sums = (
        result.rated.group_by("traveller", "scenario_date", "currency", "event_type")
        .agg(
            excl=pl.col("charge_excl_vat_micros").sum(),
            incl=pl.col("charge_incl_vat_micros").sum(),
            regime=pl.col("regime").first(),
        )
        .sort("traveller", "scenario_date", "event_type")
    )
    acc: dict[tuple[str, dt.date], dict[str, Decimal]] = {}
    regimes: dict[tuple[str, dt.date], str] = {}
    for r in sums.iter_rows(named=True):
        key = (r["traveller"], r["scenario_date"])
        rate = scenario.fx.rate(r["currency"], r["scenario_date"]).units_per_eur
        a = acc.setdefault(key, {})
        regimes[key] = r["regime"]
        excl, incl = _eur(r["excl"], rate), _eur(r["incl"], rate)
        kind = {"voice_mo": "calls", "voice_mt": "calls", "sms_mo": "sms", "sms_mt": "sms"}.get(
            r["event_type"], "data"
        )
        a[kind] = a.get(kind, Decimal(0)) + incl
        a["excl"] = a.get("excl", Decimal(0)) + excl
        a["incl"] = a.get("incl", Decimal(0)) + incl
    order = list(dict.fromkeys(trips["traveller"].to_list()))
    z = Decimal(0)
    return [
        Bill(
            t,
            k.on,
            regimes[(t, k.on)],
            acc[(t, k.on)].get("calls", z),
            acc[(t, k.on)].get("sms", z),
            acc[(t, k.on)].get("data", z),
            acc[(t, k.on)]["excl"],
            acc[(t, k.on)]["incl"],
        )
        for t in order
        for k in key_dates
    ]


def _fmt(value: Decimal | None, places: int = 6) -> str:
    if value is None:
        return ""
    return str(value.quantize(Decimal(1).scaleb(-places)))


def summary_frame(rows: list[PriceRow]) -> pl.DataFrame:
    """The summary as a table of text columns (exact decimals, 6 places) for ``summary.csv``."""
    columns: dict[str, list[str]] = {
        "scenario_date": [r.on.isoformat() for r in rows],
        "phase": [r.phase for r in rows],
        "route_group": [r.route_group for r in rows],
        "records": [str(r.records) for r in rows],
        "calls_made_billed_min": [_fmt(r.call_min, 3) for r in rows],
        "calls_eur_per_min_excl_vat": [_fmt(r.call_eur_per_min_excl) for r in rows],
        "calls_eur_per_min_incl_vat": [_fmt(r.call_eur_per_min_incl) for r in rows],
        "data_billed_mb": [_fmt(r.data_mb, 3) for r in rows],
        "data_eur_per_mb_excl_vat": [_fmt(r.data_eur_per_mb_excl) for r in rows],
        "data_eur_per_mb_incl_vat": [_fmt(r.data_eur_per_mb_incl) for r in rows],
        "calls_times_cheaper": [_fmt(r.calls_times_cheaper, 2) for r in rows],
        "data_times_cheaper": [_fmt(r.data_times_cheaper, 2) for r in rows],
        "total_eur_excl_vat": [_fmt(r.total_excl_eur, 2) for r in rows],
        "total_eur_incl_vat": [_fmt(r.total_incl_eur, 2) for r in rows],
    }
    return pl.DataFrame(columns, schema=dict.fromkeys(columns, pl.String))
