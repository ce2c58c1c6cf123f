"""Tests of roamlike.io.usage: formats, mapping files, missing columns, no lost rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from roamlike.errors import RoamlikeError, UsageInputError
from roamlike.io import CANONICAL_COLUMNS, read_usage, write_table

CSV_TEXT = (
    "record_id,subscriber_id,plan_id,event_type,started_at,utc_offset_min,home_country,"
    "visited_country,duration_s,vendor_extra\n"
    "r1,s1,rs-basic,voice_mo,2026-03-01T10:00:00Z,60,RS,ME,125,x\n"
    "r2,s1,rs-basic,voice_mo,2026-03-01T11:00:00Z,60,RS,ME,12O,y\n"
)


def _usage_frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "record_id": ["r1", "r2"],
            "subscriber_id": ["s1", "s2"],
            "plan_id": ["rs-basic", "de-max"],
            "event_type": ["data", "sms_mo"],
            "started_at": [
                dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC),
                dt.datetime(2026, 3, 2, 9, 30, tzinfo=dt.UTC),
            ],
            "utc_offset_min": pl.Series([60, 120], dtype=pl.Int32),
            "home_country": ["RS", "DE"],
            "visited_country": ["ME", "GR"],
            "destination_country": [None, "DE"],
            "duration_s": pl.Series([None, None], dtype=pl.Int64),
            "volume_bytes": [1_500_000, None],
            "count": [None, 1],
            "is_beyond_fair_use": [False, False],
        }
    )


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl", ".ndjson"])
def test_each_format_round_trips(tmp_path: Path, suffix: str) -> None:
    frame = _usage_frame()
    path = tmp_path / f"usage{suffix}"
    write_table(frame, path)
    got = read_usage(path).collect()
    assert got.columns == list(CANONICAL_COLUMNS)
    assert got.height == 2
    if suffix == ".parquet":
        assert got.equals(frame)
    else:
        assert all(dtype == pl.String for dtype in got.dtypes)
        assert got["record_id"].to_list() == ["r1", "r2"]
        assert got["started_at"].to_list() == [
            "2026-03-01T10:00:00.000000Z",
            "2026-03-02T09:30:00.000000Z",
        ]
        assert got["volume_bytes"].to_list() == ["1500000", None]
        assert got["is_beyond_fair_use"].to_list() == ["false", "false"]


def test_malformed_number_stays_a_row(tmp_path: Path) -> None:
    path = tmp_path / "usage.csv"
    path.write_text(CSV_TEXT, encoding="utf-8")
    got = read_usage(path).collect()
    assert got.height == 2
    assert got["duration_s"].to_list() == ["125", "12O"]


def test_missing_optional_columns_are_null_and_extras_kept(tmp_path: Path) -> None:
    path = tmp_path / "usage.csv"
    path.write_text(CSV_TEXT, encoding="utf-8")
    got = read_usage(path).collect()
    assert got.columns == [*CANONICAL_COLUMNS, "vendor_extra"]
    assert got["volume_bytes"].null_count() == 2
    assert got["count"].dtype == pl.String


def test_missing_optional_column_in_parquet_gets_canonical_type(tmp_path: Path) -> None:
    path = tmp_path / "usage.parquet"
    write_table(_usage_frame().drop("volume_bytes", "is_beyond_fair_use"), path)
    got = read_usage(path).collect()
    assert got.schema["volume_bytes"] == pl.Int64
    assert got.schema["is_beyond_fair_use"] == pl.Boolean


def test_mapping_file_renames_vendor_columns(tmp_path: Path) -> None:
    path = tmp_path / "usage.csv"
    path.write_text(CSV_TEXT.replace("record_id,", "CALL_ID,").replace(",plan_id,", ",TARIFF,"))
    mapping = tmp_path / "map.yaml"
    mapping.write_text("columns:\n  CALL_ID: record_id\n  TARIFF: plan_id\n", encoding="utf-8")
    got = read_usage(path, mapping).collect()
    assert got["record_id"].to_list() == ["r1", "r2"]
    assert got["plan_id"].to_list() == ["rs-basic", "rs-basic"]


def test_mapping_unknown_canonical_name_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "usage.csv"
    path.write_text(CSV_TEXT, encoding="utf-8")
    mapping = tmp_path / "map.yaml"
    mapping.write_text("columns:\n  CALL_ID: recordid\n", encoding="utf-8")
    with pytest.raises(UsageInputError, match=r"'recordid'.*did you mean 'record_id'"):
        read_usage(path, mapping)


def test_mapping_duplicate_key_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "usage.csv"
    path.write_text(CSV_TEXT, encoding="utf-8")
    mapping = tmp_path / "map.yaml"
    mapping.write_text("columns:\n  A: record_id\n  A: plan_id\n", encoding="utf-8")
    with pytest.raises(UsageInputError, match=r"map\.yaml"):
        read_usage(path, mapping)


def test_missing_required_column_message(tmp_path: Path) -> None:
    path = tmp_path / "usage.csv"
    path.write_text(CSV_TEXT.replace(",plan_id,", ",Plan_ID,"), encoding="utf-8")
    with pytest.raises(UsageInputError) as info:
        read_usage(path)
    message = str(info.value)
    assert "'plan_id' is missing" in message
    assert "did you mean 'Plan_ID'" in message
    assert "columns found: record_id, subscriber_id, Plan_ID" in message
    assert "columns: {your_column: plan_id}" in message


def test_unknown_extension_lists_formats(tmp_path: Path) -> None:
    path = tmp_path / "usage.xlsx"
    path.write_text("x", encoding="utf-8")
    with pytest.raises(UsageInputError, match=r"\.csv, \.parquet, \.jsonl, \.ndjson"):
        read_usage(path)


@pytest.mark.parametrize(
    ("name", "content"),
    [("missing.csv", None), ("broken.parquet", b"not parquet"), ("broken.jsonl", b"{oops\n")],
)
def test_unreadable_file_raises_usage_input_error(
    tmp_path: Path, name: str, content: bytes | None
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UsageInputError, match=name) as info:
        read_usage(path)
    assert isinstance(info.value, RoamlikeError)


@pytest.mark.parametrize("end", ["\n", "\r\n", "\r"], ids=["LF", "CRLF", "CR"])
def test_csv_line_endings_and_blank_lines(tmp_path: Path, end: str) -> None:
    # bare CR used to read as 0 records (exit 0); a trailing blank line became a spurious reject
    path = tmp_path / "usage.csv"
    lines = CSV_TEXT.rstrip("\n").split("\n")
    path.write_bytes((end.join([*lines[:2], "", lines[2]]) + end + end).encode())
    got = read_usage(path).collect()
    assert got["record_id"].to_list() == ["r1", "r2"]
    assert got["duration_s"].to_list() == ["125", "12O"]
    assert got["vendor_extra"].to_list() == ["x", "y"]
