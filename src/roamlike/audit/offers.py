"""Audit of the EU-Western Balkans offer cap: a data package at or below the cap per GB.

References
----------
docs/law/eu-western-balkans-offer-caps.md.
"""

from __future__ import annotations

from roamlike.audit.context import (
    AuditContext,
    Finding,
    _amount,
    _cap_fields,
    _countries_text,
    _gap_finding,
    _law_unit,
    _local,
    _net,
    _severity,
    _to_unit,
    _vat_note,
)
from roamlike.law import format_decimal
from roamlike.money import rate as round_rate


def check_offer_cap(ctx: AuditContext) -> Finding:
    """``eu_wb.offer_cap``: a signatory offers a data package at or below the cap.

    References: docs/law/eu-western-balkans-offer-caps.md.
    """
    check = "eu_wb.offer_cap"
    offer = ctx.offer
    plan = ctx.plan
    if offer is None:
        return ctx.not_applicable(
            check,
            f"No EU-Western Balkans offer cap reaches {ctx.where()} (it binds EU27 and "
            "WB6 operators from its start date).",
        )
    cap = offer.cap("data", "offer_price_max")
    if cap is None:
        return _gap_finding(ctx, check, offer, "data", "offer_price_max")
    common = _cap_fields(cap, offer.regime)
    if not plan.eu_wb_signatory:
        return ctx.not_applicable(
            check,
            "The plan is not flagged as a signatory operator's offer (eu_wb_signatory); "
            "the voluntary caps bind signatories' offers only.",
            **common,
        )
    local = _local(ctx, cap)
    side = _countries_text(list(ctx.offer_members))
    expected = (
        f"at least one data package for roaming in {side} at "
        f"{local.text(plan.currency)} per GB or less"
    )
    law_unit = _law_unit(cap)
    packages = [
        k
        for k in plan.data_packages
        if "*" in k.countries or any(c in k.countries for c in ctx.offer_members)
    ]
    if not packages:
        return ctx.finding(
            check,
            "fail",
            _severity(cap.grade),
            expected=expected,
            found="no data package covering those countries",
            message="The plan is a signatory's offer but declares no data package "
            "for roaming across the EU-WB border.",
            **common,
        )
    per_gb = [
        (round_rate(_to_unit(plan, _net(ctx, k.price) / k.volume_gb, "GB", law_unit)), k)
        for k in packages
    ]
    best, pkg = min(per_gb, key=lambda t: t[0])
    found = (
        f"cheapest package {pkg.name!r}: {format_decimal(pkg.price)} {plan.currency} "
        f"{_vat_note(plan)} for {format_decimal(pkg.volume_gb)} GB = {_amount(best)} "
        f"{plan.currency}/{law_unit} excl. VAT"
    )
    return ctx.verdict(
        check,
        best <= local.value,
        expected=expected,
        found=found,
        passed="The signatory offers a data package at or below the EU-WB cap.",
        failed="No data package of this signatory's offer is at or below the EU-WB cap per GB.",
        **common,
    )
