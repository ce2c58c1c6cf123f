"""Monthly settlement between operators from checked TAP events.

A TAP file goes from the visited network (sender) to the home operator (recipient), which owes
the sender the charges in it. For a month, :func:`settle` sums per (sender, recipient, service):
events, units, the amount charged, the amount at the wholesale cap (where a cap applies) and the
excess; then nets each pair of operators: what A charged B against what B charged A, and who owes
whom. Every amount is integer micro-euro (charges converted as in :mod:`roamlike.wholesale.check`);
events with no rate to the euro are counted apart (``unconverted_events``), never priced.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl

from roamlike.wholesale.check import at_cap_expr

_LINE_KEYS = ["sender", "recipient", "month", "service", "regime"]


@dataclass
class Settlement:
    """The settlement of one month: lines per operator pair and service, and net positions."""

    period: str
    lines: pl.DataFrame
    net: pl.DataFrame


def settle(checked: pl.DataFrame, period: str) -> Settlement:
    """Settle the events of ``period`` (``YYYY-MM``, by local start month).

    Parameters
    ----------
    checked : polars.DataFrame
        ``CheckResult.events`` of :func:`roamlike.wholesale.check.check_wholesale`.
    period : str
        The month to settle.

    Returns
    -------
    Settlement
        ``lines``: sender, recipient, month, service (the regulated service, else the TAP event
        kind), regime, events, units, ``charged_eur_micros``, ``at_cap_eur_micros`` and
        ``capped_charged_eur_micros`` (capped events only), ``excess_eur_micros`` (what the capped
        events were charged above the cap in total: the caps bind averages, so an event below the
        cap offsets one above it), ``capped_events``, ``unconverted_events``. ``net``: per unordered
        pair ``operator_a < operator_b``: what each charged the other, ``net_eur_micros``
        (positive: b owes a), ``debtor``, ``creditor``.
    """
    first_day = dt.date(int(period[:4]), int(period[5:7]), 1)
    needed = [
        "sender",
        "recipient",
        "month",
        "service",
        "kind",
        "regime",
        "status",
        "units",
        "charge_eur_micros",
        "cap_nanos",
        "cap_divisor",
    ]
    month = (
        checked.select(needed)
        .filter(pl.col("month") == first_day)
        .with_columns(
            pl.coalesce(pl.col("service"), pl.col("kind")).alias("service"),
            (pl.col("status") == "checked").alias("is_capped"),
        )
    )
    by_cap = (
        month.group_by([*_LINE_KEYS, "is_capped", "cap_nanos", "cap_divisor"])
        .agg(
            pl.len().alias("events"),
            pl.col("units").sum().alias("units"),
            pl.col("charge_eur_micros").sum().alias("charged_eur_micros"),
            pl.col("charge_eur_micros").is_null().sum().alias("unconverted_events"),
        )
        .with_columns(
            pl.when(pl.col("is_capped"))
            .then(at_cap_expr(pl.col("units"), pl.col("cap_nanos"), pl.col("cap_divisor")))
            .otherwise(None)
            .alias("at_cap_eur_micros")
        )
    )
    capped = pl.col("is_capped")
    lines = (
        by_cap.group_by(_LINE_KEYS)
        .agg(
            pl.col("events").sum(),
            pl.col("units").sum(),
            pl.col("charged_eur_micros").sum(),
            pl.col("at_cap_eur_micros").sum(),
            pl.col("charged_eur_micros").filter(capped).sum().alias("capped_charged_eur_micros"),
            pl.col("events").filter(capped).sum().alias("capped_events"),
            pl.col("unconverted_events").sum(),
        )
        .with_columns(
            pl.when(pl.col("capped_events") > 0).then(pl.col(c)).otherwise(None).alias(c)
            for c in ("at_cap_eur_micros", "capped_charged_eur_micros")
        )
        .with_columns(
            (pl.col("capped_charged_eur_micros") - pl.col("at_cap_eur_micros"))
            .clip(lower_bound=0)
            .alias("excess_eur_micros")
        )
        .with_columns(pl.col("month").dt.strftime("%Y-%m"))
        .sort(_LINE_KEYS)
    )
    owed = lines.group_by("sender", "recipient").agg(
        pl.col("charged_eur_micros").sum().alias("charged")
    )
    a = pl.min_horizontal("sender", "recipient")
    b = pl.max_horizontal("sender", "recipient")
    sign = pl.when(pl.col("sender") == a).then(1).otherwise(-1)
    net = (
        owed.filter(pl.col("sender") != pl.col("recipient"))
        .with_columns(a.alias("operator_a"), b.alias("operator_b"), sign.alias("sign"))
        .group_by("operator_a", "operator_b")
        .agg(
            pl.col("charged").filter(pl.col("sign") == 1).sum().alias("a_charged_b_eur_micros"),
            pl.col("charged").filter(pl.col("sign") == -1).sum().alias("b_charged_a_eur_micros"),
        )
        .with_columns(
            (pl.col("a_charged_b_eur_micros") - pl.col("b_charged_a_eur_micros")).alias(
                "net_eur_micros"
            )
        )
        .with_columns(
            pl.when(pl.col("net_eur_micros") > 0)
            .then(pl.col("operator_b"))
            .when(pl.col("net_eur_micros") < 0)
            .then(pl.col("operator_a"))
            .otherwise(None)
            .alias("debtor"),
            pl.when(pl.col("net_eur_micros") > 0)
            .then(pl.col("operator_a"))
            .when(pl.col("net_eur_micros") < 0)
            .then(pl.col("operator_b"))
            .otherwise(None)
            .alias("creditor"),
            pl.col("net_eur_micros").abs().alias("amount_owed_eur_micros"),
        )
        .sort("operator_a", "operator_b")
    )
    return Settlement(period, lines, net)
