"""The reference rater's own formulas: rounding, VAT, prices excluding VAT, fair use.

The engine takes these from ``roamlike.money`` and ``roamlike.tariffs``; the oracle computes
them again here, from the law catalog's data and the wording of ``docs/rating.md``, so that a
defect in a shared formula shows up as an engine/reference mismatch (``tests/reference/
test_oracle_independence.py`` mutates each shared formula and checks the property test sees it).

Everything is written differently on purpose: rounding with ``Decimal.quantize`` instead of
integer ``divmod``; fair use as the two sentences of rating.md §5.2 rather than a result object.

References
----------
docs/rating.md §4 (rates, VAT removal, rounding), §5 (charges), §5.2 (fair use), §6 (VAT);
Commission Implementing Regulation (EU) 2016/2286 (open data bundles, minimum roaming volume).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal, localcontext

from roamlike.law import Catalog, value_at
from roamlike.tariffs import FxTable, Plan

_ONE = Decimal(1)
_NANO = Decimal("0.000000001")
_MICRO = Decimal("0.000001")

#: The multiplier of the open-bundle formula (rating.md §5.2).
FAIR_USE_MULTIPLIER = "eu.fair_use.open_bundle_multiplier"


def fair_use_cap_of_regime(regime: str, catalog: Catalog) -> tuple[str, Decimal]:
    """The wholesale data cap the regime's fair-use formula uses, as ``regimes.yaml`` declares
    it: parameter id and how many GB its unit holds (a per-MB cap: 1000) (rating.md §5.2)."""
    parameter = catalog.regime(regime).rules.fair_use_cap
    if not parameter:
        raise ValueError(f"regime {regime!r} declares no fair-use cap in regimes.yaml")
    return parameter, Decimal(1000) if catalog.parameter(parameter).unit == "EUR/MB" else _ONE


def half_even(amount: Decimal, step: Decimal) -> Decimal:
    """``amount`` rounded half-even to a multiple of ``step`` (rating.md §4, §5, §6)."""
    return amount.quantize(step, rounding=ROUND_HALF_EVEN)


def rate_nanos(rate: Decimal) -> int:
    """A unit rate as whole nanos of the currency, rounded half-even (rating.md §4)."""
    return int(half_even(rate, _NANO).scaleb(9))


def micros(amount: Decimal) -> int:
    """An amount as whole micros of the currency, rounded half-even (limits, rating.md §5.6)."""
    return int(half_even(amount, _MICRO).scaleb(6))


def charge(units: int, nanos: int, divisor: int) -> int:
    """``round_half_even(units x rate / divisor)`` in micros (rating.md §5), in exact decimals."""
    with localcontext() as ctx:
        ctx.prec = 60  # units x nanos has at most about 40 digits: the quotient stays exact
        exact = (Decimal(units) * Decimal(nanos)).scaleb(-3) / Decimal(divisor)
        return int(exact.quantize(_ONE, rounding=ROUND_HALF_EVEN))


def vat_amount(charge_excl_vat_micros: int, vat_rate: Decimal) -> int:
    """VAT in micros: ``round_half_even(charge x vat_rate)`` (rating.md §6)."""
    with localcontext() as ctx:
        ctx.prec = 60
        return int((Decimal(charge_excl_vat_micros) * vat_rate).quantize(_ONE, ROUND_HALF_EVEN))


def vat_rate_of(plan: Plan, on: dt.date, catalog: Catalog) -> Decimal:
    """The plan's own VAT rate, else its home country's standard rate on ``on`` (rating.md §4)."""
    if plan.vat_rate is not None:
        return plan.vat_rate
    return catalog.country(plan.home_country).vat_at(on).value


def net_of_vat(plan: Plan, amount: Decimal, on: dt.date, catalog: Catalog) -> Decimal:
    """A plan price without VAT: gross / (1 + VAT) when the plan's prices include VAT (§1.2)."""
    if plan.price_includes_vat:
        return amount / (_ONE + vat_rate_of(plan, on, catalog))
    return amount


@dataclass(frozen=True)
class FairUseVolume:
    """The fair-use data volume of rating.md §5.2 for one plan, date and regime."""

    is_open_data_bundle: bool
    volume_gb: Decimal | None  # None: unlimited (an open bundle with no limit cannot occur)
    cap_parameter: str


def fair_use_volume(
    plan: Plan, on: dt.date, fx: FxTable, regime: str, catalog: Catalog
) -> FairUseVolume:
    """Whether ``plan`` is an open data bundle on ``on``, and the volume usable at home prices.

    Notes
    -----
    ``cap = wholesale data cap in EUR/GB x units_per_eur``; the plan is an open data bundle when
    its domestic data is unlimited or ``price excl. VAT / domestic GB < cap``. Then the volume is
    ``multiplier x price excl. VAT / cap`` (prepaid with a declared credit: ``credit / cap``),
    rounded up to ``min_roaming_data_decimals`` when the plan asks, and never more than the
    domestic volume. Otherwise the volume is the domestic volume (reported, never surcharged).
    """
    parameter, gb_per_unit = fair_use_cap_of_regime(regime, catalog)
    cap_eur = value_at(parameter, on, catalog).value * gb_per_unit
    cap = cap_eur * fx.rate(plan.currency, on).units_per_eur
    price = net_of_vat(plan, plan.price, on, catalog)
    domestic_gb = plan.data_allowance_gb
    is_open = domestic_gb is None or (domestic_gb != 0 and price / domestic_gb < cap)
    if not is_open:
        return FairUseVolume(False, domestic_gb, parameter)
    if plan.billing_period == "prepaid" and plan.prepaid_credit is not None:
        volume = plan.prepaid_credit / cap
    else:
        volume = value_at(FAIR_USE_MULTIPLIER, on, catalog).value * price / cap
    if plan.min_roaming_data_decimals is not None:
        step = _ONE.scaleb(-plan.min_roaming_data_decimals)
        volume = volume.quantize(step, rounding=ROUND_CEILING)
    if domestic_gb is not None and domestic_gb < volume:
        volume = domestic_gb
    return FairUseVolume(True, volume, parameter)
