"""TADIG -> visited country, IMSI MCC -> home country, and the modules' worked examples."""

from __future__ import annotations

import doctest
import importlib

import pytest

from roamlike.law import default_catalog
from roamlike.wholesale import tadig_country
from roamlike.wholesale.countries import ALPHA3, mcc_table


@pytest.mark.parametrize(
    ("tadig", "country"),
    [
        ("DEUD1", "DE"),
        ("GBRCN", "GB"),
        ("grccO", "GR"),
        ("UKRKS", "UA"),
        ("KOSVA", "XK"),
        ("SRBTM", "RS"),
        ("ZZZ01", None),
        ("DE", None),
        ("", None),
        (None, None),
    ],
)
def test_tadig_country(tadig: str | None, country: str | None) -> None:
    assert tadig_country(tadig) == country


def test_every_catalog_country_has_an_alpha3_prefix() -> None:
    assert set(default_catalog().countries) <= set(ALPHA3.values())


def test_mcc_table_is_the_catalogs() -> None:
    table = mcc_table(default_catalog())
    mapping = dict(table.iter_rows())
    assert (mapping["262"], mapping["234"], mapping["235"], mapping["221"]) == (
        "DE",
        "GB",
        "GB",
        "XK",
    )


@pytest.mark.parametrize(
    "module",
    ["ber", "countries", "header", "check", "html"],
)
def test_worked_examples_in_docstrings(module: str) -> None:
    mod = importlib.import_module(f"roamlike.wholesale.{module}")
    failed, tried = doctest.testmod(mod)
    assert tried > 0
    assert failed == 0


def test_docs_list_every_finding_code_and_event_column() -> None:
    from pathlib import Path

    from roamlike.wholesale import CODES, EVENT_SCHEMA

    doc = (Path(__file__).resolve().parents[2] / "docs" / "wholesale.md").read_text()
    assert [c for c in CODES if f"`{c}`" not in doc] == []
    assert [c for c in EVENT_SCHEMA if f"`{c}" not in doc] == []


def test_shared_mcc_goes_to_its_e212_owner_else_alphabetical() -> None:
    from types import SimpleNamespace

    from roamlike.wholesale.countries import mcc_countries

    def country(code: str, *mcc: str) -> SimpleNamespace:
        return SimpleNamespace(code=code, mcc=mcc)

    catalog = SimpleNamespace(
        countries={
            c.code: c
            for c in (
                country("JE", "234"),
                country("GB", "234", "235"),
                country("IM", "234"),
                country("ZZ", "999"),
                country("YY", "999"),
                country("DE", "262"),
            )
        }
    )
    assert mcc_countries(catalog) == {  # type: ignore[arg-type]
        "234": "GB",
        "235": "GB",
        "999": "YY",
        "262": "DE",
    }


def test_every_iso_alpha3_code_maps_to_its_alpha2() -> None:
    from roamlike.wholesale.iso3166 import ISO_ALPHA3_TO_ALPHA2

    assert len(ISO_ALPHA3_TO_ALPHA2) == 249
    assert len(set(ISO_ALPHA3_TO_ALPHA2.values())) == 249
    assert (ISO_ALPHA3_TO_ALPHA2["CHE"], ISO_ALPHA3_TO_ALPHA2["MDA"]) == ("CH", "MD")
