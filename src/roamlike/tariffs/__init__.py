"""Operators' tariff plans: schema, loader, VAT, exchange rates and the fair-use allowance."""

from roamlike.tariffs.fair_use import FairUse, fair_use_allowance, home_rlah_regime
from roamlike.tariffs.fx import BAM_PEG, ECB_CURRENCIES, FxRate, FxTable
from roamlike.tariffs.schema import (
    Charging,
    DataPackage,
    OutOfBundle,
    Plan,
    RoamingPrice,
    Surcharges,
    load_plans,
    parse_plan,
    parse_plans,
)
from roamlike.tariffs.vat import excl_vat, plan_vat_rate

__all__ = [
    "BAM_PEG",
    "ECB_CURRENCIES",
    "Charging",
    "DataPackage",
    "FairUse",
    "FxRate",
    "FxTable",
    "OutOfBundle",
    "Plan",
    "RoamingPrice",
    "Surcharges",
    "excl_vat",
    "fair_use_allowance",
    "home_rlah_regime",
    "load_plans",
    "parse_plan",
    "parse_plans",
    "plan_vat_rate",
]
