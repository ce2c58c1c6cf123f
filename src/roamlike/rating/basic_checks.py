"""The basic reason codes of usage rows (docs/rating.md §7, §7b) as Polars expressions.

Given the working columns of :mod:`roamlike.rating.working_columns` (and the plan columns of
each record), these expressions give each row its quantity (``_qty``, ``_bad_qty``,
``_max_qty``), then the first applicable basic reason code (``reason_code``) and, for
``MISSING_FIELD``, the field (``_missing_name``). They depend only on the countries the catalog
knows and on which rows need the checks that distinct values may rule out, so they are built
once per such key (building them is Python work of about a millisecond, as much as evaluating
them on a commit group of the service).
"""

from __future__ import annotations

import datetime as dt
import functools

import polars as pl

from roamlike.rating import reasons as rc

#: Types of ``reason_code`` and ``_missing_name`` in the validated frame: enums, so that the
#: checks of every row compare and pick small integers; rejects carry the codes as text.
REASON_ENUM = pl.Enum(list(rc.ALL))
MISSING_ENUM = pl.Enum([*rc.REQUIRED_COLUMNS, "duration_s", "volume_bytes"])
#: The first instant of year 1 (UTC): a parsed time before it is a bad timestamp. A Python
#: value, not a Polars literal: building one at import time starts Polars' thread pool, which a
#: process forked afterwards (the server's workers) cannot use.
_YEAR_1 = dt.datetime(1, 1, 1, tzinfo=dt.UTC)

_REQUIRED = (
    ("record_id", "_rid"),
    ("subscriber_id", "_sub"),
    ("plan_id", "_plan"),
    ("event_type", "_event"),
    ("started_at", "_ts_present"),
    ("utc_offset_min", "_off"),
    ("home_country", "_home"),
    ("visited_country", "_visited"),
)


def _kind_in(*kinds: str) -> pl.Expr:
    """The event's kind among ``kinds``, from its code worked out with the working columns: the
    same values as comparing the text of every row (null where the event type is null)."""
    return pl.when(pl.col("_event").is_not_null()).then(
        pl.col("_event_kind").is_in(kinds).fill_null(False)
    )


@functools.lru_cache(maxsize=4)
def quantity_columns() -> tuple[pl.Expr, ...]:
    """``_qty`` (the record's quantity in its event type's unit, a message count 1 when not
    given), ``_bad_qty`` (it is not a whole number) and ``_max_qty`` (its bound for one record).
    """
    is_voice = _kind_in("voice_mo", "voice_mt")
    is_data = _kind_in("data")
    is_msg = _kind_in("sms_mo", "sms_mt", "mms_mo")
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
    return (qty.alias("_qty"), bad_qty.alias("_bad_qty"), max_qty.alias("_max_qty"))


@functools.lru_cache(maxsize=64)
def reason_columns(
    known: tuple[str, ...], checks: frozenset[str], duplicate: str
) -> tuple[pl.Expr, ...]:
    """``reason_code`` and ``_missing_name`` of each row (after :func:`quantity_columns`).

    Parameters
    ----------
    known : tuple of str
        The country codes the catalog knows (sorted).
    checks : frozenset of str
        Working columns whose rows are checked (``_sub`` for the character no id may hold,
        ``_home`` and ``_visited`` for a country not in ``known``): the others hold no value
        that fails.
    duplicate : str
        The boolean column that is true for a duplicate record id.

    Returns
    -------
    tuple of polars.Expr
        ``reason_code`` (:data:`REASON_ENUM`) and ``_missing_name`` (:data:`MISSING_ENUM`).
    """
    is_voice = _kind_in("voice_mo", "voice_mt")
    is_data = _kind_in("data")
    missing_name: pl.Expr = pl.lit(None, dtype=MISSING_ENUM)
    for name, col in reversed(_REQUIRED):
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
        # not one of rc.EVENT_TYPES
        .when(pl.col("_event").is_not_null() & pl.col("_event_kind").is_null())
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
        .when(pl.col(duplicate))
        .then(pl.lit(rc.DUPLICATE_RECORD_ID, dtype=REASON_ENUM))
    )
    return (reason.alias("reason_code"), missing_name.alias("_missing_name"))
