"""Tests of roamlike.io.parquet_stream: row groups cut by rows, dictionaries by column."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from roamlike.errors import OutputError
from roamlike.io.outputs import write_frames
from roamlike.io.parquet_stream import ParquetStream


def _rated_like(n: int, start: int = 0) -> pl.DataFrame:
    """Columns of the types the rated rows have (docs/rating.md §8)."""
    i = pl.int_range(start, start + n, eager=True)
    return pl.DataFrame(
        {
            "record_id": i.cast(pl.String),
            "event_type": pl.Series(["data", "sms_mo"] * n, dtype=pl.String)[:n].cast(
                pl.Enum(["sms_mo", "data"])
            ),
            "started_at": pl.Series([dt.datetime(2026, 3, 1)] * n, dtype=pl.Datetime("us", "UTC")),
            "utc_offset_min": pl.Series([60] * n, dtype=pl.Int32),
            "local_date": pl.Series([dt.date(2026, 3, 1)] * n, dtype=pl.Date),
            "vat_rate": pl.Series([Decimal("0.19")] * n, dtype=pl.Decimal(9, 6)),
            "volume_bytes": i * 1000,
            "fup_used_bytes": pl.Series([None] * n, dtype=pl.Int64),
            "is_late": pl.Series([False] * n, dtype=pl.Boolean),
        }
    )


def test_each_frame_starts_a_row_group_of_at_most_the_size(tmp_path: Path) -> None:
    frames = [_rated_like(3), _rated_like(5, 3), _rated_like(0, 8), _rated_like(7, 8)]
    stream = ParquetStream(tmp_path / "s.parquet", frames[0].schema, row_group_size=4)
    for frame in frames:
        stream.write(frame)
    stream.close()
    meta = pq.ParquetFile(tmp_path / "s.parquet").metadata
    assert [meta.row_group(k).num_rows for k in range(meta.num_row_groups)] == [3, 4, 1, 4, 3]
    back = pl.read_parquet(tmp_path / "s.parquet")
    assert back.schema == frames[0].schema  # enums, decimals, zoned times, Int32 come back
    assert back.equals(pl.concat(frames))


def test_only_the_chosen_columns_get_a_dictionary(tmp_path: Path) -> None:
    frame = _rated_like(50)
    write_frames(iter([frame]), frame.schema, tmp_path / "d.parquet", dictionary=["event_type"])
    columns = pq.ParquetFile(tmp_path / "d.parquet").metadata.row_group(0)
    with_dict = {
        columns.column(j).path_in_schema
        for j in range(columns.num_columns)
        if columns.column(j).has_dictionary_page
    }
    assert with_dict == {"event_type"}
    assert pl.read_parquet(tmp_path / "d.parquet").equals(frame)


def test_an_empty_stream_writes_the_columns(tmp_path: Path) -> None:
    schema = _rated_like(1).schema
    write_frames(iter([]), schema, tmp_path / "e.parquet")
    assert pl.read_parquet(tmp_path / "e.parquet").schema == schema


def _failing() -> Iterator[pl.DataFrame]:
    yield _rated_like(2)
    raise ValueError("the run failed")


def test_a_failing_stream_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "f.parquet"
    target.write_text("old")
    with pytest.raises(OutputError, match="the run failed"):
        write_frames(_failing(), _rated_like(1).schema, target)
    assert [p.name for p in tmp_path.iterdir()] == ["f.parquet"]
    assert target.read_text() == "old"
