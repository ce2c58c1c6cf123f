"""Normalise and validate usage rows (docs/rating.md §7, §7b), and the batch protocol.

Every canonical column is read as it comes (text or typed) into normalised working columns
(prefixed ``_``; only canonical columns enter this frame, see ``assembly.split_input``), then the
first applicable basic reason code is computed per row. The subscriber key and the batch protocol
(:func:`normalise_subscriber_id`, :func:`batch_keys`) are public so that a runner that splits the
input (``roamlike.pipeline``, Spark) computes them with this very code before it partitions.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection, Mapping

import polars as pl

from roamlike.columns import BATCH_DUPLICATE as BATCH_DUPLICATE
from roamlike.columns import BATCH_ROW as BATCH_ROW
from roamlike.columns import BATCH_SUBSCRIBER as BATCH_SUBSCRIBER
from roamlike.law import Catalog
from roamlike.rating import reasons as rc
from roamlike.rating.distinct import by_distinct
from roamlike.rating.duplicates import HashIds, hash_record_ids, repeated_ids
from roamlike.rating.prices import GB_BYTES
from roamlike.record_keys import normalise_subscriber_id as normalise_subscriber_id
from roamlike.record_keys import started_at_utc as started_at_utc
from roamlike.record_keys import subscriber_batch as subscriber_batch
from roamlike.tariffs import Plan


def _text(name: str, upper: bool = False) -> pl.Expr:
    e = normalise_subscriber_id(pl.col(name))
    return e.str.to_uppercase() if upper else e


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


def plans_frame(plans: Mapping[str, Plan]) -> pl.DataFrame:
    """One row per plan: the plan's values the engine reads, in working-column names.

    Allowances are in seconds, messages and bytes (null = unlimited); ``_28d`` is true for
    28-day billing periods (else calendar months).
    """
    rows = []
    for p in plans.values():
        rows.append(
            {
                "_plan": p.id,
                "_plan_home": p.home_country,
                "currency": p.currency,
                "_28d": p.billing_period == "28d",
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
        "_28d": pl.Boolean,
        "_anchor": pl.Date,
        "_allow_voice_s": pl.Int64,
        "_allow_sms": pl.Int64,
        "_allow_data_bytes": pl.Int64,
        "_binary": pl.Boolean,
        "_m2m": pl.Boolean,
        "_bs_continue": pl.Boolean,
    }
    return pl.DataFrame(rows, schema=schema, orient="row")


#: Types of ``reason_code`` and ``_missing_name`` in the validated frame: enums, so that the
#: checks of every row compare and pick small integers; rejects carry the codes as text.
REASON_ENUM = pl.Enum(list(rc.ALL))
MISSING_ENUM = pl.Enum([*rc.REQUIRED_COLUMNS, "duration_s", "volume_bytes"])


#: The event types as an enum: an event type's kind is read from its code (null if unknown).
_EVENT_KINDS = pl.Enum(list(rc.EVENT_TYPES))
#: The first instant of year 1 (UTC): a parsed time before it is a bad timestamp. A Python
#: value, not a Polars literal: building one at import time starts Polars' thread pool, which a
#: process forked afterwards (the server's workers) cannot use.
_YEAR_1 = dt.datetime(1, 1, 1, tzinfo=dt.UTC)

#: The plan columns each validated record carries (its plan's home, currency and period).
_PLAN_PER_RECORD = ["_plan", "_plan_home", "currency", "_28d", "_anchor"]


def _normalised(
    frame: pl.DataFrame, plans: Mapping[str, Plan], known: list[str]
) -> tuple[pl.DataFrame, set[str]]:
    """The normalised working columns of every row, each worked out once per distinct value
    where the column repeats (``distinct.by_distinct``), else per row, with the same
    expressions either way; and the working columns whose rows need a check that the distinct
    values showed some row may fail: ``_sub`` (a subscriber id holding the character no id may
    hold, ``reasons.ID_FORBIDDEN``), ``_home``, ``_visited`` (a country not in ``known``). A
    column none of whose values fails is not checked row by row."""
    schema = frame.schema
    checks: set[str] = set()

    def checked(
        column: str, build: Callable[[pl.DataFrame], pl.DataFrame], fails: pl.Expr
    ) -> Callable[[pl.DataFrame], pl.DataFrame]:
        def run(values: pl.DataFrame) -> pl.DataFrame:
            out = build(values)
            if out.select(fails.fill_null(False).any()).item():
                checks.add(column)
            return out

        return run

    def country(name: str, short: str) -> Callable[[pl.DataFrame], pl.DataFrame]:
        return checked(
            short,
            lambda v: v.with_columns(_text(name, upper=True).alias(short)),
            ~pl.col(short).is_in(known),
        )

    def per_row(
        frame: pl.DataFrame, key: str, build: Callable[[pl.DataFrame], pl.DataFrame]
    ) -> pl.DataFrame:
        return build(frame.select(key)).drop(key)

    def text_or_row(key: str, build: Callable[[pl.DataFrame], pl.DataFrame]) -> pl.DataFrame:
        # typed columns are cheap per row; text is trimmed and parsed per distinct value
        return (by_distinct if schema[key] == pl.String else per_row)(frame, key, build)

    def ints(name: str, short: str) -> Callable[[pl.DataFrame], pl.DataFrame]:
        parsed, bad = _int(name, schema)
        return lambda v: v.with_columns(parsed.alias(short), bad.alias(f"_bad{short}"))

    beyond, bad_beyond = _bool(schema)
    # what a record needs of its plan (the rest is read per price-table row, engine._row_table)
    plan_table = plans_frame(plans).select(*_PLAN_PER_RECORD)
    parts = [
        frame.select(_rid=_text("record_id")),  # record ids are (nearly) all distinct
        by_distinct(
            frame,
            "subscriber_id",
            checked(
                "_sub",
                lambda v: v.with_columns(_sub=_text("subscriber_id")),
                pl.col("_sub").str.contains(rc.ID_FORBIDDEN, literal=True),
            ),
        ),
        by_distinct(
            frame,
            "plan_id",
            lambda v: v.with_columns(_plan=_text("plan_id")).join(
                plan_table, on="_plan", how="left", maintain_order="left"
            ),
        ),
        by_distinct(
            frame,
            "event_type",
            lambda v: v.with_columns(_event=_text("event_type")).with_columns(
                _event_kind=pl.col("_event").cast(_EVENT_KINDS, strict=False)
            ),
        ),
        *(
            by_distinct(frame, name, country(name, short))
            for name, short in (("home_country", "_home"), ("visited_country", "_visited"))
        ),
        text_or_row(
            "started_at",
            lambda v: v.with_columns(
                _ts=started_at_utc(schema), _ts_present=_present("started_at", schema)
            ),
        ),
        text_or_row("utc_offset_min", ints("utc_offset_min", "_off")),
        text_or_row("duration_s", ints("duration_s", "_dur")),
        text_or_row("volume_bytes", ints("volume_bytes", "_vol")),
        text_or_row("count", ints("count", "_cnt")),
        text_or_row(
            "is_beyond_fair_use",
            lambda v: v.with_columns(_beyond=beyond, _bad_beyond=bad_beyond),
        ),
    ]
    columns = pl.concat(parts, how="horizontal")
    plan_columns = [c for c in plan_table.columns if c != "_plan"]
    working = [c for c in columns.columns if c not in plan_columns]
    normalised = pl.concat([frame, columns.select(*working, *plan_columns)], how="horizontal")
    return normalised, checks


def validate(
    usage: pl.LazyFrame,
    plans: Mapping[str, Plan],
    catalog: Catalog,
    known_record_ids: Collection[str] | pl.Series | None = None,
    *,
    hash_ids: HashIds = hash_record_ids,
) -> pl.LazyFrame:
    """Normalised columns (prefixed ``_``) and the first applicable basic reason code.

    Text is trimmed, upper-cased, parsed and looked up once per distinct value (module
    ``distinct``); duplicates are found by a 64-bit hash, compared exactly where hashes collide
    (``duplicates``, with ``hash_ids``). The result is a frame in memory, given lazily.
    """
    # one chunk per column: the derived columns are single chunks, and Polars' streaming engine
    # has been seen to panic on columns of one frame chunked differently
    frame = usage.collect().rechunk()
    missing = [n for n in rc.OPTIONAL_COLUMNS if n not in frame.columns]
    if missing:
        frame = frame.with_columns(pl.lit(None).alias(n) for n in missing)
    schema = frame.schema
    known = sorted(catalog.countries)
    normalised, checks = _normalised(frame, plans, known)
    lf = normalised.lazy()
    ev = pl.col("_event")
    # the event's kind, from its code worked out once per distinct event type: the same
    # values as comparing the text of every row (null where the event type is null)
    kind = pl.col("_event_kind")

    def kind_in(*kinds: str) -> pl.Expr:
        return pl.when(ev.is_not_null()).then(kind.is_in(kinds).fill_null(False))

    is_voice = kind_in("voice_mo", "voice_mt")
    is_data = kind_in("data")
    is_msg = kind_in("sms_mo", "sms_mt", "mms_mo")
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
    missing_name: pl.Expr = pl.lit(None, dtype=MISSING_ENUM)
    for name, col in reversed(required):
        present = pl.col(col) if col == "_ts_present" else pl.col(col).is_not_null()
        if name == "utc_offset_min":
            present = present | pl.col("_bad_off")
        missing_name = (
            pl.when(~present.fill_null(False))
            .then(pl.lit(name, dtype=MISSING_ENUM))
            .otherwise(missing_name)
        )
    missing_name = (
        pl.when(missing_name.is_not_null())
        .then(missing_name)
        .when(is_voice & pl.col("_dur").is_null() & ~pl.col("_bad_dur"))
        .then(pl.lit("duration_s", dtype=MISSING_ENUM))
        .when(is_data & pl.col("_vol").is_null() & ~pl.col("_bad_vol"))
        .then(pl.lit("volume_bytes", dtype=MISSING_ENUM))
    )
    bad_id = pl.col("_rid").str.contains(rc.ID_FORBIDDEN, literal=True).fill_null(False)
    if "_sub" in checks:  # else no subscriber id holds it: the rows need no check
        bad_id = bad_id | pl.col("_sub").str.contains(rc.ID_FORBIDDEN, literal=True).fill_null(
            False
        )
    lo, hi = rc.UTC_OFFSET_RANGE_MIN
    bad_ts = (
        pl.col("_ts").is_null()
        | (pl.col("_ts") < pl.lit(_YEAR_1, dtype=pl.Datetime("us", "UTC")))  # as dt.year() < 1
        | pl.col("_off").is_null()
        | (pl.col("_off") < lo)
        | (pl.col("_off") > hi)
    )
    if BATCH_DUPLICATE in schema:  # a batch of a larger input: duplicates found over all rows
        dup = pl.col(BATCH_DUPLICATE)
    else:
        repeated = repeated_ids(lf.select("_rid").collect().to_series(), hash_ids)
        lf = lf.with_columns(repeated.alias("_dup"))
        dup = pl.col("_dup")
    if known_record_ids is not None:  # ids of earlier runs (a store's duplicate rule)
        ids = (
            known_record_ids
            if isinstance(known_record_ids, pl.Series)
            else pl.Series(list(known_record_ids), dtype=pl.String)
        )
        dup = dup | pl.col("_rid").is_in(ids.cast(pl.String).implode())
    # a country not in the catalog, checked on the rows of a column only if one of its
    # distinct values is not known (null where the country is null, as is_in gives)
    unknown_country: pl.Expr = pl.lit(False)
    for column in ("_home", "_visited"):
        if column in checks:
            unknown_country = unknown_country | ~pl.col(column).is_in(known)
    reason = (
        pl.when(missing_name.is_not_null())
        .then(pl.lit(rc.MISSING_FIELD, dtype=REASON_ENUM))
        .when(bad_id)
        .then(pl.lit(rc.BAD_ID, dtype=REASON_ENUM))
        .when(bad_ts)
        .then(pl.lit(rc.BAD_TIMESTAMP, dtype=REASON_ENUM))
        .when(pl.col("_bad_qty") | pl.col("_bad_beyond"))
        .then(pl.lit(rc.BAD_NUMBER, dtype=REASON_ENUM))
        .when(ev.is_not_null() & kind.is_null())  # not one of rc.EVENT_TYPES
        .then(pl.lit(rc.BAD_EVENT_TYPE, dtype=REASON_ENUM))
        .when(pl.col("_qty") < 0)
        .then(pl.lit(rc.NEGATIVE_QUANTITY, dtype=REASON_ENUM))
        .when(pl.col("_qty") > pl.col("_max_qty"))
        .then(pl.lit(rc.QUANTITY_OUT_OF_RANGE, dtype=REASON_ENUM))
        .when(unknown_country)
        .then(pl.lit(rc.UNKNOWN_COUNTRY, dtype=REASON_ENUM))
        .when(pl.col("_plan_home").is_null())
        .then(pl.lit(rc.UNKNOWN_PLAN, dtype=REASON_ENUM))
        .when(pl.col("_plan_home") != pl.col("_home"))
        .then(pl.lit(rc.PLAN_HOME_MISMATCH, dtype=REASON_ENUM))
        .when(dup)
        .then(pl.lit(rc.DUPLICATE_RECORD_ID, dtype=REASON_ENUM))
    )
    checked = lf.with_columns(reason_code=reason, _missing_name=missing_name).drop("_event_kind")
    return (checked if BATCH_DUPLICATE in schema else checked.drop("_dup")).collect().lazy()


def messages(rejects: pl.LazyFrame) -> pl.LazyFrame:
    """The message of each basic reject (computed on rejected rows only)."""
    reason = pl.col("reason_code")
    missing_name = pl.col("_missing_name")
    ev = pl.col("_event")
    lo, hi = rc.UTC_OFFSET_RANGE_MIN
    message = (
        pl.when(reason == rc.MISSING_FIELD)
        .then(
            pl.format(
                "missing required field {}: give it a value (see docs/rating.md §1.1)",
                missing_name.cast(pl.String),
            )
        )
        .when(reason == rc.BAD_ID)
        .then(
            pl.format(
                "{} contains the character U+0000 (NUL), which no id may hold: ids are kept as "
                "text, and stores cannot keep that character (docs/rating.md §7b)",
                pl.when(pl.col("_rid").str.contains(rc.ID_FORBIDDEN, literal=True))
                .then(pl.lit("record_id"))
                .otherwise(pl.lit("subscriber_id")),
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
                "record_id {} was already read on an earlier row (or by an earlier run); "
                "duplicates are rejected, never charged twice",
                pl.col("_rid"),
            )
        )
    )
    return rejects.with_columns(message=message)


# ------------------------------------------------------------------------------------------
# The batch protocol (public: runners that split the input use exactly this code)


def batch_keys(usage: pl.LazyFrame) -> pl.LazyFrame:
    """The usage with the batch protocol's columns, computed over the whole input.

    Adds :data:`BATCH_ROW` (0-based row number in read order), :data:`BATCH_DUPLICATE` (the
    row's normalised ``record_id`` occurred on an earlier row, rating.md §7b) and
    :data:`BATCH_SUBSCRIBER` (:func:`normalise_subscriber_id`). A batch of these rows, with the
    columns kept, rated by ``rate_usage`` gives the rows' results of rating the whole input,
    provided every row of a subscriber key is in the same batch.
    """
    rid = normalise_subscriber_id(pl.col("record_id"))
    return usage.with_columns(
        pl.int_range(pl.len(), dtype=pl.Int64).alias(BATCH_ROW),
        (rid.is_not_null() & ~rid.is_first_distinct()).alias(BATCH_DUPLICATE),
        normalise_subscriber_id(pl.col("subscriber_id")).alias(BATCH_SUBSCRIBER),
    )
