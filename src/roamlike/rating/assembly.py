"""Input split and output assembly: the engine's namespace, rejects and rated rows in read order.

The engine reads only the canonical columns (docs/rating.md §1.1) into its working frame; every
other input column waits aside in read order and is put back next to its row at the end. So an
input column named like a working or output column (``currency``, ``message``, ``_rid``) can
neither crash the engine nor change a charge. Where such a name would collide with an output
column it is renamed ``input_<name>`` (rating.md §8).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from roamlike.columns import CANONICAL_COLUMNS
from roamlike.law import Catalog
from roamlike.law.catalog import KINDS, Coverage
from roamlike.rating import reasons as rc
from roamlike.rating.normalise import BATCH_DUPLICATE, BATCH_RECORD_ID, BATCH_ROW, BATCH_SUBSCRIBER

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
    "is_late",
]
REJECT_COLUMNS = ["row_number", "reason_code", "message"]
#: Output types narrower than Int64 where exactness allows (docs/rating.md §8): integers bounded
#: by the load-time checks of §1.1-§1.2 (offsets, billed units <= 10^9) are Int32, the VAT rate
#: Decimal(9, 6). Codes of a fixed vocabulary (event types, rule kinds, billed units, and per
#: catalog its regimes and countries) are enums: gathered from the price table by code, and
#: written to Parquet as dictionary-encoded text.
EVENT_ENUM = pl.Enum(list(rc.EVENT_TYPES))
KIND_ENUM = pl.Enum(list(KINDS))
UNIT_ENUM = pl.Enum(["s", "msg", "kB"])
VAT_RATE = pl.Decimal(9, 6)  # a VAT rate is below 1 with at most 6 decimals
_UNIT_OF_EVENT = {
    e: {"voice_mo": "s", "voice_mt": "s", "data": "kB"}.get(e, "msg") for e in rc.EVENT_TYPES
}


def country_enum(catalog: Catalog) -> pl.Enum:
    """The type of ``home_country`` and ``visited_country`` of rated rows: the catalog's
    countries (sorted)."""
    return pl.Enum(sorted(catalog.countries))


def plan_enums(plans: pl.DataFrame) -> tuple[pl.Enum, pl.Enum]:
    """The types of ``plan_id`` and ``currency`` of rated rows written as codes: the run's plan
    ids and their currencies (each sorted). ``plans`` is ``normalise.plans_frame``."""
    return (
        pl.Enum(sorted(plans.get_column("_plan").unique().to_list())),
        pl.Enum(sorted(plans.get_column("currency").unique().to_list())),
    )


def regime_enum(catalog: Catalog) -> pl.Enum:
    """The type of ``regime`` of rated rows: ``domestic``, ``unregulated`` and the catalog's
    regimes (sorted)."""
    return pl.Enum(sorted({"domestic", "unregulated", *(r.id for r in catalog.regimes)}))


#: Output columns the pass computes as they are written (Int64 micros and units).
_AS_COMPUTED = [
    "in_bundle_units",
    "domestic_micros",
    "surcharge_micros",
    "roaming_micros",
    "charge_excl_vat_micros",
    "vat_micros",
]
#: Working columns of a rated row that become its canonical columns.
_FROM_GOOD = [
    "_rid",
    "_sub",
    "_ts",
    "_off",
    "destination_country",
    "_dur",
    "_vol",
    "_cnt",
    "_beyond",
]
#: Rated columns taken as they are from the pass, the price table and the records.
_AS_GATHERED = [
    c
    for c in RATED_COLUMNS
    if c not in ("billing_period_start", "charge_incl_vat_micros", "fup_used_bytes")
]
_RESERVED = frozenset([*CANONICAL_COLUMNS, *RATED_COLUMNS, *REJECT_COLUMNS])


@dataclass(frozen=True)
class Split:
    """The canonical part of the input (``core``) and the other columns (``extras``)."""

    core: pl.LazyFrame
    canonical: list[str]  # canonical columns present in the input, in input order
    extras: pl.DataFrame | None  # other input columns, in read order, renamed when reserved
    order: list[str]  # every input column (extras renamed), in input order


def _free_name(name: str, taken: set[str]) -> str:
    while name in taken:
        name = f"input_{name}"
    return name


def split_input(frame: pl.LazyFrame) -> Split:
    """Separate the canonical columns from the others; number the rows."""
    names = frame.collect_schema().names()
    protocol = {BATCH_ROW, BATCH_DUPLICATE, BATCH_SUBSCRIBER, BATCH_RECORD_ID}
    canonical = [c for c in names if c in CANONICAL_COLUMNS]
    others = [c for c in names if c not in CANONICAL_COLUMNS and c not in protocol]
    taken = set(_RESERVED) | set(names)
    renamed = {c: _free_name(f"input_{c}", taken) if c in _RESERVED else c for c in others}
    order = [renamed.get(c, c) for c in names if c not in protocol]
    row = (
        pl.col(BATCH_ROW).cast(pl.Int64)
        if BATCH_ROW in names
        else pl.int_range(pl.len(), dtype=pl.Int64)
    )
    core = frame.select(
        *canonical,
        *([pl.col(BATCH_DUPLICATE).cast(pl.Boolean)] if BATCH_DUPLICATE in names else []),
        *([pl.col(BATCH_RECORD_ID).cast(pl.String)] if BATCH_RECORD_ID in names else []),
        row_number=row,
        _pos=pl.int_range(pl.len(), dtype=pl.Int64),
    )
    extras = frame.select(others).rename(renamed).collect() if others else None
    return Split(core=core, canonical=canonical, extras=extras, order=order)


def _with_extras(split: Split, frame: pl.DataFrame) -> pl.DataFrame:
    if split.extras is None:
        return frame.drop("_pos")
    return pl.concat([frame.drop("_pos"), split.extras[frame.get_column("_pos")]], how="horizontal")


def coverage_rejects(early: pl.DataFrame, coverage: Coverage) -> pl.DataFrame:
    """Rows whose local date lies outside the catalog's coverage (``NO_RULE_IN_FORCE``)."""
    return early.with_columns(
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


def price_rejects(rows: pl.DataFrame, prices: pl.DataFrame) -> pl.DataFrame:
    """Messages of the rows the price table cannot rate (its segment's reason, or no surcharge
    cap): ``rows`` are those records with their ``_price_row`` and ``reason_code``."""
    return rows.join(
        prices.select("_price_row", "regime", "seg_message"), on="_price_row", how="left"
    ).with_columns(
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


def rejects(split: Split, checked: pl.DataFrame, parts: list[pl.DataFrame]) -> pl.DataFrame:
    """Every rejected row as read, with ``row_number``, ``reason_code`` and ``message``.

    ``parts`` give ``_pos`` (the row's position in ``checked``, the validated frame that still
    holds the canonical columns as read) and the reject columns.
    """
    found = pl.concat(
        [
            p.select("_pos", "row_number", pl.col("reason_code").cast(pl.String), "message")
            for p in parts
        ]
    ).sort("row_number")
    as_read = checked.select(split.canonical)[found.get_column("_pos")]
    frame = pl.concat([as_read, found], how="horizontal")
    return _with_extras(split, frame).select(*split.order, *REJECT_COLUMNS)


def rated(
    split: Split,
    good: pl.DataFrame,
    computed: Mapping[str, npt.NDArray[np.generic]],
    is_late: pl.Series,
    price_row: npt.NDArray[np.int64],
    prices: pl.DataFrame,
    plans: pl.DataFrame,
    catalog: Catalog,
    *,
    coded_text: bool = False,
) -> pl.DataFrame:
    """Rated rows in read order: normalised canonical columns, other inputs, outputs (§8).

    ``good`` holds the working columns of the rated records in read order, ``computed`` the
    compiled pass's outputs at the same positions, ``price_row`` each record's price-table row:
    what depends on the segment alone is gathered from the small price table by row (its
    plan, event type and visited country too: a row fixes them, and the home country is the
    plan's, §7), ``plans`` is ``normalise.plans_frame``. With ``coded_text``, ``plan_id`` and
    ``currency`` are enums of the run's plans (:func:`plan_enums`) instead of text: gathered
    as codes and written to Parquet as dictionary-encoded text (§8).
    """
    countries = country_enum(catalog)
    plan_type, currency_type = plan_enums(plans) if coded_text else (pl.String(), pl.String())
    from_prices = (
        prices.join(plans.select("_plan", "_plan_home", "currency"), on="_plan", how="left")
        .sort("_price_row")
        .select(
            plan_id=pl.col("_plan").cast(plan_type),
            event_type=pl.col("_event").cast(EVENT_ENUM),
            home_country=pl.col("_plan_home").cast(countries),
            visited_country=pl.col("_visited").cast(countries),
            currency=pl.col("currency").cast(currency_type),
            regime=pl.col("regime").cast(regime_enum(catalog)),
            rule_kind=pl.col("rule_kind").cast(KIND_ENUM),
            billed_unit=pl.col("_event").replace_strict(_UNIT_OF_EVENT, return_dtype=UNIT_ENUM),
            fup_allowance_bytes=pl.when(
                (pl.col("rule_kind") == "rlah") & (pl.col("_event") == "data")
            ).then(pl.col("fup_allowance_bytes")),
            parameters="parameters",
            vat_rate=(pl.col("vat_ppm").cast(pl.Decimal(18, 6)) / 1_000_000).cast(VAT_RATE),
        )[pl.Series(price_row)]
    )
    passed = pl.DataFrame(
        [pl.Series(name, computed[name]) for name in ["billed_units", *_AS_COMPUTED]]
        + [pl.Series("_fup_used", computed["fup_used_bytes"])]
        + [pl.Series(name, computed[name]) for name in ("is_over_fup", "is_blocked_by_cutoff")]
    )
    # one frame, one select: its columns come out chunked alike (a frame whose columns are
    # chunked differently is rechunked by every later select, a copy of each column)
    rated = (
        pl.concat(
            [
                good.select(*_FROM_GOOD, "row_number", "local_date", "_period", "_pos"),
                passed,
                from_prices,
                is_late.to_frame(),
            ],
            how="horizontal",
        )
        .lazy()
        .select(
            record_id="_rid",
            subscriber_id="_sub",
            plan_id="plan_id",
            event_type="event_type",
            started_at="_ts",
            utc_offset_min=pl.col("_off").cast(pl.Int32),
            home_country="home_country",
            visited_country="visited_country",
            destination_country=pl.col("destination_country").cast(pl.String),
            duration_s="_dur",
            volume_bytes="_vol",
            count="_cnt",
            is_beyond_fair_use="_beyond",
            _pos="_pos",
            **{name: name for name in _AS_GATHERED},
            billing_period_start="_period",
            charge_incl_vat_micros=pl.col("charge_excl_vat_micros") + pl.col("vat_micros"),
            fup_used_bytes=pl.when(pl.col("_fup_used") >= 0).then(pl.col("_fup_used")),
        )
        .collect()
    )
    extras = [c for c in split.order if c not in CANONICAL_COLUMNS]
    return _with_extras(split, rated).select(*CANONICAL_COLUMNS, *extras, *RATED_COLUMNS)
