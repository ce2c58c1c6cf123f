"""``roamlike simulate`` end to end: the baseline equals ``roamlike rate``, the built-in WB6
scenario makes a Serbian traveller in Germany pay the domestic price in 2027, the outputs."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from builders import RS_PLAN
from conftest import require
from roamlike.cli import app
from roamlike.law import default_catalog
from roamlike.law.scenarios import Scenario, load_scenario
from roamlike.report.simulate_html import render_simulation_html, write_simulation_html
from roamlike.simulate import scenario_path
from roamlike.simulate.run import SUMMARY_COLUMNS, simulate
from roamlike.synth import generate
from roamlike.tariffs import FxTable, load_plans

runner = CliRunner()
WIDE = {"COLUMNS": "250"}


def _synthetic(tmp_path: Path, records: int = 3000) -> tuple[Path, Path, Path]:
    from roamlike.cli.synth_command import fx_csv, plans_yaml

    result = generate(records, seed=11, start=dt.date(2026, 11, 1), months=4)
    usage = tmp_path / "usage.parquet"
    result.usage.write_parquet(usage)
    plans = tmp_path / "plans.yaml"
    plans.write_text(plans_yaml(result.plans), encoding="utf-8")
    fx = tmp_path / "fx.csv"
    fx.write_text(fx_csv(result.fx_rows), encoding="utf-8")
    return usage, plans, fx


def _wb6() -> Scenario:
    return load_scenario(scenario_path("wb6-join-eu-rlah-2027"), default_catalog())


def test_baseline_run_equals_roamlike_rate_to_the_micro_unit(tmp_path: Path) -> None:
    usage, plans_file, fx_file = _synthetic(tmp_path)
    rated = tmp_path / "rated.parquet"
    result = runner.invoke(
        app,
        ["rate", str(usage), "--plans", str(plans_file), "--fx", str(fx_file), "--out",
         str(rated), "--quiet"],
        env=WIDE,
    )  # fmt: skip
    assert result.exit_code in (0, 1), result.output
    # The baseline leg does not depend on the scenario; with the scenario's own catalog
    # swapped for the baseline's this runs before the engine takes a catalog.
    scenario = dataclasses.replace(_wb6(), catalog=default_catalog())
    out = tmp_path / "sim"
    plans = load_plans(plans_file)
    fx = FxTable.from_csv(fx_file)
    sim = simulate(usage, plans, fx, scenario, out, report=write_simulation_html)
    assert_frame_equal(pl.read_parquet(out / "baseline" / "rated.parquet"), pl.read_parquet(rated))
    base = sim.summary.filter(pl.col("scenario") == "baseline")
    eur = pl.read_parquet(rated).filter(pl.col("currency") == "EUR")
    # euro plans: the summary is the exact sum of the rated charges
    eur_homes = eur.get_column("home_country").unique().to_list()
    assert (
        base.filter(pl.col("home_country").is_in(eur_homes) & (pl.col("home_country") != "XK"))
        .get_column("charge_micros_eur")
        .sum()
        == eur.filter(pl.col("home_country") != "XK").get_column("charge_excl_vat_micros").sum()
    )
    assert base.get_column("records").sum() == sim.runs["baseline"].rated
    with (out / "summary.csv").open(encoding="utf-8") as fh:
        header = next(csv.reader(fh))
    assert tuple(header) == SUMMARY_COLUMNS
    for name in ("summary.parquet", "savings.parquet", "wholesale.parquet", "balance.parquet",
                 "scenario.json", "report.html"):  # fmt: skip
        assert (out / name).is_file(), name


def _traveller_files(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A Serbian traveller (RSD plan, no voice allowance: calls at home RSD 10/min) in Germany,
    on 2026-12-10 and 2027-03-10: a 2-minute call and 100 MB of data each time."""
    plan: dict[str, Any] = {
        **RS_PLAN,
        "voice_allowance_min": "0",
        "roaming": {
            "prices": [
                {"countries": ["*"], "voice_mo_per_min": "60", "voice_mt_per_min": "20",
                 "sms_mo": "20", "sms_mt": "0", "data_per_mb": "6", "mms": "30"}
            ]
        },
    }  # fmt: skip
    plans = tmp_path / "plans.yaml"
    plans.write_text(yaml.safe_dump({"plans": [plan]}), encoding="utf-8")
    fx = tmp_path / "fx.csv"
    fx.write_text("date,currency,units_per_eur\n2026-01-01,RSD,117.00\n", encoding="utf-8")
    usage = tmp_path / "usage.csv"
    lines = ["record_id,subscriber_id,plan_id,event_type,started_at,utc_offset_min,"
             "home_country,visited_country,duration_s,volume_bytes,count"]  # fmt: skip
    for day in ("2026-12-10", "2027-03-10"):
        lines.append(f"v{day},s1,rs,voice_mo,{day}T09:00:00Z,60,RS,DE,120,,")
        lines.append(f"d{day},s1,rs,data,{day}T10:00:00Z,60,RS,DE,,100000000,")
    usage.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return usage, plans, fx


