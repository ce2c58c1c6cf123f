"""Notifications from the compiled pass's bits (docs/rating.md §5.6, §8).

The pass marks, per record, which notifications it triggers (``marks.BILLSHOCK_80`` ...); this
module turns the marked records into the notification stream with thresholds and basis.
"""

from __future__ import annotations

import polars as pl

from roamlike import money
from roamlike.rating import marks

_BASIS_BILLSHOCK = "eu_2022_612 Art. 14(4)"
_KINDS = (
    ("billshock_80", marks.BILLSHOCK_80, _BASIS_BILLSHOCK),
    ("billshock_100", marks.BILLSHOCK_100, _BASIS_BILLSHOCK),
    ("billshock_extra", marks.BILLSHOCK_EXTRA, _BASIS_BILLSHOCK),
    ("fup_exhausted", marks.FUP_EXHAUSTED, "eu_2022_612 Art. 13(3), 14(3)"),
    ("welcome", marks.WELCOME, "eu_2022_612 Art. 13(1), 14(2)"),
)
#: The ``basis`` text of each notification kind (what every notification row carries).
BASIS: dict[str, str] = {kind: basis for kind, _, basis in _KINDS}
COLUMNS = [
    "subscriber_id",
    "plan_id",
    "billing_period_start",
    "record_id",
    "started_at",
    "kind",
    "threshold_micros",
    "currency",
    "basis",
]


#: The price-table columns :func:`notifications` reads (the thresholds).
PRICE_COLUMNS = ["billshock_limit_micros", "billshock_alert_pct", "billshock_extra_micros"]


def notifications_columns() -> list[str]:
    """The record columns :func:`notifications` reads (besides ``_notes`` and
    :data:`PRICE_COLUMNS`, which come from the record's price-table row)."""
    return ["_sub", "_plan", "_period", "_rid", "_ts", "currency"]


def notifications(marked: pl.DataFrame) -> pl.DataFrame:
    """The notification stream of the records with a non-zero ``_notes``.

    ``marked`` has ``_notes``, the working columns of :func:`notifications_columns` and
    :data:`PRICE_COLUMNS` (only the marked records: the engine gathers them by position).
    Sorted by (subscriber, started_at, record_id, kind).
    """
    limit = pl.col("billshock_limit_micros")
    threshold = {
        "billshock_80": money.round_div_expr(limit * pl.col("billshock_alert_pct"), 100),
        "billshock_100": limit,
        "billshock_extra": pl.col("billshock_extra_micros"),
    }
    parts = [
        marked.filter((pl.col("_notes") & bit) != 0).select(
            subscriber_id=pl.col("_sub"),
            plan_id=pl.col("_plan"),
            billing_period_start=pl.col("_period"),
            record_id=pl.col("_rid"),
            started_at=pl.col("_ts"),
            kind=pl.lit(kind),
            threshold_micros=threshold[kind].cast(pl.Int64)
            if kind in threshold
            else pl.lit(None, dtype=pl.Int64),
            currency=pl.col("currency"),
            basis=pl.lit(basis),
        )
        for kind, bit, basis in _KINDS
    ]
    return pl.concat(parts).sort(["subscriber_id", "started_at", "record_id", "kind"])
