"""Golden legal cases: ``tests/golden/<provision>_<date>/`` rated through ``roamlike rate``.

Each folder holds a small ``usage.csv`` and ``plans.yaml`` and the exact expected outcome:
``expected.csv`` (the money columns of every rated record, in micro-units) and, where records are
refused, ``expected_rejects.csv`` (record id and reason code). One folder per provision that
changes a charge, named after the provision and the day it is shown on; the comment line of
``expected.csv`` says what the case shows.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from roamlike.cli import app
from roamlike.reference import rate_records
from roamlike.tariffs import load_plans

GOLDEN_DIR = Path(__file__).resolve().parent
CASES = sorted(p for p in GOLDEN_DIR.iterdir() if p.is_dir() and (p / "usage.csv").exists())
COLUMNS = [
    "record_id",
    "regime",
    "rule_kind",
    "billed_units",
    "domestic_micros",
    "surcharge_micros",
    "roaming_micros",
    "charge_excl_vat_micros",
    "vat_micros",
    "charge_incl_vat_micros",
    "currency",
]
REJECT_COLUMNS = ["record_id", "reason_code"]


def _rows(path: Path, columns: list[str]) -> list[dict[str, str]]:
    if not path.exists():
        return []
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if not ln.startswith("#")]
    return [{c: row[c] for c in columns} for row in csv.DictReader(lines)]


def test_every_golden_folder_is_complete() -> None:
    assert len(CASES) >= 6
    for case in CASES:
        assert (case / "plans.yaml").exists(), case
        assert (case / "expected.csv").exists(), case


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden_case_rates_exactly(case: Path, tmp_path: Path) -> None:
    out, rejects = tmp_path / "rated.csv", tmp_path / "rejects.csv"
    args = ["rate", str(case / "usage.csv"), "--plans", str(case / "plans.yaml")]
    args += ["--out", str(out), "--rejects", str(rejects)]
    result = CliRunner().invoke(app, args)
    expected_rejects = _rows(case / "expected_rejects.csv", REJECT_COLUMNS)
    assert result.exit_code == (1 if expected_rejects else 0), result.output
    assert _rows(out, COLUMNS) == _rows(case / "expected.csv", COLUMNS)
    assert _rows(rejects, REJECT_COLUMNS) == expected_rejects


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_golden_case_the_reference_rater_agrees(case: Path) -> None:
    # the oracle gives the same figures: a wrong formula in one of them cannot hide here
    with (case / "usage.csv").open(encoding="utf-8", newline="") as fh:
        records = [
            {k: (v if v != "" else None) for k, v in row.items()} for row in csv.DictReader(fh)
        ]
    result = rate_records(records, load_plans(case / "plans.yaml"))
    rated = [{c: str(row[c]) for c in COLUMNS} for row in result.rated]
    assert rated == _rows(case / "expected.csv", COLUMNS)
    rejects = [{c: str(row[c]) for c in REJECT_COLUMNS} for row in result.rejects]
    assert rejects == _rows(case / "expected_rejects.csv", REJECT_COLUMNS)


def test_a_home_country_without_catalog_vat_needs_the_plans_vat_rate(tmp_path: Path) -> None:
    # docs/law/countries.md: the catalog has no Swiss VAT; a CH plan must state its vat_rate
    case = GOLDEN_DIR / "unregulated_ch_2026-03-01"
    plans = tmp_path / "plans.yaml"
    text = (case / "plans.yaml").read_text(encoding="utf-8")
    plans.write_text(text.replace('    vat_rate: "0.081"\n', ""), encoding="utf-8")
    args = ["rate", str(case / "usage.csv"), "--plans", str(plans)]
    args += ["--out", str(tmp_path / "o.csv"), "--rejects", str(tmp_path / "r.csv")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 3
    assert "standard VAT rate of CH" in result.output
    assert "give the plan its own 'vat_rate'" in result.output
