"""Audit of the bill-shock protection: the default limit and the alert percentage.

References
----------
Regulation (EU) 2022/612 Art. 14(4).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from roamlike.audit.context import (
    _BILLSHOCK_ALERT,
    _BILLSHOCK_LIMIT,
    AuditContext,
    Finding,
    _amount,
    _area_gate,
    _severity,
)
from roamlike.errors import FxError
from roamlike.law import format_decimal, value_at


def _billshock_gate(ctx: AuditContext, check: str) -> Finding | None:
    """Not applicable unless the home's area declares the bill-shock rules (regimes.yaml)."""
    gate = _area_gate(ctx, check)
    if gate is not None:
        return gate
    if not ctx.area_rules.billshock:
        bound = next((g.rules for g in ctx.catalog.regimes if g.rules.billshock), None)
        return _area_gate(ctx, check, bound.audit_prefix if bound else "")
    if ctx.plan.is_m2m:
        return ctx.not_applicable(
            check,
            "Machine-to-machine plan: the data cut-off facility does not apply "
            "(Regulation (EU) 2022/612 Art. 14(5)).",
            regime=_regime(ctx),
        )
    return None


def _regime(ctx: AuditContext) -> str:
    return ctx.area.regime if ctx.area else ""


def check_billshock_limit(ctx: AuditContext) -> Finding:
    """``billshock.default_limit``: the default data-roaming limit not above EUR 50 excl. VAT."""
    check = "billshock.default_limit"
    gate = _billshock_gate(ctx, check)
    if gate is not None:
        return gate
    pv = value_at(_BILLSHOCK_LIMIT, ctx.on, ctx.catalog)
    plan = ctx.plan
    expected = (
        f"at most {format_decimal(pv.value)} EUR excl. VAT of outstanding data-roaming "
        "charges per monthly billing period"
    )
    if plan.currency != "EUR":
        try:
            fx = ctx.fx_rate()
            expected += (
                f" (= {_amount(pv.value * fx.units_per_eur, 2)} {plan.currency} at "
                f"{format_decimal(fx.units_per_eur)} {plan.currency}/EUR)"
            )
        except FxError:
            pass  # the limit is declared and capped in euro; the conversion is only shown
    common: dict[str, Any] = {
        "basis": pv.basis.cite(),
        "grade": pv.grade,
        "parameters": (_BILLSHOCK_LIMIT,),
        "regime": _regime(ctx),
    }
    declared = plan.billshock_limit_eur
    if declared is None:
        return ctx.not_applicable(
            check,
            f"The plan declares no default limit: the engine applies "
            f"{format_decimal(pv.value)} EUR excl. VAT.",
            expected=expected,
            found="not declared",
            **common,
        )
    found = f"{format_decimal(declared)} EUR excl. VAT"
    return ctx.verdict(
        check,
        declared <= pv.value,
        expected=expected,
        found=found,
        passed="The default bill-shock limit is not above the legal maximum.",
        failed=f"The default bill-shock limit ({found}) is above the legal maximum of "
        f"{format_decimal(pv.value)} EUR excl. VAT: without the customer's explicit "
        "consent data roaming must be cut off at that amount.",
        **common,
    )


def check_billshock_alert(ctx: AuditContext) -> Finding:
    """``billshock.alert_pct``: the declared alert comes no later than 80 % of the limit."""
    check = "billshock.alert_pct"
    gate = _billshock_gate(ctx, check)
    if gate is not None:
        return gate
    pv = value_at(_BILLSHOCK_ALERT, ctx.on, ctx.catalog)
    limit = ctx.plan.billshock_limit_eur
    if limit is None:
        limit = value_at(_BILLSHOCK_LIMIT, ctx.on, ctx.catalog).value
    at = limit * pv.value / 100
    declared = ctx.plan.billshock_alert_pct
    expected = f"an alert at {format_decimal(pv.value)} % of the limit or earlier"
    if declared is None:
        return ctx.not_applicable(
            check,
            f"The plan declares no alert threshold (billshock_alert_pct): the engine sends the "
            f"alert when {format_decimal(pv.value)} % of the limit is reached "
            f"({_amount(at, 2)} EUR excl. VAT).",
            expected=expected,
            found="not declared",
            basis=pv.basis.cite(),
            grade=pv.grade,
            parameters=(_BILLSHOCK_ALERT,),
            regime=_regime(ctx),
        )
    ok = Decimal(declared) <= pv.value
    return ctx.finding(
        check,
        "pass" if ok else "fail",
        "info" if ok else _severity(pv.grade),
        expected=expected,
        found=f"an alert at {declared} % of the limit",
        message=(
            f"The alert at {declared} % of the limit comes no later than the "
            f"{format_decimal(pv.value)} % the regulation requires."
            if ok
            else f"The alert at {declared} % of the limit comes later than the "
            f"{format_decimal(pv.value)} % the regulation requires."
        ),
        basis=pv.basis.cite(),
        grade=pv.grade,
        parameters=(_BILLSHOCK_ALERT,),
        regime=_regime(ctx),
    )
