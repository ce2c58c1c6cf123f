"""The audit takes the law as an argument: a plan audited under a scenario's catalog."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from builders import EU_WB_RLAH_SCENARIO, RS_PLAN
from roamlike.audit import audit_plans
from roamlike.law import Catalog, default_catalog
from roamlike.law.scenarios import load_scenario
from roamlike.simulate import scenario_path
from roamlike.tariffs import FxTable, parse_plan


def test_a_serbian_plan_meets_the_eu_rules_once_the_wb6_join(tmp_path: Path) -> None:
    fx_file = tmp_path / "fx.csv"
    fx_file.write_text("date,currency,units_per_eur\n2026-01-01,RSD,117.00\n", "utf-8")
    fx = FxTable.from_csv(fx_file)
    # surcharges beyond fair use declared at EUR 0.02/min (RSD 2.34): above the EU cap 0.019
    plan = parse_plan({**RS_PLAN, "roaming": {"surcharges": {"voice_mo_per_min": "2.34"}}})
    scenario = load_scenario(scenario_path("wb6-join-eu-rlah-2027"), default_catalog())
    on = dt.date(2027, 3, 1)

    def statuses(catalog: Catalog | None) -> dict[str, str]:
        found = audit_plans({"rs": plan}, on, fx, catalog=catalog)
        return {f.check: f.status for f in found}

    baseline = statuses(None)
    what_if = statuses(scenario.catalog)
    # baseline: RS is in the WB area only, the EU surcharge caps do not reach the plan
    assert baseline["surcharge.eu.voice_mo"] == "not_applicable"
    assert baseline["surcharge.wb.voice_mo"] == "pass"  # WB cap EUR 0.032 >= 0.02
    # scenario: the EU roaming area reaches it, and 0.02 is above the EU cap 0.019
    assert what_if["surcharge.eu.voice_mo"] == "fail"


def test_a_new_regime_of_an_existing_kind_is_audited_without_python(tmp_path: Path) -> None:
    """A scenario declares an EU-WB Roam-Like-At-Home regime (kind rlah) with its rules in YAML;
    the audit applies the EU checks to a Serbian plan through it."""
    path = tmp_path / "s.yaml"
    path.write_text(EU_WB_RLAH_SCENARIO, encoding="utf-8")
    scenario = load_scenario(path, default_catalog())
    regime = scenario.catalog.regimes[1]
    assert (regime.id, regime.rules.audit_prefix, regime.rules.billshock) == (
        "eu_wb_rlah",
        "eu",
        True,
    )
    fx_file = tmp_path / "fx.csv"
    fx_file.write_text("date,currency,units_per_eur\n2026-01-01,RSD,117.00\n", "utf-8")
    plan = parse_plan({**RS_PLAN, "roaming": {"surcharges": {"voice_mo_per_min": "2.34"}}})
    found = {
        f.check: f
        for f in audit_plans(
            {"rs": plan}, dt.date(2027, 3, 1), FxTable.from_csv(fx_file), scenario.catalog
        )
    }
    assert found["surcharge.eu.voice_mo"].status == "fail"
    assert found["surcharge.eu.voice_mo"].regime == "eu_wb_rlah"
    # the bill-shock rules reach the plan (it declares no limit: the engine applies EUR 50)
    assert "the engine applies 50 EUR" in found["billshock.default_limit"].message
    assert found["surcharge.wb.voice_mo"].status == "not_applicable"
