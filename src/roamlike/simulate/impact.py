"""The impact tables of one rated run under one catalog: retail charges, surcharges and wholesale
flows per (home, visited, service, month), in euro.

The rated records are read once and summed per (pair, service, local date, plan, currency); every
later step works on those sums (a few per pair and day), never per record. Amounts in euro are
exact micro-euro integers, converted from the plan currency at the exchange-rate rule of
``roamlike.tariffs.fx`` (the rule the law uses for caps) and rounded once per (pair, service,
month, currency, rate) by ``roamlike.money.to_micros``.

Wholesale flows are *valued at the caps in force*: the amount the visited network could charge
the home operator at most, per record's local date, in the catalog of the run. Volumes are the
records' own: seconds of calls made (per second, no initial minimum), SMS sent, bytes of data
(decimal GB); records cut off by a bill-shock limit carry none. Received calls and SMS, MMS and
pairs without a wholesale cap are not valued (see :mod:`roamlike.simulate.caps`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal

import polars as pl

from roamlike import money
from roamlike.law import Catalog
from roamlike.simulate.caps import WHOLESALE_SERVICES, rules_table
from roamlike.tariffs import FxTable, Plan

#: The key of every impact row, after the scenario's name.
KEYS = ("home_country", "visited_country", "service", "month")
#: Divisor turning (volume x cap) into euro, per service with a wholesale cap.
_VOLUME_PER_CAP_UNIT = {"voice_mo": Decimal(60), "sms_mo": Decimal(1), "data": Decimal(10**9)}


def micros_to_eur(column: str) -> pl.Expr:
    """An integer micro-euro column as an exact ``Decimal(38, 6)`` euro column (no rounding)."""
    return pl.col(column).cast(pl.Decimal(38, 6)) / 1_000_000


def daily_sums(rated: pl.LazyFrame) -> pl.DataFrame:
    """Sum the rated records per (pair, service, local date, plan, currency, unit): one scan."""
    service = pl.col("event_type")
    blocked = pl.col("is_blocked_by_cutoff").fill_null(False)
    volume = (
        pl.when(blocked)
        .then(0)
        .when(service == "voice_mo")
        .then(pl.col("duration_s"))
        .when(service == "sms_mo")
        .then(pl.col("billed_units"))
        .when(service == "data")
        .then(pl.col("volume_bytes"))
        .otherwise(0)
        .fill_null(0)
    )
    return (
        rated.group_by(
            "home_country",
            "visited_country",
            "event_type",
            "local_date",
            "plan_id",
            "currency",
            "billed_unit",
        )
        .agg(
            records=pl.len(),
            units=pl.col("billed_units").sum(),
            charge_micros=pl.col("charge_excl_vat_micros").sum(),
            surcharge_micros=pl.col("surcharge_micros").fill_null(0).sum(),
            wholesale_volume=volume.sum(),
        )
        .rename({"event_type": "service", "billed_unit": "unit"})
        # the engine gives codes as enums (docs/rating.md §8): the tables below hold text
        .with_columns(
            pl.col(
                "home_country", "visited_country", "service", "unit", "plan_id", "currency"
            ).cast(pl.String)
        )
        .collect()
    )


def _fx_rates(daily: pl.DataFrame, fx: FxTable) -> pl.DataFrame:
    """The rate in force per (currency, local date) present, as a decimal string."""
    pairs = daily.select("currency", "local_date").unique().sort("currency", "local_date")
    rates = [
        format(fx.rate(currency, day).units_per_eur, "f") for currency, day in pairs.iter_rows()
    ]
    return pairs.with_columns(units_per_eur=pl.Series(rates, dtype=pl.String()))


def _to_eur(frame: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
    """Convert summed micro-units of ``columns`` at ``units_per_eur`` into micro-euro."""
    out: dict[str, list[int]] = {c: [] for c in columns}
    rates = [Decimal(r) for r in frame.get_column("units_per_eur").to_list()]
    for column in columns:
        values = frame.get_column(column).to_list()
        out[column] = [
            money.to_micros(Decimal(v) / money.MICROS_PER_UNIT / rate)
            for v, rate in zip(values, rates, strict=True)
        ]
    return frame.with_columns(pl.Series(c, out[c], dtype=pl.Int64()) for c in columns)


def _wholesale_micros(frame: pl.DataFrame) -> pl.Series:
    """Volume x cap in micro-euro per row (null where no cap applies)."""
    values: list[int | None] = []
    for service, volume, cap in frame.select("service", "wholesale_volume", "cap").iter_rows():
        if cap is None:
            values.append(None)
            continue
        values.append(
            money.to_micros(Decimal(volume) * Decimal(cap) / _VOLUME_PER_CAP_UNIT[service])
        )
    return pl.Series("wholesale_micros", values, dtype=pl.Int64())


def impact_tables(
    rated: pl.LazyFrame,
    plans: Mapping[str, Plan],
    fx: FxTable,
    catalog: Catalog,
    scenario: str,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The summary and the wholesale flows of one rated run.

    Parameters
    ----------
    rated : polars.LazyFrame
        Rated records (docs/rating.md §7), e.g. ``pl.scan_parquet`` of ``roamlike rate`` output.
    plans : mapping
        The plans of the run (for each plan's operator).
    fx : FxTable
        Exchange rates for every non-euro plan currency on every date of the records.
    catalog : Catalog
        The law the run was rated under (its wholesale caps value the flows).
    scenario : str
        ``baseline`` or the scenario's name (the first column of both tables).

    Returns
    -------
    summary : polars.DataFrame
        One row per (home, visited, service, month): ``records``, ``units`` and ``unit`` (billed
        units), ``charge_excl_vat_micros_eur``, ``surcharge_micros_eur``, ``wholesale_volume``,
        ``wholesale_micros_eur`` (null where not valued), ``regimes`` and ``is_hypothetical``.
    wholesale : polars.DataFrame
        One row per (home, home operator, visited, service, month) with a wholesale cap:
        ``wholesale_volume`` (s, SMS or bytes), ``cap_eur`` and ``wholesale_micros_eur``.

    Raises
    ------
    FxError
        A non-euro currency has no rate for a date of the records.
    """
    daily = daily_sums(rated)
    pairs = daily.group_by("home_country", "visited_country").agg(
        lo=pl.col("local_date").min(), hi=pl.col("local_date").max()
    )
    rules = rules_table(pairs.sort("home_country", "visited_country"), catalog)
    operators = pl.DataFrame(
        {"plan_id": list(plans), "home_operator": [p.operator for p in plans.values()]},
        schema={"plan_id": pl.String(), "home_operator": pl.String()},
    )
    cap = pl.lit(None, dtype=pl.String())
    for service in WHOLESALE_SERVICES:
        cap = (
            pl.when(pl.col("service") == service)
            .then(pl.col(f"wholesale_{service}"))
            .otherwise(cap)
        )
    joined = (
        daily.sort("local_date")
        .join_asof(
            rules,
            left_on="local_date",
            right_on="valid_from",
            by=["home_country", "visited_country"],
            strategy="backward",
            check_sortedness=False,  # both sides are sorted by date above
        )
        .join(_fx_rates(daily, fx), on=["currency", "local_date"], how="left")
        .join(operators, on="plan_id", how="left")
        .with_columns(month=pl.col("local_date").dt.truncate("1mo"), cap=cap)
    )
    retail = joined.group_by(*KEYS, "unit", "currency", "units_per_eur").agg(
        records=pl.col("records").sum(),
        units=pl.col("units").sum(),
        charge_micros=pl.col("charge_micros").sum(),
        surcharge_micros=pl.col("surcharge_micros").sum(),
        regimes=pl.col("regime").unique(),
        is_hypothetical=pl.col("is_hypothetical").any(),
    )
    retail = _to_eur(retail, ("charge_micros", "surcharge_micros"))
    flows = (
        joined.filter(pl.col("cap").is_not_null())
        .group_by("home_country", "home_operator", "visited_country", "service", "month", "cap")
        .agg(
            wholesale_volume=pl.col("wholesale_volume").sum(),
            is_hypothetical=pl.col("is_hypothetical").any(),
        )
    )
    flows = flows.with_columns(_wholesale_micros(flows))
    wholesale = (
        flows.group_by("home_country", "home_operator", "visited_country", "service", "month")
        .agg(
            wholesale_volume=pl.col("wholesale_volume").sum(),
            caps_eur=pl.col("cap").unique().sort().str.join(";"),
            wholesale_micros_eur=pl.col("wholesale_micros").sum(),
            is_hypothetical=pl.col("is_hypothetical").any(),
        )
        .with_columns(scenario=pl.lit(scenario))
        .select(
            "scenario",
            "home_country",
            "home_operator",
            "visited_country",
            "service",
            "month",
            "wholesale_volume",
            "caps_eur",
            "wholesale_micros_eur",
            "is_hypothetical",
        )
        .sort("home_country", "home_operator", "visited_country", "service", "month")
    )
    by_key = flows.group_by(*KEYS).agg(
        wholesale_volume=pl.col("wholesale_volume").sum(),
        wholesale_micros_eur=pl.col("wholesale_micros").sum(),
    )
    summary = (
        retail.group_by(*KEYS)
        .agg(
            records=pl.col("records").sum(),
            units=pl.col("units").sum(),
            unit=pl.col("unit").unique().sort().str.join(";"),
            charge_micros_eur=pl.col("charge_micros").sum(),
            surcharge_micros_eur=pl.col("surcharge_micros").sum(),
            regimes=pl.col("regimes")
            .list.explode(keep_nulls=False, empty_as_null=False)
            .unique()
            .sort()
            .str.join(";"),
            is_hypothetical=pl.col("is_hypothetical").any(),
        )
        .join(by_key, on=list(KEYS), how="left")
        .with_columns(scenario=pl.lit(scenario))
        .select(
            "scenario",
            *KEYS,
            "records",
            "units",
            "unit",
            "charge_micros_eur",
            "surcharge_micros_eur",
            "wholesale_volume",
            "wholesale_micros_eur",
            "regimes",
            "is_hypothetical",
        )
        .sort(*KEYS)
    )
    return summary, wholesale


def month_text(month: dt.date) -> str:
    """A month as ``YYYY-MM``."""
    return month.strftime("%Y-%m")
