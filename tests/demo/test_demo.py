"""Tests of the demo: scenario, re-dating, summary figures computed by hand, and the report."""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import polars as pl
import pytest

from roamlike.demo import HEADLINE_GROUP, KEY_DATES, headline, run_demo, summarise
from roamlike.demo.scenario import (
    build_scenario,
    demo_plans,
    generate_traffic,
    redate,
    scenario_usage,
)
from roamlike.rating import rate_usage

BEFORE, PHASE1 = dt.date(2019, 6, 30), dt.date(2019, 7, 1)
ALL_BEFORE, ALL_PHASE1 = Decimal("123.38"), Decimal("123.00")  # fx_reference.csv rows


def _micros(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN)


def _record(rid: str, event: str, qty: int) -> dict[str, object]:
    return {
        "record_id": rid,
        "subscriber_id": "hand",
        "plan_id": "al-akep-max",
        "event_type": event,
        "started_at": dt.datetime(2025, 7, 15, 10, 0, tzinfo=dt.UTC),
        "utc_offset_min": 120,
        "home_country": "AL",
        "visited_country": "ME",
        "destination_country": "AL" if event == "voice_mo" else None,
        "duration_s": qty if event == "voice_mo" else None,
        "volume_bytes": qty if event == "data" else None,
        "count": None,
        "is_beyond_fair_use": False,
        "route_group": "WB -> WB",
    }


@pytest.fixture(scope="module")
def hand_rated() -> pl.DataFrame:
    """A 10-minute AL->ME call and 1 MB of data, rated on 2019-06-30 and 2019-07-01."""
    scenario = build_scenario(0)
    base = pl.DataFrame(
        [_record("call", "voice_mo", 600), _record("mb", "data", 1_000_000)],
        schema_overrides={
            "started_at": pl.Datetime("us", "UTC"),
            "utc_offset_min": pl.Int32,
            "destination_country": pl.String,
            "duration_s": pl.Int64,
            "volume_bytes": pl.Int64,
            "count": pl.Int64,
        },
    )
    result = rate_usage(scenario_usage(base, (BEFORE, PHASE1)), scenario.plans, scenario.fx)
    assert result.rejects.height == 0
    return result.rated


def test_plan_carries_the_akep_pre_agreement_maxima() -> None:
    plan = next(p for p in demo_plans() if p["id"] == "al-akep-max")
    wb = plan["roaming"]["prices"][0]
    assert plan["currency"] == "ALL"
    assert plan["price_includes_vat"] is True
    assert "ME" in wb["countries"]
    assert "AL" not in wb["countries"]
    assert (wb["voice_mo_per_min"], wb["data_per_mb"], wb["sms_mo"]) == ("215", "365", "65")
    assert "commsupdate_2019" in plan["notes"]
    assert "maxima" in plan["notes"]


def test_hand_call_before_the_agreement(hand_rated: pl.DataFrame) -> None:
    # ALL 215/min incl. 20 % VAT -> 215 / 1.2 = 179.166666667 ALL/min (rate rounded to 1e-9)
    row = hand_rated.filter(pl.col("record_id") == "call@2019-06-30").row(0, named=True)
    assert row["regime"] == "unregulated"
    excl = _micros(Decimal(600) * Decimal("179.166666667") / 60)
    assert excl == Decimal("1791.666667")
    assert Decimal(row["charge_excl_vat_micros"]) / 10**6 == excl
    assert Decimal(row["charge_incl_vat_micros"]) / 10**6 == Decimal("2150")  # 10 x ALL 215


def test_hand_summary_figures(hand_rated: pl.DataFrame) -> None:
    scenario = build_scenario(0)
    rows = {(r.route_group, r.on): r for r in summarise(hand_rated, scenario.fx)}
    before, after = rows[(HEADLINE_GROUP, BEFORE)], rows[(HEADLINE_GROUP, PHASE1)]
    # before: ALL 1791.666667 excl. / ALL 2150 incl. for 10 min, at ALL 123.38 per EUR
    assert before.call_min == 10
    assert before.call_eur_per_min_excl == Decimal("1791.666667") / ALL_BEFORE / 10
    assert before.call_eur_per_min_incl == Decimal("2150") / ALL_BEFORE / 10
    # data: 1 MB at 365 / 1.2 = 304.166666667 ALL/MB -> ALL 304.166667 excl., VAT 60.833333
    assert before.data_mb == 1
    assert before.data_eur_per_mb_excl == Decimal("304.166667") / ALL_BEFORE
    assert before.data_eur_per_mb_incl == Decimal("365.000000") / ALL_BEFORE
    # phase 1: the plan price is clipped at the caps, EUR 0.19/min and EUR 0.18/MB excl. VAT,
    # converted at ALL 123.00 (0.19 x 123 = ALL 23.37/min, 0.18 x 123 = ALL 22.14/MB)
    assert after.call_eur_per_min_excl == Decimal("233.70") / ALL_PHASE1 / 10 == Decimal("0.19")
    assert after.call_eur_per_min_incl == Decimal("0.228")
    assert after.data_eur_per_mb_excl == Decimal("0.18")
    assert after.data_eur_per_mb_incl == Decimal("0.216")
    assert after.calls_times_cheaper == (Decimal("2150") / ALL_BEFORE / 10) / Decimal("0.228")
    assert after.data_times_cheaper == (Decimal(365) / ALL_BEFORE) / Decimal("0.216")
    head = headline(hand_rated, scenario.fx)
    assert head.max_plan == "al-akep-max"
    assert head.max_call_ratio == after.calls_times_cheaper
    assert head.max_call_ratio is not None
    assert str(head.max_call_ratio.quantize(Decimal("0.01"))) == "7.64"
    assert str(head.max_before.data_eur_per_mb_incl.quantize(Decimal("0.01"))) == "2.96"  # type: ignore[union-attr]


