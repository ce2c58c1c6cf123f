"""Tests of roamlike.synth.generator: determinism, schema, plans, FX coverage, realism."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from roamlike.cli.synth_command import fx_csv, plans_yaml
from roamlike.io import CANONICAL_COLUMNS
from roamlike.synth import EVENT_TYPES, SynthResult, generate
from roamlike.tariffs.fx import FxTable
from roamlike.tariffs.schema import load_plans, parse_plan

N = 20_000


@pytest.fixture(scope="module")
def result() -> SynthResult:
    return generate(N, seed=11)


def test_same_seed_same_frame_different_seed_different() -> None:
    a = generate(3_000, seed=5)
    b = generate(3_000, seed=5)
    c = generate(3_000, seed=6)
    assert a.usage.equals(b.usage)
    assert a.plans == b.plans
    assert a.fx_rows == b.fx_rows
    assert not a.usage.equals(c.usage)


def test_schema(result: SynthResult) -> None:
    usage = result.usage
    assert usage.columns == list(CANONICAL_COLUMNS)
    assert usage.height == N
    assert usage.schema["started_at"] == pl.Datetime("us", "UTC")
    assert usage.schema["utc_offset_min"] == pl.Int32
    for name in ("duration_s", "volume_bytes", "count"):
        assert usage.schema[name] == pl.Int64
    assert usage.schema["is_beyond_fair_use"] == pl.Boolean
    assert usage["is_beyond_fair_use"].null_count() == 0
    assert usage["is_beyond_fair_use"].mean() < 0.05


def test_quantities_only_where_they_apply(result: SynthResult) -> None:
    u = result.usage
    voice = u["event_type"].is_in(["voice_mo", "voice_mt"])
    data = u["event_type"] == "data"
    message = u["event_type"].is_in(["sms_mo", "sms_mt", "mms_mo"])
    assert u.filter(voice)["duration_s"].null_count() == 0
    assert u.filter(~voice)["duration_s"].null_count() == u.filter(~voice).height
    assert u.filter(data)["volume_bytes"].null_count() == 0
    assert u.filter(~data)["volume_bytes"].null_count() == u.filter(~data).height
    assert u.filter(message)["count"].min() == 1
    assert u.filter(~message)["count"].null_count() == u.filter(~message).height
    median_call = u.filter(voice)["duration_s"].median()
    assert median_call is not None
    assert 60 <= median_call <= 130


def test_record_ids_unique_and_in_window(result: SynthResult) -> None:
    u = result.usage
    assert u["record_id"].n_unique() == N
    assert u["record_id"][0] == "r0000000001"
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    end = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    assert u["started_at"].min() >= start  # type: ignore[operator]
    assert u["started_at"].max() < end  # type: ignore[operator]
    assert u["started_at"].is_sorted()
    assert set(u["utc_offset_min"].unique()) <= {0, 60, 120, 180}


def test_event_mix_contains_every_type(result: SynthResult) -> None:
    assert set(result.usage["event_type"].unique()) == set(EVENT_TYPES)


def test_trips_give_domestic_and_roaming_rows(result: SynthResult) -> None:
    u = result.usage
    roaming = u.filter(pl.col("home_country") != pl.col("visited_country"))
    assert 0.02 < roaming.height / u.height < 0.5
    pairs = set(roaming.select("home_country", "visited_country").unique().iter_rows())
    wb = {"AL", "BA", "XK", "ME", "MK", "RS"}
    assert any(h in wb and v in wb for h, v in pairs)
    assert any(h in wb and v not in wb for h, v in pairs)
    assert any(h not in wb and v in wb for h, v in pairs)
    assert any(v == "GB" for _, v in pairs)


def test_each_subscriber_has_one_plan_of_its_home(result: SynthResult) -> None:
    u = result.usage
    per_sub = u.group_by("subscriber_id").agg(pl.col("plan_id").n_unique())
    assert per_sub["plan_id"].max() == 1
    homes = {p["id"]: p["home_country"] for p in result.plans}
    pairs = u.select("plan_id", "home_country").unique().iter_rows()
    assert all(homes[plan] == home for plan, home in pairs)


def test_every_plan_parses_and_the_written_file_loads(result: SynthResult, tmp_path: Path) -> None:
    for i, raw in enumerate(result.plans):
        plan = parse_plan(raw, None, i)
        assert plan.roaming_price("GB") is not None
    path = tmp_path / "plans.yaml"
    path.write_text(plans_yaml(result.plans), encoding="utf-8")
    plans = load_plans(path)
    assert len(plans) == len(result.plans)
    counts = pl.Series([p.home_country for p in plans.values()]).value_counts()
    assert counts["count"].min() >= 2
    assert counts["count"].max() <= 4


def test_fx_file_gives_rates_for_every_plan_currency_on_every_day(
    result: SynthResult, tmp_path: Path
) -> None:
    path = tmp_path / "fx.csv"
    path.write_text(fx_csv(result.fx_rows), encoding="utf-8")
    table = FxTable.from_csv(path)
    currencies = {p["currency"] for p in result.plans}
    assert {"RSD", "ALL", "MKD", "BAM", "UAH", "MDL", "PLN", "RON"} <= currencies
    day = dt.date(2026, 1, 1)
    while day < dt.date(2026, 4, 1):
        for currency in currencies:
            assert table.rate(currency, day).units_per_eur > 0
        day += dt.timedelta(days=1)


def test_shipped_fx_table_covers_2017_to_2026() -> None:
    from roamlike.synth import fx_reference_rows

    table = FxTable.from_rows(fx_reference_rows())
    for currency in ("RSD", "ALL", "MKD", "BAM", "UAH", "MDL", "GBP", "PLN", "RON", "HUF",
                     "CZK", "SEK", "DKK", "NOK", "BGN", "HRK", "CHF", "ISK"):  # fmt: skip
        for day in (dt.date(2017, 1, 1), dt.date(2019, 7, 1), dt.date(2026, 12, 31)):
            assert table.rate(currency, day).units_per_eur > 0
    assert abs(table.rate("ALL", dt.date(2019, 7, 1)).units_per_eur - 123) < 2


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError, match="records"):
        generate(-1)
    with pytest.raises(ValueError, match="months"):
        generate(10, months=0)
    assert generate(0).usage.height == 0
