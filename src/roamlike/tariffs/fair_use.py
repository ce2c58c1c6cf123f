"""Fair use of roaming data: the open-data-bundle test and the minimum roaming data volume.

Implements docs/law/fair-use.md (Implementing Regulation (EU) 2016/2286; the formula's article
number not read, grade secondary):

* An **open data bundle** is a plan with unlimited domestic data, or whose domestic unit price of
  data (recurring price excl. VAT / domestic data volume) is lower than the wholesale data cap in
  force (converted to the plan currency by the docs/law/exchange-rates.md rule).
* Its customer may use while roaming, at the domestic price, at least
  ``multiplier x price excl. VAT / cap`` GB (multiplier 2), never more than a limited domestic
  volume. Prepaid plans with a declared credit use ``credit excl. VAT / cap`` instead.
* A plan that is not an open data bundle may use its whole domestic volume while roaming; beyond
  it the domestic out-of-bundle prices apply (no fair-use surcharge).

For the Western Balkans RLAH (from 2021-07-01) the same formula is applied with the WB wholesale
data cap (docs/law/western-balkans-surcharges-beyond-fair-use.md: analogy; grade inference).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Any

from roamlike.errors import NotInForceError
from roamlike.law import Catalog, format_decimal, value_at
from roamlike.tariffs.fx import FxRate, FxTable
from roamlike.tariffs.schema import Plan
from roamlike.tariffs.vat import excl_vat

MULTIPLIER_PARAMETER = "eu.fair_use.open_bundle_multiplier"


@dataclass(frozen=True)
class FairUse:
    """The fair-use data allowance of a plan on a date, with everything it rests on."""

    plan_id: str
    on: dt.date
    regime: str
    currency: str
    is_open_data_bundle: bool
    method: str  # "open_bundle", "prepaid_credit", "not_open_bundle"
    min_roaming_data_gb: Decimal | None  # legal minimum (open bundles); None when not open
    allowance_gb: Decimal | None  # volume usable at the domestic price; None = unlimited
    price_excl_vat: Decimal
    domestic_unit_price_per_gb: Decimal | None  # None for unlimited data
    cap_eur_per_gb: Decimal
    cap_per_gb: Decimal  # in the plan currency
    cap_parameter: str
    cap_grade: str
    fx: FxRate
    multiplier: Decimal
    basis: str
    grade: str

    def to_json(self) -> dict[str, Any]:
        def dec(v: Decimal | None) -> str | None:
            return None if v is None else format_decimal(v)

        return {
            "plan_id": self.plan_id,
            "on": self.on.isoformat(),
            "regime": self.regime,
            "is_open_data_bundle": self.is_open_data_bundle,
            "method": self.method,
            "min_roaming_data_gb": dec(self.min_roaming_data_gb),
            "allowance_gb": dec(self.allowance_gb),
            "cap_eur_per_gb": dec(self.cap_eur_per_gb),
            "cap_per_gb_in_currency": dec(self.cap_per_gb),
            "cap_parameter": self.cap_parameter,
            "price_excl_vat": dec(self.price_excl_vat),
            "domestic_unit_price_per_gb": dec(self.domestic_unit_price_per_gb),
            "currency": self.currency,
            "units_per_eur": dec(self.fx.units_per_eur),
            "fx_method": self.fx.method,
            "multiplier": dec(self.multiplier),
            "basis": self.basis,
            "grade": self.grade,
        }


def fair_use_cap(regime: str, catalog: Catalog | None = None) -> tuple[str, Decimal, str]:
    """The wholesale data cap the fair-use formula uses under ``regime``, as ``regimes.yaml``
    declares it: (parameter id, GB per unit of the parameter, grade of applying the formula).

    Raises
    ------
    ValueError
        The regime declares no fair-use cap (``rules: fair_use_cap``).
    """
    from roamlike.law import default_catalog

    cat = catalog or default_catalog()
    declaring = [g for g in cat.regimes if g.rules.fair_use_cap]
    found = next((g for g in declaring if g.id == regime), None)
    if found is None:
        raise ValueError(
            f"regime must be one that declares a fair-use cap in regimes.yaml "
            f"({', '.join(g.id for g in declaring)}), found {regime!r}"
        )
    parameter = found.rules.fair_use_cap
    gb_per_unit = Decimal(1000) if cat.parameter(parameter).unit == "EUR/MB" else Decimal(1)
    return parameter, gb_per_unit, found.rules.fair_use_grade or "secondary"


def home_rlah_regime(plan: Plan, on: dt.date, catalog: Catalog | None = None) -> str:
    """The RLAH regime whose cap the fair-use formula of a plan uses (by its home country)."""
    from roamlike.law import default_catalog

    cat = catalog or default_catalog()
    for regime in cat.regimes:
        phase = regime.phase_at(on)
        if (
            regime.rules.fair_use_cap
            and phase is not None
            and phase.kind == "rlah"
            and cat.zones[regime.bound_zone].is_member(plan.home_country, on) is not None
        ):
            return regime.id
    raise NotInForceError(
        f"a fair-use allowance for plan {plan.id!r} (home {plan.home_country})",
        on,
        detail="its home country is in no RLAH area in force on that date",
    )


def fair_use_allowance(
    plan: Plan,
    on: dt.date,
    fx: FxTable | None = None,
    regime: str | None = None,
    *,
    catalog: Catalog | None = None,
) -> FairUse:
    """The fair-use roaming data allowance of ``plan`` on ``on`` (docs/law/fair-use.md).

    Parameters
    ----------
    plan : Plan
    on : datetime.date
        The day whose wholesale cap and exchange rate apply.
    fx : FxTable, optional
        Exchange rates (docs/law/exchange-rates.md); needed for plans not in EUR.
    regime : str, optional
        Whose wholesale data cap applies; default: the RLAH area of the plan's home country.
    catalog : Catalog, optional
        The law catalog; default :func:`roamlike.law.default_catalog`.

    Returns
    -------
    FairUse
        ``min_roaming_data_gb`` is unrounded (exact decimal) unless the plan sets
        ``min_roaming_data_decimals`` (then rounded up, never below the legal minimum).

    Raises
    ------
    NotInForceError
        No cap in force on ``on`` (or the home country is in no RLAH area).
    FxError
        No exchange rate for the plan currency.

    Notes
    -----
    ``min = multiplier x price_excl_vat / (cap_eur_per_gb x units_per_eur)``; prepaid with credit:
    ``credit_excl_vat / (cap_eur_per_gb x units_per_eur)``; then ``min(min, domestic volume)``.

    References
    ----------
    Commission Implementing Regulation (EU) 2016/2286 (fair use; articles not verified);
    Regulation (EU) 2022/612 Art. 1(4) (currency), Art. 5, Art. 11(1).
    """
    regime = regime or home_rlah_regime(plan, on, catalog)
    parameter, gb_per_unit, grade = fair_use_cap(regime, catalog)
    cap = value_at(parameter, on, catalog)
    multiplier = value_at(MULTIPLIER_PARAMETER, on, catalog)
    rate = (fx or FxTable()).rate(plan.currency, on)
    cap_eur_per_gb = cap.value * gb_per_unit
    cap_per_gb = cap_eur_per_gb * rate.units_per_eur
    price = excl_vat(plan, plan.price, on, catalog)

    unit_price: Decimal | None = None
    if plan.data_allowance_gb is None:
        is_open = True
    elif plan.data_allowance_gb == 0:
        is_open = False
    else:
        unit_price = price / plan.data_allowance_gb
        is_open = unit_price < cap_per_gb

    basis = (
        "eu_2016_2286 (open data bundles; article not verified), docs/law/fair-use.md; cap "
        f"{parameter} ({cap.basis.cite()})"
    )
    minimum: Decimal | None = None
    if not is_open:
        method = "not_open_bundle"
        allowance = plan.data_allowance_gb
    else:
        if plan.billing_period == "prepaid" and plan.prepaid_credit is not None:
            method = "prepaid_credit"
            minimum = plan.prepaid_credit / cap_per_gb
        else:
            method = "open_bundle"
            minimum = multiplier.value * price / cap_per_gb
        if plan.min_roaming_data_decimals is not None:
            minimum = minimum.quantize(
                Decimal(1).scaleb(-plan.min_roaming_data_decimals), rounding=ROUND_CEILING
            )
        if plan.data_allowance_gb is not None:
            minimum = min(minimum, plan.data_allowance_gb)
        allowance = minimum
    return FairUse(
        plan_id=plan.id,
        on=on,
        regime=regime,
        currency=plan.currency,
        is_open_data_bundle=is_open,
        method=method,
        min_roaming_data_gb=minimum,
        allowance_gb=allowance,
        price_excl_vat=price,
        domestic_unit_price_per_gb=unit_price,
        cap_eur_per_gb=cap_eur_per_gb,
        cap_per_gb=cap_per_gb,
        cap_parameter=parameter,
        cap_grade=cap.grade,
        fx=rate,
        multiplier=multiplier.value,
        basis=basis,
        grade=grade,
    )
