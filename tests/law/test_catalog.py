"""The shipped law catalog: it loads, every value is cited and graded, and it is consistent."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import yaml

from roamlike.errors import NotInForceError
from roamlike.law import default_catalog, load_catalog, value_at
from roamlike.law.catalog import CATALOG_DIR, GRADES, UNITS, Catalog

START = dt.date(2017, 6, 15)
END = dt.date(2026, 12, 31)

#: The EU surcharge caps of Art. 8(1)(a) (2022/612) and Art. 6e(1) (531/2012) equal the
#: matching wholesale caps.
SURCHARGE_EQUALS_WHOLESALE = [
    ("eu.retail.surcharge.voice_mo_eur_per_min", "eu.wholesale.voice_eur_per_min"),
    ("eu.retail.surcharge.sms_mo_eur", "eu.wholesale.sms_eur"),
    ("eu.retail.surcharge.data_eur_per_gb", "eu.wholesale.data_eur_per_gb"),
]

# fmt: off
EU27 = {
    "AT", "BE", "BG", "HR", "CY", "CZ", "DK", "EE", "FI", "FR", "DE", "GR", "HU", "IE",
    "IT", "LV", "LT", "LU", "MT", "NL", "PL", "PT", "RO", "SK", "SI", "ES", "SE",
}
# fmt: on
WB6 = {"AL", "BA", "XK", "ME", "MK", "RS"}
EXPECTED_CODES = EU27 | WB6 | {"IS", "LI", "NO", "GB", "UA", "MD"}


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return default_catalog()


def test_shipped_catalog_loads() -> None:
    cat = load_catalog(CATALOG_DIR)
    assert cat.coverage.start == START
    assert cat.coverage.end == dt.date(2032, 6, 30)
    assert {r.id for r in cat.regimes} == {"eu_rlah", "wb_rra", "eu_wb_offer_caps"}
    assert {"eu_rlah", "eu27", "wb6"} <= set(cat.zones)


def test_every_parameter_value_has_basis_and_grade(catalog: Catalog) -> None:
    for param in catalog.parameters.values():
        assert param.unit in UNITS
        for step in param.steps:
            assert step.basis.instrument, param.id
            assert step.basis.article.strip(), param.id
            assert step.grade in GRADES, param.id


def test_every_value_entry_states_basis_and_grade_in_its_file(catalog: Catalog) -> None:
    """The grade of a value is written, never defaulted by the loader."""
    for param in catalog.parameters.values():
        doc = yaml.safe_load(param.path.read_text(encoding="utf-8"))
        for entry in doc["values"]:
            if entry.get("repealed") is True:
                assert "basis" in entry, param.id
                continue
            assert {"basis", "grade"} <= set(entry), (param.id, entry["from"])
            assert isinstance(entry["value"], str), (param.id, entry["from"])


def test_every_basis_instrument_exists(catalog: Catalog) -> None:
    cited = {s.basis.instrument for p in catalog.parameters.values() for s in p.steps}
    cited |= {
        m.basis.instrument for z in catalog.zones.values() for ms in z.members.values() for m in ms
    }
    cited |= {ph.basis.instrument for r in catalog.regimes for ph in r.phases}
    assert cited
    assert cited <= set(catalog.instruments)


def test_every_regime_cap_names_an_existing_parameter(catalog: Catalog) -> None:
    for regime in catalog.regimes:
        for phase in regime.phases:
            for ref in phase.caps:
                assert ref.parameter in catalog.parameters, (regime.id, ref)


@pytest.mark.parametrize(("surcharge", "wholesale"), SURCHARGE_EQUALS_WHOLESALE)
def test_eu_surcharge_caps_equal_wholesale_caps(
    catalog: Catalog, surcharge: str, wholesale: str
) -> None:
    days = [d for d in catalog.change_dates() if d <= catalog.coverage.end]
    days += [d - dt.timedelta(days=1) for d in catalog.change_dates() if d > START]
    assert len(days) > 20
    for day in sorted(set(days)):
        s = value_at(surcharge, day, catalog)
        w = value_at(wholesale, day, catalog)
        assert s.value == w.value, day
        assert s.unit == w.unit
        assert s.valid_from == w.valid_from, day


def test_eu_data_glide_path_values(catalog: Catalog) -> None:
    steps = catalog.parameter("eu.wholesale.data_eur_per_gb").steps
    got = [(s.start.isoformat(), s.value) for s in steps if s.value is not None]
    want = [
        ("2017-06-15", "7.70"),
        ("2018-01-01", "6.00"),
        ("2019-01-01", "4.50"),
        ("2020-01-01", "3.50"),
        ("2021-01-01", "3.00"),
        ("2022-01-01", "2.50"),
        ("2022-07-01", "2.00"),
        ("2023-01-01", "1.80"),
        ("2024-01-01", "1.55"),
        ("2025-01-01", "1.30"),
        ("2026-01-01", "1.10"),
        ("2027-01-01", "1.00"),
    ]
    assert got == [(d, Decimal(v)) for d, v in want]
    assert steps[-1].repealed
    assert steps[-1].start == dt.date(2032, 7, 1)


def test_every_iso_3166_country_is_in_the_catalog(catalog: Catalog) -> None:
    # 249 ISO 3166-1 alpha-2 codes plus XK (Kosovo); countries outside every regime included
    assert len(catalog.countries) == 250
    assert set(catalog.countries) >= EXPECTED_CODES
    assert {"CH", "AD", "MC", "SM", "VA", "FO", "TR", "US", "GL", "GI"} <= set(catalog.countries)
    assert catalog.countries["XK"].name == "Kosovo"
    assert catalog.countries["CH"].mcc == ("228",)
    assert catalog.countries["FO"].mcc == ("288",)
    assert all(c.mcc_source in catalog.sources for c in catalog.countries.values())


def _country_days(catalog: Catalog) -> list[dt.date]:
    days = {START, END}
    for country in catalog.countries.values():
        starts = [s.start for s in country.vat_standard] + [s.start for s in country.currencies]
        for start in starts:
            days.add(start)
            days.add(start - dt.timedelta(days=1))
    days.update(catalog.change_dates())
    return sorted(d for d in days if START <= d <= END)


def test_every_country_has_mcc_vat_and_currency_on_every_day(catalog: Catalog) -> None:
    days = _country_days(catalog)
    assert len(days) > 20
    for code, country in catalog.countries.items():
        assert all(m.isdigit() and len(m) == 3 for m in country.mcc), code
        if code not in EXPECTED_CODES:
            continue
        assert country.mcc, code
        for day in days:
            rate = country.vat_at(day).value
            assert Decimal(0) <= rate < Decimal(1), (code, day)
            assert len(country.currency_at(day)) == 3, (code, day)


def test_mccs_of_the_regulated_areas_are_unique(catalog: Catalog) -> None:
    mccs = [m for code, c in catalog.countries.items() if code in EXPECTED_CODES for m in c.mcc]
    assert len(mccs) == len(set(mccs))


def test_a_country_outside_the_catalogs_vat_table_says_how_to_fix_it(catalog: Catalog) -> None:
    with pytest.raises(NotInForceError, match="give the plan its own 'vat_rate'"):
        catalog.countries["US"].vat_at(dt.date(2026, 3, 1))
    with pytest.raises(NotInForceError, match="states its own currency"):
        catalog.countries["US"].currency_at(dt.date(2026, 3, 1))


def test_zone_members_on_the_key_dates(catalog: Catalog) -> None:
    rlah = catalog.zones["eu_rlah"]
    d = dt.date
    members = {c for c in catalog.countries if rlah.is_member(c, d(2020, 12, 31))}
    assert members == EU27 | {"IS", "LI", "NO", "GB"}
    members = {c for c in catalog.countries if rlah.is_member(c, d(2021, 1, 1))}
    assert members == EU27 | {"IS", "LI", "NO"}
    members = {c for c in catalog.countries if rlah.is_member(c, d(2026, 1, 1))}
    assert members == EU27 | {"IS", "LI", "NO", "UA", "MD"}
    eea = catalog.zones["eea_rlah"]
    assert {c for c in catalog.countries if eea.is_member(c, d(2026, 1, 1))} == EU27 | {
        "IS",
        "LI",
        "NO",
    }
    partners = catalog.zones["eu_bilateral_partners"]
    assert {c for c in catalog.countries if partners.is_member(c, d(2026, 1, 1))} == {"UA", "MD"}
    assert {c for c in catalog.countries if partners.is_member(c, d(2025, 12, 31))} == set()
    wb6 = catalog.zones["wb6"]
    assert {c for c in catalog.countries if wb6.is_member(c, d(2019, 7, 1))} == WB6
    assert {c for c in catalog.countries if wb6.is_member(c, d(2019, 6, 30))} == set()
    eu27 = catalog.zones["eu27"]
    assert {c for c in catalog.countries if eu27.is_member(c, d(2023, 10, 1))} == EU27
