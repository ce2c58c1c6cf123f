"""The keys of a raw usage record that runners and the state store compute before the engine.

The engine's subscriber key and a record's UTC start instant, in a module that imports nothing
but Polars, so that code that reads only an input's keys (the preload of ``roamlike rate
--state``, ``roamlike.state.preload``) does not load the engine. The engine uses
these very functions (``roamlike.rating.normalise``).
"""

from __future__ import annotations

import polars as pl

from roamlike.columns import TIMESTAMP_PATTERN


def _stripped(expr: pl.Expr) -> pl.Expr:
    """``expr`` as text, surrounding blanks stripped."""
    return expr.cast(pl.String).str.strip_chars()


def normalise_subscriber_id(expr: pl.Expr, *, streaming: bool = False) -> pl.Expr:
    """The engine's subscriber key: as text, surrounding blanks stripped, empty -> null.

    Every counter of docs/rating.md is kept per this key, so a runner that partitions the input
    must partition on it (not on the raw ``subscriber_id``) for the counters to stay whole.
    ``streaming``: the same values by an expression Polars' streaming engine can stream, for a
    query over an input larger than memory (``roamlike.disk_split``).
    """
    text = _stripped(expr)
    if streaming:
        # Polars' streaming engine (2.1) cannot stream ``replace`` and holds the whole input to
        # evaluate it (30 million records: 4.9 GB, against 1.2 GB for this expression)
        return pl.when(text.str.len_bytes() > 0).then(text)
    # ``replace`` gives empty text null as ``when(len > 0)`` does, at half the cost (4 M record
    # ids: 0.12 against 0.23 CPU-s; they are normalised over the whole input before any batch)
    return text.replace("", None)


def started_at_utc(schema: pl.Schema) -> pl.Expr:
    """``started_at`` as a UTC instant [us]: null where it does not parse.

    Parameters
    ----------
    schema : polars.Schema
        The raw records' schema (``started_at`` as a datetime, naive meaning UTC, or as text).

    References
    ----------
    ``docs/rating.md`` (the input contract of ``started_at``).
    """
    dtype = schema["started_at"]
    col = pl.col("started_at")
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            return col.dt.cast_time_unit("us").dt.replace_time_zone("UTC")
        return col.dt.cast_time_unit("us").dt.convert_time_zone("UTC")
    s = col.cast(pl.String).str.strip_chars()
    ok = s.str.contains(TIMESTAMP_PATTERN)
    norm = (
        s.str.replace(" ", "T", literal=True)
        .str.replace(r"Z$", "+00:00")
        .str.replace(r"([+-]\d{2})(\d{2})$", "${1}:${2}")
    )
    norm = pl.when(norm.str.contains(r"[+-]\d{2}:\d{2}$")).then(norm).otherwise(norm + "+00:00")
    parsed = norm.str.to_datetime(
        "%Y-%m-%dT%H:%M:%S%.f%:z", time_zone="UTC", time_unit="us", strict=False
    )
    return pl.when(ok).then(parsed).otherwise(None)


def subscriber_batch(batches: int) -> pl.Expr:
    """The batch of a row: a stable hash of its normalised subscriber id, modulo ``batches``.

    Rows of one subscriber always fall in the same batch, so that every counter of
    docs/rating.md (allowances, fair use, bill-shock, welcome) lives inside one batch.
    """
    # the text of normalise_subscriber_id with null as "" (empty stays empty): the same hash,
    # in an expression the on-disk split (roamlike.disk_split) can stream
    sub = _stripped(pl.col("subscriber_id")).fill_null("")
    return (sub.hash(seed=20170615) % max(batches, 1)).cast(pl.Int64)
