"""The working columns of usage rows (docs/rating.md §7, §7b): one Polars expression each.

Every canonical column is read as it comes (text or typed) into normalised working columns,
prefixed ``_`` (``_rid``, ``_sub``, ``_plan``, ``_event``, ``_event_kind``, ``_home``,
``_visited``, ``_ts``, ``_ts_present``, ``_off``, ``_dur``, ``_vol``, ``_cnt``, ``_beyond`` and the
``_bad…`` flags of the numbers). Each expression reads its own input column only, so
``roamlike.rating.normalise`` evaluates it per row or once per distinct value with the same
result. The expressions depend on the input's schema alone and are built once per schema
(building them is Python work of about a millisecond, as much as evaluating them on a commit
group of the service).
"""

from __future__ import annotations

import functools

import polars as pl

from roamlike.rating import reasons as rc
from roamlike.record_keys import normalise_subscriber_id, started_at_utc

#: The event types as an enum: an event type's kind is read from its code (null if unknown).
EVENT_KINDS = pl.Enum(list(rc.EVENT_TYPES))


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


#: ``(input column, the expressions of the working columns worked out from it)``, in order.
Derived = tuple[tuple[str, tuple[pl.Expr, ...]], ...]


@functools.lru_cache(maxsize=64)
def _derived(fields: tuple[tuple[str, pl.DataType], ...]) -> Derived:
    schema = pl.Schema(fields)

    def ints(name: str, short: str) -> tuple[pl.Expr, ...]:
        parsed, bad = _int(name, schema)
        return (parsed.alias(short), bad.alias(f"_bad{short}"))

    beyond, bad_beyond = _bool(schema)
    event = _text("event_type")
    return (
        ("record_id", (_text("record_id").alias("_rid"),)),
        ("subscriber_id", (_text("subscriber_id").alias("_sub"),)),
        ("plan_id", (_text("plan_id").alias("_plan"),)),
        # the event's kind from its code (null if unknown)
        (
            "event_type",
            (event.alias("_event"), event.cast(EVENT_KINDS, strict=False).alias("_event_kind")),
        ),
        ("home_country", (_text("home_country", upper=True).alias("_home"),)),
        ("visited_country", (_text("visited_country", upper=True).alias("_visited"),)),
        (
            "started_at",
            (
                started_at_utc(schema).alias("_ts"),
                _present("started_at", schema).alias("_ts_present"),
            ),
        ),
        ("utc_offset_min", ints("utc_offset_min", "_off")),
        ("duration_s", ints("duration_s", "_dur")),
        ("volume_bytes", ints("volume_bytes", "_vol")),
        ("count", ints("count", "_cnt")),
        ("is_beyond_fair_use", (beyond.alias("_beyond"), bad_beyond.alias("_bad_beyond"))),
    )


def derived(schema: pl.Schema) -> Derived:
    """Per input column, the working columns worked out from it alone, in the frame's order.

    Parameters
    ----------
    schema : polars.Schema
        The usage frame's schema (every canonical column present, any types).

    Returns
    -------
    tuple of (str, tuple of polars.Expr)
        ``(input column, its working columns' expressions)``, kept per schema.
    """
    return _derived(tuple(schema.items()))
