"""Audit of the roaming surcharges beyond fair use: calls and SMS made, data, calls and SMS
received.

References
----------
Regulation (EU) 2022/612 Art. 8(1); docs/law/western-balkans-surcharges-beyond-fair-use.md.
"""

from __future__ import annotations

from decimal import Decimal

from roamlike.audit.context import (
    AuditContext,
    Finding,
    _amount,
    _area_entries,
    _area_gate,
    _cap_fields,
    _countries_text,
    _declared_net,
    _engine_charges_cap,
    _gap_finding,
    _law_unit,
    _local,
    _price_text,
    _vat_note,
)
from roamlike.law import format_decimal

_SURCHARGE_FIELDS: dict[str, tuple[str, str, str]] = {
    # service: (Surcharges attribute, unit of the declared price, readable name)
    "voice_mo": ("voice_mo_per_min", "min", "calls made"),
    "sms_mo": ("sms_mo", "SMS", "SMS sent"),
    "data": ("data_per_gb", "GB", "data"),
}


def check_surcharge(ctx: AuditContext, prefix: str, service: str) -> Finding:
    """``surcharge.<eu|wb>.<service>``: the declared surcharge within the cap of the area."""
    check = f"surcharge.{prefix}.{service}"
    gate = _area_gate(ctx, check, prefix)
    if gate is not None:
        return gate
    area = ctx.area
    assert area is not None
    if area.kind == "retail_cap":
        return ctx.not_applicable(
            check,
            "WB phase 1: absolute retail prices are capped instead of surcharges "
            "(see wb.phase1.retail_price).",
            regime=area.regime,
        )
    cap = area.cap(service, "retail_surcharge_max")
    if cap is None:
        return _gap_finding(ctx, check, area, service, "retail_surcharge_max")
    attr, unit, name = _SURCHARGE_FIELDS[service]
    law_unit = _law_unit(cap)
    local = _local(ctx, cap)
    when = (
        "beyond fair use (permanent-roaming control)"
        if area.kind == "rlah"
        else f"on every regional roaming unit ({area.kind}, WB phases 2-3)"
    )
    expected = f"at most {local.text(ctx.plan.currency)}"
    declared: Decimal | None = getattr(ctx.plan.surcharges, attr)
    common = _cap_fields(cap, area.regime)
    if declared is None:
        return _engine_charges_cap(
            ctx, check, f"surcharge on {name}", cap, expected, common, when=when
        )
    net = _declared_net(ctx, declared, unit, law_unit)
    found = _price_text(ctx, declared, unit, net, law_unit)
    return ctx.verdict(
        check,
        net <= local.value,
        expected=expected,
        found=found,
        passed=f"The surcharge on {name} {when} is within the cap.",
        failed=f"The surcharge on {name} {when} exceeds the cap of "
        f"{format_decimal(cap.value)} {cap.unit} excl. VAT.",
        **common,
    )


def check_voice_mt(ctx: AuditContext) -> Finding:
    """``surcharge.voice_mt_cap``: received calls within the MTR / Eurorate / WB price cap."""
    check = "surcharge.voice_mt_cap"
    gate = _area_gate(ctx, check)
    if gate is not None:
        return gate
    area = ctx.area
    assert area is not None
    plan = ctx.plan
    measure = "retail_surcharge_max" if area.kind == "rlah" else "retail_price_max"
    cap = area.cap("voice_mt", measure)
    if cap is None:
        return _gap_finding(ctx, check, area, "voice_mt", measure)
    local = _local(ctx, cap)
    common = _cap_fields(cap, area.regime)
    cur = plan.currency
    if area.kind == "retail_cap":
        what = "the retail price of a received call (WB phase 1)"
        priced = [
            (e.voice_mt_per_min, codes)
            for e, codes in _area_entries(ctx, True)
            if e.voice_mt_per_min is not None
        ]
        if not priced:
            return _engine_charges_cap(
                ctx, check, "price for received calls in the area", cap,
                f"at most {local.text(cur)}", common,
            )  # fmt: skip
        nets = [(_declared_net(ctx, p, "min", "min"), p, codes) for p, codes in priced]
        net, declared, codes = max(nets, key=lambda t: t[0])
        found = _price_text(ctx, declared, "min", net, "min") + f" in {_countries_text(codes)}"
    else:
        s = plan.surcharges.voice_mt_per_min
        if area.kind == "rlah":
            what = "the surcharge on received calls beyond fair use"
        else:
            what = "the price of a received call (domestic price plus surcharge, WB phases 2-3)"
        if s is None:
            return _engine_charges_cap(
                ctx, check, "surcharge on received calls", cap, f"at most {local.text(cur)}", common
            )
        net = _declared_net(ctx, s, "min", "min")
        found = _price_text(ctx, s, "min", net, "min")
        if area.kind == "surcharge_cap":
            dom = plan.out_of_bundle.voice_mt_per_min
            dom_net = _declared_net(ctx, dom, "min", "min")
            net = net + dom_net
            found = (
                f"domestic {format_decimal(dom)} + surcharge {format_decimal(s)} {cur}/min "
                f"{_vat_note(plan)} (= {_amount(net)} {cur}/min excl. VAT)"
            )
    expected = f"at most {local.text(cur)}"
    return ctx.verdict(
        check,
        net <= local.value,
        expected=expected,
        found=found,
        passed=f"{what.capitalize()} is within the cap.",
        failed=f"{what.capitalize()} exceeds the cap of "
        f"{format_decimal(cap.value)} {cap.unit} excl. VAT.",
        **common,
    )


def check_sms_mt(ctx: AuditContext) -> Finding:
    """``surcharge.sms_mt_free``: no charge for a roaming SMS received in the area."""
    check = "surcharge.sms_mt_free"
    gate = _area_gate(ctx, check)
    if gate is not None:
        return gate
    area = ctx.area
    assert area is not None
    cap = area.cap("sms_mt", "retail_surcharge_max")
    if cap is None:
        return _gap_finding(ctx, check, area, "sms_mt", "retail_surcharge_max")
    local = _local(ctx, cap)
    common = _cap_fields(cap, area.regime)
    expected = f"no charge for a received SMS (cap {format_decimal(cap.value)} {cap.unit})"
    priced = [
        (e.sms_mt, codes)
        for e, codes in _area_entries(ctx, area.kind == "retail_cap")
        if e.sms_mt is not None
    ]
    if not priced:
        return ctx.not_applicable(
            check,
            "The plan declares no price for received SMS in its roaming area: the engine "
            "charges none.",
            expected=expected,
            found="not declared",
            **common,
        )
    nets = [(_declared_net(ctx, p, "SMS", "SMS"), p, codes) for p, codes in priced]
    net, declared, codes = max(nets, key=lambda t: t[0])
    found = _price_text(ctx, declared, "SMS", net, "SMS") + f" in {_countries_text(codes)}"
    return ctx.verdict(
        check,
        net <= local.value,
        expected=expected,
        found=found,
        passed="Received SMS are free while roaming in the area.",
        failed="The plan charges for SMS received while roaming in the area; no charge is allowed.",
        **common,
    )
