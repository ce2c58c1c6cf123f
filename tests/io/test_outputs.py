"""Tests of roamlike.io.outputs: formats, atomic replacement, deterministic bytes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from roamlike.errors import OutputError
from roamlike.io import write_table


def _frame(n: int = 50_000) -> pl.DataFrame:
    return pl.DataFrame({"i": range(n)}).with_columns(
        (pl.col("i") % 7).alias("k"),
        pl.format("r{}", pl.col("i")).alias("record_id"),
        pl.lit(dt.datetime(2026, 1, 1, tzinfo=dt.UTC)).alias("started_at"),
    )


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_round_trip(tmp_path: Path, suffix: str) -> None:
    frame = _frame(100)
    path = tmp_path / f"out{suffix}"
    write_table(frame, path)
    if suffix == ".parquet":
        assert pl.read_parquet(path).equals(frame)
    elif suffix == ".csv":
        got = pl.read_csv(path)
        assert got["record_id"].to_list() == frame["record_id"].to_list()
        assert got["started_at"][0] == "2026-01-01T00:00:00.000000Z"
    else:
        assert pl.read_ndjson(path)["i"].to_list() == list(range(100))


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".jsonl"])
def test_rewrite_is_byte_identical_for_frame_and_lazy_frame(tmp_path: Path, suffix: str) -> None:
    frame = _frame()
    first, second = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
    write_table(frame, first)
    write_table(frame.lazy().filter(pl.col("i") >= 0), second)
    assert first.read_bytes() == second.read_bytes()
    write_table(frame, second)
    assert first.read_bytes() == second.read_bytes()


def test_atomic_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    path = tmp_path / "out.parquet"
    path.write_bytes(b"old")
    write_table(_frame(10), path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.parquet"]
    assert pl.read_parquet(path).height == 10


def test_failed_write_keeps_old_file_and_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    path.write_text("old\n", encoding="utf-8")
    bad = pl.LazyFrame({"a": ["x"]}).select(pl.col("a").cast(pl.Int64, strict=True))
    with pytest.raises(OutputError, match=r"out\.csv"):
        write_table(bad, path)
    assert path.read_text(encoding="utf-8") == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.csv"]


def test_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"\.parquet, \.csv, \.jsonl"):
        write_table(_frame(1), tmp_path / "out.xlsx")


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="does not exist"):
        write_table(_frame(1), tmp_path / "nope" / "out.csv")


def test_parquet_is_zstd_level_1_without_statistics(tmp_path: Path) -> None:
    # the setting chosen by measurement (docs/rating.md §8), for write_table and TableWriter
    import pyarrow.parquet as pq

    from roamlike.io import TableWriter

    write_table(_frame(1000), tmp_path / "a.parquet")
    with TableWriter(tmp_path / "b.parquet") as writer:
        writer.write(_frame(1000))
    for name in ("a.parquet", "b.parquet"):
        meta = pq.ParquetFile(tmp_path / name).metadata
        columns = [meta.row_group(0).column(j) for j in range(meta.num_columns)]
        assert {c.compression for c in columns} == {"ZSTD"}
        assert not any(c.is_stats_set for c in columns)
    # level 1: the same sink at level 1 gives the same bytes, at zstd's default level 3 others
    write_table(_frame(50_000), tmp_path / "d.parquet")
    for level, same in ((1, True), (3, False)):
        _frame(50_000).lazy().sink_parquet(
            tmp_path / "e.parquet",
            compression="zstd",
            compression_level=level,
            statistics=False,
            row_group_size=1_000_000,
            maintain_order=True,
        )
        assert (
            (tmp_path / "e.parquet").read_bytes() == (tmp_path / "d.parquet").read_bytes()
        ) is same


def test_write_table_takes_the_row_group_size(tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    from roamlike.io.background import BackgroundTableWriter

    write_table(_frame(1000), tmp_path / "a.parquet", row_group_size=300)
    writer = BackgroundTableWriter(tmp_path / "b.parquet", _frame(1).schema, row_group_size=400)
    writer.write(_frame(1000))
    writer.commit()
    for name, sizes in (("a.parquet", [300, 300, 300, 100]), ("b.parquet", [400, 400, 200])):
        meta = pq.ParquetFile(tmp_path / name).metadata
        assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == sizes
    # the default: one group of up to PARQUET_ROW_GROUP_SIZE rows
    write_table(_frame(1000), tmp_path / "c.parquet")
    assert pq.ParquetFile(tmp_path / "c.parquet").metadata.num_row_groups == 1