def _local(df: pl.DataFrame) -> pl.Series:
    return df.select(
        (
            pl.col("started_at").dt.replace_time_zone(None)
            + pl.duration(minutes=pl.col("utc_offset_min"))
        ).alias("local")
    )["local"]


def test_redate_keeps_local_time_and_moves_the_local_date() -> None:
    traffic = generate_traffic(500, seed=3)
    on = dt.date(2020, 1, 1)
    moved = redate(traffic, on)
    before, after = _local(traffic), _local(moved)
    assert (after.dt.date() == on).all()
    assert (after.dt.time() == before.dt.time()).all()
    assert moved["record_id"].str.ends_with("@2020-01-01").all()
    assert moved["subscriber_id"].n_unique() == traffic["subscriber_id"].n_unique()


def test_traffic_is_deterministic_and_covers_every_route_group() -> None:
    a, b = generate_traffic(3000, seed=5), generate_traffic(3000, seed=5)
    assert a.equals(b)
    assert set(a["route_group"].unique()) == {
        "WB -> WB", "WB -> EU", "EU -> WB", "UA/MD -> WB", "UA/MD -> EU"
    }  # fmt: skip
    assert (a["home_country"] != a["visited_country"]).all()


@pytest.fixture(scope="module")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("demo")
    return out, run_demo(out, records=3000, seed=2019)


def test_run_writes_the_three_files_with_every_key_date(small_run: tuple[Path, object]) -> None:
    out, _ = small_run
    assert sorted(p.name for p in out.iterdir()) == ["rated.parquet", "report.html", "summary.csv"]
    rated = pl.read_parquet(out / "rated.parquet")
    assert rated.height == 3000 * len(KEY_DATES)
    assert sorted(rated["scenario_date"].unique().to_list()) == [k.on for k in KEY_DATES]
    assert (rated["local_date"] == rated["scenario_date"]).all()


def test_run_summary_matches_hand_computation(small_run: tuple[Path, object]) -> None:
    out, _ = small_run
    summary = pl.read_csv(out / "summary.csv", infer_schema=False)
    rated = pl.read_parquet(out / "rated.parquet")
    al = rated.filter(
        (pl.col("home_country") == "AL")
        & (pl.col("route_group") == "WB -> WB")
        & (pl.col("event_type") == "voice_mo")
    )
    # on 2019-07-01 every Albanian plan is above the cap: exactly EUR 0.19 / 0.228 per minute
    row = summary.filter(
        (pl.col("route_group") == HEADLINE_GROUP) & (pl.col("scenario_date") == "2019-07-01")
    ).row(0, named=True)
    assert row["calls_eur_per_min_excl_vat"] == "0.190000"
    assert row["calls_eur_per_min_incl_vat"] == "0.228000"
    assert row["data_eur_per_mb_excl_vat"] == "0.180000"
    assert row["data_eur_per_mb_incl_vat"] == "0.216000"
    # on 2019-06-30: every call at the plan's own price, rounded per record, by hand in Decimal
    rates = {"al-akep-max": Decimal(215), "al-standard": Decimal(120)}  # incl. 20 % VAT
    excl_sum, seconds = Decimal(0), 0
    for plan_id, billed in (
        al.filter(pl.col("scenario_date") == BEFORE).select("plan_id", "billed_units").iter_rows()
    ):
        per_min = (rates[plan_id] / Decimal("1.2")).quantize(
            Decimal("1e-9"), rounding=ROUND_HALF_EVEN
        )
        excl_sum += _micros(Decimal(billed) * per_min / 60)
        seconds += billed
    expected = excl_sum / ALL_BEFORE / (Decimal(seconds) / 60)
    row = summary.filter(
        (pl.col("route_group") == HEADLINE_GROUP) & (pl.col("scenario_date") == "2019-06-30")
    ).row(0, named=True)
    assert row["calls_eur_per_min_excl_vat"] == str(_micros(expected))


def test_report_is_self_contained_with_charts_sources_and_grades(
    small_run: tuple[Path, object],
) -> None:
    out, _ = small_run
    html = (out / "report.html").read_text(encoding="utf-8")
    assert html.count("<svg") >= 4
    needles: tuple[str, ...] = ("commsupdate_2019", "AKEP", "Why they differ", "secondary")
    needles += ("legal", "inference", "We found neither figure")
    needles += ("123.38", "ratel_2019_decision", "eu_2022_612", "illustrative", "rated.parquet")
    for needle in needles:
        assert needle in html, needle
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert "<script" not in html
    assert "<link" not in html
    assert "url(" not in html
    assert "@import" not in html


def test_run_is_deterministic(tmp_path: Path, small_run: tuple[Path, object]) -> None:
    out, _ = small_run
    run_demo(tmp_path, records=3000, seed=2019)
    for name in ("rated.parquet", "report.html", "summary.csv"):
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes(), name
