"""Shared context of the audit checks: the finding, the rules a plan reaches, and small helpers.

Every rule family (``fair_use``, ``surcharges``, ``retail_caps``, ``billshock``, ``offers``,
``charging``) builds its findings on :class:`AuditContext`; :mod:`roamlike.audit.checks` runs them.
Caps are converted to the plan currency by the rule of docs/law/exchange-rates.md and compared,
excluding VAT, at the engine's rate precision (:func:`roamlike.money.rate`, 10^-9, half-even).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal
from typing import Any, Literal

from roamlike.law import Cap, Catalog, Rules, format_decimal
from roamlike.law.catalog import RegimeRules
from roamlike.money import rate as round_rate
from roamlike.tariffs import FxRate, FxTable, Plan, RoamingPrice, excl_vat

Status = Literal["pass", "fail", "not_applicable"]
Severity = Literal["error", "warning", "info"]

STATUSES: tuple[str, ...] = ("pass", "fail", "not_applicable")
SEVERITIES: tuple[str, ...] = ("error", "warning", "info")

_AREA_KINDS = frozenset({"rlah", "surcharge_cap", "retail_cap"})
_GRADE_ORDER = ("legal", "official", "secondary", "inference", "hypothetical")
_BILLSHOCK_LIMIT = "eu.billshock.default_limit_eur"
_BILLSHOCK_ALERT = "eu.billshock.alert_pct"
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
class AuditContext:
    plan: Plan
    on: dt.date
    fx: FxTable
    catalog: Catalog
    area: Rules | None  # the home's regulated area (kind rlah, surcharge_cap or retail_cap)
    area_members: tuple[str, ...]  # visited countries where ``area`` applies
    offer: Rules | None  # the EU-WB offer cap (kind offer_cap)
    offer_members: tuple[str, ...]
    area_rules: RegimeRules = field(default_factory=RegimeRules)  # declared in regimes.yaml

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


def _net(ctx: AuditContext, gross_or_net: Decimal) -> Decimal:
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


def _local(ctx: AuditContext, cap: Cap) -> _LocalCap:
    """Convert a cap to the plan currency (a zero cap needs no exchange rate)."""
    if cap.value == 0 or ctx.plan.currency == "EUR":
        return _LocalCap(cap, round_rate(cap.value), None)
    fx = ctx.fx_rate()
    return _LocalCap(cap, round_rate(cap.value * fx.units_per_eur), fx)


def _price_text(
    ctx: AuditContext, declared: Decimal, unit: str, net: Decimal, law_unit: str
) -> str:
    cur = ctx.plan.currency
    out = f"{format_decimal(declared)} {cur}/{unit} {_vat_note(ctx.plan)}"
    if ctx.plan.price_includes_vat or unit != law_unit:
        out += f" (= {_amount(net)} {cur}/{law_unit} excl. VAT)"
    return out


def _declared_net(ctx: AuditContext, declared: Decimal, unit: str, law_unit: str) -> Decimal:
    """A declared unit price as a rounded rate per law unit excl. VAT, in the plan currency."""
    return round_rate(_to_unit(ctx.plan, _net(ctx, declared), unit, law_unit))


def _cap_fields(cap: Cap, regime: str) -> dict[str, Any]:
    """The fields every finding about ``cap`` carries: basis, grade, parameter id, regime."""
    return {
        "basis": cap.basis.cite(),
        "grade": cap.grade,
        "parameters": (cap.parameter,),
        "regime": regime,
    }


def _engine_charges_cap(
    ctx: AuditContext,
    check: str,
    what: str,
    cap: Cap,
    expected: str,
    fields: dict[str, Any],
    when: str = "",
) -> Finding:
    """Not applicable: the plan declares no ``what``, so the engine charges the cap."""
    return ctx.not_applicable(
        check,
        f"The plan declares no {what}: the engine charges the cap, "
        f"{format_decimal(cap.value)} {cap.unit} excl. VAT{', ' + when if when else ''}.",
        expected=expected,
        found="not declared",
        **fields,
    )


def _gap_finding(
    ctx: AuditContext, check: str, rules: Rules, service: str, measure: str
) -> Finding:
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


def _area_entries(ctx: AuditContext, with_fallback: bool) -> list[tuple[RoamingPrice, list[str]]]:
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


def area_name(catalog: Catalog, prefix: str) -> str:
    """Readable name of the audited area whose regime declares ``audit_prefix: prefix``."""
    return next(
        (g.rules.audit_name for g in catalog.regimes if g.rules.audit_prefix == prefix), prefix
    )


def _area_gate(ctx: AuditContext, check: str, prefix: str | None = None) -> Finding | None:
    """A not-applicable finding when the plan's home has no (or another) regulated area.

    ``prefix``: the check belongs to the area whose regime declares that ``audit_prefix``.
    """
    area = ctx.area
    if area is None:
        names = [g.rules.audit_name for g in ctx.catalog.regimes if g.rules.audit_prefix]
        return ctx.not_applicable(
            check,
            f"No regulated roaming area reaches {ctx.where()}: the plan's home country "
            f"belongs to none of: {'; '.join(names)} on that date.",
        )
    if prefix is not None and ctx.area_rules.audit_prefix != prefix:
        return ctx.not_applicable(
            check,
            f"The plan's home country is not in the {area_name(ctx.catalog, prefix)} on "
            f"{ctx.on.isoformat()} (it is in the {ctx.area_rules.audit_name}).",
            regime=area.regime,
        )
    return None
