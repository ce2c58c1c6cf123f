"""Usage from travel statistics (``roamlike.synth.flows``): exact totals, bounds, bad files."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from roamlike.cli import app
from roamlike.errors import UsageInputError
from roamlike.synth.flows import _split, generate_flows, read_flows

HEADER = (
    "home_country,visited_country,month,trips,trip_days,voice_mo_min,voice_mt_min,sms_mo,"
    "sms_mt,data_mb\n"
)
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "flows_wb_eu.csv"


def _flows(tmp_path: Path, rows: str) -> Path:
    path = tmp_path / "flows.csv"
    path.write_text(HEADER + rows, encoding="utf-8")
    return path


def test_usage_matches_the_trips_and_the_per_trip_use_exactly(tmp_path: Path) -> None:
    path = _flows(
        tmp_path, "RS,DE,2027-03,120,5,20,15.5,6,4,900.25\nDE,ME,2027-07,30,7,0,0,2,0,0\n"
    )
    usage = generate_flows(read_flows(path), seed=3).usage
    per = usage.group_by("home_country", "event_type").agg(
        records=pl.len(),
        seconds=pl.col("duration_s").sum(),
        messages=pl.col("count").sum(),
        bytes=pl.col("volume_bytes").sum(),
        travellers=pl.col("subscriber_id").n_unique(),
    )
    got = {(h, e): (r, s, m, b, t) for h, e, r, s, m, b, t in per.iter_rows()}
    assert got[("RS", "voice_mo")][1] == 120 * 20 * 60
    assert got[("RS", "voice_mt")][1] == 120 * 930  # 15.5 min = 930 s
    assert got[("RS", "sms_mo")][2] == 120 * 6
    assert got[("RS", "sms_mt")][2] == 120 * 4
    assert got[("RS", "data")][3] == 120 * 900_250_000
    assert got[("RS", "data")][0] == 120 * 5 * 4  # four sessions a day
    assert got[("RS", "voice_mo")][4] == 120
    assert got[("DE", "sms_mo")][2] == 60
    assert {e for h, e in got if h == "DE"} == {"sms_mo"}
    de = usage.filter(pl.col("home_country") == "DE")
    local = de.select(
        (pl.col("started_at") + pl.duration(minutes=pl.col("utc_offset_min"))).dt.date()
    ).to_series()
    assert local.min() >= dt.date(2027, 7, 1)
    assert local.max() < dt.date(2027, 8, 7)  # a trip started in July lasts 7 days at most
    assert (de.get_column("utc_offset_min") == 120).all()  # Montenegro in summer
    assert usage.get_column("record_id").n_unique() == usage.height
    assert usage.equals(generate_flows(read_flows(path), seed=3).usage)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 10**12), st.integers(1, 40)), min_size=1, max_size=30),
    st.integers(0, 2**32 - 1),
)
def test_split_is_exact_and_non_negative(groups: list[tuple[int, int]], seed: int) -> None:
    totals = np.array([t for t, _ in groups], dtype=np.int64)
    parts = np.array([p for _, p in groups], dtype=np.int64)
    out = _split(np.random.default_rng(seed), totals, parts)
    assert (out >= 0).all()
    owner = np.repeat(np.arange(len(groups)), parts)
    sums = [int(out[owner == i].sum()) for i in range(len(groups))]
    assert sums == totals.tolist()


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("RS,QQ,2027-03,1,1,1,1,1,1,1\n", "visited_country 'QQ' is not a country"),
        ("RS,RS,2027-03,1,1,1,1,1,1,1\n", "not a trip"),
        ("RS,DE,March,1,1,1,1,1,1,1\n", "month must be YYYY-MM"),
        ("RS,DE,2027-03,1.5,1,1,1,1,1,1\n", "trips must be a whole number"),
        ("RS,DE,2027-03,-1,1,1,1,1,1,1\n", "trips must be between 0 and 1,000,000"),
        ("RS,DE,2027-03,1,0,1,1,1,1,1\n", "trip_days must be at least 1"),
        ("RS,DE,2027-03,1,1,x,1,1,1,1\n", "voice_mo_min must be a number"),
        ("RS,DE,2027-03,1,1,1,1,1,1\n", "not as many fields as the header"),
        ("", "the file has no rows"),
        ("RS,DE,2027-03,1000000,90,0,0,10000,10000,0\n", "more than 100,000,000"),
    ],
)
def test_bad_flows_name_the_line(tmp_path: Path, rows: str, message: str) -> None:
    with pytest.raises(UsageInputError, match=message):
        read_flows(_flows(tmp_path, rows))


def test_missing_column_is_named(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("home_country,visited_country,month,trips\nRS,DE,2027-03,1\n", "utf-8")
    with pytest.raises(UsageInputError, match="missing: trip_days, voice_mo_min"):
        read_flows(path)


def test_cli_synth_flows_writes_usage_plans_and_fx(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "usage.parquet"
    result = runner.invoke(
        app,
        ["synth", "--flows", str(EXAMPLE), "--out", str(out), "--plans-out",
         str(tmp_path / "plans.yaml"), "--fx-out", str(tmp_path / "fx.csv")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    usage = pl.read_parquet(out)
    assert (
        usage.filter(pl.col("home_country") == "RS").get_column("subscriber_id").n_unique() == 950
    )
    rated = runner.invoke(
        app,
        ["rate", str(out), "--plans", str(tmp_path / "plans.yaml"), "--fx",
         str(tmp_path / "fx.csv"), "--out", str(tmp_path / "rated.parquet"), "--quiet"],
    )  # fmt: skip
    assert rated.exit_code == 0, rated.output
    both = runner.invoke(
        app, ["synth", "--flows", str(EXAMPLE), "--records", "5", "--out", str(out)]
    )
    assert both.exit_code == 2
    assert "either --records N or --flows" in both.output
    bad = runner.invoke(app, ["synth", "--flows", str(tmp_path / "none.csv"), "--out", str(out)])
    assert bad.exit_code == 3
    assert "cannot read the flows file" in bad.output
