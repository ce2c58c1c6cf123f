"""``roamlike.disk_split``: the on-disk split holds a chunk at a time and writes each batch's
rows, numbered in read order, exactly as the whole input holds them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from builders import rec
from comparison import text_frame
from roamlike import disk_split
from roamlike.columns import BATCH_ROW
from roamlike.disk_split import split_on_disk
from roamlike.duplicate_ids import repeated_rows
from roamlike.errors import UsageInputError
from roamlike.io import read_usage
from roamlike.record_keys import normalise_subscriber_id, subscriber_batch


def _rows(n: int = 90) -> list[dict[str, object]]:
    """Records of seven subscribers (one blank, one missing), with duplicate record ids."""
    rows: list[dict[str, object]] = [
        rec(f"r{i}", subscriber_id=f" s{i % 7}" if i % 7 else None,
            started_at=f"2026-03-{10 + i % 9}T1{i % 10}:00:00Z", volume_bytes=1_000 + i)
        for i in range(n)
    ]  # fmt: skip
    rows[3]["subscriber_id"] = "  "
    rows[40]["record_id"] = "r2"  # a duplicate of row 2, in a later chunk and another batch
    rows[41]["record_id"] = " r2 "  # and another one, once normalised
    rows[60]["record_id"] = "   "  # no id: never a duplicate
    rows[61]["record_id"] = None
    rows[88]["record_id"] = "r87"  # next to its first occurrence
    return rows


def _expected(usage: pl.LazyFrame, batches: int) -> dict[int, pl.DataFrame]:
    """Each batch's rows as filtered out of the whole input (what the split must write)."""
    whole = usage.with_row_index(BATCH_ROW).collect()
    key = whole.select(subscriber_batch(batches)).to_series()
    return {int(k): whole.filter(key == k) for k in key.unique()}


def _write(rows: list[dict[str, object]], path: Path) -> Path:
    frame = text_frame(rows)
    if path.suffix == ".csv":
        frame.write_csv(path)
    else:  # typed columns and several row groups
        frame.with_columns(
            pl.col("started_at").str.to_datetime(time_zone="UTC"),
            pl.col("utc_offset_min").cast(pl.Int32),
            pl.col("volume_bytes").cast(pl.Int64),
            pl.col("plan_id").cast(pl.Categorical),
            pl.lit(dt.date(2026, 3, 1)).alias("billing_month"),
        ).write_parquet(path, row_group_size=25)
    return path


@pytest.mark.parametrize("name", ["usage.csv", "usage.parquet"])
def test_each_batch_file_holds_its_rows_in_read_order_with_their_row_numbers(
    tmp_path: Path, name: str
) -> None:
    path = _write(_rows(), tmp_path / name)
    usage = read_usage(path)
    folder = tmp_path / "batches"
    folder.mkdir()
    files = split_on_disk(usage, 4, folder, path, chunk_rows=11)
    expected = _expected(usage, 4)
    assert files.keys == sorted(expected)
    for key, want in expected.items():
        got = files.load(key)
        assert got.schema == want.schema
        assert got.equals(want), key
    assert sum(files.load(k).height for k in files.keys) == 90
    # a batch without rows loads as an empty frame of the same columns
    assert files.load(99).schema == files.schema == expected[files.keys[0]].schema
    assert files.load(99).height == 0


@pytest.mark.parametrize("name", ["usage.csv", "usage.parquet"])
def test_the_duplicates_are_those_of_the_whole_input(tmp_path: Path, name: str) -> None:
    path = _write(_rows(), tmp_path / name)
    usage = read_usage(path)
    folder = tmp_path / "batches"
    folder.mkdir()
    files = split_on_disk(usage, 3, folder, path, chunk_rows=8)
    whole = repeated_rows(usage.select(normalise_subscriber_id(pl.col("record_id"))))
    assert files.duplicates.to_list() == whole.to_list() == [40, 41, 88]
    assert files.duplicates.dtype == whole.dtype == pl.Int64


def test_the_split_holds_at_most_a_chunk_of_rows_at_once(tmp_path: Path) -> None:
    # row groups of 25 rows, chunks of 7: the reader never hands over more than a chunk
    path = _write(_rows(), tmp_path / "usage.parquet")
    folder = tmp_path / "batches"
    folder.mkdir()
    seen: list[int] = []
    split_on_disk(
        read_usage(path), 5, folder, path, chunk_rows=7, on_chunk=lambda c: seen.append(c.height)
    )
    assert sum(seen) == 90
    assert max(seen) <= 7
    assert len(seen) >= 90 // 7


def test_the_batch_files_keep_every_column_type(tmp_path: Path) -> None:
    # a categorical extra column's dictionary differs from one chunk to the next
    path = _write(_rows(), tmp_path / "usage.parquet")
    frame = pl.read_parquet(path).with_columns(
        pl.col("record_id").alias("note").cast(pl.Categorical),
        pl.Series("tags", [[i, i + 1] for i in range(90)]),
        pl.col("plan_id").cast(pl.String).cast(pl.Enum(["de", "fr"])).alias("plan_enum"),
    )
    frame.write_parquet(path, row_group_size=20)
    usage = read_usage(path)
    folder = tmp_path / "batches"
    folder.mkdir()
    files = split_on_disk(usage, 2, folder, path, chunk_rows=9)
    for key, want in _expected(usage, 2).items():
        got = files.load(key)
        assert got.schema == want.schema
        assert got.equals(want)
    assert files.schema["note"] == pl.Categorical
    assert files.schema["tags"] == pl.List(pl.Int64)


def _corrupt_second_row_group(path: Path) -> None:
    """Overwrite the data of the second row group of a Parquet file with garbage."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata.row_group(1)
    start = min(meta.column(i).data_page_offset for i in range(meta.num_columns))
    data = bytearray(path.read_bytes())
    data[start : start + 400] = b"\xff" * 400
    path.write_bytes(bytes(data))


def test_a_corrupt_row_group_mid_file_is_a_usage_input_error(tmp_path: Path) -> None:
    path = _write(_rows(), tmp_path / "usage.parquet")
    _corrupt_second_row_group(path)
    folder = tmp_path / "batches"
    folder.mkdir()
    usage = read_usage(path)  # the file opens: its footer and first row group are sound
    with pytest.raises(UsageInputError, match=r"usage\.parquet: cannot read usage records: "):
        split_on_disk(usage, 3, folder, path, chunk_rows=5)


def test_a_csv_line_that_does_not_parse_mid_file_is_a_usage_input_error(tmp_path: Path) -> None:
    path = _write(_rows(), tmp_path / "usage.csv")
    lines = path.read_text().splitlines()
    lines[70] += ',"an extra, unclosed field'  # a line with more fields than the header
    path.write_text("\n".join(lines) + "\n")
    folder = tmp_path / "batches"
    folder.mkdir()
    usage = read_usage(path)  # the header and first lines are sound
    with pytest.raises(UsageInputError, match=r"usage\.csv: cannot read usage records: "):
        split_on_disk(usage, 3, folder, path, chunk_rows=5)


def test_a_batch_file_that_cannot_be_written_is_an_output_error(tmp_path: Path) -> None:
    path = _write(_rows(), tmp_path / "usage.csv")
    with pytest.raises(disk_split.OutputError, match="cannot write a batch file"):
        split_on_disk(read_usage(path), 3, tmp_path / "missing", path, chunk_rows=5)
