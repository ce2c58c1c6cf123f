"""Audit of the retail price caps: WB phase-1 maxima and the caps on the total retail price
(WB phases 2-3; EU 2017-06-15 .. 2022-06-30).

References
----------
docs/law/western-balkans-phases.md; docs/law/eu-history-before-recast.md.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from roamlike.audit.context import (
    AuditContext,
    Finding,
    _amount,
    _area_entries,
    _area_gate,
    _countries_text,
    _declared_net,
    _gap_finding,
    _law_unit,
    _local,
    _price_text,
    _severity,
    _vat_note,
    weakest_grade,
)
from roamlike.law import Cap, format_decimal

_WB_SERVICES: tuple[tuple[str, str, str, str, str], ...] = (
    # service, RoamingPrice attribute, declared unit, OutOfBundle attribute, Surcharges attribute
    ("voice_mo", "voice_mo_per_min", "min", "voice_per_min", "voice_mo_per_min"),
    ("sms_mo", "sms_mo", "SMS", "sms", "sms_mo"),
    ("data", "data_per_mb", "MB", "data_per_mb", "data_per_gb"),
)


def _wb_gate(ctx: AuditContext, check: str, kind: str, phase_text: str) -> Finding | None:
    gate = _area_gate(ctx, check, "wb")
    if gate is not None:
        return gate
    area = ctx.area
    assert area is not None
    if area.kind != kind:
        return ctx.not_applicable(
            check,
            f"Applies in {phase_text} only; on {ctx.on.isoformat()} the WB regime is of "
            f"kind {area.kind}.",
            regime=area.regime,
        )
    return None


def _joined(caps: list[Cap]) -> tuple[str, str, tuple[str, ...]]:
    bases = list(dict.fromkeys(c.basis.cite() for c in caps))
    return (
        "; ".join(bases),
        weakest_grade(*(c.grade for c in caps)),
        tuple(c.parameter for c in caps),
    )


def check_wb_phase1(ctx: AuditContext) -> Finding:
    """``wb.phase1.retail_price``: regional roaming prices within the absolute caps.

    References: docs/law/western-balkans-phases.md.
    """
    check = "wb.phase1.retail_price"
    gate = _wb_gate(ctx, check, "retail_cap", "WB phase 1 (absolute retail caps)")
    if gate is not None:
        return gate
    area = ctx.area
    assert area is not None
    cur = ctx.plan.currency
    entries = _area_entries(ctx, True)
    caps: list[Cap] = []
    expected: list[str] = []
    found: list[str] = []
    breaches: list[str] = []
    for service, attr, unit, _, _ in _WB_SERVICES:
        cap = area.cap(service, "retail_price_max")
        if cap is None:
            return _gap_finding(ctx, check, area, service, "retail_price_max")
        caps.append(cap)
        local = _local(ctx, cap)
        law_unit = _law_unit(cap)
        expected.append(f"{service} at most {local.text(cur)}")
        for entry, codes in entries:
            price: Decimal | None = getattr(entry, attr)
            if price is None:
                continue
            net = _declared_net(ctx, price, unit, law_unit)
            found.append(
                f"{service} {_price_text(ctx, price, unit, net, law_unit)} in "
                f"{_countries_text(codes)}"
            )
            if net > local.value:
                breaches.append(f"{service} in {_countries_text(codes)}")
    basis, grade, params = _joined(caps)
    common: dict[str, Any] = {
        "basis": basis,
        "grade": grade,
        "parameters": params,
        "regime": area.regime,
    }
    if not found:
        return ctx.not_applicable(
            check,
            "The plan declares no regional roaming prices: the engine charges the caps.",
            expected="; ".join(expected),
            found="not declared",
            **common,
        )
    if not breaches:
        return ctx.finding(
            check,
            "pass",
            "info",
            expected="; ".join(expected),
            found="; ".join(found),
            message="Regional roaming prices are within the WB phase-1 caps.",
            **common,
        )
    return ctx.finding(
        check,
        "fail",
        _severity(grade),
        expected="; ".join(expected),
        found="; ".join(found),
        message="Regional roaming prices exceed the WB phase-1 caps: " + ", ".join(breaches) + ".",
        **common,
    )


def check_wb_total(ctx: AuditContext) -> Finding:
    """``wb.total_price``: domestic price + surcharge within the absolute caps (phases 2-3)."""
    check = "wb.total_price"
    gate = _wb_gate(ctx, check, "surcharge_cap", "WB phases 2-3 (domestic price plus surcharge)")
    if gate is not None:
        return gate
    return _total_price(ctx, check, "the WB absolute caps")


def check_eu_total(ctx: AuditContext) -> Finding:
    """``surcharge.eu.total_price``: domestic price + surcharge beyond fair use within the total
    price cap of Regulation (EU) No 531/2012 Art. 6e(1)(b), 2017-06-15 to 2022-06-30."""
    check = "surcharge.eu.total_price"
    gate = _area_gate(ctx, check, "eu")
    if gate is not None:
        return gate
    area = ctx.area
    assert area is not None
    named = area.cap("voice_mo", "retail_price_max") is not None or any(
        g.measure == "retail_price_max" for g in area.gaps
    )
    if not named:
        return ctx.not_applicable(
            check,
            "The EU total price cap (Regulation (EU) No 531/2012 Art. 6e(1)(b): domestic price "
            "plus surcharge at most EUR 0.19/min, 0.06/SMS, 0.20/MB) applied from 2017-06-15 to "
            f"2022-06-30; the recast dropped it (2022/612 recital 32), so not on {ctx.on}.",
            regime=area.regime,
        )
    return _total_price(ctx, check, "the EU total price cap of 531/2012 Art. 6e(1)(b)")


def _total_price(ctx: AuditContext, check: str, caps_text: str) -> Finding:
    """Domestic out-of-bundle price + declared surcharge per service against retail_price_max."""
    area = ctx.area
    assert area is not None
    plan = ctx.plan
    cur = plan.currency
    caps: list[Cap] = []
    expected: list[str] = []
    found: list[str] = []
    breaches: list[str] = []
    defaulted: list[str] = []
    for service, _, unit, attr, s_attr in _WB_SERVICES:
        total_cap = area.cap(service, "retail_price_max")
        if total_cap is None:
            return _gap_finding(ctx, check, area, service, "retail_price_max")
        caps.append(total_cap)
        law_unit = _law_unit(total_cap)
        local = _local(ctx, total_cap)
        domestic: Decimal = getattr(plan.out_of_bundle, attr)
        total = _declared_net(ctx, domestic, unit, law_unit)
        parts = f"domestic {format_decimal(domestic)} {cur}/{unit}"
        s_declared: Decimal | None = getattr(plan.surcharges, s_attr)
        if s_declared is None:
            # The engine charges the surcharge only up to what the total cap leaves (rating 5.3).
            defaulted.append(service)
        else:
            s_unit = "GB" if service == "data" else unit
            total += _declared_net(ctx, s_declared, s_unit, law_unit)
            parts += f" + surcharge {format_decimal(s_declared)} {cur}/{s_unit}"
        expected.append(f"{service} at most {local.text(cur)}")
        found.append(
            f"{service} {parts} {_vat_note(plan)} = {_amount(total)} {cur}/{law_unit} excl. VAT"
        )
        if total > local.value:
            breaches.append(service)
    basis, grade, params = _joined(caps)
    common: dict[str, Any] = {
        "basis": basis,
        "grade": grade,
        "parameters": params,
        "regime": area.regime,
    }
    note = (
        f" (no surcharge declared for {', '.join(defaulted)}: the engine charges the "
        "surcharge cap only up to the total cap)"
        if defaulted
        else ""
    )
    if not breaches:
        return ctx.finding(
            check,
            "pass",
            "info",
            expected="; ".join(expected),
            found="; ".join(found),
            message=f"Domestic price plus roaming surcharge stays within {caps_text}{note}.",
            **common,
        )
    return ctx.finding(
        check,
        "fail",
        _severity(grade),
        expected="; ".join(expected),
        found="; ".join(found),
        message=f"Domestic price plus roaming surcharge exceeds {caps_text} for "
        f"{', '.join(breaches)}{note}; the engine will cut the charge to the cap.",
        **common,
    )
