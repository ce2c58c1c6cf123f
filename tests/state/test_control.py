"""The permanent-roaming control (Implementing Regulation (EU) 2016/2286, Art. 4): a hand-worked
example rated through the store, then ``rate --apply-control``; on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from builders import rate_into_store, rs_plan
from roamlike.cli import app
from roamlike.state import migrate, open_store
from roamlike.state.batch import rate_with_state
from roamlike.state.control import add_months, run_control
from roamlike.tariffs import FxTable

runner = CliRunner()
RSD = FxTable.from_rows([(dt.date(2025, 12, 31), "RSD", Decimal("117.2"))], "test rate")
MB = 1_000_000
JAN1 = dt.date(2026, 1, 1)


def _day(sub: str, day: dt.date, visited: str, volume: int) -> dict[str, Any]:
    return {
        "record_id": f"{sub}-{day.isoformat()}",
        "subscriber_id": sub,
        "plan_id": "de",
        "event_type": "data",
        "started_at": f"{day.isoformat()}T12:00:00Z",
        "utc_offset_min": 60,
        "home_country": "DE",
        "visited_country": visited,
        "volume_bytes": volume,
    }


def hand_worked_usage() -> list[dict[str, Any]]:
    """120 days, 2026-01-01..2026-04-30, one data record a day.

    ``traveller``: 100 days in FR (500 MB a day = 50 GB), then 20 days at home (100 MB a day,
    2 GB).
    ``commuter``: 50 days in FR (25 GB), then 70 days at home (7 GB): more data abroad, but more
    days at home.
    """
    rows = []
    for i in range(120):
        day = JAN1 + dt.timedelta(days=i)
        rows.append(
            _day("traveller", day, "FR" if i < 100 else "DE", 500 * MB if i < 100 else 100 * MB)
        )
        rows.append(
            _day("commuter", day, "FR" if i < 50 else "DE", 500 * MB if i < 50 else 100 * MB)
        )
    return rows


def _rate(
    store_url: str, rows: list[dict[str, Any]], folder: Path, name: str, control: bool = False
) -> pl.DataFrame:
    usage = folder / f"{name}.csv"
    pl.DataFrame(rows).write_csv(usage)
    out = folder / f"{name}-rated.parquet"
    rate_into_store(store_url, usage, out, control=control)
    return pl.read_parquet(out)


def test_window_is_the_four_calendar_months_ending_on_the_control_date() -> None:
    assert add_months(dt.date(2026, 5, 1), -4) == JAN1  # control on 2026-04-30: 120 days


def test_art4_hand_worked_example_100_of_120_days_abroad_is_flagged_50_is_not(
    store_url: str, tmp_path: Path
) -> None:
    _rate(store_url, hand_worked_usage(), tmp_path, "jan-apr")
    with open_store(store_url) as store, store.transaction() as tx:
        flagged = run_control(tx, dt.date(2026, 4, 30))
    assert [f["subscriber_id"] for f in flagged] == ["traveller"]
    t = flagged[0]
    assert (t["window_start"], t["window_end"], t["window_days"]) == (
        "2026-01-01",
        "2026-04-30",
        120,
    )
    assert (t["days_abroad"], t["days_home"]) == (100, 20)
    assert (t["rlah_data_bytes"], t["home_data_bytes"]) == (50_000 * MB, 2_000 * MB)
    # warning on the control date; surcharges 14 days later (eu.fair_use.grace_days)
    assert (t["warning_date"], t["surcharge_from"]) == ("2026-04-30", "2026-05-14")
    assert {b["parameter"] for b in t["basis"]} == {
        "eu.fair_use.control_window_months",
        "eu.fair_use.grace_days",
    }


def test_apply_control_surcharges_from_the_recorded_date_only(
    store_url: str, tmp_path: Path
) -> None:
    _rate(store_url, hand_worked_usage(), tmp_path, "jan-apr")
    with open_store(store_url) as store, store.transaction() as tx:
        run_control(tx, dt.date(2026, 4, 30))
    may = [
        _day("traveller", dt.date(2026, 5, 13), "FR", 10 * MB),
        _day("traveller", dt.date(2026, 5, 14), "FR", 10 * MB),
        _day("commuter", dt.date(2026, 5, 14), "FR", 10 * MB),
    ]
    rated = _rate(store_url, may, tmp_path, "may", control=True).sort("record_id")
    surcharged = dict(zip(rated["record_id"], rated["surcharge_micros"] > 0, strict=True))
    assert surcharged == {
        "commuter-2026-05-14": False,
        "traveller-2026-05-13": False,
        "traveller-2026-05-14": True,
    }
    assert rated.filter(pl.col("record_id") == "traveller-2026-05-14")["is_beyond_fair_use"].item()


def test_a_second_control_keeps_the_first_warning_dates(tmp_path: Path) -> None:
    url = str(tmp_path / "s.db")
    _rate(url, hand_worked_usage(), tmp_path, "jan-apr")
    with open_store(url) as store, store.transaction() as tx:
        first = run_control(tx, dt.date(2026, 4, 30))
        again = run_control(tx, dt.date(2026, 4, 30))
    assert first[0]["is_new_warning"]
    assert not again[0]["is_new_warning"]
    assert again[0]["surcharge_from"] == "2026-05-14"


def test_a_warned_subscriber_who_comes_home_is_cleared(tmp_path: Path) -> None:
    url = str(tmp_path / "s.db")
    _rate(url, hand_worked_usage(), tmp_path, "jan-apr")
    home = [
        _day("traveller", dt.date(2026, 5, 1) + dt.timedelta(days=i), "DE", MB) for i in range(92)
    ]
    _rate(url, home, tmp_path, "may-jul")
    with open_store(url) as store, store.transaction() as tx:
        assert run_control(tx, dt.date(2026, 4, 30))
        assert run_control(tx, dt.date(2026, 7, 31)) == []
        rows = tx.execute("SELECT subscriber_id, cleared_on FROM state_control")
    assert rows == [("traveller", "2026-07-31")]


def test_a_history_shorter_than_the_window_is_not_flagged(tmp_path: Path) -> None:
    url = str(tmp_path / "s.db")
    rows = [r for r in hand_worked_usage() if r["started_at"] >= "2026-01-02"]
    _rate(url, rows, tmp_path, "short")
    with open_store(url) as store, store.transaction() as tx:
        assert run_control(tx, dt.date(2026, 4, 30)) == []


def test_control_command_json_and_dry_run(tmp_path: Path) -> None:
    url = str(tmp_path / "s.db")
    _rate(url, hand_worked_usage(), tmp_path, "jan-apr")
    dry = runner.invoke(
        app, ["control", "--state", url, "--on", "2026-04-30", "--json", "--dry-run"]
    )
    assert dry.exit_code == 1, dry.output
    doc = json.loads(dry.stdout)
    assert (doc["assessed"], doc["recorded"]) == (2, False)
    assert [f["subscriber_id"] for f in doc["flagged"]] == ["traveller"]
    out = tmp_path / "flagged.csv"
    real = runner.invoke(app, ["control", "--state", url, "--on", "2026-04-30", "--out", str(out)])
    assert real.exit_code == 1, real.output
    table = pl.read_csv(out)
    assert table["subscriber_id"].to_list() == ["traveller"]
    assert table["surcharge_from"].cast(pl.String).to_list() == ["2026-05-14"]
    quiet = runner.invoke(app, ["control", "--state", url, "--on", "2026-02-28"])
    assert quiet.exit_code == 0, quiet.output  # nobody observed for a full window yet


def test_control_command_errors(tmp_path: Path) -> None:
    missing = runner.invoke(
        app, ["control", "--state", str(tmp_path / "no.db"), "--on", "2026-04-30"]
    )
    assert missing.exit_code == 3
    url = str(tmp_path / "s.db")
    assert runner.invoke(app, ["state", "init", "--state", url]).exit_code == 0
    bad = runner.invoke(app, ["control", "--state", url, "--on", "30/04/2026"])
    assert bad.exit_code == 2
    both = runner.invoke(
        app, ["control", "--state", url, "--on", "2026-04-30", "--json", "--out", "x.csv"]
    )
    assert both.exit_code == 2
    outside = runner.invoke(app, ["control", "--state", url, "--on", "2040-01-01"])
    assert outside.exit_code == 3
    assert "no rule in force" in outside.output


@pytest.mark.parametrize("flag", ["--apply-control"])
def test_apply_control_needs_a_store(tmp_path: Path, flag: str) -> None:
    result = runner.invoke(
        app, ["rate", "u.csv", "--plans", "p.yaml", "--out", str(tmp_path / "o.csv"), flag]
    )
    assert result.exit_code == 2
    assert "--state" in result.output


def test_ratel_rule_for_serbia_flags_on_presence_or_consumption(tmp_path: Path) -> None:
    """WB agreement Art. 5 + RATEL: 50 of 120 days in ME but more data there than at home is
    enough for a Serbian subscriber ("or"), with RATEL's 15 days before surcharges."""
    url = str(tmp_path / "s.db")
    rows = []
    for i in range(120):
        day = JAN1 + dt.timedelta(days=i)
        abroad = i < 50
        rows.append(
            {
                **_day("rs1", day, "ME" if abroad else "RS", (500 if abroad else 100) * MB),
                "plan_id": "rs",
                "home_country": "RS",
            }
        )
    usage = tmp_path / "rs.csv"
    pl.DataFrame(rows).write_csv(usage)
    with open_store(url) as store:
        migrate(store)
        rate_with_state(usage, {"rs": rs_plan()}, RSD, tmp_path / "o.parquet", None, None, store)
        with store.transaction() as tx:
            [finding] = run_control(tx, dt.date(2026, 4, 30))
    assert (finding["subscriber_id"], finding["regime"]) == ("rs1", "wb_rra")
    assert (finding["days_abroad"], finding["days_home"]) == (50, 70)
    assert finding["test"] == "presence or consumption"
    assert finding["surcharge_from"] == "2026-05-15"
