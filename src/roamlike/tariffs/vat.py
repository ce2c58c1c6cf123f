"""VAT of a plan on a date, and conversion of plan prices to amounts excluding VAT."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from roamlike.law import Catalog, default_catalog
from roamlike.tariffs.schema import Plan


def plan_vat_rate(plan: Plan, on: dt.date, catalog: Catalog | None = None) -> Decimal:
    """The VAT rate applying to the plan's charges on ``on``.

    The plan's own ``vat_rate`` when given, else the standard rate of its home country on that
    date (the place of supply of telecom services to consumers is the customer's country).

    Raises
    ------
    UnknownCountryError, NotInForceError
        The home country or a rate for the date is missing from the catalog.
    """
    if plan.vat_rate is not None:
        return plan.vat_rate
    return (catalog or default_catalog()).country(plan.home_country).vat_at(on).value


def excl_vat(plan: Plan, amount: Decimal, on: dt.date, catalog: Catalog | None = None) -> Decimal:
    """A plan amount without VAT: ``amount / (1 + vat)`` if the plan's prices include VAT.

    Exact decimal division (context precision); rounding happens only in ``roamlike.money``.

    Examples
    --------
    >>> from roamlike.tariffs.schema import OutOfBundle
    >>> p = Plan("p", "DE", "EUR", Decimal("20.00"), True, "month",
    ...          OutOfBundle(Decimal(0), Decimal(0), Decimal(0)), None, None, None,
    ...          vat_rate=Decimal("0.25"))
    >>> excl_vat(p, Decimal("20.00"), dt.date(2026, 1, 1))
    Decimal('16')
    """
    if not plan.price_includes_vat:
        return amount
    return amount / (1 + plan_vat_rate(plan, on, catalog))
