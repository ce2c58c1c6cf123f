"""Legal cases a lawyer can read: ``tests/cases/<instrument>/*.yaml``, checked against ``resolve``.

Each file is a list of cases::

    - name: "..."                 what the case shows
      provision: "..."            the provision it rests on
      home: RS                    ISO 3166 alpha-2 (quote "NO")
      visited: ME
      on: 2019-08-01
      expect:
        regime: wb_rra
        kind: retail_cap
        caps:                     each listed cap must be in force with exactly this value and unit
          - {service: voice_mo, measure: retail_price_max, value: "0.19", unit: EUR/min}
        gaps:                     optional; without it the rules must have no gap
          - {service: voice_mt, measure: retail_surcharge_max}
        absent:                   optional; caps that must NOT be in force (nor be a gap)
          - {service: voice_mo, measure: retail_price_max}

or ``expect: {error: not_in_force}`` for a day outside the catalog's coverage. ``caps: []`` means
the rules have no cap at all.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from roamlike.errors import NotInForceError
from roamlike.law import default_catalog, resolve

CASES_DIR = Path(__file__).resolve().parents[1] / "cases"

CASE_KEYS = {"name", "provision", "home", "visited", "on", "expect"}
EXPECT_KEYS = {"regime", "kind", "caps", "gaps", "absent"}
CAP_KEYS = {"service", "measure", "value", "unit"}
GAP_KEYS = {"service", "measure"}

#: Change dates whose day before and day of must both be covered by a case (the issue's list).
CHANGE_DATES = [
    dt.date(2017, 6, 15),
    *(dt.date(year, 1, 1) for year in range(2018, 2028)),
    dt.date(2018, 1, 3),
    dt.date(2019, 1, 3),
    dt.date(2019, 7, 1),
    dt.date(2020, 1, 1),
    dt.date(2020, 7, 1),
    dt.date(2021, 1, 1),
    dt.date(2021, 7, 1),
    dt.date(2022, 7, 1),
    dt.date(2023, 10, 1),
    dt.date(2026, 1, 1),
    dt.date(2027, 1, 1),
    dt.date(2028, 1, 1),
    dt.date(2032, 7, 1),
]


class _CaseLoader(yaml.SafeLoader):
    """Only ``true``/``false`` are booleans: ``on``, ``no`` and ``NO`` (Norway) stay text."""


_BOOL_TAG = "tag:yaml.org,2002:bool"
_CaseLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _BOOL_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_CaseLoader.add_implicit_resolver(_BOOL_TAG, re.compile(r"^(?:true|false)$"), list("tf"))


#: Case folders of other capabilities, with their own schema and test module.
OTHER_CASES = frozenset({"audit"})


def _case_files() -> list[Path]:
    return sorted(p for p in CASES_DIR.glob("*/*.yaml") if p.parent.name not in OTHER_CASES)


def _load_cases() -> list[Any]:
    params = []
    for path in _case_files():
        doc = yaml.load(path.read_text(encoding="utf-8"), Loader=_CaseLoader)
        assert isinstance(doc, list), f"{path}: a case file is a list of cases"
        rel = path.relative_to(CASES_DIR).with_suffix("").as_posix()
        for i, case in enumerate(doc):
            name = case.get("name", f"#{i}") if isinstance(case, dict) else f"#{i}"
            params.append(pytest.param(path, case, id=f"{rel}::{name}"))
    return params


CASES = _load_cases()


def _check_shape(path: Path, case: Any) -> None:
    """A case file with a typo must fail, never pass silently."""
    assert isinstance(case, dict), f"{path}: each case is a mapping"
    assert set(case) == CASE_KEYS, f"{path}: case keys {sorted(case)} != {sorted(CASE_KEYS)}"
    for key in ("home", "visited"):
        code = case[key]
        assert isinstance(code, str), f"{path}: {key} {code!r} must be a string (quote 'NO')"
        assert len(code) == 2, f"{path}: {key} {code!r} must be an alpha-2 code"
        assert code.isupper(), f"{path}: {key} {code!r} must be an alpha-2 code"
    assert type(case["on"]) is dt.date, f"{path}: on must be a date YYYY-MM-DD"
    assert isinstance(case["name"], str)
    assert case["name"]
    assert isinstance(case["provision"], str)
    assert case["provision"]
    expect = case["expect"]
    assert isinstance(expect, dict)
    if "error" in expect:
        assert expect == {"error": "not_in_force"}, f"{path}: unknown expected error {expect}"
        return
    assert set(expect) <= EXPECT_KEYS, f"{path}: unknown keys in expect: {sorted(expect)}"
    assert {"regime", "kind", "caps"} <= set(expect), f"{path}: expect needs regime, kind, caps"
    for cap in expect["caps"]:
        assert set(cap) == CAP_KEYS, f"{path}: cap keys {sorted(cap)}"
        assert isinstance(cap["value"], str), f"{path}: quote cap values ({cap['value']!r})"
    for gap in expect.get("gaps", []) + expect.get("absent", []):
        assert set(gap) == GAP_KEYS, f"{path}: gap/absent keys {sorted(gap)}"


def test_case_files_exist_for_each_instrument() -> None:
    folders = {p.parent.name for p in _case_files()}
    assert {
        "eu_531_2012",
        "eu_2022_612",
        "wb_rra_2019",
        "eu_wb_operators_roadmap_2023",
        "zones",
    } <= folders
    instruments = set(default_catalog().instruments)
    assert folders - {"zones"} <= instruments


def test_cases_cover_the_day_before_and_the_day_of_every_change() -> None:
    days = {c.values[1].get("on") for c in CASES if isinstance(c.values[1], dict)}
    missing = [
        d.isoformat() for c in CHANGE_DATES for d in (c - dt.timedelta(days=1), c) if d not in days
    ]
    assert missing == []


@pytest.mark.parametrize(("path", "case"), CASES)
def test_case(path: Path, case: Any) -> None:
    _check_shape(path, case)
    expect = case["expect"]
    if "error" in expect:
        cat = default_catalog()
        with pytest.raises(NotInForceError) as info:
            resolve(case["home"], case["visited"], case["on"])
        assert info.value.coverage == (cat.coverage.start, cat.coverage.end)
        assert "the catalog covers 2017-06-15 to 2032-06-30" in str(info.value)
        return
    rules = resolve(case["home"], case["visited"], case["on"])
    assert (rules.regime, rules.kind) == (expect["regime"], expect["kind"])
    if expect["caps"] == []:
        assert rules.caps == ()
    for want in expect["caps"]:
        got = rules.cap(want["service"], want["measure"])
        assert got is not None, f"no {want['service']} {want['measure']} cap in force"
        assert got.value == Decimal(want["value"]), want
        assert got.unit == want["unit"], want
    gaps = sorted((g.service, g.measure) for g in rules.gaps)
    assert gaps == sorted((g["service"], g["measure"]) for g in expect.get("gaps", []))
    for gone in expect.get("absent", []):
        assert rules.cap(gone["service"], gone["measure"]) is None, gone
