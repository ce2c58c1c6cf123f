"""Tests of ``roamlike demo``."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from roamlike.cli import app

runner = CliRunner()


def test_demo_writes_the_three_files_and_prints_the_headline(tmp_path: Path) -> None:
    out = tmp_path / "demo-output"
    result = runner.invoke(app, ["demo", "--out", str(out), "--records", "3000"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["rated.parquet", "report.html", "summary.csv"]
    text = result.output
    assert "calls up to" in text
    assert "eight times" in text
    assert 'the Commission says: "calls up to eight times cheaper"' in text
    assert "roamlike computes: calls up to" in text
    assert "We found neither figure in any published source" in text
    assert "commsupdate_2019" in text
    assert "ALL: 2019-06-30 123.38, 2019-07-01 123.00" in text
    assert str(out / "report.html") in text.replace("\n", "")


def test_demo_refuses_a_tiny_size(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--out", str(tmp_path), "--records", "10"])
    assert result.exit_code == 2
    assert "--records" in result.output
