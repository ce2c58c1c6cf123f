"""The law commands of the CLI: JSON contracts, tables and exit codes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from roamlike.cli import app

runner = CliRunner()
WIDE = {"COLUMNS": "200"}

RULES_KEYS = {"home", "visited", "on", "regime", "kind", "basis", "grade", "caps"}
CAP_KEYS = {"service", "measure", "value", "unit", "parameter", "basis", "grade"}


def _run(*args: str) -> Result:
    return runner.invoke(app, list(args), env=WIDE)


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _cap(doc: dict[str, Any], service: str, measure: str) -> dict[str, Any]:
    found = [c for c in doc["caps"] if (c["service"], c["measure"]) == (service, measure)]
    assert len(found) == 1, (service, measure, doc["caps"])
    return found[0]


def test_rules_json_contract() -> None:
    doc = _json(_run("rules", "de", "at", "--on", "2026-03-01", "--json"))
    assert set(doc) == RULES_KEYS
    assert (doc["home"], doc["visited"], doc["on"]) == ("DE", "AT", "2026-03-01")
    assert (doc["regime"], doc["kind"]) == ("eu_rlah", "rlah")
    assert doc["basis"] == {"instrument": "eu_2022_612", "article": "Art. 4(1)"}
    assert doc["grade"] == "legal"
    for cap in doc["caps"]:
        assert set(cap) == CAP_KEYS
        assert set(cap["basis"]) == {"instrument", "article"}
        assert isinstance(cap["value"], str)
    data = _cap(doc, "data", "retail_surcharge_max")
    assert data == {
        "service": "data",
        "measure": "retail_surcharge_max",
        "value": "1.10",
        "unit": "EUR/GB",
        "parameter": "eu.retail.surcharge.data_eur_per_gb",
        "basis": {"instrument": "eu_2022_612", "article": "Art. 8(1)(a) with Art. 11(1)"},
        "grade": "legal",
    }
    assert _cap(doc, "data", "wholesale_max")["value"] == "1.10"
    mt = _cap(doc, "voice_mt", "retail_surcharge_max")
    assert (mt["value"], mt["unit"]) == ("0.002", "EUR/min")


def test_rules_json_wb_phase_1() -> None:
    doc = _json(_run("rules", "RS", "ME", "--on", "2019-08-01", "--json"))
    assert (doc["regime"], doc["kind"]) == ("wb_rra", "retail_cap")
    voice = _cap(doc, "voice_mo", "retail_price_max")
    assert (voice["value"], voice["unit"]) == ("0.19", "EUR/min")
    data = _cap(doc, "data", "retail_price_max")
    assert (data["value"], data["unit"]) == ("0.18", "EUR/MB")


def test_rules_json_lists_gaps() -> None:
    doc = _json(_run("rules", "DE", "AT", "--on", "2018-03-01", "--json"))
    assert set(doc) == RULES_KEYS | {"gaps"}
    assert [(g["service"], g["measure"]) for g in doc["gaps"]] == [
        ("voice_mt", "retail_surcharge_max")
    ]
    assert doc["gaps"][0]["parameter"] == "eu.retail.surcharge.voice_mt_eur_per_min"


def test_rules_json_is_the_only_stdout() -> None:
    result = _run("rules", "RS", "DE", "--on", "2023-10-01", "--json")
    doc = _json(result)
    assert result.stdout.strip().startswith("{")
    assert result.stdout.strip().endswith("}")
    assert _cap(doc, "data", "offer_price_max")["value"] == "18"


def test_rules_table() -> None:
    result = _run("rules", "de", "at", "--on", "2018-03-01")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "eu_rlah" in out
    assert "rlah" in out
    assert "legal" in out
    assert "retail_surcharge_max" in out
    assert "0.032" in out
    assert "gap:" in out
    assert "voice_mt" in out


def test_timeline_json_rs_me() -> None:
    doc = _json(_run("timeline", "rs", "me", "--json"))
    assert isinstance(doc, list)
    head = [(e["from"], e["regime"], e["kind"]) for e in doc[:5]]
    assert head == [
        ("2017-06-15", "unregulated", "unregulated"),
        ("2019-07-01", "wb_rra", "retail_cap"),
        ("2020-01-01", "wb_rra", "surcharge_cap"),
        ("2020-07-01", "wb_rra", "surcharge_cap"),
        ("2021-07-01", "wb_rra", "rlah"),
    ]
    for entry in doc:
        assert {"from", "regime", "kind", "caps"} <= set(entry)
    froms = [e["from"] for e in doc]
    assert froms == sorted(froms)
    assert froms[-1] == "2026-01-01"
    last = doc[-1]
    assert _cap(last, "data", "wholesale_max")["value"] == "0.0025"


def test_timeline_json_window() -> None:
    doc = _json(
        _run("timeline", "RS", "DE", "--from", "2023-01-01", "--to", "2028-12-31", "--json")
    )
    assert [(e["from"], e["regime"]) for e in doc] == [
        ("2023-01-01", "unregulated"),
        ("2023-10-01", "eu_wb_offer_caps"),
        ("2026-01-01", "eu_wb_offer_caps"),
        ("2028-01-01", "eu_wb_offer_caps"),
    ]
    assert [e["caps"][0]["value"] for e in doc[1:]] == ["18", "14", "9"]


def test_timeline_table() -> None:
    result = _run("timeline", "GB", "FR")
    assert result.exit_code == 0, result.output
    assert "2021-01-01" in result.stdout
    assert "unregulated" in result.stdout
    assert "eu_rlah" in result.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("rules", "ZZ", "AT", "--on", "2020-01-01"),
        ("rules", "DE", "zz", "--on", "2020-01-01", "--json"),
        ("timeline", "ZZ", "AT"),
    ],
)
def test_unknown_country_is_a_usage_error(args: tuple[str, ...]) -> None:
    result = _run(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "unknown country code 'ZZ'" in result.stderr
    assert "XK" in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("rules", "DE", "AT", "--on", "2020-13-01"),
        ("rules", "DE", "AT", "--on", "1 March 2020", "--json"),
        ("timeline", "DE", "AT", "--from", "2020/01/01"),
        ("timeline", "DE", "AT", "--from", "2021-01-01", "--to", "2020-01-01"),
        ("countries", "--on", "yesterday"),
    ],
)
def test_bad_date_is_a_usage_error(args: tuple[str, ...]) -> None:
    result = _run(*args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "error:" in result.stderr


@pytest.mark.parametrize("on", ["2017-06-14", "2032-07-01"])
def test_outside_coverage_exits_3(on: str) -> None:
    result = _run("rules", "DE", "AT", "--on", on, "--json")
    assert result.exit_code == 3
    assert result.stdout == ""
    assert f"no rule in force for roaming from DE in AT on {on}" in result.stderr
    assert "2017-06-15 to 2032-06-30" in result.stderr


def test_timeline_wholly_outside_coverage_exits_3() -> None:
    result = _run("timeline", "DE", "AT", "--from", "2033-01-01")
    assert result.exit_code == 3
    assert "2017-06-15 to 2032-06-30" in result.stderr


def test_countries_table() -> None:
    result = _run("countries", "--on", "2026-03-01")
    assert result.exit_code == 0, result.output
    assert "XK" in result.stdout
    assert "Kosovo" in result.stdout
    assert "221" in result.stdout


def test_countries_json() -> None:
    doc = _json(_run("countries", "--on", "2026-03-01", "--json"))
    assert len(doc) == 250
    by_code = {c["code"]: c for c in doc}
    assert by_code["XK"] == {
        "code": "XK",
        "name": "Kosovo",
        "currency": "EUR",
        "mcc": ["221"],
        "vat_standard": "0.18",
        "zones": ["wb6"],
    }
    assert by_code["DE"]["zones"] == ["eea_rlah", "eu27", "eu_rlah"]
    assert by_code["UA"]["zones"] == ["eu_bilateral_partners", "eu_rlah"]
    assert (by_code["CH"]["currency"], by_code["CH"]["vat_standard"]) == (None, None)
    assert by_code["US"] == {
        "code": "US",
        "name": "United States",
        "currency": None,
        "mcc": ["310", "311", "313", "316"],
        "vat_standard": None,
        "zones": [],
    }
    assert by_code["BG"]["currency"] == "EUR"
    assert by_code["GB"]["zones"] == []


def test_countries_json_on_an_earlier_day() -> None:
    by_code = {c["code"]: c for c in _json(_run("countries", "--on", "2020-08-01", "--json"))}
    assert by_code["DE"]["vat_standard"] == "0.16"
    assert by_code["GB"]["zones"] == ["eea_rlah", "eu_rlah"]
    assert by_code["BG"]["currency"] == "BGN"
    assert by_code["UA"]["zones"] == []


def test_countries_outside_coverage_exits_3() -> None:
    result = _run("countries", "--on", "2016-01-01")
    assert result.exit_code == 3
    assert "2017-06-15 to 2032-06-30" in result.stderr


def test_sources_lists_the_registry() -> None:
    result = _run("sources")
    assert result.exit_code == 0, result.output
    assert "eurlex_2015_2120" in result.stdout
    assert "sv-priv/telco-assistant" in result.stdout
    doc = _json(_run("sources", "--json"))
    by_id = {s["id"]: s for s in doc}
    assert set(doc[0]) == {
        "id",
        "title",
        "publisher",
        "date",
        "location",
        "read",
        "grade",
        "cited_by",
    }
    text = by_id["eurlex_2015_2120"]
    assert text["grade"] == "legal"
    assert "data/corpus/eu/32015R2120-en.md" in text["location"]
    assert "6e(1)" in text["read"]
    assert text["cited_by"] > 10
    assert by_id["ancom_ua_md_2025"]["cited_by"] >= 2


def test_instruments_table() -> None:
    result = _run("instruments")
    assert result.exit_code == 0, result.output
    assert "eu_2022_612" in result.stdout
    assert "wb_rra_2019" in result.stdout


def test_instruments_json() -> None:
    doc = _json(_run("instruments", "--json"))
    by_id = {s["id"]: s for s in doc}
    assert set(doc[0]) == {
        "id",
        "title",
        "reference",
        "status",
        "grade",
        "date_of_application",
        "values",
    }
    recast = by_id["eu_2022_612"]
    assert (recast["status"], recast["grade"]) == ("in_force", "legal")
    assert recast["reference"].startswith("CELEX:32022R0612")
    assert recast["date_of_application"] == "2022-07-01"
    assert recast["values"] == 29
    assert by_id["eu_wb_operators_roadmap_2023"]["values"] == 3
    assert by_id["eu_2017_920"]["values"] == 0
    assert by_id["eea_agreement"]["date_of_application"] is None


def test_rules_531_2012_art_6e_1_b_total_price_cap_until_2022_06_30() -> None:
    doc = _json(_run("rules", "DE", "FR", "--on", "2019-06-01", "--json"))
    totals = {
        (c["service"], c["value"], c["unit"])
        for c in doc["caps"]
        if c["measure"] == "retail_price_max"
    }
    assert totals == {
        ("voice_mo", "0.19", "EUR/min"),
        ("sms_mo", "0.06", "EUR/SMS"),
        ("data", "0.20", "EUR/MB"),
    }
    cap = next(c for c in doc["caps"] if c["measure"] == "retail_price_max")
    assert cap["basis"]["instrument"] == "eu_531_2012"
    assert "6e(1)" in cap["basis"]["article"]
    assert cap["grade"] == "legal"
    after = _json(_run("rules", "DE", "FR", "--on", "2022-07-01", "--json"))
    assert [c for c in after["caps"] if c["measure"] == "retail_price_max"] == []


def test_rules_ukraine_and_moldova_are_bilateral_with_the_eu() -> None:
    assert _json(_run("rules", "UA", "MD", "--on", "2026-03-01", "--json"))["regime"] != "eu_rlah"
    assert _json(_run("rules", "UA", "PL", "--on", "2026-03-01", "--json"))["regime"] == "eu_rlah"
    assert _json(_run("rules", "MD", "IS", "--on", "2026-03-01", "--json"))["regime"] != "eu_rlah"


def test_rules_switzerland_is_unregulated_not_unknown() -> None:
    result = _run("rules", "CH", "DE", "--on", "2026-03-01", "--json")
    assert result.exit_code == 0, result.output
    doc = _json(result)
    assert (doc["regime"], doc["kind"], doc["caps"]) == ("unregulated", "unregulated", [])
    table = _run("rules", "CH", "DE", "--on", "2026-03-01")
    assert "no roaming regime covers this pair" in table.stdout


def test_rules_a_code_that_is_not_a_country_exits_2() -> None:
    result = _run("rules", "QQ", "DE", "--on", "2026-03-01")
    assert result.exit_code == 2
    assert "unknown country code 'QQ'" in result.stderr
    assert "'roamlike countries' lists them" in result.stderr
