"""``roamlike state show`` and ``state runs``: what the store holds about a subscriber, the
run ledger."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import polars as pl
import yaml
from typer.testing import CliRunner

from builders import DE_PLAN, make_plan, rs_plan
from roamlike.cli import app
from roamlike.counters import PERIOD_SCHEMA, SUBSCRIBER_SCHEMA, Counters
from roamlike.state import migrate, open_store
from roamlike.state.counters import save_counters
from roamlike.state.show import subscriber_state
from roamlike.tariffs import FxTable
from state.test_control import _rate, hand_worked_usage

runner = CliRunner()
GB = 1_000_000_000


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


def test_show_counters_per_period_with_the_plans(tmp_path: Path) -> None:
    """April of the hand-worked traveller: 10 days in FR at 500 MB (5 GB, rlah: the fair-use
    counter) and 20 at home at 100 MB (2 GB); the 10 GB plan has 3 GB left."""
    url = str(tmp_path / "s.db")
    _rate(url, hand_worked_usage(), tmp_path, "jan-apr")
    plans = tmp_path / "plans.yaml"
    plans.write_text(yaml.safe_dump({"plans": [DE_PLAN]}))
    result = runner.invoke(
        app, ["state", "show", "traveller", "--state", url, "--plans", str(plans), "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [p["period_start"] for p in doc["periods"]] == [
        "2026-04-01",
        "2026-03-01",
        "2026-02-01",
        "2026-01-01",
    ]
    april = doc["periods"][0]
    assert (april["data_used_bytes"], april["fup_used_bytes"]) == (7 * GB, 5 * GB)
    assert (april["data_allowance_bytes"], april["data_remaining_bytes"]) == (10 * GB, 3 * GB)
    assert april["voice_remaining_s"] is None  # unlimited
    assert april["fup_remaining_bytes"] == april["fup_allowance_bytes"] - 5 * GB
    assert not april["has_fup_exhausted"]
    assert doc["last_event"] == {
        "visited_country": "DE",
        "started_at": "2026-04-30T12:00:00+00:00",
        "record_id": "traveller-2026-04-30",
    }
    march = runner.invoke(
        app, ["state", "show", "traveller", "--state", url, "--on", "2026-03-15", "--json"]
    )
    assert json.loads(march.stdout)["periods"][0]["period_start"] == "2026-03-01"


def test_art14_show_gives_the_billshock_limit_that_applies_by_default(tmp_path: Path) -> None:
    """Regulation (EU) 2022/612 Art. 14(4): without a limit of its own a subscriber of an EU
    provider has the default EUR 50, in the plan currency at the rate of the day
    (docs/law/exchange-rates.md; PLN 4.25 per EUR: PLN 212.50); a plan's own limit replaces it;
    a Serbian plan has none (no bill-shock rule binds its provider)."""
    on = dt.date(2026, 3, 10)
    plans = {
        "de": make_plan(),
        "de-own": make_plan(id="de-own", billshock_limit_eur="20"),
        "pl": make_plan(id="pl", home_country="PL", currency="PLN", price="80"),
        "rs": rs_plan(),
    }
    spend = {"de": 12_500_000, "de-own": 25_000_000, "pl": 10_000_000, "rs": 0}
    counters = Counters(
        periods=pl.DataFrame(
            [
                (f"s-{p}", p, dt.date(2026, 3, 1), 0, 0, 0, 0, spend[p], False, False, False, False)
                for p in plans
            ],
            schema=PERIOD_SCHEMA,
            orient="row",
        ),
        subscribers=pl.DataFrame(schema=SUBSCRIBER_SCHEMA),
    )
    fx = FxTable.from_rows(
        [(dt.date(2025, m, 15), "PLN", Decimal("4.25")) for m in (1, 2, 3)]  # their mean
    )
    with open_store(tmp_path / "s.db") as store:
        migrate(store)
        with store.transaction() as tx:
            save_counters(tx, counters)
            docs = {p: subscriber_state(tx, f"s-{p}", on, plans=plans, fx=fx) for p in plans}
            no_rate = subscriber_state(tx, "s-pl", on, plans=plans)
    limits = {}
    for p, doc in docs.items():
        assert doc is not None
        [period] = doc["periods"]
        limits[p] = (
            period["billshock_limit_micros"],
            period["billshock_limit_source"],
            period["billshock_remaining_micros"],
        )
    assert limits == {
        "de": (50_000_000, "default", 37_500_000),
        "de-own": (20_000_000, "plan", 0),
        "pl": (212_500_000, "default", 202_500_000),
        "rs": (None, None, None),
    }
    assert docs["de"] is not None
    assert docs["de"]["periods"][0]["billshock_limit_basis"].startswith("eu_2022_612 Art. 14(4)")
    assert no_rate is not None
    assert no_rate["periods"][0]["billshock_limit_micros"] is None  # no PLN rate: not guessed
    assert "fup_allowance_bytes" not in no_rate["periods"][0]
