"""``roamlike fup``: the JSON contract, the table and the exit codes."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from roamlike.cli import app

runner = CliRunner()
WIDE = {"COLUMNS": "250"}

CONTRACT_KEYS = {
    "plan_id",
    "is_open_data_bundle",
    "min_roaming_data_gb",
    "cap_eur_per_gb",
    "price_excl_vat",
    "currency",
    "basis",
}


def _plan(plan_id: str, **overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "id": plan_id,
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
    return raw


@pytest.fixture
def plans_file(tmp_path: Path) -> Path:
    path = tmp_path / "plans.yaml"
    plans = [
        _plan("unl30"),
        _plan("de20", price="20.00", price_includes_vat=True, data_allowance_gb="10"),
    ]
    path.write_text(yaml.safe_dump({"plans": plans}, sort_keys=False), encoding="utf-8")
    return path


def _run(*args: str | Path) -> Result:
    return runner.invoke(app, [str(a) for a in args], env=WIDE)


def test_fup_json_contract(plans_file: Path) -> None:
    result = _run("fup", plans_file, "--on", "2026-03-01", "--json")
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert isinstance(doc, list)
    assert [d["plan_id"] for d in doc] == ["unl30", "de20"]
    for entry in doc:
        assert set(entry) >= CONTRACT_KEYS
        assert isinstance(entry["is_open_data_bundle"], bool)
        for key in ("cap_eur_per_gb", "price_excl_vat", "currency", "basis"):
            assert isinstance(entry[key], str)
    unl, de = doc
    assert unl["is_open_data_bundle"] is True
    minimum = unl["min_roaming_data_gb"]
    assert re.fullmatch(r"\d+\.\d{3,}", minimum), minimum
    assert minimum.startswith("54.545")
    assert Decimal(minimum) == Decimal(60) / Decimal("1.10")
    assert unl["cap_eur_per_gb"] == "1.10"
    assert unl["price_excl_vat"] == "30.00"
    assert unl["currency"] == "EUR"
    assert "eu_2016_2286" in unl["basis"]
    assert "eu.wholesale.data_eur_per_gb" in unl["basis"]
    assert de["is_open_data_bundle"] is False
    assert de["min_roaming_data_gb"] is None
    assert de["allowance_gb"] == "10"
    assert Decimal(de["price_excl_vat"]) == Decimal("20.00") / Decimal("1.19")


def test_fup_json_is_one_document(plans_file: Path) -> None:
    result = _run("fup", plans_file, "--on", "2026-03-01", "--json")
    assert result.exit_code == 0, result.output
    decoder = json.JSONDecoder()
    _, end = decoder.raw_decode(result.stdout)
    assert result.stdout[end:].strip() == ""


def test_fup_json_with_fx(tmp_path: Path) -> None:
    plans = tmp_path / "rs.yaml"
    plans.write_text(
        yaml.safe_dump({"plans": [_plan("rs", home_country="RS", currency="RSD", price="2000")]}),
        encoding="utf-8",
    )
    fx = tmp_path / "fx.csv"
    fx.write_text("date,currency,units_per_eur\n2026-02-01,RSD,117.5\n", encoding="utf-8")
    result = _run("fup", plans, "--on", "2026-03-01", "--fx", fx, "--json")
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.stdout)
    assert entry["currency"] == "RSD"
    assert Decimal(entry["cap_eur_per_gb"]) == Decimal("2.5")
    assert entry["units_per_eur"] == "117.5"
    assert Decimal(entry["min_roaming_data_gb"]) == Decimal(4000) / Decimal("293.75")


def test_fup_table(plans_file: Path) -> None:
    result = _run("fup", plans_file, "--on", "2026-03-01")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Fair use of roaming data on 2026-03-01" in out
    assert "unl30" in out
    assert "de20" in out
    assert "54.545454" in out
    assert "domestic volume 10" in out
    assert "1.10 EUR/GB" in out
    assert not out.lstrip().startswith("[")


@pytest.mark.parametrize("bad", ["2026-13-01", "01/03/2026", "tomorrow"])
def test_fup_bad_date_exits_2(plans_file: Path, bad: str) -> None:
    result = _run("fup", plans_file, "--on", bad, "--json")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert f"expected a date written YYYY-MM-DD, found '{bad}'" in result.stderr


def test_fup_bad_plans_file_exits_3(tmp_path: Path) -> None:
    path = tmp_path / "plans.yaml"
    path.write_text(yaml.safe_dump({"plans": [_plan("x", price=30.0)]}), encoding="utf-8")
    result = _run("fup", path, "--on", "2026-03-01", "--json")
    assert result.exit_code == 3
    assert result.stdout == ""
    assert "plan 'x'" in result.stderr
    assert "quoted decimal string" in result.stderr


def test_fup_missing_plans_file_exits_3(tmp_path: Path) -> None:
    result = _run("fup", tmp_path / "absent.yaml", "--on", "2026-03-01")
    assert result.exit_code == 3
    assert "cannot read file" in result.stderr


def test_fup_missing_fx_rate_exits_3(tmp_path: Path) -> None:
    path = tmp_path / "plans.json"
    path.write_text(
        json.dumps({"plans": [_plan("pl", home_country="PL", currency="PLN", price="50.00")]}),
        encoding="utf-8",
    )
    result = _run("fup", path, "--on", "2026-03-01", "--json")
    assert result.exit_code == 3
    assert result.stdout == ""
    assert "no PLN rate for 2026-03-01" in result.stderr


def test_fup_bad_fx_file_exits_3(plans_file: Path, tmp_path: Path) -> None:
    fx = tmp_path / "fx.csv"
    fx.write_text("date,currency,units_per_eur\n2026-02-01,RSD,0\n", encoding="utf-8")
    result = _run("fup", plans_file, "--on", "2026-03-01", "--fx", fx)
    assert result.exit_code == 3
    assert "line 2: a rate must be > 0" in result.stderr


def test_fup_date_before_rlah_exits_3(plans_file: Path) -> None:
    result = _run("fup", plans_file, "--on", "2017-06-14", "--json")
    assert result.exit_code == 3
    assert "no rule in force" in result.stderr


def test_plan_outside_any_rlah_area_is_listed_not_fatal(tmp_path: Path) -> None:
    path = tmp_path / "plans.yaml"
    base = {
        "currency": "EUR",
        "price": "30.00",
        "price_includes_vat": False,
        "billing_period": "month",
        "data_allowance_gb": "unlimited",
        "voice_allowance_min": "unlimited",
        "sms_allowance": "unlimited",
        "out_of_bundle": {"voice_per_min": "0.1", "sms": "0.1", "data_per_mb": "0.01"},
    }
    doc = {
        "plans": [
            {**base, "id": "de", "home_country": "DE"},
            {**base, "id": "gb", "home_country": "GB", "currency": "GBP"},
        ]
    }
    path.write_text(json.dumps(doc), encoding="utf-8")
    result = CliRunner().invoke(app, ["fup", str(path), "--on", "2026-03-01", "--json"])
    assert result.exit_code == 0, result.output
    rows = {r["plan_id"]: r for r in json.loads(result.stdout)}
    assert rows["de"]["is_open_data_bundle"] is True
    assert rows["gb"]["is_open_data_bundle"] is None
    assert "no RLAH area" in rows["gb"]["not_applicable"]
