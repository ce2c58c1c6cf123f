"""Fair use of roaming data (``roamlike.tariffs.fair_use``): docs/law/fair-use.md.

Implementing Regulation (EU) 2016/2286 (open data bundles; grade secondary), wholesale data caps
of Regulation (EU) 2022/612 Art. 11(1) (and the pre-recast glide path,
docs/law/eu-history-before-recast.md), WB wholesale
cap by analogy (docs/law/western-balkans-surcharges-beyond-fair-use.md).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from roamlike.errors import FxError, NotInForceError
from roamlike.tariffs import FxTable, Plan, fair_use_allowance, home_rlah_regime, parse_plan

FX_CSV = Path(__file__).parent / "fx_rates.csv"
MARCH_2026 = dt.date(2026, 3, 1)
RSD_FX = FxTable.from_rows([(dt.date(2026, 2, 1), "RSD", Decimal("117.5"))], source="test")


def plan(**overrides: Any) -> Plan:
    raw: dict[str, Any] = {
        "id": "p",
        "home_country": "DE",
        "currency": "EUR",
        "price": "30.00",
        "price_includes_vat": False,
        "billing_period": "month",
        "data_allowance_gb": "unlimited",
        "voice_allowance_min": "unlimited",
        "sms_allowance": "unlimited",
        "out_of_bundle": {"voice_per_min": "0.09", "sms": "0.09", "data_per_mb": "0.01"},
    }
    raw.update(overrides)
    return parse_plan(raw)


# (a) -------------------------------------------------------------------------------------


def test_p10_de_plan_incl_vat_above_cap_is_not_open() -> None:
    de = plan(price="20.00", price_includes_vat=True, data_allowance_gb="10")
    fu = fair_use_allowance(de, MARCH_2026)
    price = Decimal("20.00") / Decimal("1.19")  # DE standard VAT 19 % from the catalog
    assert fu.price_excl_vat == price
    assert fu.domestic_unit_price_per_gb == price / Decimal(10)
    assert str(fu.domestic_unit_price_per_gb).startswith("1.6806722")
    assert fu.domestic_unit_price_per_gb > Decimal("1.10")
    assert fu.cap_eur_per_gb == Decimal("1.10")
    assert fu.regime == "eu_rlah"
    assert fu.is_open_data_bundle is False
    assert fu.method == "not_open_bundle"
    assert fu.min_roaming_data_gb is None
    assert fu.allowance_gb == Decimal(10)


def test_p10_plan_vat_rate_overrides_the_country_rate() -> None:
    de = plan(price="20.00", price_includes_vat=True, vat_rate="0.25", data_allowance_gb="10")
    assert fair_use_allowance(de, MARCH_2026).price_excl_vat == Decimal(16)


# (b) -------------------------------------------------------------------------------------


def test_p10_unlimited_plan_2026() -> None:
    fu = fair_use_allowance(plan(), MARCH_2026)
    assert fu.is_open_data_bundle is True
    assert fu.method == "open_bundle"
    assert fu.domestic_unit_price_per_gb is None
    assert fu.multiplier == Decimal(2)
    assert fu.cap_parameter == "eu.wholesale.data_eur_per_gb"
    assert fu.cap_grade == "legal"
    assert fu.min_roaming_data_gb == Decimal(60) / Decimal("1.10")
    assert str(fu.min_roaming_data_gb).startswith("54.545")
    assert fu.allowance_gb == fu.min_roaming_data_gb


def test_p10_unlimited_plan_2027_cap_one_euro() -> None:
    fu = fair_use_allowance(plan(), dt.date(2027, 1, 1))
    assert fu.cap_eur_per_gb == Decimal("1.00")
    assert fu.min_roaming_data_gb == Decimal(60)


def test_p10_cap_changes_on_1_january() -> None:
    before = fair_use_allowance(plan(), dt.date(2025, 12, 31))
    assert before.min_roaming_data_gb == Decimal(60) / Decimal("1.30")
    assert fair_use_allowance(plan(), dt.date(2026, 1, 1)).min_roaming_data_gb == Decimal(
        60
    ) / Decimal("1.10")


# (c) -------------------------------------------------------------------------------------


def test_p10_limited_plan_below_cap_is_open() -> None:
    fu = fair_use_allowance(plan(price="10.00", data_allowance_gb="100"), MARCH_2026)
    assert fu.domestic_unit_price_per_gb == Decimal("0.1")
    assert fu.is_open_data_bundle is True
    assert fu.min_roaming_data_gb == Decimal(20) / Decimal("1.10")
    assert str(fu.min_roaming_data_gb).startswith("18.18")


def test_p10_limited_plan_above_cap_is_not_open() -> None:
    fu = fair_use_allowance(plan(price="10.00", data_allowance_gb="5"), MARCH_2026)
    assert fu.domestic_unit_price_per_gb == Decimal(2)
    assert fu.is_open_data_bundle is False
    assert fu.min_roaming_data_gb is None
    assert fu.allowance_gb == Decimal(5)


def test_p10_unit_price_equal_to_cap_is_not_open() -> None:
    # "lower than the wholesale data cap": equality is not lower.
    fu = fair_use_allowance(plan(price="11.00", data_allowance_gb="10"), MARCH_2026)
    assert fu.domestic_unit_price_per_gb == Decimal("1.10")
    assert fu.is_open_data_bundle is False


def test_p10_zero_data_allowance_is_not_open() -> None:
    fu = fair_use_allowance(plan(data_allowance_gb="0"), MARCH_2026)
    assert fu.is_open_data_bundle is False
    assert fu.allowance_gb == Decimal(0)


# (d) -------------------------------------------------------------------------------------


def test_p10_never_above_the_domestic_volume() -> None:
    fu = fair_use_allowance(plan(price="15.00", data_allowance_gb="20"), MARCH_2026)
    assert fu.is_open_data_bundle is True
    assert Decimal(30) / Decimal("1.10") > Decimal(20)
    assert fu.min_roaming_data_gb == Decimal(20)
    assert fu.allowance_gb == Decimal(20)


# (e) -------------------------------------------------------------------------------------


def test_p10_prepaid_credit() -> None:
    prepaid = plan(price="0.00", billing_period="prepaid", prepaid_credit="11.00")
    fu = fair_use_allowance(prepaid, MARCH_2026)
    assert fu.method == "prepaid_credit"
    assert fu.is_open_data_bundle is True
    assert fu.min_roaming_data_gb == Decimal(10)


def test_p10_prepaid_without_credit_uses_the_price() -> None:
    prepaid = plan(price="5.50", billing_period="prepaid")
    fu = fair_use_allowance(prepaid, MARCH_2026)
    assert fu.method == "open_bundle"
    assert fu.min_roaming_data_gb == Decimal(10)


def test_p10_prepaid_credit_is_declared_excl_vat() -> None:
    # The issue's plan schema declares prepaid_credit as "credit excl. VAT at the start of
    # roaming", so it is not a price and does not follow price_includes_vat.
    prepaid = plan(
        price="0.00",
        price_includes_vat=True,
        vat_rate="0.10",
        billing_period="prepaid",
        prepaid_credit="11.00",
    )
    fu = fair_use_allowance(prepaid, MARCH_2026)
    assert fu.min_roaming_data_gb == Decimal("11.00") / Decimal("1.10")


# (f) -------------------------------------------------------------------------------------


def test_p7_serbian_plan_uses_the_wb_wholesale_cap() -> None:
    rs = plan(home_country="RS", currency="RSD", price="2000.00")
    assert home_rlah_regime(rs, MARCH_2026) == "wb_rra"
    fu = fair_use_allowance(rs, MARCH_2026, RSD_FX)
    assert fu.regime == "wb_rra"
    assert fu.cap_parameter == "wb.wholesale.data_eur_per_mb"
    assert fu.cap_eur_per_gb == Decimal("2.5")  # 0.0025 EUR/MB x 1000
    assert fu.fx.units_per_eur == Decimal("117.5")
    assert fu.cap_per_gb == Decimal("293.75")
    assert fu.currency == "RSD"
    assert fu.grade == "inference"
    assert fu.min_roaming_data_gb == Decimal(4000) / Decimal("293.75")
    assert str(fu.min_roaming_data_gb).startswith("13.617021")
    assert fair_use_allowance(rs, MARCH_2026, RSD_FX, regime="wb_rra") == fu


def test_p7_serbian_limited_plan_test_against_the_converted_cap() -> None:
    rs = plan(home_country="RS", currency="RSD", price="2000.00", data_allowance_gb="10")
    wb = fair_use_allowance(rs, MARCH_2026, RSD_FX, regime="wb_rra")
    assert wb.domestic_unit_price_per_gb == Decimal(200)
    assert wb.is_open_data_bundle is True  # 200 < 293.75 RSD/GB
    assert wb.min_roaming_data_gb == Decimal(10)
    eu = fair_use_allowance(rs, MARCH_2026, RSD_FX, regime="eu_rlah")
    assert eu.cap_per_gb == Decimal("129.25")  # 1.10 x 117.5
    assert eu.is_open_data_bundle is False


def test_p11_non_eur_plan_without_fx_raises() -> None:
    rs = plan(home_country="RS", currency="RSD", price="2000.00")
    with pytest.raises(FxError, match=r"no RSD rate on or before 2026-03-01"):
        fair_use_allowance(rs, MARCH_2026)


def test_p11_ecb_currency_uses_the_mean_in_force() -> None:
    pl_plan = plan(home_country="PL", currency="PLN", price="50.00")
    fx = FxTable.from_csv(FX_CSV)
    before = fair_use_allowance(pl_plan, dt.date(2026, 5, 14), fx)
    assert before.cap_per_gb == Decimal("1.10") * Decimal("4.2")
    assert before.min_roaming_data_gb == Decimal(100) / Decimal("4.62")
    after = fair_use_allowance(pl_plan, dt.date(2026, 5, 15), fx)
    assert after.cap_per_gb == Decimal("4.697")  # 1.10 x 4.27
    assert after.min_roaming_data_gb == Decimal(100) / Decimal("4.697")


def test_p6_no_wb_fair_use_before_rlah() -> None:
    rs = plan(home_country="RS", currency="RSD", price="2000.00")
    fx = FxTable.from_rows([(dt.date(2020, 1, 1), "RSD", Decimal("117.5"))])
    with pytest.raises(NotInForceError):
        fair_use_allowance(rs, dt.date(2021, 6, 30), fx)


def test_p6_wb_fair_use_from_rlah_start() -> None:
    rs = plan(home_country="RS", currency="RSD", price="2000.00")
    fx = FxTable.from_rows([(dt.date(2020, 1, 1), "RSD", Decimal("117.5"))])
    fu = fair_use_allowance(rs, dt.date(2021, 7, 1), fx)
    assert fu.cap_eur_per_gb == Decimal("7.7")


# (g) -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decimals", "expected"),
    [(3, "54.546"), (0, "55"), (1, "54.6"), (9, "54.545454546")],
)
def test_min_roaming_data_decimals_rounds_up(decimals: int, expected: str) -> None:
    fu = fair_use_allowance(plan(min_roaming_data_decimals=decimals), MARCH_2026)
    assert fu.min_roaming_data_gb is not None
    assert str(fu.min_roaming_data_gb) == expected
    assert fu.min_roaming_data_gb >= Decimal(60) / Decimal("1.10")


def test_min_roaming_data_decimals_keeps_exact_values() -> None:
    fu = fair_use_allowance(plan(min_roaming_data_decimals=3), dt.date(2027, 3, 1))
    assert fu.min_roaming_data_gb == Decimal(60)


# (h) -------------------------------------------------------------------------------------


@pytest.mark.parametrize("regime", [None, "eu_rlah"])
def test_p2_before_rlah_not_in_force(regime: str | None) -> None:
    with pytest.raises(NotInForceError) as info:
        fair_use_allowance(plan(), dt.date(2017, 6, 14), regime=regime)
    assert "2017-06-14" in str(info.value)


def test_p2_first_day_of_rlah() -> None:
    fu = fair_use_allowance(plan(), dt.date(2017, 6, 15))
    assert fu.cap_eur_per_gb == Decimal("7.70")
    assert fu.cap_grade == "official"  # the 2017/920 caps, EP Legislative Observatory summary


def test_digest_2_6_nl_2017_a_little_over_15_gb() -> None:
    # adnl_2017: EUR 57.85/month excl. VAT, cap EUR 7.70/GB -> "ruim 15 GB"
    nl = plan(home_country="NL", price="57.85")
    fu = fair_use_allowance(nl, dt.date(2017, 7, 1))
    assert fu.cap_eur_per_gb == Decimal("7.70")
    assert fu.min_roaming_data_gb == Decimal("115.70") / Decimal("7.70")
    assert str(fu.min_roaming_data_gb).startswith("15.025974")


def test_digest_2_6_de_2017_about_4_3_gb() -> None:
    # roamingeu_prices: EUR 20 incl. VAT for 10 GB -> "about 4.3 GB" (19 % VAT, our assumption)
    de = plan(price="20.00", price_includes_vat=True, data_allowance_gb="10")
    fu = fair_use_allowance(de, dt.date(2017, 7, 1))
    assert fu.is_open_data_bundle is True
    assert fu.min_roaming_data_gb == Decimal(2) * (Decimal("20.00") / Decimal("1.19")) / Decimal(
        "7.70"
    )
    assert str(fu.min_roaming_data_gb).startswith("4.365")


def test_home_outside_any_rlah_area() -> None:
    gb = plan(home_country="GB", currency="EUR")
    assert home_rlah_regime(gb, dt.date(2020, 12, 31)) == "eu_rlah"
    with pytest.raises(NotInForceError) as info:
        fair_use_allowance(gb, dt.date(2021, 1, 1))
    message = str(info.value)
    assert "plan 'p' (home GB)" in message
    assert "in no RLAH area" in message


def test_to_json_is_exact_text() -> None:
    doc = fair_use_allowance(plan(price="15.00", data_allowance_gb="20"), MARCH_2026).to_json()
    assert doc["min_roaming_data_gb"] == "20"
    assert doc["domestic_unit_price_per_gb"] == "0.75"
    assert doc["cap_per_gb_in_currency"] == "1.10"
    assert doc["on"] == "2026-03-01"


def test_ukraine_moldova_plans_use_the_eu_formula_from_2026() -> None:
    # docs/law/ukraine-moldova.md: UA and MD providers are bound by the EU rules with the EU only;
    # the fair-use formula of their plans uses the EU wholesale data cap (EUR 1.10/GB in 2026)
    for home in ("UA", "MD"):
        fu = fair_use_allowance(plan(home_country=home), dt.date(2026, 3, 1))
        assert fu.cap_eur_per_gb == Decimal("1.10"), home
        with pytest.raises(NotInForceError):
            fair_use_allowance(plan(home_country=home), dt.date(2025, 12, 31))


def test_a_swiss_plan_has_no_fair_use_allowance() -> None:
    with pytest.raises(NotInForceError, match="in no RLAH area"):
        fair_use_allowance(plan(home_country="CH", vat_rate="0.081"), dt.date(2026, 3, 1))
