"""Audit checks: the legal cases of tests/cases/audit/*.yaml, plus the orchestration contract."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from roamlike.audit import CHECKS, Finding, audit_plans, has_errors
from roamlike.errors import NotInForceError, TariffError
from roamlike.law.strict_yaml import load_strict
from roamlike.tariffs import FxTable, Plan, parse_plan

CASES_DIR = Path(__file__).resolve().parents[1] / "cases" / "audit"

#: Each case file is a list of {name, provision, date, check, plan, fx?, expect: {status,
#: severity?}}. The plan every case starts from; a case's ``plan`` mapping replaces these keys.
BASE_PLAN: dict[str, Any] = {
    "id": "case",
    "home_country": "DE",
    "currency": "EUR",
    "price": "20.00",
    "price_includes_vat": False,
    "billing_period": "month",
    "data_allowance_gb": "10",
    "voice_allowance_min": "unlimited",
    "sms_allowance": "unlimited",
    "out_of_bundle": {"voice_per_min": "0.10", "sms": "0.10", "data_per_mb": "0.01"},
}
#: Checks whose outcome can only be ``not_applicable`` (the plan schema has nothing to audit).
NO_FAIL_POSSIBLE: set[str] = set()


def _load_cases() -> list[tuple[str, dict[str, Any]]]:
    cases = []
    for path in sorted(CASES_DIR.glob("*.yaml")):
        for i, case in enumerate(load_strict(path)):
            cases.append((f"{path.stem}[{i}] {case['name']}", case))
    return cases


CASES = _load_cases()


def _plan(case: dict[str, Any]) -> Plan:
    return parse_plan({**BASE_PLAN, **(case.get("plan") or {})})


def _fx(case: dict[str, Any]) -> FxTable | None:
    rows = case.get("fx")
    if not rows:
        return None
    return FxTable.from_rows([(day, cur, Decimal(rate)) for day, cur, rate in rows], "case")


def _finding(case: dict[str, Any]) -> Finding:
    plan = _plan(case)
    findings = audit_plans({plan.id: plan}, case["date"], _fx(case))
    (finding,) = [f for f in findings if f.check == case["check"]]
    return finding


@pytest.mark.parametrize("case", [c for _, c in CASES], ids=[i for i, _ in CASES])
def test_legal_case(case: dict[str, Any]) -> None:
    finding = _finding(case)
    expect = case["expect"]
    assert finding.status == expect["status"], finding
    if "severity" in expect:
        assert finding.severity == expect["severity"], finding
    assert finding.message


def test_cases_cover_every_check_passing_and_failing() -> None:
    seen: dict[str, set[str]] = {}
    for _, case in CASES:
        assert case["check"] in CHECKS, case["name"]
        assert case.get("provision"), f"case {case['name']!r} names no provision"
        seen.setdefault(case["check"], set()).add(case["expect"]["status"])
    for check in CHECKS:
        statuses = seen.get(check, set())
        if check in NO_FAIL_POSSIBLE:
            assert statuses, check
            continue
        assert {"pass", "fail"} <= statuses, f"{check}: cases only for {sorted(statuses)}"


def _example_plans(*plans: dict[str, Any]) -> dict[str, Plan]:
    parsed = [parse_plan({**BASE_PLAN, **p}) for p in plans]
    return {p.id: p for p in parsed}


def test_one_finding_per_plan_and_check_in_order() -> None:
    plans = _example_plans({"id": "a"}, {"id": "b", "home_country": "RS", "currency": "RSD"})
    findings = audit_plans(plans, dt.date(2026, 3, 1))
    assert [(f.plan_id, f.check) for f in findings] == [(p, c) for p in ("a", "b") for c in CHECKS]


def test_failed_finding_carries_expected_found_basis_grade_parameters() -> None:
    plans = _example_plans({"id": "a", "billshock_limit_eur": "60"})
    (f,) = [
        f for f in audit_plans(plans, dt.date(2026, 3, 1)) if f.check == "billshock.default_limit"
    ]
    assert f.status == "fail"
    assert f.severity == "error"
    assert "50 EUR excl. VAT" in f.expected
    assert f.found == "60 EUR excl. VAT"
    assert f.basis == "eu_2022_612 Art. 14(4)"
    assert f.grade == "legal"
    assert f.parameters == ("eu.billshock.default_limit_eur",)
    assert f.regime == "eu_rlah"


def test_json_has_the_required_keys_and_only_strings() -> None:
    plans = _example_plans({"id": "a", "roaming": {"surcharges": {"data_per_gb": "2"}}})
    docs = [f.to_json() for f in audit_plans(plans, dt.date(2026, 3, 1))]
    required = {
        "plan_id",
        "check",
        "status",
        "severity",
        "expected",
        "found",
        "basis",
        "grade",
        "message",
    }
    for doc in docs:
        assert required <= set(doc)
        assert all(isinstance(doc[k], str) for k in required)
    json.dumps(docs)  # serialisable without a custom encoder (no Decimal, no float)


def test_missing_rate_is_a_finding_not_a_crash() -> None:
    plans = _example_plans(
        {
            "id": "pl",
            "home_country": "PL",
            "currency": "PLN",
            "roaming": {"surcharges": {"voice_mo_per_min": "0.05"}},
        }
    )
    findings = audit_plans(plans, dt.date(2026, 3, 1))
    (f,) = [f for f in findings if f.check == "surcharge.eu.voice_mo"]
    assert (f.status, f.severity) == ("not_applicable", "error")
    assert "PLN" in f.message
    assert has_errors(findings)
    # checks that need no conversion still run
    (c,) = [f for f in findings if f.check == "charging.voice_mo"]
    assert c.status == "pass"


def test_has_errors_ignores_warnings_and_passes() -> None:
    plans = _example_plans(
        {"id": "me", "home_country": "ME", "roaming": {"surcharges": {"sms_mo": "0.5"}}}
    )
    findings = audit_plans(plans, dt.date(2026, 3, 1))
    assert [f.severity for f in findings if f.status == "fail"] == ["warning"]
    assert not has_errors(findings)


def test_unknown_home_country_is_a_tariff_error() -> None:
    plans = _example_plans({"id": "zz", "home_country": "ZZ"})
    with pytest.raises(TariffError, match="ZZ"):
        audit_plans(plans, dt.date(2026, 3, 1))


def test_date_outside_the_catalog_raises() -> None:
    with pytest.raises(NotInForceError):
        audit_plans(_example_plans({"id": "a"}), dt.date(2016, 1, 1))


def test_audit_is_deterministic() -> None:
    plans = _example_plans(
        {"id": "a", "data_allowance_gb": "unlimited", "roaming": {"roaming_data_allowance_gb": "1"}}
    )
    assert audit_plans(plans, dt.date(2026, 3, 1)) == audit_plans(plans, dt.date(2026, 3, 1))
