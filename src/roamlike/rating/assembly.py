"""Input split and output assembly: the engine's namespace, rejects and rated rows in read order.

The engine reads only the canonical columns (docs/rating.md §1.1) into its working frame; every
other input column waits aside in read order and is put back next to its row at the end. So an
input column named like a working or output column (``currency``, ``message``, ``_rid``) can
neither crash the engine nor change a charge. Where such a name would collide with an output
column it is renamed ``input_<name>`` (rating.md §8).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from roamlike.columns import CANONICAL_COLUMNS
from roamlike.law.catalog import KINDS, Coverage
from roamlike.rating import reasons as rc
from roamlike.rating.normalise import BATCH_DUPLICATE, BATCH_ROW, BATCH_SUBSCRIBER

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
#: Decimal(9, 6). Codes stay text (the state store, Spark and the service read them as such).
EVENT_ENUM = pl.Enum(list(rc.EVENT_TYPES))
KIND_ENUM = pl.Enum(list(KINDS))
VAT_RATE = pl.Decimal(9, 6)  # a VAT rate is below 1 with at most 6 decimals
_UNIT_OF_EVENT = pl.Series(
    [{"voice_mo": "s", "voice_mt": "s", "data": "kB"}.get(e, "msg") for e in rc.EVENT_TYPES],
    dtype=pl.String,
)
#: Output columns the pass computes as they are written (Int64 micros and units).
_AS_COMPUTED = [
    "in_bundle_units",
    "domestic_micros",
    "surcharge_micros",
    "roaming_micros",
    "charge_excl_vat_micros",
    "vat_micros",
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
    protocol = {BATCH_ROW, BATCH_DUPLICATE, BATCH_SUBSCRIBER}
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


def price_rejects(ok: pl.DataFrame, priced: pl.DataFrame, prices: pl.DataFrame) -> pl.DataFrame:
    """Rows the price table cannot rate (its segment's reason, or no surcharge cap)."""
    late = priced.filter(pl.col("reason_code").is_not_null()).select(
        "row_number", "reason_code", "_event", "local_date", "_price_row"
    )
    return (
        ok.drop("local_date", "reason_code")
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
    )


def rejects(split: Split, parts: list[pl.DataFrame]) -> pl.DataFrame:
    """Every rejected row as read, with ``row_number``, ``reason_code`` and ``message``."""
    columns = [*split.canonical, "_pos", *REJECT_COLUMNS]
    found = pl.concat([p.select(columns) for p in parts]).sort("row_number")
    return _with_extras(split, found).select(*split.order, *REJECT_COLUMNS)


def rated(
    split: Split,
    ok: pl.DataFrame,
    rated_narrow: pl.DataFrame,
    prices: pl.DataFrame,
    price_rejected: pl.DataFrame,
) -> pl.DataFrame:
    """Rated rows in read order: normalised canonical columns, other inputs, outputs (§8).

    ``rated_narrow`` is in read order (every step before it keeps the order of the records).
    """
    price_row = rated_narrow.get_column("_price_row")
    # what depends on the segment alone is gathered from the small price table by row
    from_prices = prices.select(
        regime="regime",
        rule_kind="rule_kind",
        fup_allowance_bytes=pl.when(
            (pl.col("rule_kind") == "rlah") & (pl.col("_event") == "data")
        ).then(pl.col("fup_allowance_bytes")),
        parameters="parameters",
        vat_rate=(pl.col("vat_ppm").cast(pl.Decimal(18, 6)) / 1_000_000).cast(VAT_RATE),
    )[price_row]
    outputs = (
        rated_narrow.lazy()
        .select(
            "row_number",
            "local_date",
            "currency",
            "is_over_fup",
            "is_blocked_by_cutoff",
            "is_late",
            *_AS_COMPUTED,
            billing_period_start=pl.col("_period"),
            billed_units=pl.col("billed_units").cast(pl.Int32),
            charge_incl_vat_micros=pl.col("charge_excl_vat_micros") + pl.col("vat_micros"),
            fup_used_bytes=pl.when(pl.col("fup_used_bytes") >= 0).then(pl.col("fup_used_bytes")),
        )
        .collect()
        .with_columns(
            *from_prices.get_columns(),
            billed_unit=_UNIT_OF_EVENT.gather(rated_narrow.get_column("_event").to_physical()),
        )
        .select(RATED_COLUMNS)
    )
    inputs = ok.lazy()
    if price_rejected.height:
        inputs = inputs.filter(~pl.col("row_number").is_in(price_rejected["row_number"].implode()))
    canonical = inputs.select(
        record_id="_rid",
        subscriber_id="_sub",
        plan_id="_plan",
        event_type="_event",
        started_at="_ts",
        utc_offset_min=pl.col("_off").cast(pl.Int32),
        home_country="_home",
        visited_country="_visited",
        destination_country=pl.col("destination_country").cast(pl.String),
        duration_s="_dur",
        volume_bytes="_vol",
        count="_cnt",
        is_beyond_fair_use="_beyond",
        _pos="_pos",
    ).collect()
    extras = [c for c in split.order if c not in CANONICAL_COLUMNS]
    return pl.concat([_with_extras(split, canonical), outputs], how="horizontal").select(
        *CANONICAL_COLUMNS, *extras, *RATED_COLUMNS
    )
