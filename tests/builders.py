"""Builders shared by the engine and reference-rater tests: the same plans and records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from roamlike.state import migrate, open_store
from roamlike.state.batch import rate_with_state
from roamlike.tariffs import FxTable, Plan, parse_plan

DE_PLAN: dict[str, Any] = {
    "id": "de",
    "home_country": "DE",
    "currency": "EUR",
    "price": "20.00",
    "price_includes_vat": True,
    "billing_period": "month",
    "data_allowance_gb": "10",
    "voice_allowance_min": "unlimited",
    "sms_allowance": "unlimited",
    "out_of_bundle": {"voice_per_min": "0.10", "sms": "0.10", "data_per_mb": "0.01"},
}
RS_PLAN: dict[str, Any] = {
    "id": "rs",
    "home_country": "RS",
    "currency": "RSD",
    "price": "1000",
    "price_includes_vat": False,
    "billing_period": "month",
    "data_allowance_gb": "5",
    "voice_allowance_min": "unlimited",
    "sms_allowance": "unlimited",
    "out_of_bundle": {"voice_per_min": "10", "sms": "5", "data_per_mb": "1"},
}


def make_plan(**overrides: Any) -> Plan:
    """A DE plan at EUR 20.00 incl. VAT, 10 GB, unlimited minutes and SMS, unless overridden."""
    return parse_plan({**DE_PLAN, **overrides})


def rs_plan(**overrides: Any) -> Plan:
    """A Serbian plan in RSD, prices excl. VAT, no roaming prices."""
    return parse_plan({**RS_PLAN, **overrides})


def rate_args(files: dict[str, Path], store: str, folder: Path) -> list[str]:
    """``roamlike rate`` of ``files["usage"]`` with ``files["plans"]`` into ``folder`` (rated
    rows, rejects, notifications) with ``--state STORE``, quiet."""
    return [
        "rate",
        str(files["usage"]),
        "--plans",
        str(files["plans"]),
        "--out",
        str(folder / "rated.parquet"),
        "--rejects",
        str(folder / "rejects.csv"),
        "--notifications",
        str(folder / "notes.csv"),
        "--state",
        store,
        "--quiet",
    ]


def rec(record_id: str, **overrides: Any) -> dict[str, Any]:
    """A data record of subscriber s1 on plan ``de`` in AT on 2026-03-10, unless overridden."""
    row: dict[str, Any] = {
        "record_id": record_id,
        "subscriber_id": "s1",
        "plan_id": "de",
        "event_type": "data",
        "started_at": "2026-03-10T10:00:00Z",
        "utc_offset_min": 60,
        "home_country": "DE",
        "visited_country": "AT",
        "volume_bytes": 1_000_000,
    }
    row.update(overrides)
    return row


#: A scenario declaring a new regime of an existing kind (rlah) between the EU27 and the WB6 from
#: 2027-01-01, with its rules in YAML only (no Python change).
EU_WB_RLAH_SCENARIO = """\
scenario: {name: eu-wb-rlah, title: "an EU-WB Roam-Like-At-Home regime"}
changes:
  - regime:
      id: eu_wb_rlah
      title: "assumed EU-WB Roam-Like-At-Home"
      precedence: 15
      areas: [{match: cross_zones, zones: [eu27, wb6]}]
      bound_zone: wb6
      rules:
        fair_use_cap: eu.wholesale.data_eur_per_gb
        fair_use_grade: inference
        voice_mo_initial_max: eu.retail.billing.voice_mo_initial_max_s
        data_unit: eu.retail.billing.data_unit_kb
        billshock: true
        audit_prefix: eu
        audit_name: "assumed EU-WB roaming area"
      phases:
        - from: 2027-01-01
          kind: rlah
          caps:
            - service: voice_mo
              measure: retail_surcharge_max
              parameter: eu.retail.surcharge.voice_mo_eur_per_min
            - service: data
              measure: retail_surcharge_max
              parameter: eu.wholesale.data_eur_per_gb
            - {service: voice_mo, measure: wholesale_max, parameter: eu.wholesale.voice_eur_per_min}
    basis: {instrument: scenario, article: "assumption"}
    grade: hypothetical
"""


def rate_into_store(
    store_url: str, usage: Path, out: Path, rejects: Path | None = None, *, control: bool = False
) -> None:
    """``rate --state`` of ``usage`` with the plan of :func:`make_plan` into the store at
    ``store_url`` (migrated first), with ``control`` findings applied or not."""
    with open_store(store_url) as store:
        migrate(store)
        rate_with_state(
            usage,
            {"de": make_plan()},
            FxTable(),
            out,
            rejects,
            None,
            store,
            apply_control_findings=control,
        )