def test_wb6_join_a_serbian_traveller_in_germany_pays_the_domestic_price_in_2027(
    tmp_path: Path,
) -> None:
    usage, plans, fx = _traveller_files(tmp_path)
    out = tmp_path / "sim"
    simulate(usage, load_plans(plans), FxTable.from_csv(fx), _wb6(), out)
    charges: dict[tuple[str, str], int] = {}
    for leg in ("baseline", "wb6-join-eu-rlah-2027"):
        rated = pl.read_parquet(out / leg / "rated.parquet")
        for rid, micros in rated.select("record_id", "charge_excl_vat_micros").iter_rows():
            charges[(leg, rid)] = micros
    # Baseline, both dates, EU-WB offer caps (the plan's roaming prices): the 2-minute call
    # RSD 2 x 60 = 120; 100 MB of data RSD 100 x 6 = 600.
    for day in ("2026-12-10", "2027-03-10"):
        assert charges[("baseline", f"v{day}")] == 120_000_000
        assert charges[("baseline", f"d{day}")] == 600_000_000
    # Scenario: unchanged before 2027-01-01 ...
    assert charges[("wb6-join-eu-rlah-2027", "v2026-12-10")] == 120_000_000
    assert charges[("wb6-join-eu-rlah-2027", "d2026-12-10")] == 600_000_000
    # ... then Roam-Like-At-Home: the call at the domestic price RSD 2 x 10 = 20; the data
    # within the 5 GB bundle (not an open bundle: RSD 200/GB > EUR 1.00 x 117), so free.
    assert charges[("wb6-join-eu-rlah-2027", "v2027-03-10")] == 20_000_000
    assert charges[("wb6-join-eu-rlah-2027", "d2027-03-10")] == 0
    savings = pl.read_parquet(out / "savings.parquet").filter(
        pl.col("month") == dt.date(2027, 3, 1)
    )
    # RSD (120 - 20) + 600 = 700 at 117 RSD/EUR = EUR 5.982906 (rounded half-even per service)
    assert savings.get_column("savings_micros_eur").sum() == 854_701 + 5_128_205
    assert savings.get_column("is_hypothetical").all()


def test_faster_glide_path_lowers_the_wholesale_flows(tmp_path: Path) -> None:
    usage, plans_file, fx_file = _synthetic(tmp_path)
    scenario = load_scenario(scenario_path("eu-faster-glide-path-2027"), default_catalog())
    sim = simulate(
        usage, load_plans(plans_file), FxTable.from_csv(fx_file), scenario, tmp_path / "sim"
    )
    totals = dict(
        sim.wholesale.filter(pl.col("month") >= dt.date(2027, 1, 1))
        .group_by("scenario")
        .agg(pl.col("wholesale_micros_eur").sum())
        .iter_rows()
    )
    assert totals[scenario.name] < totals["baseline"]


def test_cli_simulate_writes_the_outputs_and_says_hypothetical(tmp_path: Path) -> None:
    usage, plans, fx = _traveller_files(tmp_path)
    out = tmp_path / "sim"
    result = runner.invoke(
        app,
        ["simulate", "--scenario", "wb6-join-eu-rlah-2027", "--usage", str(usage), "--plans",
         str(plans), "--fx", str(fx), "--out", str(out)],
        env=WIDE,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "(hypothetical)" in result.output
    # RSD 700 at 117 RSD/EUR, rounded per service and month (see the traveller test)
    assert "travellers' savings (retail charges excl. VAT, baseline - scenario): EUR 5.982906" in (
        result.output
    )
    summary = pl.read_csv(out / "summary.csv", infer_schema=False)
    march = summary.filter(
        (pl.col("month") == "2027-03") & (pl.col("scenario") == "wb6-join-eu-rlah-2027")
    )
    assert march.get_column("is_hypothetical").to_list() == ["true", "true"]
    assert sorted(march.get_column("charge_excl_vat_eur").to_list()) == ["0.000000", "0.170940"]
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "<svg" in html
    assert "RS→DE" in html


def test_unknown_scenario_name_exits_3_and_lists_the_built_in_ones(tmp_path: Path) -> None:
    usage, plans, _ = _traveller_files(tmp_path)
    result = runner.invoke(
        app,
        ["simulate", "--scenario", "wb7", "--usage", str(usage), "--plans", str(plans),
         "--out", str(tmp_path / "sim")],
        env=WIDE,
    )  # fmt: skip
    assert result.exit_code == 3
    assert "wb6-join-eu-rlah-2027" in result.output
    assert "Traceback" not in result.output


def test_report_is_self_contained_and_says_hypothetical(tmp_path: Path) -> None:
    usage, plans_file, fx_file = _synthetic(tmp_path, records=800)
    scenario = dataclasses.replace(_wb6(), catalog=default_catalog())
    sim = simulate(
        usage, load_plans(plans_file), FxTable.from_csv(fx_file), scenario, tmp_path / "sim"
    )
    html = render_simulation_html(sim)
    assert html == render_simulation_html(sim)  # deterministic
    assert "<strong>Hypothetical.</strong>" in html
    assert "wb6-join-eu-rlah-2027" in html
    assert "eu_wb6_rlah_mandates_2026" in html
    for needle in ("<script", " src=", "href=", "@import", "url("):
        assert needle not in html


@pytest.mark.browser
def test_report_renders_in_chromium(tmp_path: Path) -> None:
    require("chromium")
    import subprocess

    usage, plans_file, fx_file = _synthetic(tmp_path, records=800)
    scenario = dataclasses.replace(_wb6(), catalog=default_catalog())
    out = tmp_path / "sim"
    simulate(
        usage,
        load_plans(plans_file),
        FxTable.from_csv(fx_file),
        scenario,
        out,
        report=write_simulation_html,
    )
    shot = tmp_path / "report.png"
    done = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1200,1600",
         f"--screenshot={shot}", (out / "report.html").as_uri()],
        capture_output=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-500:]
    assert shot.stat().st_size > 10_000
