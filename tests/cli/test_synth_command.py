"""Tests of ``roamlike synth``."""

from __future__ import annotations

from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from roamlike.cli import app
from roamlike.tariffs.fx import FxTable
from roamlike.tariffs.schema import load_plans

runner = CliRunner()


def test_synth_writes_the_three_files(tmp_path: Path) -> None:
    out, plans, fx = tmp_path / "usage.parquet", tmp_path / "plans.yaml", tmp_path / "fx.csv"
    args = [
        "synth", "--records", "500", "--out", str(out), "--plans-out", str(plans),
        "--fx-out", str(fx), "--seed", "3", "--start", "2025-06-01", "--months", "2",
    ]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    usage = pl.read_parquet(out)
    assert usage.height == 500
    assert usage["started_at"].min().month == 6  # type: ignore[union-attr]
    loaded = load_plans(plans)
    assert set(usage["plan_id"].unique()) <= set(loaded)
    table = FxTable.from_csv(fx)
    for plan in loaded.values():
        assert table.rate(plan.currency, usage["started_at"].max().date()).units_per_eur > 0  # type: ignore[union-attr]
    first = out.read_bytes()
    assert runner.invoke(app, args).exit_code == 0
    assert out.read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fx.csv", "plans.yaml", "usage.parquet"]


def test_synth_csv_output(tmp_path: Path) -> None:
    out = tmp_path / "usage.csv"
    result = runner.invoke(app, ["synth", "--records", "50", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert pl.read_csv(out).height == 50


def test_synth_bad_start_date_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["synth", "--records", "5", "--out", str(tmp_path / "u.csv"), "--start", "2026-13-01"]
    )
    assert result.exit_code == 2


def test_synth_bad_output_exits_3(tmp_path: Path) -> None:
    result = runner.invoke(app, ["synth", "--records", "5", "--out", str(tmp_path / "u.xlsx")])
    assert result.exit_code == 3
