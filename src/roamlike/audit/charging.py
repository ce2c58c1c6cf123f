"""Audit of the charging rules: per-second calls (initial minimum for calls made) and per-kB
data.

References
----------
Regulation (EU) 2022/612 Art. 8(1), last subparagraph.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from roamlike.audit.context import (
    _PER_SECOND_S,
    _WB_DATA_UNIT_KB,
    AuditContext,
    Finding,
    _area_gate,
)
from roamlike.law import format_decimal, value_at


def _billing_parameter(ctx: AuditContext) -> tuple[str, str]:
    """(data-unit parameter or "", initial-period parameter) the area's regime declares."""
    rules = ctx.area_rules
    return rules.data_unit, rules.voice_mo_initial_max


def check_charging_voice_mo(ctx: AuditContext) -> Finding:
    """``charging.voice_mo``: per second, initial minimum at most 30 s for calls made."""
    check = "charging.voice_mo"
    gate = _area_gate(ctx, check)
    if gate is not None:
        return gate
    _, param = _billing_parameter(ctx)
    pv = value_at(param, ctx.on, ctx.catalog)
    c = ctx.plan.charging
    common: dict[str, Any] = {
        "basis": pv.basis.cite(),
        "grade": pv.grade,
        "parameters": (param,),
        "regime": ctx.area.regime if ctx.area else "",
    }
    expected = (
        f"per-second charging after an initial minimum of at most {format_decimal(pv.value)} s"
    )
    found = f"initial {c.voice_mo_initial_s} s, then per {c.voice_mo_increment_s} s"
    return ctx.verdict(
        check,
        c.voice_mo_initial_s <= pv.value and c.voice_mo_increment_s <= _PER_SECOND_S,
        expected=expected,
        found=found,
        passed="Calls made are charged per second with an allowed initial minimum.",
        failed="Charging of calls made is coarser than the law allows "
        f"(per second after at most {format_decimal(pv.value)} s).",
        **common,
    )


def check_charging_voice_mt(ctx: AuditContext) -> Finding:
    """``charging.voice_mt``: received calls per second from the first second."""
    check = "charging.voice_mt"
    gate = _area_gate(ctx, check)
    if gate is not None:
        return gate
    data_unit, param = _billing_parameter(ctx)
    pv = value_at(param, ctx.on, ctx.catalog)
    # A regime that declares the full charging rules (a data unit too, as the EU's) states them
    # for received calls; otherwise (the WB sources state calls made only) received calls follow
    # the EU rule by analogy (inference).
    grade = pv.grade if data_unit else "inference"
    c = ctx.plan.charging
    common: dict[str, Any] = {
        "basis": pv.basis.cite(),
        "grade": grade,
        "parameters": (param,),
        "regime": ctx.area.regime if ctx.area else "",
    }
    expected = "per-second charging with no initial minimum (the minimum is for calls made only)"
    found = f"initial {c.voice_mt_initial_s} s, then per {c.voice_mt_increment_s} s"
    return ctx.verdict(
        check,
        c.voice_mt_initial_s == 0 and c.voice_mt_increment_s <= _PER_SECOND_S,
        expected=expected,
        found=found,
        passed="Received calls are charged per second.",
        failed="Received calls must be charged per second without an initial "
        "minimum charging period.",
        **common,
    )


def check_charging_data(ctx: AuditContext) -> Finding:
    """``charging.data``: data charged per kilobyte."""
    check = "charging.data"
    gate = _area_gate(ctx, check)
    if gate is not None:
        return gate
    data_unit, voice_param = _billing_parameter(ctx)
    if data_unit:
        pv = value_at(data_unit, ctx.on, ctx.catalog)
        unit_kb, param, basis, grade = pv.value, data_unit, pv.basis.cite(), pv.grade
    else:
        # No WB data-unit parameter in the catalog: cite the WB charging rules (sources
        # ratel_2019_blic, ratel_phases_kurir).
        pv = value_at(voice_param, ctx.on, ctx.catalog)
        unit_kb, param = Decimal(_WB_DATA_UNIT_KB), voice_param
        basis, grade = pv.basis.cite(), pv.grade
    inc = ctx.plan.charging.data_increment_kb
    common: dict[str, Any] = {
        "basis": basis,
        "grade": grade,
        "parameters": (param,),
        "regime": ctx.area.regime if ctx.area else "",
    }
    expected = f"data charged per {format_decimal(unit_kb)} kB"
    found = f"per {inc} kB"
    return ctx.verdict(
        check,
        inc <= unit_kb,
        expected=expected,
        found=found,
        passed="Data is charged per kilobyte.",
        failed=f"Data is charged in steps of {inc} kB; the law requires per-kilobyte charging.",
        **common,
    )
