"""The tariff-plan schema and its strict loader (``roamlike.tariffs.schema``).

One test per failure mode, each asserting that the message names the file, the plan (where one
is known) and what was wrong.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from roamlike.errors import TariffError
from roamlike.tariffs import (
    Charging,
    DataPackage,
    OutOfBundle,
    Plan,
    RoamingPrice,
    Surcharges,
    load_plans,
    parse_plan,
)

PLANS_DIR = Path(__file__).parent / "plans"

EXPECTED_FULL = Plan(
    id="rs-full",
    name="Full Serbia",
    operator="Example Telecom",
    home_country="RS",
    currency="RSD",
    price=Decimal("2000.00"),
    price_includes_vat=True,
    vat_rate=Decimal("0.20"),
    billing_period="28d",
    period_anchor=dt.date(2024, 1, 1),
    data_allowance_gb=Decimal("25.5"),
    voice_allowance_min=Decimal("1000"),
    sms_allowance=300,
    out_of_bundle=OutOfBundle(
        voice_per_min=Decimal("9.90"),
        sms=Decimal("4.90"),
        data_per_mb=Decimal("0.50"),
        mms=Decimal("12.00"),
        voice_mt_per_min=Decimal("0.10"),
    ),
    surcharges=Surcharges(
        voice_mo_per_min=Decimal("1.10"),
        voice_mt_per_min=Decimal("0.20"),
        sms_mo=Decimal("0.30"),
        data_per_gb=Decimal("250"),
    ),
    roaming_prices=(
        RoamingPrice(
            countries=("AT", "DE"),
            voice_mo_per_min=Decimal("50"),
            voice_mt_per_min=Decimal("20"),
            sms_mo=Decimal("15"),
            sms_mt=Decimal("0"),
            data_per_mb=Decimal("1.5"),
            mms=Decimal("30"),
        ),
        RoamingPrice(countries=("*",), data_per_mb=Decimal("3")),
    ),
    data_packages=(
        DataPackage("EU 5 GB", Decimal("5"), Decimal("1200"), ("FR", "*")),
        DataPackage("World 1 GB", Decimal("1"), Decimal("900"), ("*",)),
    ),
    roaming_data_allowance_gb=Decimal("12.25"),
    binary_units=True,
    prepaid_credit=Decimal("500.00"),
    charging=Charging(
        voice_mo_initial_s=60,
        voice_mo_increment_s=60,
        voice_mt_initial_s=1,
        voice_mt_increment_s=30,
        data_increment_kb=100,
    ),
    billshock_limit_eur=Decimal("60.00"),
    billshock_continue=True,
    is_m2m=True,
    eu_wb_signatory=True,
    min_roaming_data_decimals=3,
    notes="fixture with every field",
)


def minimal_plan(**overrides: Any) -> dict[str, Any]:
    """A minimal valid plan mapping (strings where the schema wants quoted amounts)."""
    plan: dict[str, Any] = {
        "id": "p1",
        "home_country": "DE",
        "currency": "EUR",
        "price": "20.00",
        "price_includes_vat": True,
        "billing_period": "month",
        "data_allowance_gb": "10",
        "voice_allowance_min": "unlimited",
        "sms_allowance": "unlimited",
        "out_of_bundle": {"voice_per_min": "0.09", "sms": "0.09", "data_per_mb": "0.01"},
    }
    plan.update(overrides)
    return plan


def write_yaml(tmp_path: Path, plans: list[Any], name: str = "plans.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"plans": plans}, sort_keys=False), encoding="utf-8")
    return path


def write_text(tmp_path: Path, text: str, name: str = "plans.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    with pytest.raises(TariffError) as info:
        load_plans(path)
    message = str(info.value)
    assert str(path) in message, message
    return message


# ------------------------------------------------------------------------------------------
# Valid files


def test_full_plan_yaml_parses_every_field() -> None:
    plans = load_plans(PLANS_DIR / "full.yaml")
    assert plans == {"rs-full": EXPECTED_FULL}


def test_full_plan_json_parses_every_field() -> None:
    plans = load_plans(str(PLANS_DIR / "full.json"))
    assert plans == {"rs-full": EXPECTED_FULL}


def test_parse_plan_minimal_applies_defaults() -> None:
    plan = parse_plan(minimal_plan())
    assert plan == Plan(
        id="p1",
        home_country="DE",
        currency="EUR",
        price=Decimal("20.00"),
        price_includes_vat=True,
        billing_period="month",
        out_of_bundle=OutOfBundle(Decimal("0.09"), Decimal("0.09"), Decimal("0.01")),
        data_allowance_gb=Decimal("10"),
        voice_allowance_min=None,
        sms_allowance=None,
    )
    assert plan.period_anchor == dt.date(2017, 1, 2)
    assert plan.out_of_bundle.voice_mt_per_min == Decimal(0)
    assert plan.charging == Charging(30, 1, 0, 1, 1)


def test_yaml_and_json_files_load_several_plans(tmp_path: Path) -> None:
    raw = [minimal_plan(), minimal_plan(id="p2", data_allowance_gb="unlimited")]
    from_yaml = load_plans(write_yaml(tmp_path, raw, "plans.yml"))
    json_path = tmp_path / "plans.json"
    json_path.write_text(json.dumps({"plans": raw}), encoding="utf-8")
    from_json = load_plans(json_path)
    assert list(from_yaml) == ["p1", "p2"]
    assert from_yaml == from_json
    assert from_yaml["p2"].data_allowance_gb is None


# ------------------------------------------------------------------------------------------
# Error paths: one per failure mode


def test_unknown_key(tmp_path: Path) -> None:
    message = load_error(write_yaml(tmp_path, [minimal_plan(colour="red")]))
    assert "plan 'p1'" in message
    assert "unknown key 'colour'" in message


def test_unknown_nested_key(tmp_path: Path) -> None:
    oob = {"voice_per_min": "0.09", "sms": "0.09", "data_per_mb": "0.01", "fax": "1"}
    message = load_error(write_yaml(tmp_path, [minimal_plan(out_of_bundle=oob)]))
    assert "plan 'p1'" in message
    assert "unknown key 'fax' in out_of_bundle" in message


def test_missing_required_key(tmp_path: Path) -> None:
    raw = minimal_plan()
    del raw["billing_period"]
    message = load_error(write_yaml(tmp_path, [raw]))
    assert "plan 'p1'" in message
    assert "missing required key 'billing_period'" in message


def test_unquoted_float_price_in_yaml(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, [minimal_plan(price=20.0)])
    assert "price: 20.0\n" in path.read_text(encoding="utf-8")  # really unquoted
    message = load_error(path)
    assert "plan 'p1'" in message
    assert "plan.price must be a quoted decimal string" in message
    assert "20.0" in message


def test_unquoted_integer_price_in_yaml(tmp_path: Path) -> None:
    message = load_error(write_yaml(tmp_path, [minimal_plan(price=20)]))
    assert "plan 'p1'" in message
    assert "plan.price must be a quoted decimal string" in message


def test_unquoted_float_price_in_json(tmp_path: Path) -> None:
    text = json.dumps({"plans": [minimal_plan(price="@")]}).replace('"@"', "20.00")
    assert '"price": 20.00' in text
    message = load_error(write_text(tmp_path, text, "plans.json"))
    assert "plan.price must be a quoted decimal string" in message


def test_not_a_number_price(tmp_path: Path) -> None:
    message = load_error(write_yaml(tmp_path, [minimal_plan(price="twenty")]))
    assert "plan 'p1'" in message
    assert "plan.price is not a decimal number: 'twenty'" in message


def test_negative_price(tmp_path: Path) -> None:
    message = load_error(write_yaml(tmp_path, [minimal_plan(price="-1.00")]))
    assert "plan 'p1'" in message
    assert "plan.price must be an amount >= 0 and at most 1,000,000,000, found '-1.00'" in message


def test_infinite_price(tmp_path: Path) -> None:
    message = load_error(write_yaml(tmp_path, [minimal_plan(price="Infinity")]))
    assert "plan.price must be an amount >= 0 and at most 1,000,000,000" in message


def test_bad_billing_period(tmp_path: Path) -> None:
    message = load_error(write_yaml(tmp_path, [minimal_plan(billing_period="weekly")]))
    assert "plan 'p1'" in message
    assert "billing_period must be one of month, 28d, prepaid, found 'weekly'" in message


@pytest.mark.parametrize("currency", ["EURO", "E1R", "", 978])
def test_bad_currency(tmp_path: Path, currency: object) -> None:
    message = load_error(write_yaml(tmp_path, [minimal_plan(currency=currency)]))
    assert "plan 'p1'" in message
    assert "currency" in message
    assert repr(currency) in message


@pytest.mark.parametrize("vat", ["1", "1.19", "19", "0.1234567"])
def test_vat_rate_is_a_fraction_with_six_decimals_at_most(tmp_path: Path, vat: str) -> None:
    message = load_error(write_yaml(tmp_path, [minimal_plan(vat_rate=vat)]))
    assert "plan 'p1'" in message
    assert f"vat_rate is a fraction with at most 6 decimals such as \"0.19\", found '{vat}'" in (
        message
    )


def test_vat_rate_just_below_one_is_accepted() -> None:
    assert parse_plan(minimal_plan(vat_rate="0.999")).vat_rate == Decimal("0.999")


def test_duplicate_plan_id(tmp_path: Path) -> None:
    message = load_error(write_yaml(tmp_path, [minimal_plan(), minimal_plan(price="5.00")]))
    assert "plan 'p1'" in message
    assert "duplicate plan id" in message


def test_duplicate_yaml_key(tmp_path: Path) -> None:
    text = yaml.safe_dump({"plans": [minimal_plan()]}, sort_keys=False)
    text = text.replace("  price: '20.00'\n", "  price: '20.00'\n  price: '25.00'\n")
    assert text.count("price: '") == 2
    path = write_text(tmp_path, text)
    message = load_error(path)
    line = text.splitlines().index("  price: '25.00'") + 1
    assert "duplicate key 'price'" in message
    assert f"(line {line})" in message


def test_duplicate_json_key(tmp_path: Path) -> None:
    text = json.dumps({"plans": [minimal_plan()]}).replace(
        '"price": "20.00"', '"price": "20.00", "price": "25.00"'
    )
    message = load_error(write_text(tmp_path, text, "plans.json"))
    assert "duplicate key 'price'" in message


def test_unquoted_norway_in_country_list(tmp_path: Path) -> None:
    text = yaml.safe_dump({"plans": [minimal_plan()]}, sort_keys=False) + (
        "  roaming:\n    prices:\n      - countries: [SE, NO]\n        data_per_mb: '0.10'\n"
    )
    message = load_error(write_text(tmp_path, text))
    assert "plan 'p1'" in message
    assert "roaming.prices[0].countries has False" in message
    assert "quote country codes (NO would read as false)" in message


def test_empty_country_list(tmp_path: Path) -> None:
    roaming = {"prices": [{"countries": [], "data_per_mb": "0.10"}]}
    message = load_error(write_yaml(tmp_path, [minimal_plan(roaming=roaming)]))
    assert "roaming.prices[0].countries must be a non-empty list" in message


@pytest.mark.parametrize("name", ["plans.toml", "plans.txt", "plans"])
def test_unknown_file_extension(tmp_path: Path, name: str) -> None:
    path = write_text(tmp_path, "plans: []\n", name)
    message = load_error(path)
    assert "unknown plan file type" in message
    assert "expected .yaml, .yml or .json" in message


@pytest.mark.parametrize("text", ["plans: []\n", "plans:\n", "plans: {}\n"])
def test_empty_plans_list(tmp_path: Path, text: str) -> None:
    message = load_error(write_text(tmp_path, text))
    assert "'plans' must be a non-empty list" in message


@pytest.mark.parametrize("text", ["", "- a\n", "plans: [x]\nextra: 1\n"])
def test_document_shape(tmp_path: Path, text: str) -> None:
    message = load_error(write_text(tmp_path, text))
    assert re.search(r"a plans file is a mapping with one key, 'plans'|must be a mapping", message)


def test_missing_file(tmp_path: Path) -> None:
    message = load_error(tmp_path / "absent.yaml")
    assert "cannot read file" in message


def test_error_names_plan_by_index_when_id_missing(tmp_path: Path) -> None:
    raw = minimal_plan()
    del raw["id"]
    message = load_error(write_yaml(tmp_path, [raw]))
    assert "missing required key 'id'" in message


def test_bad_sms_allowance(tmp_path: Path) -> None:
    message = load_error(write_yaml(tmp_path, [minimal_plan(sms_allowance=-5)]))
    assert "sms_allowance must be a whole number or 'unlimited', found -5" in message


def test_bad_min_roaming_data_decimals(tmp_path: Path) -> None:
    message = load_error(write_yaml(tmp_path, [minimal_plan(min_roaming_data_decimals=10)]))
    assert "min_roaming_data_decimals must be a whole number from 0 to 9" in message


def test_parse_plan_without_path_names_plan() -> None:
    with pytest.raises(TariffError, match=r"^plan 'p1': billing_period must be one of"):
        parse_plan(minimal_plan(billing_period="year"))


# ------------------------------------------------------------------------------------------
# roaming_price()


def _with_prices(prices: list[dict[str, Any]]) -> Plan:
    return parse_plan(minimal_plan(roaming={"prices": copy.deepcopy(prices)}))


def test_roaming_price_country_entry_wins_over_star_listed_first() -> None:
    plan = _with_prices(
        [
            {"countries": ["*"], "data_per_mb": "1.00"},
            {"countries": ["RS", "ME"], "data_per_mb": "0.20"},
        ]
    )
    entry = plan.roaming_price("ME")
    assert entry is not None
    assert entry.data_per_mb == Decimal("0.20")
    star = plan.roaming_price("TR")
    assert star is not None
    assert star.countries == ("*",)
    assert star.data_per_mb == Decimal("1.00")


def test_roaming_price_first_star_entry_is_the_fallback() -> None:
    plan = _with_prices(
        [
            {"countries": ["RS"], "data_per_mb": "0.20"},
            {"countries": ["*"], "data_per_mb": "1.00"},
            {"countries": ["*"], "data_per_mb": "9.00"},
        ]
    )
    entry = plan.roaming_price("US")
    assert entry is not None
    assert entry.data_per_mb == Decimal("1.00")
    rs = plan.roaming_price("RS")
    assert rs is not None
    assert rs.data_per_mb == Decimal("0.20")


def test_roaming_price_none_without_country_or_star() -> None:
    plan = _with_prices([{"countries": ["RS"], "data_per_mb": "0.20"}])
    assert plan.roaming_price("AL") is None
    assert parse_plan(minimal_plan()).roaming_price("AL") is None


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        # each used to overflow the engine's Int64 arithmetic: wrong charges with exit 0
        ({"out_of_bundle": {"voice_per_min": "1e15", "sms": "0", "data_per_mb": "0"}},
         "out_of_bundle.voice_per_min must be an amount >= 0 and at most 1,000,000,000"),
        ({"data_allowance_gb": "1e12"}, "plan.data_allowance_gb must be an amount >= 0"),
        ({"voice_allowance_min": "99999999999999999999"}, "plan.voice_allowance_min must be"),
        ({"sms_allowance": 10**19}, "plan.sms_allowance must be a whole number from 0 to"),
        ({"billshock_limit_eur": "1e400"}, "plan.billshock_limit_eur must be an amount >= 0"),
        ({"charging": {"voice_mo_initial_s": 2**63}}, "voice_mo_initial_s must be a whole number"),
    ],
)  # fmt: skip
def test_plan_quantities_bounded_at_load_time(
    tmp_path: Path, override: dict[str, Any], expected: str
) -> None:
    message = load_error(write_yaml(tmp_path, [minimal_plan(**override)]))
    assert expected in message
