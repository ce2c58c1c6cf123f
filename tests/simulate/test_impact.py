"""Impact tables (``roamlike.simulate.impact``): retail sums in euro and wholesale flows valued at
the caps in force, worked by hand."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from builders import make_plan, rs_plan
from roamlike.errors import FxError
from roamlike.law import default_catalog
from roamlike.law.scenarios import load_scenario
from roamlike.simulate import scenario_path
from roamlike.simulate.caps import rules_table
from roamlike.simulate.impact import impact_tables
from roamlike.simulate.run import balance_table, savings_table
from roamlike.tariffs import FxTable

RSD_PER_EUR = "117.00"


def _fx(tmp_path: Path) -> FxTable:
    path = tmp_path / "fx.csv"
    path.write_text(f"date,currency,units_per_eur\n2026-01-01,RSD,{RSD_PER_EUR}\n", "utf-8")
    return FxTable.from_csv(path)


def _rated(day: dt.date, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "home_country": "RS",
        "visited_country": "ME",
        "event_type": "voice_mo",
        "local_date": day,
        "plan_id": "rs",
        "currency": "RSD",
        "billed_unit": "s",
        "billed_units": 120,
        "charge_excl_vat_micros": 0,
        "surcharge_micros": 0,
        "is_blocked_by_cutoff": False,
        "duration_s": 120,
        "volume_bytes": None,
    }
    row.update(over)
    return row


def _frame(rows: list[dict[str, Any]]) -> pl.LazyFrame:
    return pl.DataFrame(
        rows,
        schema={
            "home_country": pl.String(),
            "visited_country": pl.String(),
            "event_type": pl.String(),
            "local_date": pl.Date(),
            "plan_id": pl.String(),
            "currency": pl.String(),
            "billed_unit": pl.String(),
            "billed_units": pl.Int64(),
            "charge_excl_vat_micros": pl.Int64(),
            "surcharge_micros": pl.Int64(),
            "is_blocked_by_cutoff": pl.Boolean(),
            "duration_s": pl.Int64(),
            "volume_bytes": pl.Int64(),
        },
        orient="row",
    ).lazy()


def _traveller(day: dt.date, visited: str = "ME") -> list[dict[str, Any]]:
    """A Serbian traveller: a 2-minute call, one SMS, 1 GB of data; a cut-off call."""
    return [
        _rated(day, visited_country=visited, charge_excl_vat_micros=117_000_000),
        _rated(
            day,
            visited_country=visited,
            event_type="sms_mo",
            billed_unit="msg",
            billed_units=1,
            duration_s=None,
        ),
        _rated(
            day,
            visited_country=visited,
            event_type="data",
            billed_unit="kB",
            billed_units=1_000_000,
            duration_s=None,
            volume_bytes=10**9,
            surcharge_micros=2_340_000,
        ),
        _rated(
            day, visited_country=visited, is_blocked_by_cutoff=True, duration_s=600, billed_units=0
        ),
    ]


def test_wholesale_at_the_wb_caps_in_the_baseline(tmp_path: Path) -> None:
    plans = {"rs": rs_plan(operator="RS Mobile")}
    day = dt.date(2026, 3, 10)
    summary, wholesale = impact_tables(
        _frame(_traveller(day)), plans, _fx(tmp_path), default_catalog(), "baseline"
    )
    rows = {r["service"]: r for r in wholesale.iter_rows(named=True)}
    # WB caps 2026: EUR 0.032/min, 0.01/SMS, 0.0025/MB = 2.5/GB; the cut-off call carries nothing
    assert rows["voice_mo"]["wholesale_volume"] == 120
    assert rows["voice_mo"]["wholesale_micros_eur"] == 64_000  # 2 min x 0.032
    assert rows["sms_mo"]["wholesale_micros_eur"] == 10_000
    assert rows["data"]["wholesale_micros_eur"] == 2_500_000
    assert rows["data"]["caps_eur"] == "2.5"
    assert {r["home_operator"] for r in rows.values()} == {"RS Mobile"}
    voice = summary.filter(pl.col("service") == "voice_mo").row(0, named=True)
    # RSD 117 at 117 RSD/EUR = EUR 1; two records, 120 billed seconds
    assert (voice["records"], voice["units"], voice["charge_micros_eur"]) == (2, 120, 1_000_000)
    assert voice["month"] == dt.date(2026, 3, 1)
    assert voice["regimes"] == "wb_rra"
    data = summary.filter(pl.col("service") == "data").row(0, named=True)
    assert data["surcharge_micros_eur"] == 20_000  # RSD 2.34 / 117
    assert not summary.get_column("is_hypothetical").any()


def test_wholesale_at_the_eu_caps_once_the_wb6_join(tmp_path: Path) -> None:
    scenario = load_scenario(scenario_path("wb6-join-eu-rlah-2027"), default_catalog())
    plans = {"rs": rs_plan()}
    day = dt.date(2027, 3, 10)
    summary, wholesale = impact_tables(
        _frame(_traveller(day, "DE")), plans, _fx(tmp_path), scenario.catalog, scenario.name
    )
    rows = {r["service"]: r for r in wholesale.iter_rows(named=True)}
    # EU caps 2027: EUR 0.019/min, 0.003/SMS, 1.00/GB
    assert rows["voice_mo"]["wholesale_micros_eur"] == 38_000
    assert rows["sms_mo"]["wholesale_micros_eur"] == 3_000
    assert rows["data"]["wholesale_micros_eur"] == 1_000_000
    assert wholesale.get_column("is_hypothetical").all()
    assert summary.get_column("regimes").unique().to_list() == ["eu_rlah"]
    assert summary.get_column("scenario").unique().to_list() == [scenario.name]


def test_euro_plans_need_no_rate_and_other_currencies_do(tmp_path: Path) -> None:
    rows = [_rated(dt.date(2026, 3, 10), home_country="DE", visited_country="FR", plan_id="de")]
    rows[0]["currency"] = "EUR"
    rows[0]["charge_excl_vat_micros"] = 123_456
    summary, wholesale = impact_tables(
        _frame(rows), {"de": make_plan()}, FxTable(), default_catalog(), "baseline"
    )
    assert summary.get_column("charge_micros_eur").to_list() == [123_456]
    assert wholesale.get_column("wholesale_micros_eur").to_list() == [38_000]  # 0.019 x 2
    with pytest.raises(FxError, match="RSD"):
        impact_tables(
            _frame(_traveller(dt.date(2026, 3, 10))),
            {"rs": rs_plan()},
            FxTable(),
            default_catalog(),
            "baseline",
        )


def test_savings_and_balance() -> None:
    keys = {"visited_country": "ME", "service": "data", "month": dt.date(2027, 3, 1)}
    summary = pl.DataFrame(
        [
            {"scenario": "baseline", "home_country": "RS", **keys, "records": 1,
             "charge_micros_eur": 5_000_000, "surcharge_micros_eur": 0,
             "wholesale_micros_eur": 2_500_000, "is_hypothetical": False},
            {"scenario": "s", "home_country": "RS", **keys, "records": 1,
             "charge_micros_eur": 0, "surcharge_micros_eur": 0,
             "wholesale_micros_eur": 1_000_000, "is_hypothetical": True},
            {"scenario": "s", "home_country": "DE", **keys, "records": 2,
             "charge_micros_eur": 7, "surcharge_micros_eur": 0,
             "wholesale_micros_eur": None, "is_hypothetical": False},
        ]
    )  # fmt: skip
    savings = savings_table(summary, "s")
    by_home = {r["home_country"]: r for r in savings.iter_rows(named=True)}
    assert by_home["RS"]["savings_micros_eur"] == 5_000_000
    assert by_home["RS"]["is_hypothetical"] is True
    assert by_home["DE"]["savings_micros_eur"] == -7  # only in the scenario: baseline 0
    wholesale = pl.DataFrame(
        {
            "scenario": ["s", "s"],
            "home_country": ["RS", "ME"],
            "visited_country": ["ME", "RS"],
            "wholesale_micros_eur": [1_000_000, 400_000],
        }
    )
    balance = {r["country"]: r for r in balance_table(wholesale).iter_rows(named=True)}
    assert balance["ME"]["net_micros_eur"] == 600_000
    assert balance["RS"]["net_micros_eur"] == -600_000
    assert balance["RS"]["inbound_micros_eur"] == 400_000


def test_rules_table_segments_follow_the_catalog() -> None:
    pairs = pl.DataFrame(
        {
            "home_country": ["RS"],
            "visited_country": ["DE"],
            "lo": [dt.date(2025, 12, 1)],
            "hi": [dt.date(2027, 2, 1)],
        }
    )
    scenario = load_scenario(scenario_path("wb6-join-eu-rlah-2027"), default_catalog())
    table = rules_table(pairs, scenario.catalog)
    last = table.row(-1, named=True)
    assert (last["valid_from"], last["regime"], last["is_hypothetical"]) == (
        dt.date(2027, 1, 1),
        "eu_rlah",
        True,
    )
    assert Decimal(last["wholesale_data"]) == Decimal("1.00")
    assert table.row(0, named=True)["regime"] == "eu_wb_offer_caps"
    assert table.row(0, named=True)["wholesale_data"] is None
