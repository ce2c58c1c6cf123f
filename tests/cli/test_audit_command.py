"""``roamlike audit``: JSON output, HTML report, exit codes 0 / 1 / 2 / 3."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from roamlike.audit import CHECKS
from roamlike.cli import app

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PLANS = str(EXAMPLES / "plans_illustrative.yaml")
FX = str(EXAMPLES / "fx_illustrative.csv")
REQUIRED = {
    "plan_id",
    "check",
    "status",
    "severity",
    "expected",
    "found",
    "basis",
    "grade",
    "message",
}

runner = CliRunner()


def _compliant_plans(tmp_path: Path) -> str:
    """Two compliant plans of the examples catalog, in a file of their own."""
    doc = yaml.safe_load(Path(PLANS).read_text(encoding="utf-8"))
    keep = [p for p in doc["plans"] if p["id"] in ("de_unlimited_ok", "pl_unlimited_pln")]
    path = tmp_path / "ok.yaml"
    path.write_text(yaml.safe_dump({"plans": keep}, sort_keys=False), encoding="utf-8")
    return str(path)


def test_json_is_one_list_of_findings_with_the_required_keys() -> None:
    result = runner.invoke(app, ["audit", PLANS, "--on", "2026-03-01", "--fx", FX, "--json"])
    assert result.exit_code == 1, result.stderr
    findings = json.loads(result.stdout)
    assert isinstance(findings, list)
    assert len(findings) % len(CHECKS) == 0
    assert len({f["plan_id"] for f in findings}) == len(findings) // len(CHECKS) >= 20
    for f in findings:
        assert set(f) >= REQUIRED
        assert f["status"] in ("pass", "fail", "not_applicable")
        assert f["severity"] in ("error", "warning", "info")
    failed = {(f["plan_id"], f["check"]) for f in findings if f["status"] == "fail"}
    assert ("at_billshock_60", "billshock.default_limit") in failed
    assert ("de_budget_low_fup", "fair_use.min_roaming_data") in failed
    assert ("it_coarse_charging", "charging.voice_mt") in failed
    assert ("it_coarse_charging", "charging.data") in failed
    assert ("fr_surcharge_above_cap", "surcharge.eu.voice_mo") in failed
    assert ("me_signatory_no_package", "eu_wb.offer_cap") in failed


def test_phase1_plans_on_a_2019_date() -> None:
    result = runner.invoke(app, ["audit", PLANS, "--on", "2019-09-01", "--fx", FX, "--json"])
    assert result.exit_code == 1
    by_key = {(f["plan_id"], f["check"]): f for f in json.loads(result.stdout)}
    assert by_key[("rs_phase1_2019", "wb.phase1.retail_price")]["status"] == "fail"
    assert by_key[("al_phase1_2019", "wb.phase1.retail_price")]["status"] == "pass"


def test_exit_0_when_every_check_passes_or_does_not_apply(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["audit", _compliant_plans(tmp_path), "--on", "2026-03-01", "--fx", FX]
    )
    assert result.exit_code == 0, result.output
    assert "de_unlimited_ok" in result.stdout


def test_missing_rate_exits_1(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["audit", _compliant_plans(tmp_path), "--on", "2026-03-01", "--json"]
    )
    assert result.exit_code == 1
    findings = json.loads(result.stdout)
    assert any(
        f["plan_id"] == "pl_unlimited_pln"
        and f["status"] == "not_applicable"
        and f["severity"] == "error"
        and "PLN" in f["message"]
        for f in findings
    )


def test_html_report_is_written(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = runner.invoke(
        app, ["audit", PLANS, "--on", "2026-03-01", "--fx", FX, "--html", str(out)]
    )
    assert result.exit_code == 1
    page = out.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>")
    assert "at_billshock_60" in page
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_json_and_html_together(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    result = runner.invoke(
        app, ["audit", PLANS, "--on", "2026-03-01", "--fx", FX, "--json", "--html", str(out)]
    )
    json.loads(result.stdout)  # stdout holds exactly one JSON document
    assert out.exists()


def test_bad_plans_file_exits_3(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("plans:\n  - id: x\n    price: 1.5\n", encoding="utf-8")
    result = runner.invoke(app, ["audit", str(bad), "--on", "2026-03-01"])
    assert result.exit_code == 3
    assert "bad.yaml" in result.stderr


def test_missing_plans_file_exits_3(tmp_path: Path) -> None:
    result = runner.invoke(app, ["audit", str(tmp_path / "none.yaml"), "--on", "2026-03-01"])
    assert result.exit_code == 3


def test_bad_fx_file_exits_3(tmp_path: Path) -> None:
    fx = tmp_path / "fx.csv"
    fx.write_text("day,cur,rate\n", encoding="utf-8")
    result = runner.invoke(app, ["audit", PLANS, "--on", "2026-03-01", "--fx", str(fx)])
    assert result.exit_code == 3
    assert "date,currency,units_per_eur" in result.stderr


def test_date_outside_the_catalog_exits_3() -> None:
    result = runner.invoke(app, ["audit", PLANS, "--on", "2040-01-01", "--fx", FX])
    assert result.exit_code == 3


def test_bad_date_exits_2() -> None:
    result = runner.invoke(app, ["audit", PLANS, "--on", "1 March 2026"])
    assert result.exit_code == 2


def test_unwritable_report_exits_3(tmp_path: Path) -> None:
    out = tmp_path / "missing-dir" / "report.html"
    result = runner.invoke(
        app, ["audit", PLANS, "--on", "2026-03-01", "--fx", FX, "--html", str(out)]
    )
    assert result.exit_code == 3
    assert "report" in result.stderr
