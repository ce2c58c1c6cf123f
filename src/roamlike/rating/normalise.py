"""Normalise and validate usage rows (docs/rating.md §7, §7b), and the batch protocol.

Every canonical column is read as it comes (text or typed) into normalised working columns
(prefixed ``_``; only canonical columns enter this frame, see ``assembly.split_input``), then the
first applicable basic reason code is computed per row. The subscriber key and the batch protocol
(:func:`normalise_subscriber_id`, :func:`batch_keys`) are public so that a runner that splits the
input (``roamlike.pipeline``, Spark) computes them with this very code before it partitions.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence

import polars as pl

from roamlike.columns import BATCH_DUPLICATE as BATCH_DUPLICATE
from roamlike.columns import BATCH_RECORD_ID as BATCH_RECORD_ID
from roamlike.columns import BATCH_ROW as BATCH_ROW
from roamlike.columns import BATCH_SUBSCRIBER as BATCH_SUBSCRIBER
from roamlike.duplicate_ids import HashIds, hash_record_ids, repeated_ids
from roamlike.law import Catalog
from roamlike.rating import reasons as rc
from roamlike.rating.basic_checks import quantity_columns, reason_columns
from roamlike.rating.distinct import by_distinct
from roamlike.rating.prices import GB_BYTES
from roamlike.rating.working_columns import Derived, derived
from roamlike.record_keys import normalise_subscriber_id as normalise_subscriber_id
from roamlike.tariffs import Plan


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


#: The plan columns each validated record carries (its plan's home, currency and period).
_PLAN_PER_RECORD = ["_plan", "_plan_home", "currency", "_28d", "_anchor"]

#: Columns whose rows need a check only if one of their distinct values fails it (see
#: :func:`_by_distinct_values`): the forbidden character in a subscriber id, an unknown country.
_CHECKED = ("_sub", "_home", "_visited")


def _working(schema: pl.Schema) -> Derived:
    """The working columns of :func:`~roamlike.rating.working_columns.derived`; ``_rid`` is the
    batch's :data:`BATCH_RECORD_ID` when it has one (the same expression, worked out over the
    whole input by the runner that split it: nothing to normalise again)."""
    if BATCH_RECORD_ID not in schema:
        return derived(schema)
    given = (pl.col(BATCH_RECORD_ID).alias("_rid"),)
    return tuple((key, given if key == "record_id" else exprs) for key, exprs in derived(schema))


#: The integer codes validation gives with the text: each keyed by the input column it is
#: worked out from (with it, per distinct value or per row).
CODES = ("_plan_code", "_visited_code")


def _codes(plans: Mapping[str, Plan], known: list[str]) -> dict[str, pl.Expr]:
    """``_plan_code`` and ``_visited_code``: the position of the record's plan among the run's
    plan ids (sorted) and of its visited country among the catalog's countries (``known``,
    sorted), null where there is none, as enum codes (``to_physical``). They are the codes of
    ``roamlike.rating.segments.SegmentCodes``, which the engine combines into its price-table
    key without reading the text again."""
    plan_ids = pl.Enum(sorted({p.id for p in plans.values()}))
    return {
        "plan_id": pl.col("_plan").cast(plan_ids, strict=False).to_physical().alias(CODES[0]),
        "visited_country": pl.col("_visited")
        .cast(pl.Enum(known), strict=False)
        .to_physical()
        .alias(CODES[1]),
    }


def _per_row(
    frame: pl.DataFrame, plans: Mapping[str, Plan], known: list[str]
) -> tuple[pl.LazyFrame, set[str]]:
    """The normalised working columns of every row, in ONE lazy query (a frame of a few
    thousand rows: each separate Polars step has a fixed cost that a small frame's work does
    not repay); every row is checked (``_CHECKED``)."""
    plan_table = plans_frame(plans).select(*_PLAN_PER_RECORD)
    exprs = [e for _, built in _working(frame.schema) for e in built]
    lf = (
        frame.lazy()
        .with_columns(exprs)
        .with_columns(_codes(plans, known).values())
        .join(plan_table.lazy(), on="_plan", how="left", maintain_order="left")
    )
    return lf, set(_CHECKED)


def _by_distinct_values(
    frame: pl.DataFrame, plans: Mapping[str, Plan], known: list[str]
) -> tuple[pl.LazyFrame, set[str]]:
    """The normalised working columns of every row, each worked out once per distinct value
    where the column repeats (``distinct.by_distinct``), else per row, with the same
    expressions either way; and the working columns whose rows need a check that the distinct
    values showed some row may fail: ``_sub`` (a subscriber id holding the character no id may
    hold, ``reasons.ID_FORBIDDEN``), ``_home``, ``_visited`` (a country not in ``known``). A
    column none of whose values fails is not checked row by row."""
    schema = frame.schema
    checks: set[str] = set()
    fails = {
        "_sub": pl.col("_sub").str.contains(rc.ID_FORBIDDEN, literal=True),
        "_home": ~pl.col("_home").is_in(known),
        "_visited": ~pl.col("_visited").is_in(known),
    }
    # what a record needs of its plan (the rest is read per price-table row, engine._row_table)
    plan_table = plans_frame(plans).select(*_PLAN_PER_RECORD)
    codes = _codes(plans, known)

    def build(key: str, exprs: Sequence[pl.Expr]) -> Callable[[pl.DataFrame], pl.DataFrame]:
        def run(values: pl.DataFrame) -> pl.DataFrame:
            out = values.with_columns(exprs)
            if key in codes:
                out = out.with_columns(codes[key])
            if key == "plan_id":
                out = out.join(plan_table, on="_plan", how="left", maintain_order="left")
            for name in out.columns:
                if name in fails and out.select(fails[name].fill_null(False).any()).item():
                    checks.add(name)
            return out

        return run

    parts = []
    for key, exprs in _working(schema):
        if key == "record_id":  # record ids are (nearly) all distinct
            parts.append(frame.select(exprs))
        elif schema[key] == pl.String or key in _TEXT_KEYS:
            parts.append(by_distinct(frame, key, build(key, exprs), coded=key in _CODED_KEYS))
        else:  # typed columns are cheap per row
            parts.append(build(key, exprs)(frame.select(key)).drop(key))
    columns = pl.concat(parts, how="horizontal")
    plan_columns = [c for c in plan_table.columns if c != "_plan"]
    working = [c for c in columns.columns if c not in plan_columns and c not in CODES]
    normalised = pl.concat(
        [frame, columns.select(*working, *CODES, *plan_columns)], how="horizontal"
    )
    return normalised.lazy(), checks


#: Columns worked out per distinct value whatever their type (ids, codes and countries).
_TEXT_KEYS = ("subscriber_id", "plan_id", "event_type", "home_country", "visited_country")
#: Of those, the columns with few values whose rows always need their value's results (each
#: gives a code: ``_plan_code``, ``_event_kind``, ``_visited_code``): their values and the
#: rows' positions come from one categorical cast (``distinct.by_distinct``'s ``coded``).
_CODED_KEYS = ("plan_id", "event_type", "visited_country")
#: Largest frame whose working columns are computed per row in one query [rows]; above it,
#: per distinct value (measured: ``benchmarks/bench_validation.py``, docs/rating.md §7c).
PER_ROW_MAX = 10_000


def validate(
    usage: pl.LazyFrame,
    plans: Mapping[str, Plan],
    catalog: Catalog,
    known_record_ids: Collection[str] | pl.Series | None = None,
    *,
    hash_ids: HashIds = hash_record_ids,
) -> pl.LazyFrame:
    """Normalised columns (prefixed ``_``) and the first applicable basic reason code.

    A frame of at most :data:`PER_ROW_MAX` rows is worked out in one query, every working
    column per row, duplicates found by comparing the ids (Polars' fixed cost per step is most
    of a small frame's cost). A larger frame's text is trimmed, upper-cased, parsed and looked
    up once per distinct value (module ``distinct``), and its duplicates found by a 64-bit hash,
    compared exactly where hashes collide (``duplicates``, with ``hash_ids``, which a frame of
    any size given another ``hash_ids`` uses too). The result is a frame in memory, given lazily.
    Besides the text, it holds the codes the engine keys its price table on (:data:`CODES`, and
    the event type's, ``_event_kind``), so the engine need not look the text up again.
    """
    # one chunk per column: the derived columns are single chunks, and Polars' streaming engine
    # has been seen to panic on columns of one frame chunked differently
    frame = usage.collect().rechunk()
    missing = [n for n in rc.OPTIONAL_COLUMNS if n not in frame.columns]
    if missing:
        frame = frame.with_columns(pl.lit(None).alias(n) for n in missing)
    schema = frame.schema
    known = sorted(catalog.countries)
    small = frame.height <= PER_ROW_MAX
    if small:
        lf, checks = _per_row(frame, plans, known)
    else:
        lf, checks = _by_distinct_values(frame, plans, known)
    lf = lf.with_columns(quantity_columns())
    duplicate = "_dup"
    if BATCH_DUPLICATE in schema:  # a batch of a larger input: duplicates found over all rows
        dup = pl.col(BATCH_DUPLICATE)
    elif small and hash_ids is hash_record_ids:
        # a few thousand ids: compared exactly in the query itself (no hashes to sort)
        dup = pl.col("_rid").is_not_null() & ~pl.col("_rid").is_first_distinct()
    else:
        dup = pl.lit(repeated_ids(lf.select("_rid").collect().to_series(), hash_ids))
    if known_record_ids is not None:  # ids of earlier runs (a store's duplicate rule)
        ids = (
            known_record_ids
            if isinstance(known_record_ids, pl.Series)
            else pl.Series(list(known_record_ids), dtype=pl.String)
        )
        dup = dup | pl.col("_rid").is_in(ids.cast(pl.String).implode())
    reason = reason_columns(tuple(known), frozenset(checks), duplicate)
    checked = (
        lf.with_columns(dup.alias(duplicate))
        .with_columns(reason)
        .drop(duplicate, BATCH_RECORD_ID, strict=False)
    )
    return checked.collect().lazy()


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
