"""The vectorized rating engine: usage records in, rated records, rejects and notifications out.

Implements docs/rating.md with Polars expressions only: no Python loop touches a record. The
per-record oracle is ``roamlike.reference``; the two are property-tested to agree.

Pipeline
--------
1. normalise and validate every row (reason codes in the order of rating.md §7);
2. local date (docs/law/governing-date.md), billing period, and an as-of join on the price table
   (law + FX + VAT per
   segment, ``prices.price_table``) which also gives the regime of each row;
3. split: rows with a reason become rejects (as read), the others are rated;
4. in event order per (subscriber, plan, period): domestic allowances, fair use, surcharges,
   retail caps, bill-shock, VAT; notifications.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from roamlike import money
from roamlike.law import default_catalog
from roamlike.law.catalog import KINDS
from roamlike.rating import reasons as rc
from roamlike.rating.prices import GB_BYTES, MB_BYTES, POOL_KINDS, SegmentCache, price_table
from roamlike.tariffs import FxTable, Plan

_G = "_gid"  # counter group id: one per (subscriber, plan, billing period), see _order
_ORDER = ["_sub_code", "_plan_code", "_period", "_ts", "_rid"]
# the same order without the text tie-breaker, used when no two records of a group share a time
_ORDER_INT = ["_sub_code", "_plan_code", "_period", "_ts"]
_BIG = 2**62  # "unlimited" allowance


@dataclass(frozen=True)
class RatingResult:
    """What a rating run produced. ``len(rated) + len(rejects) == read``, always."""

    rated: pl.DataFrame
    rejects: pl.DataFrame
    notifications: pl.DataFrame
    read: int


# ------------------------------------------------------------------------------------------
# Normalisation


def _text(name: str, upper: bool = False) -> pl.Expr:
    e = pl.col(name).cast(pl.String).str.strip_chars()
    if upper:
        e = e.str.to_uppercase()
    return pl.when(e.str.len_chars() > 0).then(e).otherwise(None)


def _int(name: str, schema: pl.Schema) -> tuple[pl.Expr, pl.Expr]:
    """(parsed Int64 or null, is_bad) for an integer column of any input type."""
    dtype = schema[name]
    col = pl.col(name)
    if dtype.is_integer():
        parsed = col.cast(pl.Int64, strict=False)
    elif dtype.is_float():
        parsed = pl.when(col.is_finite() & (col == col.floor()) & (col.abs() < 2.0**62)).then(
            col.cast(pl.Int64, strict=False)
        )
    elif dtype == pl.Null:
        parsed = pl.lit(None, dtype=pl.Int64)
    else:
        s = col.cast(pl.String).str.strip_chars()
        parsed = (
            pl.when(s.str.contains(r"^[+-]?\d{1,18}$"))
            .then(s.str.strip_prefix("+").cast(pl.Int64, strict=False))
            .otherwise(None)
        )
        present = s.str.len_chars() > 0
        return parsed, present.fill_null(False) & parsed.is_null()
    return parsed, col.is_not_null() & parsed.is_null()


def _present(name: str, schema: pl.Schema) -> pl.Expr:
    """Not null, and for text not blank (typed columns are not formatted to find out)."""
    if schema[name] in (pl.String, pl.Null) or not (
        schema[name].is_temporal() or schema[name].is_numeric()
    ):
        return pl.col(name).cast(pl.String).str.strip_chars().str.len_chars() > 0
    return pl.col(name).is_not_null()


def _timestamp(schema: pl.Schema) -> pl.Expr:
    dtype = schema["started_at"]
    col = pl.col("started_at")
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            return col.dt.cast_time_unit("us").dt.replace_time_zone("UTC")
        return col.dt.cast_time_unit("us").dt.convert_time_zone("UTC")
    s = col.cast(pl.String).str.strip_chars()
    ok = s.str.contains(rc.TIMESTAMP_PATTERN)
    norm = (
        s.str.replace(" ", "T", literal=True)
        .str.replace(r"Z$", "+00:00")
        .str.replace(r"([+-]\d{2})(\d{2})$", "${1}:${2}")
    )
    norm = pl.when(norm.str.contains(r"[+-]\d{2}:\d{2}$")).then(norm).otherwise(norm + "+00:00")
    parsed = norm.str.to_datetime(
        "%Y-%m-%dT%H:%M:%S%.f%:z", time_zone="UTC", time_unit="us", strict=False
    )
    return pl.when(ok).then(parsed).otherwise(None)


def _bool(schema: pl.Schema) -> tuple[pl.Expr, pl.Expr]:
    dtype = schema["is_beyond_fair_use"]
    col = pl.col("is_beyond_fair_use")
    if dtype == pl.Boolean:
        return col.fill_null(False), pl.lit(False)
    if dtype == pl.Null:
        return pl.lit(False), pl.lit(False)
    s = col.cast(pl.String).str.strip_chars().str.to_lowercase()
    value = (
        pl.when(s.is_in(["true", "1", "yes"]))
        .then(True)
        .when(s.is_in(["false", "0", "no"]) | s.is_null() | (s == ""))
        .then(False)
        .otherwise(None)
    )
    return value.fill_null(False), value.is_null()


def _plans_frame(plans: Mapping[str, Plan]) -> pl.DataFrame:
    rows = []
    for p in plans.values():
        rows.append(
            {
                "_plan": p.id,
                "_plan_home": p.home_country,
                "currency": p.currency,
                "_period_kind": "28d" if p.billing_period == "28d" else "month",
                "_anchor": p.period_anchor,
                "_allow_voice_s": None
                if p.voice_allowance_min is None
                else int(p.voice_allowance_min * 60),
                "_allow_sms": p.sms_allowance,
                "_allow_data_bytes": None
                if p.data_allowance_gb is None
                else int(p.data_allowance_gb * GB_BYTES[p.binary_units]),
                "_binary": p.binary_units,
                "_m2m": p.is_m2m,
                "_bs_continue": p.billshock_continue,
            }
        )
    schema = {
        "_plan": pl.String,
        "_plan_home": pl.String,
        "currency": pl.String,
        "_period_kind": pl.String,
        "_anchor": pl.Date,
        "_allow_voice_s": pl.Int64,
        "_allow_sms": pl.Int64,
        "_allow_data_bytes": pl.Int64,
        "_binary": pl.Boolean,
        "_m2m": pl.Boolean,
        "_bs_continue": pl.Boolean,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


def _known_countries() -> list[str]:
    return sorted(default_catalog().countries)


def _validate(usage: pl.LazyFrame, plans: Mapping[str, Plan]) -> pl.LazyFrame:
    """Normalised columns (prefixed ``_``) and the first applicable basic reason code."""
    schema = usage.collect_schema()
    for name in rc.OPTIONAL_COLUMNS:
        if name not in schema:
            usage = usage.with_columns(pl.lit(None).alias(name))
    schema = usage.collect_schema()
    off, bad_off = _int("utc_offset_min", schema)
    dur, bad_dur = _int("duration_s", schema)
    vol, bad_vol = _int("volume_bytes", schema)
    cnt, bad_cnt = _int("count", schema)
    beyond, bad_beyond = _bool(schema)
    lf = usage.with_columns(
        _rid=_text("record_id"),
        _sub=_text("subscriber_id"),
        _plan=_text("plan_id"),
        _event=_text("event_type"),
        _home=_text("home_country", upper=True),
        _visited=_text("visited_country", upper=True),
        _ts=_timestamp(schema),
        _ts_present=_present("started_at", schema),
        _off=off,
        _bad_off=bad_off,
        _dur=dur,
        _bad_dur=bad_dur,
        _vol=vol,
        _bad_vol=bad_vol,
        _cnt=cnt,
        _bad_cnt=bad_cnt,
        _beyond=beyond,
        _bad_beyond=bad_beyond,
    )
    lf = lf.join(_plans_frame(plans).lazy(), on="_plan", how="left", maintain_order="left")
    ev = pl.col("_event")
    is_voice = ev.is_in(["voice_mo", "voice_mt"])
    is_data = ev == "data"
    is_msg = ev.is_in(["sms_mo", "sms_mt", "mms_mo"])
    qty = (
        pl.when(is_voice)
        .then(pl.col("_dur"))
        .when(is_data)
        .then(pl.col("_vol"))
        .when(is_msg)
        .then(
            pl.when(pl.col("_cnt").is_null() & ~pl.col("_bad_cnt"))
            .then(pl.lit(1, dtype=pl.Int64))
            .otherwise(pl.col("_cnt"))
        )
    )
    bad_qty = (
        (is_voice & pl.col("_bad_dur"))
        | (is_data & pl.col("_bad_vol"))
        | (is_msg & pl.col("_bad_cnt"))
    )
    max_qty = (
        pl.when(is_voice)
        .then(pl.lit(rc.MAX_DURATION_S, dtype=pl.Int64))
        .when(is_data)
        .then(pl.lit(rc.MAX_VOLUME_BYTES, dtype=pl.Int64))
        .otherwise(pl.lit(rc.MAX_COUNT, dtype=pl.Int64))
    )
    lf = lf.with_columns(_qty=qty, _bad_qty=bad_qty, _max_qty=max_qty)

    required = [
        ("record_id", "_rid"),
        ("subscriber_id", "_sub"),
        ("plan_id", "_plan"),
        ("event_type", "_event"),
        ("started_at", "_ts_present"),
        ("utc_offset_min", "_off"),
        ("home_country", "_home"),
        ("visited_country", "_visited"),
    ]
    missing_name: pl.Expr = pl.lit(None, dtype=pl.String)
    for name, col in reversed(required):
        present = pl.col(col) if col == "_ts_present" else pl.col(col).is_not_null()
        if name == "utc_offset_min":
            present = present | pl.col("_bad_off")
        missing_name = pl.when(~present.fill_null(False)).then(pl.lit(name)).otherwise(missing_name)
    missing_name = (
        pl.when(missing_name.is_not_null())
        .then(missing_name)
        .when(is_voice & pl.col("_dur").is_null() & ~pl.col("_bad_dur"))
        .then(pl.lit("duration_s"))
        .when(is_data & pl.col("_vol").is_null() & ~pl.col("_bad_vol"))
        .then(pl.lit("volume_bytes"))
    )
    lo, hi = rc.UTC_OFFSET_RANGE_MIN
    bad_ts = (
        pl.col("_ts").is_null()
        | (pl.col("_ts").dt.year() < 1)
        | pl.col("_off").is_null()
        | (pl.col("_off") < lo)
        | (pl.col("_off") > hi)
    )
    known = _known_countries()
    if "_dup_global" in schema:  # batches of a larger run: duplicates were found over all rows
        dup = pl.col("_dup_global")
    else:
        dup = pl.col("_rid").is_not_null() & ~pl.col("_rid").is_first_distinct()
    reason = (
        pl.when(missing_name.is_not_null())
        .then(pl.lit(rc.MISSING_FIELD))
        .when(bad_ts)
        .then(pl.lit(rc.BAD_TIMESTAMP))
        .when(pl.col("_bad_qty") | pl.col("_bad_beyond"))
        .then(pl.lit(rc.BAD_NUMBER))
        .when(~ev.is_in(list(rc.EVENT_TYPES)))
        .then(pl.lit(rc.BAD_EVENT_TYPE))
        .when(pl.col("_qty") < 0)
        .then(pl.lit(rc.NEGATIVE_QUANTITY))
        .when(pl.col("_qty") > pl.col("_max_qty"))
        .then(pl.lit(rc.QUANTITY_OUT_OF_RANGE))
        .when(~pl.col("_home").is_in(known) | ~pl.col("_visited").is_in(known))
        .then(pl.lit(rc.UNKNOWN_COUNTRY))
        .when(pl.col("_plan_home").is_null())
        .then(pl.lit(rc.UNKNOWN_PLAN))
        .when(pl.col("_plan_home") != pl.col("_home"))
        .then(pl.lit(rc.PLAN_HOME_MISMATCH))
        .when(dup)
        .then(pl.lit(rc.DUPLICATE_RECORD_ID))
    )
    return lf.with_columns(reason_code=reason, _missing_name=missing_name)


def _messages(rejects: pl.LazyFrame) -> pl.LazyFrame:
    """The message of each basic reject (computed on rejected rows only)."""
    reason = pl.col("reason_code")
    missing_name = pl.col("_missing_name")
    ev = pl.col("_event")
    lo, hi = rc.UTC_OFFSET_RANGE_MIN
    message = (
        pl.when(reason == rc.MISSING_FIELD)
        .then(
            pl.format(
                "missing required field {}: give it a value (see docs/rating.md §1.1)", missing_name
            )
        )
        .when(reason == rc.BAD_TIMESTAMP)
        .then(
            pl.format(
                "started_at {} with utc_offset_min {}: expected an ISO 8601 time "
                "YYYY-MM-DDTHH:MM:SS[.ffffff][Z|±HH:MM] and an offset in minutes in [{}, {}]",
                pl.col("started_at").cast(pl.String).fill_null("null"),
                pl.col("utc_offset_min").cast(pl.String).fill_null("null"),
                pl.lit(lo),
                pl.lit(hi),
            )
        )
        .when(reason == rc.BAD_NUMBER)
        .then(
            pl.format(
                "{} event: expected whole numbers for its quantity and true/false for "
                "is_beyond_fair_use, found duration_s={} volume_bytes={} count={} "
                "is_beyond_fair_use={}",
                ev,
                pl.col("duration_s").cast(pl.String).fill_null("null"),
                pl.col("volume_bytes").cast(pl.String).fill_null("null"),
                pl.col("count").cast(pl.String).fill_null("null"),
                pl.col("is_beyond_fair_use").cast(pl.String).fill_null("null"),
            )
        )
        .when(reason == rc.BAD_EVENT_TYPE)
        .then(pl.format("event_type {}: expected one of {}", ev, pl.lit(", ".join(rc.EVENT_TYPES))))
        .when(reason == rc.NEGATIVE_QUANTITY)
        .then(pl.format("{} event: quantity {} is negative", ev, pl.col("_qty")))
        .when(reason == rc.QUANTITY_OUT_OF_RANGE)
        .then(
            pl.format(
                "{} event: quantity {} exceeds the bound {} for one record",
                ev,
                pl.col("_qty"),
                pl.col("_max_qty"),
            )
        )
        .when(reason == rc.UNKNOWN_COUNTRY)
        .then(
            pl.format(
                "home_country {} / visited_country {}: expected ISO 3166 alpha-2 codes "
                "known to the catalog (XK for Kosovo); see `roamlike countries`",
                pl.col("_home").fill_null("null"),
                pl.col("_visited").fill_null("null"),
            )
        )
        .when(reason == rc.UNKNOWN_PLAN)
        .then(pl.format("plan_id {} is not in the plans file", pl.col("_plan")))
        .when(reason == rc.PLAN_HOME_MISMATCH)
        .then(
            pl.format(
                "home_country {} differs from plan {}'s home country {}",
                pl.col("_home"),
                pl.col("_plan"),
                pl.col("_plan_home"),
            )
        )
        .when(reason == rc.DUPLICATE_RECORD_ID)
        .then(
            pl.format(
                "record_id {} was already read on an earlier row; duplicates are "
                "rejected, never charged twice",
                pl.col("_rid"),
            )
        )
    )
    return rejects.with_columns(message=message)


# ------------------------------------------------------------------------------------------
# Rating


def _local_and_period(lf: pl.LazyFrame) -> pl.LazyFrame:
    local = pl.col("_ts") + pl.duration(minutes=pl.col("_off"))
    lf = lf.with_columns(local_date=local.dt.date())
    days = (pl.col("local_date") - pl.col("_anchor")).dt.total_days()
    period_28 = pl.col("_anchor") + pl.duration(days=(days // 28) * 28)
    return lf.with_columns(
        _period=pl.when(pl.col("_period_kind") == "28d")
        .then(period_28)
        .otherwise(pl.col("local_date").dt.month_start())
    )


def _charge(units: pl.Expr, nanos: pl.Expr) -> pl.Expr:
    """Charge in micros of ``units`` at ``nanos`` per law unit (``_d`` = divisor x 1000)."""
    return money.mul_div_round_expr(units, nanos, pl.col("_d"))


def _first_in_group(cond: pl.Expr, group: list[str]) -> pl.Expr:
    c = cond.fill_null(False)
    return c & (c.cast(pl.Int64).cum_sum().over(group) == 1)


def _rate(priced: pl.LazyFrame, order: list[str] = _ORDER) -> pl.LazyFrame:
    ev = pl.col("_event")
    kind = pl.col("rule_kind")
    is_data = ev == "data"
    kb = pl.when(pl.col("_binary")).then(1024).otherwise(1000)
    data_kb = (pl.col("_qty") + kb - 1) // kb
    lf = priced.with_columns(
        billed_units=pl.when(ev == "voice_mo")
        .then(
            pl.when((kind != "domestic") & (pl.col("_qty") > 0))
            .then(pl.max_horizontal(pl.col("_qty"), pl.col("initial_s")))
            .otherwise(pl.col("_qty"))
        )
        .when(is_data)
        .then(data_kb)
        .otherwise(pl.col("_qty")),
        billed_unit=pl.when(ev.is_in(["voice_mo", "voice_mt"]))
        .then(pl.lit("s"))
        .when(is_data)
        .then(pl.lit("kB"))
        .otherwise(pl.lit("msg")),
        _div=pl.when(ev.is_in(["voice_mo", "voice_mt"]))
        .then(60)
        .when(is_data)
        .then(pl.when(pl.col("_binary")).then(MB_BYTES[True]).otherwise(MB_BYTES[False]))
        .otherwise(1)
        .cast(pl.Int64),
    )
    units = pl.when(is_data).then(pl.col("billed_units") * kb).otherwise(pl.col("billed_units"))
    in_pool_kind = kind.is_in(list(POOL_KINDS))
    pool_event = ev.is_in(["voice_mo", "sms_mo", "data"])
    allowance = (
        pl.when(ev == "voice_mo")
        .then(pl.col("_allow_voice_s"))
        .when(ev == "sms_mo")
        .then(pl.col("_allow_sms"))
        .otherwise(pl.col("_allow_data_bytes"))
        .fill_null(_BIG)
    )
    is_rlah_data = (kind == "rlah") & is_data
    lf = lf.with_columns(_units=units, _allow=allowance).sort(order)
    # codes are only grouping keys: within a group the order is (started_at, record_id)
    lf = lf.with_columns(_gid=pl.struct("_sub_code", "_plan_code", "_period").rle_id())
    pool_cum = pl.lit(0, dtype=pl.Int64)
    for pool in ("voice_mo", "sms_mo", "data"):
        cum = pl.when(in_pool_kind & (ev == pool)).then(pl.col("_units")).otherwise(0)
        pool_cum = pl.when(ev == pool).then(cum.cum_sum().over(_G)).otherwise(pool_cum)
    lf = lf.with_columns(
        _pool_cum=pool_cum,
        fup_used_bytes=pl.when(is_rlah_data).then(
            pl.when(is_rlah_data).then(pl.col("_units")).otherwise(0).cum_sum().over(_G)
        ),
    )
    in_bundle = (
        pl.when(in_pool_kind & pool_event)
        .then(
            (pl.col("_allow") - (pl.col("_pool_cum") - pl.col("_units")))
            .clip(0, None)
            .clip(None, pl.col("_units"))
        )
        .otherwise(0)
    )
    lf = lf.with_columns(in_bundle_units=in_bundle)
    excess = (
        pl.when(is_rlah_data & pl.col("fup_is_open"))
        .then(
            (pl.col("fup_used_bytes") - pl.col("fup_allowance_bytes"))
            .clip(0, None)
            .clip(None, pl.col("_units"))
        )
        .otherwise(0)
    )
    lf = lf.with_columns(_excess=excess)
    # surcharged bytes: the fair-use excess, or all bytes once the permanent-roaming control
    # has triggered (is_beyond_fair_use, rating.md §5.2)
    lf = lf.with_columns(
        _over=pl.when(is_rlah_data & pl.col("_beyond"))
        .then(pl.col("_units"))
        .otherwise(pl.col("_excess"))
    )
    sur_units = (
        pl.when(is_rlah_data)
        .then(pl.col("_over"))
        .when((kind == "rlah") & ev.is_in(["voice_mo", "voice_mt", "sms_mo"]) & pl.col("_beyond"))
        .then(pl.col("_units"))
        .when((kind == "surcharge_cap") & ev.is_in(["voice_mo", "voice_mt", "sms_mo", "data"]))
        .then(pl.col("_units"))
        .otherwise(0)
    )
    # operands become plain columns first: the exact Int64 arithmetic reads each several times
    lf = lf.with_columns(
        _oob=pl.col("_units") - pl.col("in_bundle_units"),
        _sur_units=sur_units,
        _d=pl.col("_div") * (money.NANOS_PER_UNIT // money.MICROS_PER_UNIT),
    )
    dom = pl.when(in_pool_kind).then(_charge(pl.col("_oob"), pl.col("dom_nanos"))).otherwise(0)
    roam = pl.when(~in_pool_kind).then(_charge(pl.col("_units"), pl.col("ret_nanos"))).otherwise(0)
    sur = (
        pl.when(pl.col("_sur_units") > 0)
        .then(_charge(pl.col("_sur_units"), pl.col("sur_nanos")))
        .otherwise(0)
    )
    lf = lf.with_columns(
        _dom=dom.fill_null(0),
        _sur=sur.fill_null(0),
        roaming_micros=roam.fill_null(0),
        # rating.md §5.3: WB phases 2-3 always; EU rlah 2017-2022 when the record is surcharged
        _total_max=pl.when(
            ((kind == "surcharge_cap") | ((kind == "rlah") & (pl.col("_sur_units") > 0)))
            & pl.col("max_nanos").is_not_null()
        ).then(_charge(pl.col("_units"), pl.col("max_nanos"))),
    )
    exceeds = pl.col("_total_max").is_not_null() & (
        pl.col("_dom") + pl.col("_sur") > pl.col("_total_max")
    )
    lf = lf.with_columns(
        _sur=pl.when(exceeds)
        .then((pl.col("_total_max") - pl.col("_dom")).clip(0, None))
        .otherwise(pl.col("_sur")),
        _dom=pl.when(exceeds)
        .then(pl.min_horizontal(pl.col("_dom"), pl.col("_total_max")))
        .otherwise(pl.col("_dom")),
    )
    # bill-shock (rating.md §5.6)
    eligible = (
        is_data
        & (kind != "domestic")
        & ~pl.col("_m2m")
        & pl.col("billshock_limit_micros").is_not_null()
    )
    pre = pl.col("_dom") + pl.col("_sur") + pl.col("roaming_micros")
    lf = lf.with_columns(
        _bs_eligible=eligible,
        _bs_after=pl.when(eligible).then(pre).otherwise(0).cum_sum().over(_G),
    )
    lf = lf.with_columns(_bs_before=pl.col("_bs_after") - pl.when(eligible).then(pre).otherwise(0))
    limit = pl.col("billshock_limit_micros")
    cutting = eligible & ~pl.col("_bs_continue")
    blocked = cutting & (pl.col("_bs_before") >= limit)
    excess = (
        pl.when(cutting & ~blocked & (pl.col("_bs_after") > limit))
        .then(pl.col("_bs_after") - limit)
        .otherwise(0)
    )
    take_roam = pl.min_horizontal(excess, pl.col("roaming_micros"))
    excess2 = excess - take_roam
    take_sur = pl.min_horizontal(excess2, pl.col("_sur"))
    take_dom = pl.min_horizontal(excess2 - take_sur, pl.col("_dom"))
    lf = lf.with_columns(
        is_blocked_by_cutoff=blocked.fill_null(False),
        roaming_micros=pl.when(blocked).then(0).otherwise(pl.col("roaming_micros") - take_roam),
        surcharge_micros=pl.when(blocked).then(0).otherwise(pl.col("_sur") - take_sur),
        domestic_micros=pl.when(blocked).then(0).otherwise(pl.col("_dom") - take_dom),
        is_over_fup=pl.col("_excess") > 0,
        fup_allowance_bytes=pl.when(is_rlah_data).then(pl.col("fup_allowance_bytes")),
    )
    excl = pl.col("domestic_micros") + pl.col("surcharge_micros") + pl.col("roaming_micros")
    lf = lf.with_columns(charge_excl_vat_micros=excl)
    lf = lf.with_columns(
        vat_micros=money.vat_micros_expr(pl.col("charge_excl_vat_micros"), pl.col("vat_ppm"))
    )
    lf = lf.with_columns(
        charge_incl_vat_micros=pl.col("charge_excl_vat_micros") + pl.col("vat_micros")
    )
    # keep what the outputs and notifications read; the rest were working columns
    return lf.select(
        "row_number",
        "_gid",
        "_sub_code",
        "_ts",
        "_rid",
        "_visited",
        "_period",
        "local_date",
        "currency",
        "rule_kind",
        "_price_row",
        "vat_ppm",
        "_bs_eligible",
        "_bs_after",
        "_bs_continue",
        "billshock_limit_micros",
        "billshock_alert_pct",
        "billshock_extra_micros",
        "billed_units",
        "billed_unit",
        "in_bundle_units",
        "domestic_micros",
        "surcharge_micros",
        "roaming_micros",
        "charge_excl_vat_micros",
        "vat_micros",
        "charge_incl_vat_micros",
        "fup_allowance_bytes",
        "fup_used_bytes",
        "is_over_fup",
        "is_blocked_by_cutoff",
    )


def _notifications(
    rated: pl.LazyFrame, rows: pl.LazyFrame, order: tuple[str, ...] = ("_sub_code", "_ts", "_rid")
) -> pl.LazyFrame:
    """Bill-shock, fair-use and welcome events (rating.md §5.6); ``rows`` gives the ids."""
    limit = pl.col("billshock_limit_micros")
    el = pl.col("_bs_eligible")
    after = pl.col("_bs_after")
    pct = pl.col("billshock_alert_pct")
    c80 = el & (100 * pl.min_horizontal(after, limit) >= pct * limit)
    c100 = el & (after >= limit)
    cx = (
        el
        & pl.col("_bs_continue")
        & pl.col("billshock_extra_micros").is_not_null()
        & (after >= pl.col("billshock_extra_micros"))
    )
    basis_bs = "eu_2022_612 Art. 14(4)"
    flags = rated.select(
        "row_number",
        _n80=_first_in_group(c80, [_G]),
        _n100=_first_in_group(c100, [_G]),
        _nx=_first_in_group(cx, [_G]),
        _nfup=_first_in_group(pl.col("is_over_fup"), [_G]),
        _t80=money.round_div_expr(limit * pct, 100),
        _t100=limit,
        _tx=pl.col("billshock_extra_micros"),
    )
    welcome = (
        rated.select("row_number", "_sub_code", "_ts", "_rid", "_visited", "rule_kind")
        .sort(list(order))
        .select(
            "row_number",
            _nwelcome=(pl.col("rule_kind") != "domestic")
            & (
                pl.col("_visited").shift(1).over("_sub_code").is_null()
                | (pl.col("_visited").shift(1).over("_sub_code") != pl.col("_visited"))
            ),
        )
        .filter(pl.col("_nwelcome"))
    )
    ids = rows.select(
        "row_number",
        subscriber_id=pl.col("_sub"),
        plan_id=pl.col("_plan"),
        billing_period_start=pl.col("_period"),
        record_id=pl.col("_rid"),
        started_at=pl.col("_ts"),
        currency=pl.col("currency"),
    )
    parts = []
    for flag, kind, threshold, basis in (
        ("_n80", "billshock_80", "_t80", basis_bs),
        ("_n100", "billshock_100", "_t100", basis_bs),
        ("_nx", "billshock_extra", "_tx", basis_bs),
        ("_nfup", "fup_exhausted", None, "eu_2022_612 Art. 13(3), 14(3)"),
    ):
        parts.append(
            flags.filter(pl.col(flag)).select(
                "row_number",
                kind=pl.lit(kind),
                threshold_micros=pl.lit(None, dtype=pl.Int64)
                if threshold is None
                else pl.col(threshold).cast(pl.Int64),
                basis=pl.lit(basis),
            )
        )
    parts.append(
        welcome.select(
            "row_number",
            kind=pl.lit("welcome"),
            threshold_micros=pl.lit(None, dtype=pl.Int64),
            basis=pl.lit("eu_2022_612 Art. 13(1), 14(2)"),
        )
    )
    return (
        pl.concat(parts)
        .join(ids, on="row_number", how="inner")
        .select(
            "subscriber_id",
            "plan_id",
            "billing_period_start",
            "record_id",
            "started_at",
            "kind",
            "threshold_micros",
            "currency",
            "basis",
        )
        .sort(["subscriber_id", "started_at", "record_id", "kind"])
    )


_CANONICAL = (*rc.REQUIRED_COLUMNS, *rc.OPTIONAL_COLUMNS)
_KIND_ENUM = pl.Enum(list(KINDS))
_EVENT_ENUM = pl.Enum(list(rc.EVENT_TYPES))
_COUNTRY_ENUM = pl.Enum(sorted(default_catalog().countries))
_BATCH_COLUMNS = ("row_number", "_dup_global")
_NARROW = [
    "row_number",
    "_sub",
    "_plan",
    "_period",
    "_ts",
    "_rid",
    "_event",
    "_visited",
    "_qty",
    "_beyond",
    "_binary",
    "_m2m",
    "_bs_continue",
    "_allow_voice_s",
    "_allow_sms",
    "_allow_data_bytes",
    "local_date",
    "currency",
]

RATED_COLUMNS = [
    "row_number",
    "local_date",
    "billing_period_start",
    "regime",
    "rule_kind",
    "billed_units",
    "billed_unit",
    "in_bundle_units",
    "domestic_micros",
    "surcharge_micros",
    "roaming_micros",
    "charge_excl_vat_micros",
    "vat_rate",
    "vat_micros",
    "charge_incl_vat_micros",
    "currency",
    "fup_allowance_bytes",
    "fup_used_bytes",
    "is_over_fup",
    "is_blocked_by_cutoff",
    "parameters",
]


def rate_usage(
    usage: pl.LazyFrame | pl.DataFrame,
    plans: Mapping[str, Plan],
    fx: FxTable | None = None,
    *,
    segment_cache: SegmentCache | None = None,
) -> RatingResult:
    """Rate usage records under the rules in force at their local start time.

    Parameters
    ----------
    usage : polars.LazyFrame or DataFrame
        Canonical usage columns (docs/rating.md §1.1), any types (text is validated).
    plans : mapping of plan id to Plan
    fx : FxTable, optional
        Exchange rates (docs/law/exchange-rates.md) for non-euro plans.

    Returns
    -------
    RatingResult
        Rated records (canonical input columns, normalised, plus the output columns of §8),
        rejects (the rows as read plus ``row_number``, ``reason_code``, ``message``) and
        notifications. ``rated + rejects == read``.
    """
    fx = fx or FxTable()
    lf = usage.lazy() if isinstance(usage, pl.DataFrame) else usage
    input_columns = [c for c in lf.collect_schema().names() if c not in _BATCH_COLUMNS]
    if "row_number" in lf.collect_schema().names():  # a batch of a larger run (rate_batches)
        lf = lf.with_columns(pl.col("row_number").cast(pl.Int64))
    else:
        lf = lf.with_row_index("row_number").with_columns(pl.col("row_number").cast(pl.Int64))
    checked = _validate(lf, plans).collect()
    read = checked.height
    reject_cols = [*input_columns, "row_number", "reason_code", "message"]
    basic_rejects = (
        _messages(checked.lazy().filter(pl.col("reason_code").is_not_null()))
        .select(reject_cols)
        .collect()
    )

    ok = _local_and_period(checked.lazy().filter(pl.col("reason_code").is_null())).collect()
    # a local date past the catalog's coverage needs no price table (and may lie beyond the
    # calendar Python can hold): reject it here
    coverage = default_catalog().coverage
    outside = (pl.col("local_date") < coverage.start) | (pl.col("local_date") > coverage.end)
    early = ok.filter(outside)
    if early.height:
        ok = ok.filter(~outside)
    pairs = (
        ok.group_by("_plan", "_visited")
        .agg(lo=pl.col("local_date").min(), hi=pl.col("local_date").max())
        .rename({"_plan": "plan_id", "_visited": "visited_country"})
    )
    prices = (
        price_table(pairs, plans, fx, segment_cache)
        .rename({"plan_id": "_plan", "visited_country": "_visited", "event_type": "_event"})
        .with_row_index("_price_row")
    )
    # only what rating needs travels through the sorts; the rest is joined back at the end
    narrow = ok.select(_NARROW)
    priced = narrow.sort("local_date").join_asof(
        prices.drop("regime", "seg_message", "parameters"),
        left_on="local_date",
        right_on="valid_from",
        by=["_plan", "_visited", "_event"],
        strategy="backward",
        check_sortedness=False,
    )
    needs_sur = (
        ((pl.col("rule_kind") == "rlah") & (pl.col("_event") == "data"))
        | (
            (pl.col("rule_kind") == "rlah")
            & pl.col("_beyond")
            & pl.col("_event").is_in(["voice_mo", "voice_mt", "sms_mo"])
        )
        | (
            (pl.col("rule_kind") == "surcharge_cap")
            & pl.col("_event").is_in(["voice_mo", "voice_mt", "sms_mo", "data"])
        )
    )
    priced = priced.with_columns(
        reason_code=pl.when(pl.col("seg_reason").is_not_null())
        .then(pl.col("seg_reason"))
        .when(needs_sur & pl.col("sur_nanos").is_null())
        .then(pl.lit(rc.NO_RULE_IN_FORCE))
    )
    late = priced.filter(pl.col("reason_code").is_not_null()).select(
        "row_number", "reason_code", "_event", "local_date", "_price_row"
    )
    late_rejects = (
        ok.select(*input_columns, "row_number")
        .join(late, on="row_number", how="inner")
        .join(prices.select("_price_row", "regime", "seg_message"), on="_price_row", how="left")
        .with_columns(
            message=pl.when(pl.col("seg_message").is_not_null())
            .then(pl.col("seg_message"))
            .otherwise(
                pl.format(
                    "no surcharge cap in force for {} under {} on {}",
                    pl.col("_event"),
                    pl.col("regime"),
                    pl.col("local_date").cast(pl.String),
                )
            )
        )
        .select(reject_cols)
    )
    out_of_coverage = early.select(
        *input_columns,
        "row_number",
        reason_code=pl.lit(rc.NO_RULE_IN_FORCE),
        message=pl.format(
            "no rule in force on local date {} (started_at {} + utc_offset_min {}); the "
            "catalog covers {} to {}",
            pl.col("local_date").cast(pl.String),
            pl.col("_ts").cast(pl.String),
            pl.col("_off"),
            pl.lit(coverage.start.isoformat()),
            pl.lit(coverage.end.isoformat()),
        ),
    )
    rejects = pl.concat([basic_rejects, out_of_coverage, late_rejects]).sort("row_number")

    good = (
        priced.lazy()
        .filter(pl.col("reason_code").is_null())
        .with_columns(
            _sub_code=pl.col("_sub").cast(pl.Categorical).to_physical(),
            _plan_code=pl.col("_plan").cast(pl.Categorical).to_physical(),
            # enums: the many comparisons below test small integers, not text
            rule_kind=pl.col("rule_kind").cast(_KIND_ENUM),
            _event=pl.col("_event").cast(_EVENT_ENUM),
            _visited=pl.col("_visited").cast(_COUNTRY_ENUM),
        )
        .drop("_sub", "_plan", "valid_from", "seg_reason", "reason_code")
        .collect()
    )
    # Sorting on text is slow; the record_id tie-breaker of the event order (rating.md §2) is
    # only needed where two records of a subscriber share a start time. A hash of (subscriber,
    # time) finds any such pair; a hash collision only costs the slower, equally exact sort.
    ties = (
        good.select((pl.col("_sub_code").hash() ^ pl.col("_ts").hash()).n_unique()).item()
        < good.height
    )
    rated_narrow = _rate(good.lazy(), _ORDER if ties else _ORDER_INT).collect()
    welcome_order = ("_sub_code", "_ts", "_rid") if ties else ("_sub_code", "_ts")
    notifications = _notifications(rated_narrow.lazy(), ok.lazy(), welcome_order).collect()
    regime_of = prices.get_column("regime")
    parameters_of = prices.get_column("parameters")
    outputs = (
        rated_narrow.lazy()
        .with_columns(
            regime=regime_of.gather(rated_narrow.get_column("_price_row")),
            parameters=parameters_of.gather(rated_narrow.get_column("_price_row")),
        )
        .with_columns(
            billing_period_start=pl.col("_period"),
            vat_rate=pl.col("vat_ppm").cast(pl.Decimal(18, 6)) / 1_000_000,
        )
        .sort("row_number")
        .select(RATED_COLUMNS)
        .with_columns(pl.col("rule_kind").cast(pl.String))
        .collect()
    )
    extra = [c for c in input_columns if c not in _CANONICAL]
    inputs_lf = ok.lazy()
    if late.height:
        inputs_lf = inputs_lf.filter(~pl.col("row_number").is_in(late["row_number"]))
    canonical = [
        pl.col("_rid").alias("record_id"),
        pl.col("_sub").alias("subscriber_id"),
        pl.col("_plan").alias("plan_id"),
        pl.col("_event").alias("event_type"),
        pl.col("_ts").alias("started_at"),
        pl.col("_off").alias("utc_offset_min"),
        pl.col("_home").alias("home_country"),
        pl.col("_visited").alias("visited_country"),
        pl.col("destination_country").cast(pl.String),
        pl.col("_dur").alias("duration_s"),
        pl.col("_vol").alias("volume_bytes"),
        pl.col("_cnt").alias("count"),
        pl.col("_beyond").alias("is_beyond_fair_use"),
    ]
    rated_inputs = (
        inputs_lf.sort("row_number").select([*canonical, *[pl.col(c) for c in extra]]).collect()
    )
    rated = pl.concat([rated_inputs, outputs], how="horizontal")
    return RatingResult(rated=rated, rejects=rejects, notifications=notifications, read=read)


def subscriber_batch(batches: int) -> pl.Expr:
    """The batch of a row: a stable hash of its (trimmed) subscriber id, modulo ``batches``.

    Rows of one subscriber always fall in the same batch, so that every counter of
    docs/rating.md (allowances, fair use, bill-shock, welcome) lives inside one batch.
    """
    sub = _text("subscriber_id")
    return (sub.fill_null("").hash(seed=20170615) % max(batches, 1)).cast(pl.Int64)


def duplicate_rows(usage: pl.LazyFrame) -> pl.LazyFrame:
    """Row numbers (in read order) of the rows whose record_id was already read earlier.

    Found over the whole input before it is split into batches (rating.md §7b).
    """
    rid = _text("record_id")
    return (
        usage.select(rid.alias("_rid"))
        .with_row_index("row_number")
        .filter(pl.col("_rid").is_not_null() & ~pl.col("_rid").is_first_distinct())
        .select(pl.col("row_number").cast(pl.Int64))
    )
