"""Presence and consumption per (subscriber, local day): the evidence of the permanent-roaming
control (``docs/law/fair-use.md``).

A day's *home* columns sum the subscriber's records rated ``domestic`` (visited = home country)
that day; its *rlah* columns sum the records rated ``rlah`` (roaming at domestic prices), with the
regime they were rated under. Roaming under any other regime (outside the roam-like-at-home area)
is not counted on either side: the control is about roaming at domestic prices. Quantities are
as read: data in bytes, voice in seconds, SMS in messages (a missing ``count`` is 1).
"""

from __future__ import annotations

import polars as pl

from roamlike.state.counters import iso_date_text
from roamlike.state.log import append
from roamlike.state.store import Transaction

#: The columns of ``state_days`` summed when a day is rated again in a later file.
DAY_COUNTERS: tuple[str, ...] = (
    "home_events",
    "home_data_bytes",
    "home_voice_s",
    "home_sms",
    "rlah_events",
    "rlah_data_bytes",
    "rlah_voice_s",
    "rlah_sms",
)

#: The columns of the rated records :func:`days_of_rated` reads.
DAYS_OF_RATED_COLUMNS: tuple[str, ...] = (
    "subscriber_id",
    "home_country",
    "event_type",
    "local_date",
    "rule_kind",
    "regime",
    "volume_bytes",
    "duration_s",
    "count",
)


def days_of_rated(rated: pl.DataFrame, tenant: str = "") -> pl.DataFrame:
    """Aggregate rated records (the engine's output) into ``state_days`` rows.

    Parameters
    ----------
    rated : polars.DataFrame
        Rated records with ``subscriber_id``, ``home_country``, ``event_type``, ``local_date``,
        ``rule_kind``, ``regime``, ``volume_bytes`` [B], ``duration_s`` [s], ``count`` [msg].
    tenant : str
        Tenant of the rows (``''`` for batch runs).
    """
    event = pl.col("event_type")
    kind = pl.col("rule_kind")
    data = pl.when(event == "data").then(pl.col("volume_bytes").fill_null(0)).otherwise(0)
    voice = (
        pl.when(event.is_in(["voice_mo", "voice_mt"]))
        .then(pl.col("duration_s").fill_null(0))
        .otherwise(0)
    )
    sms = pl.when(event.is_in(["sms_mo", "sms_mt"])).then(pl.col("count").fill_null(1)).otherwise(0)
    # each record's quantities on its side (0 on the other), summed per (subscriber, day): plain
    # sums grouped by the date; the country and regime keep the engine's codes through the
    # grouping (no text per record) and are cast to text, as the date, once per row out
    sides = {"home": kind == "domestic", "rlah": kind == "rlah"}
    per_record = rated.lazy().select(
        "subscriber_id",
        "home_country",
        day=pl.col("local_date"),
        _regime=pl.when(sides["rlah"]).then(pl.col("regime")),
        **{
            f"{side}_{name}": pl.when(on).then(value.cast(pl.Int64)).otherwise(0)
            for side, on in sides.items()
            for name, value in (
                ("events", pl.lit(1)),
                ("data_bytes", data),
                ("voice_s", voice),
                ("sms", sms),
            )
        },
    )
    out = (
        per_record.group_by("subscriber_id", "day")
        .agg(
            pl.col("home_country").last(),
            pl.col("_regime").last(ignore_nulls=True).alias("rlah_regime"),
            *(pl.col(c).sum() for c in DAY_COUNTERS),
        )
        # sorted on one thread: the days are made beside the outputs, which keep the cores busy
        .sort("subscriber_id", "day", multithreaded=False)
        .select(
            pl.lit(tenant).alias("tenant"),
            "subscriber_id",
            iso_date_text(pl.col("day")),
            pl.col("home_country").cast(pl.String),
            *DAY_COUNTERS[:4],
            pl.col("rlah_regime").cast(pl.String).fill_null(""),
            *DAY_COUNTERS[4:],
        )
        .collect()
    )
    return out


def save_days(tx: Transaction, days: pl.DataFrame) -> int:
    """Add the day rows to the store (appended to ``state_days_log``: a day seen again adds up;
    its RLAH regime is kept when the new rows have none; ``roamlike.state.log``)."""
    return append(tx, "state_days", days)
