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

from roamlike.audit.billshock import check_billshock_alert, check_billshock_limit
from roamlike.audit.charging import (
    check_charging_data,
    check_charging_voice_mo,
    check_charging_voice_mt,
)
from roamlike.audit.context import (
    _AREA_KINDS,
    AuditContext,
    Finding,
)
from roamlike.audit.fair_use import check_fair_use
from roamlike.audit.offers import check_offer_cap
from roamlike.audit.retail_caps import check_eu_total, check_wb_phase1, check_wb_total
from roamlike.audit.surcharges import check_sms_mt, check_surcharge, check_voice_mt
from roamlike.errors import FxError, NotInForceError, TariffError, UnknownCountryError
from roamlike.law import Catalog, Rules, default_catalog, resolve
from roamlike.law.catalog import RegimeRules
from roamlike.tariffs import FxTable, Plan

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


def _surcharge_check(prefix: str, service: str) -> Callable[[AuditContext], Finding]:
    def run(ctx: AuditContext) -> Finding:
        return check_surcharge(ctx, prefix, service)

    return run


_CHECK_FUNCTIONS: dict[str, Callable[[AuditContext], Finding]] = {
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


def _context(plan: Plan, on: dt.date, fx: FxTable, catalog: Catalog) -> AuditContext:
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
    area_rules = RegimeRules()
    for regime in catalog.regimes:  # precedence order
        if regime.id not in reached:
            continue
        rules, members = reached[regime.id]
        # an audited area is a regime that declares its audit prefix (regimes.yaml `rules`)
        if area is None and regime.rules.audit_prefix and rules.kind in _AREA_KINDS:
            area = (rules, members)
            area_rules = regime.rules
        elif offer is None and rules.kind == "offer_cap":
            offer = (rules, members)
    return AuditContext(
        plan=plan,
        on=on,
        fx=fx,
        catalog=catalog,
        area=area[0] if area else None,
        area_members=tuple(area[1]) if area else (),
        offer=offer[0] if offer else None,
        offer_members=tuple(offer[1]) if offer else (),
        area_rules=area_rules,
    )


def _unevaluated(ctx: AuditContext, check: str, exc: Exception) -> Finding:
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


def audit_plans(
    plans: Mapping[str, Plan],
    on: dt.date,
    fx: FxTable | None = None,
    catalog: Catalog | None = None,
) -> list[Finding]:
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
    catalog : Catalog, optional
        The law to audit against (a scenario's catalog, for instance); default: the built-in one.

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
    cat = catalog or default_catalog()
    cat.coverage.check("a tariff audit", on)
    table = fx or FxTable()
    out: list[Finding] = []
    for plan in plans.values():
        out.extend(audit_plan(plan, on, table, cat))
    return out


def has_errors(findings: list[Finding]) -> bool:
    """True when an error-severity finding failed or could not be evaluated (CLI exit 1)."""
    return any(f.severity == "error" and f.status != "pass" for f in findings)
