"""Audit of the fair-use policy: the minimum roaming data volume of open data bundles.

References
----------
Implementing Regulation (EU) 2016/2286; docs/law/fair-use.md.
"""

from __future__ import annotations

from decimal import Decimal

from roamlike.audit.context import (
    AuditContext,
    Finding,
    _amount,
    _area_gate,
    _severity,
    _volume_gb,
    weakest_grade,
)
from roamlike.law import format_decimal
from roamlike.tariffs import fair_use_allowance
from roamlike.tariffs.fair_use import MULTIPLIER_PARAMETER


def check_fair_use(ctx: AuditContext) -> Finding:
    """``fair_use.min_roaming_data``: roaming data >= the minimum (docs/law/fair-use.md)."""
    check = "fair_use.min_roaming_data"
    gate = _area_gate(ctx, check)
    if gate is not None:
        return gate
    area = ctx.area
    assert area is not None
    if area.kind != "rlah":
        return ctx.not_applicable(
            check,
            f"On {ctx.on.isoformat()} the {area.regime} regime is of kind {area.kind}, "
            "not Roam-Like-At-Home: there is no fair-use allowance to check.",
            regime=area.regime,
        )
    plan = ctx.plan
    fu = fair_use_allowance(plan, ctx.on, ctx.fx, area.regime, catalog=ctx.catalog)
    cur = plan.currency
    params = (fu.cap_parameter, MULTIPLIER_PARAMETER)
    grade = weakest_grade(fu.grade, fu.cap_grade)
    cap_text = f"{_amount(fu.cap_per_gb)} {cur}/GB"
    if not fu.is_open_data_bundle:
        unit = (
            "-"
            if fu.domestic_unit_price_per_gb is None
            else f"{_amount(fu.domestic_unit_price_per_gb)} {cur}/GB excl. VAT"
        )
        return ctx.not_applicable(
            check,
            f"Not an open data bundle: domestic data costs {unit}, not below the "
            f"wholesale data cap ({cap_text}); the whole domestic volume may be used "
            "while roaming at the domestic price.",
            basis=fu.basis,
            grade=grade,
            parameters=params,
            regime=area.regime,
        )
    assert fu.min_roaming_data_gb is not None
    minimum = fu.min_roaming_data_gb
    if fu.method == "prepaid_credit":
        formula = f"prepaid credit {_amount(plan.prepaid_credit or Decimal(0))} {cur} / {cap_text}"
    else:
        formula = (
            f"{format_decimal(fu.multiplier)} x {_amount(fu.price_excl_vat)} {cur} "
            f"excl. VAT / {cap_text}"
        )
    if plan.data_allowance_gb is not None and minimum == plan.data_allowance_gb:
        formula += f", capped at the domestic volume {format_decimal(plan.data_allowance_gb)} GB"
    expected = f"at least {_volume_gb(minimum)} GB at the domestic price ({formula})"
    declared = plan.roaming_data_allowance_gb
    if declared is None:
        return ctx.not_applicable(
            check,
            f"The plan declares no roaming data allowance: the engine grants the legal "
            f"minimum, {_volume_gb(minimum)} GB per billing period.",
            expected=expected,
            found="not declared",
            basis=fu.basis,
            grade=grade,
            parameters=params,
            regime=area.regime,
        )
    found = f"{format_decimal(declared)} GB"
    if declared >= minimum:
        return ctx.finding(
            check,
            "pass",
            "info",
            expected=expected,
            found=found,
            message="The declared roaming data allowance meets the fair-use "
            "minimum for an open data bundle.",
            basis=fu.basis,
            grade=grade,
            parameters=params,
            regime=area.regime,
        )
    return ctx.finding(
        check,
        "fail",
        _severity(grade),
        expected=expected,
        found=found,
        message=f"The declared roaming data allowance ({found}) is below the fair-use minimum "
        f"of {_volume_gb(minimum)} GB: customers must be able to use at least that "
        "much data while roaming at the domestic price.",
        basis=fu.basis,
        grade=grade,
        parameters=params,
        regime=area.regime,
    )
