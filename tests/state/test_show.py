"""``roamlike state show`` and ``state runs``: what the store holds about a subscriber, the
run ledger."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from roamlike.cli import app
from state.test_control import _rate, hand_worked_usage

runner = CliRunner()


def test_show_gives_presence_over_the_window_and_control_findings(tmp_path: Path) -> None:
    url = str(tmp_path / "s.db")
    _rate(url, hand_worked_usage(), tmp_path, "jan-apr")
    assert runner.invoke(app, ["control", "--state", url, "--on", "2026-04-30"]).exit_code == 1
    result = runner.invoke(app, ["state", "show", "traveller", "--state", url, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["on"] == "2026-04-30"  # the last day seen
    assert doc["history"]["first_day"] == "2026-01-01"
    [presence] = doc["presence"]
    assert (presence["days_abroad"], presence["days_home"]) == (100, 20)
    assert presence["rlah_data_bytes"] == 50_000_000_000
    [warning] = doc["control"]
    assert (warning["warned_on"], warning["surcharge_from"]) == ("2026-04-30", "2026-05-14")
    early = runner.invoke(
        app, ["state", "show", "traveller", "--state", url, "--on", "2026-01-31", "--json"]
    )
    assert json.loads(early.stdout)["presence"][0]["days_abroad"] == 31
    text = runner.invoke(app, ["state", "show", "commuter", "--state", url])
    assert text.exit_code == 0
    assert "days_abroad: 50" in text.output


def test_show_of_an_unknown_subscriber_is_exit_3(tmp_path: Path) -> None:
    url = str(tmp_path / "s.db")
    assert runner.invoke(app, ["state", "init", "--state", url]).exit_code == 0
    result = runner.invoke(app, ["state", "show", "nobody", "--state", url])
    assert result.exit_code == 3
    assert "nothing about subscriber 'nobody'" in result.output


def test_runs_lists_the_ledger(tmp_path: Path) -> None:
    url = str(tmp_path / "s.db")
    _rate(url, hand_worked_usage(), tmp_path, "jan-apr")
    result = runner.invoke(app, ["state", "runs", "--state", url, "--json"])
    assert result.exit_code == 0, result.output
    [run] = json.loads(result.stdout)
    counts = run["counts"]
    assert (counts["read"], counts["rated"], counts["rejected"], counts["late"]) == (240, 240, 0, 0)
    assert run["input"]["name"].endswith("jan-apr.csv")
    assert len(run["input"]["sha256"]) == 64
    table = runner.invoke(app, ["state", "runs", "--state", url])
    assert "1 run(s)" in table.output
