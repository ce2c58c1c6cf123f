"""The wholesale side of synthetic traffic: TAP 3.12 files from synthetic usage records.

Each (visited, home) country pair becomes one transfer batch from a synthetic visited operator
(TADIG ``<alpha-3>01``) to a synthetic home operator. Every event is charged the wholesale cap in
force for it, rounded down to the micro-euro (so a check of the files finds no excess); services
or pairs without a wholesale cap are charged nothing. IMSIs are the home country's first E.212
MCC, MNC ``01`` and ten digits derived from the subscriber id. Domestic records and MMS are left
out. Synthetic data: no real operator, subscriber or tariff is described.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from roamlike.errors import OutputError
from roamlike.law import Catalog
from roamlike.wholesale.check import check_wholesale
from roamlike.wholesale.countries import ALPHA3
from roamlike.wholesale.encode import BatchSpec, encode_batch
from roamlike.wholesale.events import EVENT_SCHEMA

_KINDS = {
    "voice_mo": ("mobile_originated_call", "11"),
    "sms_mo": ("mobile_originated_call", "22"),
    "voice_mt": ("mobile_terminated_call", "11"),
    "sms_mt": ("mobile_terminated_call", "21"),
    "data": ("gprs_call", None),
}


def tadig(country: str) -> str:
    """A synthetic TADIG code for a country's operator number 01.

    Examples
    --------
    >>> tadig("DE"), tadig("XK")
    ('DEU01', 'XKX01')
    """
    alpha3 = next(k for k, v in ALPHA3.items() if v == country)
    return f"{alpha3}01"


def tap_events(usage: pl.DataFrame, catalog: Catalog) -> pl.DataFrame:
    """Synthetic usage records as TAP events (:data:`EVENT_SCHEMA`), charged at the cap."""
    mcc = {c.code: c.mcc[0] for c in catalog.countries.values() if c.mcc}
    codes = {c: tadig(c) for c in catalog.countries}
    roaming = usage.filter(
        (pl.col("home_country") != pl.col("visited_country"))
        & pl.col("event_type").is_in(list(_KINDS))
    )
    et = pl.col("event_type")
    events = roaming.with_row_index("event_index").select(
        pl.lit("synthetic", pl.String()).alias("file"),
        pl.col("event_index").cast(pl.Int64),
        et.replace_strict({k: v[0] for k, v in _KINDS.items()}).alias("kind"),
        et.alias("event_type"),
        (
            pl.col("home_country").replace_strict(mcc, default=None)
            + pl.lit("01")
            + (pl.col("subscriber_id").hash(seed=7) % 10**10).cast(pl.String).str.zfill(10)
        ).alias("imsi"),
        pl.col("visited_country").replace_strict(codes, default=None).alias("sender"),
        pl.col("home_country").replace_strict(codes, default=None).alias("recipient"),
        "home_country",
        "visited_country",
        "started_at",
        "utc_offset_min",
        pl.when(et.is_in(["voice_mo", "voice_mt"])).then(pl.col("duration_s"))
        .when(et == "data").then(pl.col("duration_s").fill_null(60))
        .otherwise(0).alias("duration_s"),
        pl.when(et == "data").then(pl.col("volume_bytes") // 5).alias("volume_in_bytes"),
        pl.when(et == "data").then(pl.col("volume_bytes") - pl.col("volume_bytes") // 5)
        .alias("volume_out_bytes"),
        et.replace_strict({k: v[1] for k, v in _KINDS.items()}, default=None).alias("service_code"),
        pl.when(et == "data").then(pl.lit("X")).otherwise(pl.lit("D")).alias("charged_item"),
        pl.lit(0, pl.Int64).alias("charge_micros"),
        pl.lit("EUR").alias("currency"),
        pl.lit("EUR").alias("local_currency"),
    )  # fmt: skip
    events = events.with_columns(
        [pl.lit(None, d).alias(c) for c, d in EVENT_SCHEMA.items() if c not in events.columns]
    ).select([pl.col(c).cast(d) for c, d in EVENT_SCHEMA.items()])
    # rounded down per event, so the sum never exceeds the cap of the summed units
    checked = check_wholesale(events, catalog).events.select(
        (pl.col("units").cast(pl.Int128) * pl.col("cap_nanos") // (pl.col("cap_divisor") * 1000))
        .cast(pl.Int64)
        .fill_null(0)
        .alias("charge_micros")
    )
    return events.with_columns(checked.get_column("charge_micros"))


def write_tap_files(
    usage: pl.DataFrame, directory: Path, catalog: Catalog, created: dt.datetime
) -> list[Path]:
    """Write one TAP file per (sender, recipient) pair into ``directory``; return the paths.

    Raises
    ------
    OutputError
        The directory is missing or a file cannot be written.
    """
    if not directory.is_dir():
        raise OutputError(f"{directory}: the TAP output directory does not exist")
    events = tap_events(usage, catalog)
    paths: list[Path] = []
    pairs = events.select("sender", "recipient").unique().sort("sender", "recipient")
    for seq_no, (sender, recipient) in enumerate(pairs.iter_rows(), start=1):
        part = events.filter((pl.col("sender") == sender) & (pl.col("recipient") == recipient))
        spec = BatchSpec(sender, recipient, f"{seq_no:05d}", 6, created=created)
        path = directory / f"CD{sender}{recipient}{seq_no:05d}.tap"
        try:
            path.write_bytes(encode_batch(part.sort("started_at"), spec))
        except OSError as exc:
            raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from exc
        paths.append(path)
    return paths
