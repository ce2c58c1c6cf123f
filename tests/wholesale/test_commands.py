"""``roamlike tap decode|encode`` and ``roamlike wholesale check|settle``: exit codes 0/1/2/3,
the ``--json`` contract, output files."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from tap_bytes import batch, gprs, moc
from typer.testing import CliRunner

from roamlike.cli import app

runner = CliRunner()
GOOD = batch(moc(), gprs(), total=42, tax=5)
HEADER_KEYS = {
    "sender",
    "recipient",
    "file_sequence_number",
    "release",
    "tap_decimal_places",
    "local_currency",
    "audit",
}
EVENT_KEYS = {
    "kind",
    "imsi",
    "started_at",
    "duration_s",
    "volume_in_bytes",
    "volume_out_bytes",
    "charge",
}


@pytest.fixture
def good(tmp_path: Path) -> Path:
    path = tmp_path / "good.tap"
    path.write_bytes(GOOD)
    return path


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    path = tmp_path / "broken.tap"
    path.write_bytes(GOOD[: len(GOOD) // 2])
    return path


def test_decode_json_contract(good: Path) -> None:
    result = runner.invoke(app, ["tap", "decode", str(good), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    (f,) = doc["files"]
    assert f["path"] == str(good)
    assert set(f["header"]) >= HEADER_KEYS
    assert f["header"]["release"] == "3.12"
    assert f["header"]["audit"] == {
        "total_charge": "0.042",
        "total_tax_value": "0.005",
        "total_discount_value": "0.000",
        "call_event_details_count": 2,
        "earliest_call": None,
        "latest_call": None,
    }
    assert [set(e) >= EVENT_KEYS for e in f["events"]] == [True, True]
    call = f["events"][0]
    assert (call["started_at"], call["charge"], call["duration_s"]) == (
        "2026-03-01T12:00:00+01:00",
        "0.040000",
        125,
    )
    assert f["findings"] == []


def test_decode_truncated_file_exits_1_with_findings_not_a_traceback(
    good: Path, broken: Path
) -> None:
    result = runner.invoke(app, ["tap", "decode", str(good), str(broken), "--json"])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    files = json.loads(result.stdout)["files"]
    assert files[0]["findings"] == []
    assert {x["severity"] for x in files[1]["findings"]} >= {"fatal"}
    assert all({"severity", "code", "path", "message"} <= set(x) for x in files[1]["findings"])


def test_decode_writes_events_and_findings(good: Path, broken: Path, tmp_path: Path) -> None:
    out, found = tmp_path / "ev.parquet", tmp_path / "f.csv"
    result = runner.invoke(
        app, ["tap", "decode", str(good), str(broken), "--out", str(out), "--findings", str(found)]
    )
    assert result.exit_code == 1
    events = pl.read_parquet(out)
    assert events.filter(pl.col("file") == str(good)).height == 2
    assert set(pl.read_csv(found).get_column("file")) == {str(broken)}


def test_decode_unwritable_output_exits_3(good: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["tap", "decode", str(good), "--out", str(tmp_path / "no" / "e.csv")]
    )
    assert result.exit_code == 3
    result = runner.invoke(app, ["tap", "decode", str(good), "--out", str(tmp_path / "e.txt")])
    assert result.exit_code == 3


def test_decode_missing_file_is_a_finding(tmp_path: Path) -> None:
    result = runner.invoke(app, ["tap", "decode", str(tmp_path / "none.tap")])
    assert result.exit_code == 1
    assert "TAP_UNREADABLE" in result.output


def test_encode_round_trip_through_the_cli(good: Path, tmp_path: Path) -> None:
    events = tmp_path / "ev.csv"
    assert runner.invoke(app, ["tap", "decode", str(good), "--out", str(events)]).exit_code == 0
    header = tmp_path / "h.yaml"
    header.write_text(
        "sender: ESPTE\nrecipient: DEUD1\nfile_sequence_number: '00043'\n"
        "tap_decimal_places: 3\nexchange_rates: {1: '1.0825'}\n"
    )
    out = tmp_path / "again.tap"
    result = runner.invoke(
        app, ["tap", "encode", str(events), "--header", str(header), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    again = json.loads(runner.invoke(app, ["tap", "decode", str(out), "--json"]).stdout)
    first = json.loads(runner.invoke(app, ["tap", "decode", str(good), "--json"]).stdout)
    assert again["files"][0]["events"] == first["files"][0]["events"]


def test_encode_errors_exit_3(tmp_path: Path) -> None:
    header = tmp_path / "h.yaml"
    header.write_text("sender: ESPTE\n")
    events = tmp_path / "ev.csv"
    events.write_text("kind,imsi\nmobile_originated_call,262\n")
    args = ["tap", "encode", str(events), "--header", str(header), "--out", str(tmp_path / "x.tap")]
    assert runner.invoke(app, args).exit_code == 3
    header.write_text("sender: ESPTE\nrecipient: DEUD1\nfile_sequence_number: 1\n")
    result = runner.invoke(app, args)
    assert result.exit_code == 3
    assert "is missing" in result.output
    bad = tmp_path / "ev.txt"
    bad.write_text("x")
    assert (
        runner.invoke(
            app,
            ["tap", "encode", str(bad), "--header", str(header), "--out", str(tmp_path / "y.tap")],
        ).exit_code
        == 3
    )


def test_check_json_and_html(good: Path, tmp_path: Path) -> None:
    html = tmp_path / "r.html"
    result = runner.invoke(app, ["wholesale", "check", str(good), "--json", "--html", str(html)])
    doc = json.loads(result.stdout)
    # 1.2 MB charged EUR 0.002 against 1.10/GB (0.00132): the average is above the cap
    assert result.exit_code == 1
    assert {f["code"] for f in doc["findings"]} == {"WS_AVERAGE_ABOVE_CAP", "WS_EVENTS_ABOVE_CAP"}
    assert doc["status"] == {"checked": 2}
    data = next(p for p in doc["partners"] if p["service"] == "data")
    assert (data["charge_eur_micros"], data["at_cap_eur_micros"], data["excess_eur_micros"]) == (
        "0.002000",
        "0.001320",
        "0.000680",
    )
    page = html.read_text()
    assert page.startswith("<!DOCTYPE html>")
    assert "<svg" in page
    assert "<script" not in page


def test_check_below_the_cap_exits_0(tmp_path: Path) -> None:
    path = tmp_path / "ok.tap"
    path.write_bytes(batch(moc(charge=39, tax=None), total=39, tax=0))
    result = runner.invoke(app, ["wholesale", "check", str(path)])
    assert result.exit_code == 0, result.output


def test_check_bad_fx_file_exits_3(good: Path, tmp_path: Path) -> None:
    fx = tmp_path / "fx.csv"
    fx.write_text("nope\n")
    assert runner.invoke(app, ["wholesale", "check", str(good), "--fx", str(fx)]).exit_code == 3


def test_settle_writes_tables_and_report(good: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["wholesale", "settle", str(good), "--period", "2026-03", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == [
        "net_positions.csv",
        "net_positions.parquet",
        "settlement.html",
        "settlement_lines.csv",
        "settlement_lines.parquet",
    ]
    net = pl.read_parquet(out / "net_positions.parquet").row(0, named=True)
    assert (net["debtor"], net["creditor"], net["amount_owed_eur_micros"]) == (
        "DEUD1",
        "ESPTE",
        42_000,
    )


@pytest.mark.parametrize("period", ["2026-13", "2026-3", "March"])
def test_settle_bad_period_exits_2(good: Path, period: str) -> None:
    result = runner.invoke(app, ["wholesale", "settle", str(good), "--period", period])
    assert result.exit_code == 2


def test_settle_broken_file_exits_1(broken: Path) -> None:
    assert (
        runner.invoke(app, ["wholesale", "settle", str(broken), "--period", "2026-03"]).exit_code
        == 1
    )


def test_tap_synth_writes_files_that_check_clean(tmp_path: Path) -> None:
    result = runner.invoke(app, ["tap", "synth", "--records", "1500", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    files = sorted(str(p) for p in tmp_path.glob("*.tap"))
    assert files
    assert runner.invoke(app, ["wholesale", "check", *files]).exit_code == 0


def test_tap_synth_errors(tmp_path: Path) -> None:
    missing = ["tap", "synth", "--records", "10", "--out", str(tmp_path / "none")]
    assert runner.invoke(app, missing).exit_code == 3
    bad_start = ["tap", "synth", "--records", "10", "--out", str(tmp_path), "--start", "2026-13-01"]
    assert runner.invoke(app, bad_start).exit_code == 2
