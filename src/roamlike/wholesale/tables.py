"""Reading an events table (for ``tap encode``) with the decoded events' column types."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from roamlike.errors import TapEncodeError
from roamlike.wholesale.events import EVENT_SCHEMA


def read_events(path: Path | str) -> pl.DataFrame:
    """Read events from Parquet, CSV or JSON lines, cast to :data:`EVENT_SCHEMA` types.

    Columns of the schema that the file lacks are null; other columns are dropped. In text
    formats ``started_at`` is ISO 8601 (``2026-03-01T10:00:00Z`` or with an offset).

    Raises
    ------
    TapEncodeError
        Unknown extension, unreadable file, or a value that does not fit its column's type.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    try:
        if suffix == ".parquet":
            raw = pl.read_parquet(p)
        elif suffix == ".csv":
            raw = pl.read_csv(p, infer_schema=False)
        elif suffix in (".jsonl", ".ndjson"):
            raw = pl.read_ndjson(p, infer_schema_length=None)
        else:
            raise TapEncodeError(
                f"{p}: unknown events format {suffix!r}; use .parquet, .csv or .jsonl"
            )
    except (OSError, pl.exceptions.PolarsError) as exc:
        raise TapEncodeError(f"{p}: cannot read events: {str(exc).splitlines()[0]}") from None
    exprs = []
    for name, dtype in EVENT_SCHEMA.items():
        if name not in raw.columns:
            exprs.append(pl.lit(None, dtype).alias(name))
        elif name == "started_at" and raw.schema[name] == pl.String():
            exprs.append(pl.col(name).str.to_datetime(time_zone="UTC", strict=True).alias(name))
        else:
            exprs.append(pl.col(name).cast(dtype, strict=True))
    try:
        return raw.select(exprs)
    except pl.exceptions.PolarsError as exc:
        raise TapEncodeError(
            f"{p}: a value does not fit its column: {str(exc).splitlines()[0]}"
        ) from None
