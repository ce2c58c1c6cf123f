"""A new regime of an existing kind needs no Python change: a scenario declares one in YAML, and
the engine and the reference rater rate through it alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from builders import EU_WB_RLAH_SCENARIO, RS_PLAN
from comparison import differences, text_frame
from roamlike.law import default_catalog
from roamlike.law.scenarios import load_scenario
from roamlike.rating import rate_usage
from roamlike.reference import rate_records
from roamlike.tariffs import FxTable, parse_plan


def _row(rid: str, day: str, **over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "record_id": rid,
        "subscriber_id": "s1",
        "plan_id": "rs",
        "event_type": "voice_mo",
        "started_at": f"{day}T09:00:00Z",
        "utc_offset_min": 60,
        "home_country": "RS",
        "visited_country": "DE",
        "duration_s": 10,
    }
    row.update(over)
    return row


def test_engine_and_reference_rate_a_new_rlah_regime_alike(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(EU_WB_RLAH_SCENARIO, encoding="utf-8")
    catalog = load_scenario(path, default_catalog()).catalog
    fx_file = tmp_path / "fx.csv"
    fx_file.write_text("date,currency,units_per_eur\n2026-01-01,RSD,117.00\n", "utf-8")
    fx = FxTable.from_csv(fx_file)
    plan = parse_plan(
        {
            **RS_PLAN,
            "voice_allowance_min": "0",
            "charging": {"voice_mo_initial_s": 60},
            "roaming": {"prices": [{"countries": ["*"], "voice_mo_per_min": "60", "sms_mo": "20",
                                    "data_per_mb": "6", "voice_mt_per_min": "20"}]},
        }
    )  # fmt: skip
    rows = [
        _row("before", "2026-12-10"),
        _row("after", "2027-03-10"),
        _row("data", "2027-03-10", event_type="data", duration_s=None, volume_bytes=10**6),
    ]
    expected = rate_records(rows, {"rs": plan}, fx, catalog=catalog)
    got = rate_usage(text_frame(rows), {"rs": plan}, fx, catalog=catalog)
    assert differences(expected, got) == []
    rated = {r["record_id"]: r for r in got.rated.iter_rows(named=True)}
    # before: the EU-WB offer caps, the plan's price list and its own 60 s initial period
    assert rated["before"]["regime"] == "eu_wb_offer_caps"
    assert rated["before"]["billed_units"] == 60
    assert rated["before"]["charge_excl_vat_micros"] == 60_000_000  # 1 min x RSD 60
    # after: the new regime, RLAH at the domestic price (RSD 10/min), the declared legal
    # maximum initial period (30 s) instead of the plan's 60 s
    assert (rated["after"]["regime"], rated["after"]["rule_kind"]) == ("eu_wb_rlah", "rlah")
    assert rated["after"]["billed_units"] == 30
    assert rated["after"]["charge_excl_vat_micros"] == 5_000_000  # 0.5 min x RSD 10
    assert "eu.retail.billing.voice_mo_initial_max_s" in rated["after"]["parameters"]
    assert rated["data"]["charge_excl_vat_micros"] == 0  # within the 5 GB bundle
