"""Compliance checks of tariff plans against the roaming rules in force on a date.

Every plan gets the same, fixed list of checks (:data:`CHECKS`), so the result is rectangular:
one :class:`Finding` per plan and check, in that order. A check that does not reach the plan
(its home country is in another area, the phase is not in force, the plan declares nothing) is
``not_applicable`` and says why.

Which rules reach a plan: the regimes :func:`roamlike.law.resolve` returns from its home country
to every other country of the catalog on the audit date. The home's *area* is the regulated
roaming area it belongs to (``eu_rlah``: EU/EEA, with UA and MD from 2026; ``wb_rra``: WB6, in
phases 1-4); the *offer* regime is the EU-WB data-price offer cap between EU27 and WB6 homes.
Caps come from the catalog, in euro; they are converted to the plan currency by the rule of
docs/law/exchange-rates.md
(:meth:`roamlike.tariffs.FxTable.rate`) and compared, excluding VAT, with the plan's prices at the
engine's rate precision (:func:`roamlike.money.rate`, 10^-9, half-even).

Status and severity
-------------------
``pass``: the plan meets the rule (severity ``info``). ``fail``: it breaches it (severity
``error``, or ``warning`` when the rule rests on an ``inference``-grade value). ``not_applicable``
with severity ``info``: the rule does not reach the plan or the plan declares nothing (the engine
then applies the cap); with severity ``error`` or ``warning``: the check could not be evaluated
(no exchange rate, no value in force), and the message says what is missing.

References
----------
Regulation (EU) 2022/612 Art. 1(4), 4(1), 8(1), 14(4); Implementing Regulation (EU) 2016/2286
(fair use); WB Regional Roaming Agreement 2019 and RATEL decision of 17 June 2019; EU-WB operators'
roadmap 2023. See the pages under ``docs/law/``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal
from typing import Any, Literal

from roamlike.errors import FxError, NotInForceError, TariffError, UnknownCountryError
from roamlike.law import Cap, Catalog, Rules, default_catalog, format_decimal, resolve, value_at
from roamlike.money import rate as round_rate
from roamlike.tariffs import FxRate, FxTable, Plan, RoamingPrice, excl_vat, fair_use_allowance
from roamlike.tariffs.fair_use import MULTIPLIER_PARAMETER

Status = Literal["pass", "fail", "not_applicable"]
Severity = Literal["error", "warning", "info"]

STATUSES: tuple[str, ...] = ("pass", "fail", "not_applicable")
SEVERITIES: tuple[str, ...] = ("error", "warning", "info")

#: Stable check ids, in report order. Every plan gets one finding per id.
CHECKS: tuple[str, ...] = (
    "fair_use.min_roaming_data",
    "surcharge.eu.voice_mo",
    "surcharge.eu.sms_mo",
    "surcharge.eu.data",
    "surcharge.eu.total_price",
    "surcharge.wb.voice_mo",
    "surcharge.wb.sms_mo",
    "surcharge.wb.data",
    "surcharge.voice_mt_cap",
    "surcharge.sms_mt_free",
    "wb.phase1.retail_price",
    "wb.total_price",
    "billshock.default_limit",
    "billshock.alert_pct",
    "eu_wb.offer_cap",
    "charging.voice_mo",
    "charging.voice_mt",
    "charging.data",
)

#: Regulated roaming areas (regime id -> check-id prefix, readable name).
AREAS: dict[str, tuple[str, str]] = {
    "eu_rlah": ("eu", "EU/EEA roaming area"),
    "wb_rra": ("wb", "Western Balkans (WB6) roaming area"),
}
_AREA_KINDS = frozenset({"rlah", "surcharge_cap", "retail_cap"})
_GRADE_ORDER = ("legal", "official", "secondary", "inference", "hypothetical")
_BILLSHOCK_LIMIT = "eu.billshock.default_limit_eur"
_BILLSHOCK_ALERT = "eu.billshock.alert_pct"
_DATA_UNIT_EU = "eu.retail.billing.data_unit_kb"
#: Per-second voice and per-kB data are rules, not amounts; where the catalog has no parameter
#: for them (WB data, voice increments) the audit cites the regime's billing parameter.
_PER_SECOND_S = 1
_WB_DATA_UNIT_KB = 1


@dataclass(frozen=True)
class Finding:
    """The outcome of one check on one plan.

    Attributes
    ----------
    plan_id, check : str
        The plan and the stable check id (:data:`CHECKS`).
    status : {"pass", "fail", "not_applicable"}
    severity : {"error", "warning", "info"}
        See the module docstring.
    expected, found : str
        What the law requires and what the plan declares, with units and currency.
    basis : str
        Instrument id and article (``eu_2022_612 Art. 8(1)(a) with Art. 9(1)``); ``;``-joined
        when several values decide the check.
    grade : str
        The weakest provenance grade of those values (``legal`` .. ``inference``), or ``""``.
    message : str
        One plain sentence for a reader who is not an engineer.
    parameters : tuple of str
        Catalog parameter ids the check used.
    regime : str
        The regime the check was evaluated under (``eu_rlah``, ``wb_rra``, ...), or ``""``.
    """

    plan_id: str
    check: str
    status: Status
    severity: Severity
    expected: str
    found: str
    basis: str
    grade: str
    message: str
    parameters: tuple[str, ...] = ()
    regime: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "plan_id": self.plan_id,
            "check": self.check,
            "status": self.status,
            "severity": self.severity,
            "expected": self.expected,
            "found": self.found,
            "basis": self.basis,
            "grade": self.grade,
            "message": self.message,
            "parameters": list(self.parameters),
            "regime": self.regime,
        }


@dataclass(frozen=True)
class _Context:
    plan: Plan
    on: dt.date
    fx: FxTable
    catalog: Catalog
    area: Rules | None  # the home's regulated area (kind rlah, surcharge_cap or retail_cap)
    area_members: tuple[str, ...]  # visited countries where ``area`` applies
    offer: Rules | None  # the EU-WB offer cap (kind offer_cap)
    offer_members: tuple[str, ...]

    def finding(
        self,
        check: str,
        status: Status,
        severity: Severity,
        *,
        expected: str,
        found: str,
        message: str,
        basis: str = "",
        grade: str = "",
        parameters: tuple[str, ...] = (),
        regime: str = "",
    ) -> Finding:
        return Finding(
            self.plan.id,
            check,
            status,
            severity,
            expected,
            found,
            basis,
            grade,
            message,
            parameters,
            regime,
        )

    def verdict(
        self,
        check: str,
        ok: bool,
        *,
        expected: str,
        found: str,
        passed: str,
        failed: str,
        grade: str,
        basis: str = "",
        parameters: tuple[str, ...] = (),
        regime: str = "",
    ) -> Finding:
        """A pass (severity info) or a fail (severity by the grade of the rule it rests on)."""
        return self.finding(
            check,
            "pass" if ok else "fail",
            "info" if ok else _severity(grade),
            expected=expected,
            found=found,
            message=passed if ok else failed,
            basis=basis,
            grade=grade,
            parameters=parameters,
            regime=regime,
        )

    def not_applicable(
        self,
        check: str,
        message: str,
        *,
        expected: str = "-",
        found: str = "-",
        basis: str = "",
        grade: str = "",
        parameters: tuple[str, ...] = (),
        regime: str = "",
    ) -> Finding:
        return self.finding(
            check,
            "not_applicable",
            "info",
            expected=expected,
            found=found,
            message=message,
            basis=basis,
            grade=grade,
            parameters=parameters,
            regime=regime,
        )

    def fx_rate(self) -> FxRate:
        return self.fx.rate(self.plan.currency, self.on)

    def where(self) -> str:
        return f"home {self.plan.home_country} on {self.on.isoformat()}"


# --------------------------------------------------------------------------------------------
# Small helpers: grades, severities, amounts and units


def weakest_grade(*grades: str | None) -> str:
    """The least reliable of several provenance grades (``legal`` > ... > ``inference``).

    Examples
    --------
    >>> weakest_grade("legal", "secondary", None)
    'secondary'
    """
    known = [g for g in grades if g]
    if not known:
        return ""
    return max(known, key=lambda g: _GRADE_ORDER.index(g) if g in _GRADE_ORDER else 99)


def _severity(grade: str) -> Severity:
    return "warning" if grade in ("inference", "hypothetical") else "error"


def _plain(value: Decimal) -> str:
    """A computed decimal as plain text without trailing zeros or exponent."""
    return format(value.normalize(), "f")


def _amount(value: Decimal, places: int = 6) -> str:
    """An amount for display: half-even to ``places`` decimals, without trailing zeros.

    Examples
    --------
    >>> _amount(Decimal("40.0000000")), _amount(Decimal("0.0808779"))
    ('40', '0.080878')
    """
    return _plain(value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN))


def _volume_gb(value: Decimal) -> str:
    """A minimum volume for display, rounded up to 3 decimals (never shown below the law)."""
    return _plain(value.quantize(Decimal("0.001"), rounding=ROUND_CEILING))


def _mb_per_gb(plan: Plan) -> Decimal:
    return Decimal(1024) if plan.binary_units else Decimal(1000)


def _law_unit(cap: Cap) -> str:
    """The unit a cap is expressed per (``EUR/GB`` -> ``GB``)."""
    return cap.unit.split("/", 1)[1] if "/" in cap.unit else cap.unit


def _to_unit(plan: Plan, value: Decimal, unit_from: str, unit_to: str) -> Decimal:
    """A price per ``unit_from`` as a price per ``unit_to`` (only GB <-> MB differ).

    References: docs/law/units-of-volume.md.
    """
    if unit_from == unit_to:
        return value
    if (unit_from, unit_to) == ("GB", "MB"):
        return value / _mb_per_gb(plan)
    if (unit_from, unit_to) == ("MB", "GB"):
        return value * _mb_per_gb(plan)
    raise ValueError(f"cannot convert a price per {unit_from} into a price per {unit_to}")


def _net(ctx: _Context, gross_or_net: Decimal) -> Decimal:
    """A plan amount excluding VAT (the plan's ``price_includes_vat`` decides)."""
    return excl_vat(ctx.plan, gross_or_net, ctx.on)


def _vat_note(plan: Plan) -> str:
    return "incl. VAT" if plan.price_includes_vat else "excl. VAT"


@dataclass(frozen=True)
class _LocalCap:
    """A euro cap converted to the plan currency and rounded like an engine rate."""

    cap: Cap
    value: Decimal  # plan currency per law unit, excl. VAT
    fx: FxRate | None

    def text(self, currency: str) -> str:
        unit = _law_unit(self.cap)
        out = f"{format_decimal(self.cap.value)} {self.cap.unit} excl. VAT"
        if self.fx is not None and currency != "EUR":
            out += (
                f" (= {_amount(self.value)} {currency}/{unit} at "
                f"{format_decimal(self.fx.units_per_eur)} {currency}/EUR, {self.fx.method})"
            )
        return out


def _local(ctx: _Context, cap: Cap) -> _LocalCap:
    """Convert a cap to the plan currency (a zero cap needs no exchange rate)."""
    if cap.value == 0 or ctx.plan.currency == "EUR":
        return _LocalCap(cap, round_rate(cap.value), None)
    fx = ctx.fx_rate()
    return _LocalCap(cap, round_rate(cap.value * fx.units_per_eur), fx)


def _price_text(ctx: _Context, declared: Decimal, unit: str, net: Decimal, law_unit: str) -> str:
    cur = ctx.plan.currency
    out = f"{format_decimal(declared)} {cur}/{unit} {_vat_note(ctx.plan)}"
    if ctx.plan.price_includes_vat or unit != law_unit:
        out += f" (= {_amount(net)} {cur}/{law_unit} excl. VAT)"
    return out


def _declared_net(ctx: _Context, declared: Decimal, unit: str, law_unit: str) -> Decimal:
    """A declared unit price as a rounded rate per law unit excl. VAT, in the plan currency."""
    return round_rate(_to_unit(ctx.plan, _net(ctx, declared), unit, law_unit))


def _gap_finding(ctx: _Context, check: str, rules: Rules, service: str, measure: str) -> Finding:
    """A cap the regime names but has no value on the date (e.g. the 2018 received-call cap)."""
    for gap in rules.gaps:
        if gap.service == service and gap.measure == measure:
            return ctx.finding(
                check,
                "not_applicable",
                "warning",
                expected="no value in force",
                found="-",
                message=f"Not checked: the catalog has no value in force for this cap "
                f"({gap.reason}).",
                parameters=(gap.parameter,),
                regime=rules.regime,
            )
    return ctx.not_applicable(
        check,
        f"The {rules.regime} regime ({rules.kind}) has no {measure} for {service} on "
        f"{ctx.on.isoformat()}.",
        regime=rules.regime,
    )


def _area_entries(ctx: _Context, with_fallback: bool) -> list[tuple[RoamingPrice, list[str]]]:
    """Roaming-price entries of the plan that price visits inside its area.

    With ``with_fallback`` (WB phase 1, where the engine uses these prices) the ``*`` entry
    counts for area countries without their own entry; otherwise only entries naming an area
    country (the ``*`` entry then prices unregulated destinations).
    """
    out: dict[int, tuple[RoamingPrice, list[str]]] = {}
    for code in ctx.area_members:
        entry = (
            ctx.plan.roaming_price(code)
            if with_fallback
            else next((e for e in ctx.plan.roaming_prices if code in e.countries), None)
        )
        if entry is not None:
            out.setdefault(id(entry), (entry, []))[1].append(code)
    return list(out.values())


def _countries_text(codes: list[str]) -> str:
    return ", ".join(codes) if len(codes) <= 6 else ", ".join(codes[:6]) + f" (+{len(codes) - 6})"


# --------------------------------------------------------------------------------------------
# Checks. Each returns exactly one finding for its check id.


def _area_gate(ctx: _Context, check: str, regime: str | None = None) -> Finding | None:
    """A not-applicable finding when the plan's home has no (or another) regulated area."""
    area = ctx.area
    if area is None:
        return ctx.not_applicable(
            check,
            f"No regulated roaming area reaches {ctx.where()}: the plan's home country "
            "belongs to neither the EU/EEA nor the WB6 roaming area on that date.",
        )
    if regime is not None and area.regime != regime:
        return ctx.not_applicable(
            check,
            f"The plan's home country is not in the {AREAS[regime][1]} on "
            f"{ctx.on.isoformat()} (it is in the {AREAS[area.regime][1]}).",
            regime=area.regime,
        )
    return None


def check_fair_use(ctx: _Context) -> Finding:
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
    fu = fair_use_allowance(plan, ctx.on, ctx.fx, area.regime)
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


_SURCHARGE_FIELDS: dict[str, tuple[str, str, str]] = {
    # service: (Surcharges attribute, unit of the declared price, readable name)
    "voice_mo": ("voice_mo_per_min", "min", "calls made"),
    "sms_mo": ("sms_mo", "SMS", "SMS sent"),
    "data": ("data_per_gb", "GB", "data"),
}


def check_surcharge(ctx: _Context, prefix: str, service: str) -> Finding:
    """``surcharge.<eu|wb>.<service>``: the declared surcharge within the cap of the area."""
    check = f"surcharge.{prefix}.{service}"
    regime = next(r for r, (p, _) in AREAS.items() if p == prefix)
    gate = _area_gate(ctx, check, regime)
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
    common: dict[str, Any] = {
        "basis": cap.basis.cite(),
        "grade": cap.grade,
        "parameters": (cap.parameter,),
        "regime": area.regime,
    }
    if declared is None:
        return ctx.not_applicable(
            check,
            f"The plan declares no surcharge on {name}: the engine charges the cap, "
            f"{format_decimal(cap.value)} {cap.unit} excl. VAT, {when}.",
            expected=expected,
            found="not declared",
            **common,
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


def check_voice_mt(ctx: _Context) -> Finding:
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
    common: dict[str, Any] = {
        "basis": cap.basis.cite(),
        "grade": cap.grade,
        "parameters": (cap.parameter,),
        "regime": area.regime,
    }
    cur = plan.currency
    if area.kind == "retail_cap":
        what = "the retail price of a received call (WB phase 1)"
        priced = [
            (e.voice_mt_per_min, codes)
            for e, codes in _area_entries(ctx, True)
            if e.voice_mt_per_min is not None
        ]
        if not priced:
            return ctx.not_applicable(
                check,
                f"The plan declares no price for received calls in the area: the engine "
                f"charges the cap, {format_decimal(cap.value)} {cap.unit} excl. VAT.",
                expected=f"at most {local.text(cur)}",
                found="not declared",
                **common,
            )
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
            return ctx.not_applicable(
                check,
                f"The plan declares no surcharge on received calls: the engine charges "
                f"the cap, {format_decimal(cap.value)} {cap.unit} excl. VAT.",
                expected=f"at most {local.text(cur)}",
                found="not declared",
                **common,
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


def check_sms_mt(ctx: _Context) -> Finding:
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
    common: dict[str, Any] = {
        "basis": cap.basis.cite(),
        "grade": cap.grade,
        "parameters": (cap.parameter,),
        "regime": area.regime,
    }
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


_WB_SERVICES: tuple[tuple[str, str, str, str, str], ...] = (
    # service, RoamingPrice attribute, declared unit, OutOfBundle attribute, Surcharges attribute
    ("voice_mo", "voice_mo_per_min", "min", "voice_per_min", "voice_mo_per_min"),
    ("sms_mo", "sms_mo", "SMS", "sms", "sms_mo"),
    ("data", "data_per_mb", "MB", "data_per_mb", "data_per_gb"),
)


def _wb_gate(ctx: _Context, check: str, kind: str, phase_text: str) -> Finding | None:
    gate = _area_gate(ctx, check, "wb_rra")
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


def check_wb_phase1(ctx: _Context) -> Finding:
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


def check_wb_total(ctx: _Context) -> Finding:
    """``wb.total_price``: domestic price + surcharge within the absolute caps (phases 2-3)."""
    check = "wb.total_price"
    gate = _wb_gate(ctx, check, "surcharge_cap", "WB phases 2-3 (domestic price plus surcharge)")
    if gate is not None:
        return gate
    return _total_price(ctx, check, "the WB absolute caps")


def check_eu_total(ctx: _Context) -> Finding:
    """``surcharge.eu.total_price``: domestic price + surcharge beyond fair use within the total
    price cap of Regulation (EU) No 531/2012 Art. 6e(1)(b), 2017-06-15 to 2022-06-30."""
    check = "surcharge.eu.total_price"
    gate = _area_gate(ctx, check, "eu_rlah")
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


def _total_price(ctx: _Context, check: str, caps_text: str) -> Finding:
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


def _billshock_gate(ctx: _Context, check: str) -> Finding | None:
    gate = _area_gate(ctx, check, "eu_rlah")
    if gate is not None:
        return gate
    if ctx.plan.is_m2m:
        return ctx.not_applicable(
            check,
            "Machine-to-machine plan: the data cut-off facility does not apply "
            "(Regulation (EU) 2022/612 Art. 14(5)).",
            regime="eu_rlah",
        )
    return None


def check_billshock_limit(ctx: _Context) -> Finding:
    """``billshock.default_limit``: the default data-roaming limit not above EUR 50 excl. VAT."""
    check = "billshock.default_limit"
    gate = _billshock_gate(ctx, check)
    if gate is not None:
        return gate
    pv = value_at(_BILLSHOCK_LIMIT, ctx.on)
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
        "regime": "eu_rlah",
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


def check_billshock_alert(ctx: _Context) -> Finding:
    """``billshock.alert_pct``: the declared alert comes no later than 80 % of the limit."""
    check = "billshock.alert_pct"
    gate = _billshock_gate(ctx, check)
    if gate is not None:
        return gate
    pv = value_at(_BILLSHOCK_ALERT, ctx.on)
    limit = ctx.plan.billshock_limit_eur
    if limit is None:
        limit = value_at(_BILLSHOCK_LIMIT, ctx.on).value
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
            regime="eu_rlah",
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
        regime="eu_rlah",
    )


def check_offer_cap(ctx: _Context) -> Finding:
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
    common: dict[str, Any] = {
        "basis": cap.basis.cite(),
        "grade": cap.grade,
        "parameters": (cap.parameter,),
        "regime": offer.regime,
    }
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


def _billing_parameter(ctx: _Context) -> tuple[str, str]:
    assert ctx.area is not None
    prefix = AREAS[ctx.area.regime][0]
    return prefix, f"{prefix}.retail.billing.voice_mo_initial_max_s"


def check_charging_voice_mo(ctx: _Context) -> Finding:
    """``charging.voice_mo``: per second, initial minimum at most 30 s for calls made."""
    check = "charging.voice_mo"
    gate = _area_gate(ctx, check)
    if gate is not None:
        return gate
    _, param = _billing_parameter(ctx)
    pv = value_at(param, ctx.on)
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


def check_charging_voice_mt(ctx: _Context) -> Finding:
    """``charging.voice_mt``: received calls per second from the first second."""
    check = "charging.voice_mt"
    gate = _area_gate(ctx, check)
    if gate is not None:
        return gate
    prefix, param = _billing_parameter(ctx)
    pv = value_at(param, ctx.on)
    # The WB sources state per-second charging for calls made only; received calls follow the
    # EU rule by analogy (inference).
    grade = pv.grade if prefix == "eu" else "inference"
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


def check_charging_data(ctx: _Context) -> Finding:
    """``charging.data``: data charged per kilobyte."""
    check = "charging.data"
    gate = _area_gate(ctx, check)
    if gate is not None:
        return gate
    prefix, voice_param = _billing_parameter(ctx)
    if prefix == "eu":
        pv = value_at(_DATA_UNIT_EU, ctx.on)
        unit_kb, param, basis, grade = pv.value, _DATA_UNIT_EU, pv.basis.cite(), pv.grade
    else:
        # No WB data-unit parameter in the catalog: cite the WB charging rules (sources
        # ratel_2019_blic, ratel_phases_kurir).
        pv = value_at(voice_param, ctx.on)
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


def _surcharge_check(prefix: str, service: str) -> Callable[[_Context], Finding]:
    def run(ctx: _Context) -> Finding:
        return check_surcharge(ctx, prefix, service)

    return run


_CHECK_FUNCTIONS: dict[str, Callable[[_Context], Finding]] = {
    "fair_use.min_roaming_data": check_fair_use,
    "surcharge.eu.voice_mo": _surcharge_check("eu", "voice_mo"),
    "surcharge.eu.sms_mo": _surcharge_check("eu", "sms_mo"),
    "surcharge.eu.data": _surcharge_check("eu", "data"),
    "surcharge.eu.total_price": check_eu_total,
    "surcharge.wb.voice_mo": _surcharge_check("wb", "voice_mo"),
    "surcharge.wb.sms_mo": _surcharge_check("wb", "sms_mo"),
    "surcharge.wb.data": _surcharge_check("wb", "data"),
    "surcharge.voice_mt_cap": check_voice_mt,
    "surcharge.sms_mt_free": check_sms_mt,
    "wb.phase1.retail_price": check_wb_phase1,
    "wb.total_price": check_wb_total,
    "billshock.default_limit": check_billshock_limit,
    "billshock.alert_pct": check_billshock_alert,
    "eu_wb.offer_cap": check_offer_cap,
    "charging.voice_mo": check_charging_voice_mo,
    "charging.voice_mt": check_charging_voice_mt,
    "charging.data": check_charging_data,
}
assert tuple(_CHECK_FUNCTIONS) == CHECKS


# --------------------------------------------------------------------------------------------
# Orchestration


def _context(plan: Plan, on: dt.date, fx: FxTable, catalog: Catalog) -> _Context:
    """Resolve, from the plan's home, every regime it reaches on ``on`` (one rule set each)."""
    home = plan.home_country
    try:
        catalog.country(home)
    except UnknownCountryError:
        raise TariffError(
            f"home_country {home!r} is not in the law catalog; use an ISO 3166 alpha-2 code "
            f"it knows (XK for Kosovo): {', '.join(sorted(catalog.countries))}",
            plan_id=plan.id,
        ) from None
    reached: dict[str, tuple[Rules, list[str]]] = {}
    for code in sorted(catalog.countries):
        if code == home:
            continue
        rules = resolve(home, code, on, catalog)
        if rules.kind in ("domestic", "unregulated"):
            continue
        reached.setdefault(rules.regime, (rules, []))[1].append(code)
    area: tuple[Rules, list[str]] | None = None
    offer: tuple[Rules, list[str]] | None = None
    for regime in catalog.regimes:  # precedence order
        if regime.id not in reached:
            continue
        rules, members = reached[regime.id]
        if area is None and regime.id in AREAS and rules.kind in _AREA_KINDS:
            area = (rules, members)
        elif offer is None and rules.kind == "offer_cap":
            offer = (rules, members)
    return _Context(
        plan=plan,
        on=on,
        fx=fx,
        catalog=catalog,
        area=area[0] if area else None,
        area_members=tuple(area[1]) if area else (),
        offer=offer[0] if offer else None,
        offer_members=tuple(offer[1]) if offer else (),
    )


def _unevaluated(ctx: _Context, check: str, exc: Exception) -> Finding:
    if isinstance(exc, FxError):
        return ctx.finding(
            check,
            "not_applicable",
            "error",
            expected="-",
            found="-",
            message=f"Not checked: no exchange rate for {ctx.plan.currency}: {exc}",
            regime=ctx.area.regime if ctx.area else "",
        )
    return ctx.finding(
        check,
        "not_applicable",
        "warning",
        expected="-",
        found="-",
        message=f"Not checked: {exc}",
        regime=ctx.area.regime if ctx.area else "",
    )


def audit_plan(
    plan: Plan, on: dt.date, fx: FxTable | None = None, catalog: Catalog | None = None
) -> list[Finding]:
    """Every check of :data:`CHECKS` on one plan, in that order (see :func:`audit_plans`)."""
    cat = catalog or default_catalog()
    ctx = _context(plan, on, fx or FxTable(), cat)
    out: list[Finding] = []
    for check, run in _CHECK_FUNCTIONS.items():
        try:
            out.append(run(ctx))
        except (FxError, NotInForceError) as exc:
            out.append(_unevaluated(ctx, check, exc))
    return out


def audit_plans(plans: Mapping[str, Plan], on: dt.date, fx: FxTable | None = None) -> list[Finding]:
    """Audit tariff plans against the roaming rules in force on a day.

    Parameters
    ----------
    plans : mapping of str to Plan
        Plans by id (as :func:`roamlike.tariffs.load_plans` returns them); audited in the
        mapping's order.
    on : datetime.date
        The day whose rules, caps and exchange rates apply.
    fx : FxTable, optional
        Exchange rates (docs/law/exchange-rates.md) for plans not in euro. A missing rate makes
        the checks that need
        it ``not_applicable`` with severity ``error``; it never raises.

    Returns
    -------
    list of Finding
        One finding per plan and check id of :data:`CHECKS`, plans in order, checks in order.

    Raises
    ------
    NotInForceError
        ``on`` is outside the catalog's coverage.
    TariffError
        A plan's home country is unknown to the catalog.

    References
    ----------
    Regulation (EU) 2022/612 Art. 1(4), 8(1), 14(4); Implementing Regulation (EU) 2016/2286;
    The decisions in ``docs/law/``.

    Examples
    --------
    >>> from roamlike.tariffs import parse_plan
    >>> plan = parse_plan({"id": "p", "home_country": "DE", "currency": "EUR",
    ...     "price": "20", "price_includes_vat": False, "billing_period": "month",
    ...     "data_allowance_gb": "unlimited", "voice_allowance_min": "unlimited",
    ...     "sms_allowance": "unlimited", "out_of_bundle": {"voice_per_min": "0.1",
    ...     "sms": "0.1", "data_per_mb": "0.01"}, "billshock_limit_eur": "60"})
    >>> [f.status for f in audit_plans({"p": plan}, dt.date(2026, 3, 1))
    ...  if f.check == "billshock.default_limit"]
    ['fail']
    """
    cat = default_catalog()
    cat.coverage.check("a tariff audit", on)
    table = fx or FxTable()
    out: list[Finding] = []
    for plan in plans.values():
        out.extend(audit_plan(plan, on, table, cat))
    return out


def has_errors(findings: list[Finding]) -> bool:
    """True when an error-severity finding failed or could not be evaluated (CLI exit 1)."""
    return any(f.severity == "error" and f.status != "pass" for f in findings)
