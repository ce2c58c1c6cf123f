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

from roamlike.state.bulk import upsert_frame
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
DAY_KEYS: tuple[str, ...] = ("tenant", "subscriber_id", "day")


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
    home = pl.col("rule_kind") == "domestic"
    rlah = pl.col("rule_kind") == "rlah"
    data = pl.when(event == "data").then(pl.col("volume_bytes").fill_null(0)).otherwise(0)
    voice = (
        pl.when(event.is_in(["voice_mo", "voice_mt"]))
        .then(pl.col("duration_s").fill_null(0))
        .otherwise(0)
    )
    sms = pl.when(event.is_in(["sms_mo", "sms_mt"])).then(pl.col("count").fill_null(1)).otherwise(0)
    frame = rated.lazy().select(
        "subscriber_id",
        "home_country",
        "regime",
        day=pl.col("local_date").cast(pl.String),
        _home=home,
        _rlah=rlah,
        _data=data.cast(pl.Int64),
        _voice=voice.cast(pl.Int64),
        _sms=sms.cast(pl.Int64),
    )
    out = (
        frame.group_by("subscriber_id", "day")
        .agg(
            home_country=pl.col("home_country").last(),
            home_events=pl.col("_home").sum(),
            home_data_bytes=pl.col("_data").filter(pl.col("_home")).sum(),
            home_voice_s=pl.col("_voice").filter(pl.col("_home")).sum(),
            home_sms=pl.col("_sms").filter(pl.col("_home")).sum(),
            rlah_regime=pl.col("regime").filter(pl.col("_rlah")).last().fill_null(""),
            rlah_events=pl.col("_rlah").sum(),
            rlah_data_bytes=pl.col("_data").filter(pl.col("_rlah")).sum(),
            rlah_voice_s=pl.col("_voice").filter(pl.col("_rlah")).sum(),
            rlah_sms=pl.col("_sms").filter(pl.col("_rlah")).sum(),
        )
        .with_columns(pl.col(c).cast(pl.Int64) for c in DAY_COUNTERS)
        .with_columns(tenant=pl.lit(tenant))
        .sort("subscriber_id", "day")
        .collect()
    )
    return out.select(
        "tenant",
        "subscriber_id",
        "day",
        *[c for c in out.columns if c not in {"tenant", "subscriber_id", "day"}],
    )


def save_days(tx: Transaction, days: pl.DataFrame) -> int:
    """Add the day rows to the store (a day seen again adds up; its RLAH regime is kept when the
    new rows have none)."""
    keep = (
        "CASE WHEN excluded.rlah_regime <> '' THEN excluded.rlah_regime "
        "ELSE state_days.rlah_regime END"
    )
    return upsert_frame(
        tx, "state_days", days, DAY_KEYS, DAY_COUNTERS, custom={"rlah_regime": keep}
    )
