"""Scenario overlays (``roamlike.law.scenarios``): each change applied, everything else untouched,
and one broken scenario per failure mode, each with its message and line."""

from __future__ import annotations

import datetime as dt
import shutil
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from roamlike.errors import ParameterFileError, ScenarioFileError
from roamlike.law import default_catalog, load_catalog, resolve, value_at
from roamlike.law.catalog import CATALOG_DIR, HYPOTHETICAL
from roamlike.law.scenarios import MAX_SCENARIO_BYTES, load_scenario, rests_on_hypothesis
from roamlike.simulate import scenario_path

HEAD = """\
scenario:
  name: test-scenario
  title: "a test"
"""
BASIS = 'basis: {instrument: scenario, article: "assumption"}'


def _write(tmp_path: Path, body: str, head: str = HEAD) -> Path:
    path = tmp_path / "s.yaml"
    path.write_text(head + textwrap.dedent(body), encoding="utf-8")
    return path


def _load(tmp_path: Path, body: str, head: str = HEAD):  # type: ignore[no-untyped-def]
    return load_scenario(_write(tmp_path, body, head), default_catalog())


def test_join_area_makes_a_pair_rlah_from_the_date_only(tmp_path: Path) -> None:
    scenario = _load(
        tmp_path,
        f"""\
        changes:
          - join_area: {{zone: eu_bilateral_partners, countries: [RS], from: 2027-01-01}}
            {BASIS}
            grade: hypothetical
        """,
    )
    cat = scenario.catalog
    assert resolve("RS", "FR", dt.date(2026, 12, 31), cat).regime == "eu_wb_offer_caps"
    in_2027 = resolve("RS", "FR", dt.date(2027, 1, 1), cat)
    assert (in_2027.regime, in_2027.kind) == ("eu_rlah", "rlah")
    assert resolve("RS", "NO", dt.date(2027, 1, 1), cat).regime == "unregulated"  # EU27 only
    step = cat.zones["eu_bilateral_partners"].is_member("RS", dt.date(2027, 1, 1))
    assert step is not None
    assert step.grade == HYPOTHETICAL
    # the baseline is a separate value, unchanged
    assert resolve("RS", "FR", dt.date(2027, 1, 1), default_catalog()).regime == "eu_wb_offer_caps"
    assert scenario.baseline is default_catalog()
    assert [c.kind for c in scenario.changes] == ["join_area"]
    assert scenario.first_change() == dt.date(2027, 1, 1)


def test_leave_area_ends_membership(tmp_path: Path) -> None:
    scenario = _load(
        tmp_path,
        f"""\
        changes:
          - leave_area: {{zone: eea_rlah, countries: ['NO'], from: 2028-01-01}}
            {BASIS}
            grade: hypothetical
        """,
    )
    assert resolve("DE", "NO", dt.date(2027, 12, 31), scenario.catalog).regime == "eu_rlah"
    assert resolve("DE", "NO", dt.date(2028, 1, 1), scenario.catalog).regime == "unregulated"


def test_parameter_future_values_replace_only_from_the_date(tmp_path: Path) -> None:
    scenario = _load(
        tmp_path,
        f"""\
        changes:
          - parameter:
              id: eu.wholesale.data_eur_per_gb
              values:
                - {{from: 2027-01-01, value: "0.70"}}
                - {{from: 2028-01-01, value: "0.50"}}
            {BASIS}
            grade: hypothetical
        """,
    )
    pid = "eu.wholesale.data_eur_per_gb"
    cat = scenario.catalog
    assert value_at(pid, dt.date(2026, 6, 1), cat).value == Decimal("1.10")
    assert value_at(pid, dt.date(2026, 6, 1), cat).grade == "legal"
    got = value_at(pid, dt.date(2027, 6, 1), cat)
    assert (got.value, got.grade) == (Decimal("0.70"), HYPOTHETICAL)
    assert value_at(pid, dt.date(2032, 6, 30), cat).value == Decimal("0.50")
    # the act's expiry still closes the series
    assert cat.parameter(pid).steps[-1].repealed
    assert value_at(pid, dt.date(2027, 6, 1)).value == Decimal("1.00")


def test_a_new_regime_of_an_existing_kind_needs_no_python(tmp_path: Path) -> None:
    scenario = _load(
        tmp_path,
        f"""\
        changes:
          - parameter:
              id: eu_wb.wholesale.data_eur_per_gb
              description: "assumed EU-WB wholesale data cap"
              unit: EUR/GB
              values: [{{from: 2027-01-01, value: "2.00"}}]
            {BASIS}
            grade: hypothetical
          - regime:
              id: eu_wb_wholesale
              title: "assumed EU-WB offer caps with a wholesale cap"
              precedence: 25
              areas: [{{match: cross_zones, zones: [eu27, wb6]}}]
              phases:
                - from: 2027-01-01
                  kind: offer_cap
                  caps:
                    - service: data
                      measure: wholesale_max
                      parameter: eu_wb.wholesale.data_eur_per_gb
            {BASIS}
            grade: hypothetical
        """,
    )
    cat = scenario.catalog
    assert [g.id for g in cat.regimes] == [
        "eu_rlah",
        "wb_rra",
        "eu_wb_wholesale",
        "eu_wb_offer_caps",
    ]
    assert resolve("DE", "RS", dt.date(2026, 12, 31), cat).regime == "eu_wb_offer_caps"
    rules = resolve("DE", "RS", dt.date(2027, 1, 1), cat)
    assert (rules.regime, rules.kind) == ("eu_wb_wholesale", "offer_cap")
    cap = rules.cap("data", "wholesale_max")
    assert cap is not None
    assert (cap.value, cap.unit, cap.grade) == (Decimal("2.00"), "EUR/GB", HYPOTHETICAL)
    assert len(default_catalog().regimes) == len(cat.regimes) - 1


def test_regime_phases_replaced_from_a_date_keep_the_expiry(tmp_path: Path) -> None:
    scenario = _load(
        tmp_path,
        f"""\
        changes:
          - regime:
              id: eu_wb_offer_caps
              phases:
                - from: 2027-01-01
                  kind: unregulated
            {BASIS}
            grade: hypothetical
        """,
    )
    cat = scenario.catalog
    assert resolve("DE", "RS", dt.date(2026, 12, 31), cat).kind == "offer_cap"
    rules = resolve("DE", "RS", dt.date(2027, 1, 1), cat)
    assert (rules.regime, rules.kind, rules.grade) == (
        "eu_wb_offer_caps",
        "unregulated",
        HYPOTHETICAL,
    )


def test_built_in_scenarios_load() -> None:
    folder = Path(__file__).resolve().parents[2] / "src/roamlike/simulate/scenarios"
    names = sorted(p.stem for p in folder.glob("*.yaml"))
    assert "wb6-join-eu-rlah-2027" in names
    for name in names:
        scenario = load_scenario(folder / f"{name}.yaml", default_catalog())
        assert scenario.name == name
        assert scenario.changes


def test_the_catalog_loader_refuses_the_hypothetical_grade(tmp_path: Path) -> None:
    root = tmp_path / "law"
    shutil.copytree(CATALOG_DIR, root, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    target = root / "parameters/eu/wholesale/sms_eur.yaml"
    text = target.read_text(encoding="utf-8")
    target.write_text(text.replace("grade: legal", "grade: hypothetical", 1), encoding="utf-8")
    with pytest.raises(ParameterFileError, match="must be one of legal, official, secondary"):
        load_catalog(root)


CHANGE = f"""\
changes:
  - join_area: {{zone: eu_rlah, countries: [RS], from: 2027-01-01}}
    {BASIS}
    grade: hypothetical
"""

BROKEN: list[tuple[str, str, str, int | None, str]] = [
    # (id, head, body, line, message)
    (
        "grade_not_hypothetical",
        HEAD,
        CHANGE.replace("grade: hypothetical", "grade: legal"),
        7,
        "changes[0]: 'grade' must be 'hypothetical'",
    ),
    (
        "missing_basis",
        HEAD,
        CHANGE.replace(f"    {BASIS}\n", ""),
        5,
        "missing required key 'basis' in changes[0]",
    ),
    (
        "unknown_instrument",
        HEAD,
        CHANGE.replace("instrument: scenario", "instrument: nowhere"),
        6,
        "basis names unknown instrument 'nowhere'",
    ),
    (
        "unknown_country",
        HEAD,
        CHANGE.replace("[RS]", "[RS, QQ]"),
        5,
        "unknown country 'QQ'",
    ),
    (
        "norway_read_as_false",
        HEAD,
        CHANGE.replace("[RS]", "[NO]"),
        5,
        "a country read as the boolean False: quote it",
    ),
    ("unknown_zone", HEAD, CHANGE.replace("zone: eu_rlah", "zone: moon"), 5, "unknown zone 'moon'"),
    (
        "two_kinds",
        HEAD,
        CHANGE.replace("    grade:", "    parameter: {id: x}\n    grade:"),
        5,
        "exactly one of join_area, leave_area, parameter, regime",
    ),
    ("unknown_key", HEAD, CHANGE + "    colour: red\n", 8, "unknown key 'colour' in changes[0]"),
    (
        "bad_name",
        HEAD.replace("test-scenario", "Baseline"),
        CHANGE,
        2,
        "scenario: 'name' must be lower-case",
    ),
    (
        "outside_coverage",
        HEAD,
        CHANGE.replace("2027-01-01", "2040-01-01"),
        5,
        "outside the catalog's coverage",
    ),
    (
        "float_value",
        HEAD,
        f"""\
changes:
  - parameter: {{id: eu.wholesale.sms_eur, values: [{{from: 2027-01-01, value: 0.002}}]}}
    {BASIS}
    grade: hypothetical
""",
        5,
        "quote it so no float touches money",
    ),
    (
        "new_parameter_without_unit",
        HEAD,
        f"""\
changes:
  - parameter: {{id: xx.new, values: [{{from: 2027-01-01, value: "1"}}]}}
    {BASIS}
    grade: hypothetical
""",
        5,
        "missing required key 'description'",
    ),
    (
        "cap_names_unknown_parameter",
        HEAD,
        f"""\
changes:
  - regime:
      id: eu_wb_offer_caps
      phases:
        - from: 2027-01-01
          kind: offer_cap
          caps: [{{service: data, measure: offer_price_max, parameter: no.such}}]
    {BASIS}
    grade: hypothetical
""",
        10,
        "unknown parameter 'no.such'",
    ),
    (
        "alias",
        HEAD,
        f"""\
changes:
  - join_area: &a {{zone: eu_rlah, countries: [RS], from: 2027-01-01}}
    {BASIS}
    grade: hypothetical
  - leave_area: *a
    {BASIS}
    grade: hypothetical
""",
        5,
        "YAML anchors and aliases",
    ),
    ("duplicate_key", HEAD, CHANGE + "    grade: hypothetical\n", 8, "duplicate key 'grade'"),
    (
        "unknown_source",
        HEAD,
        CHANGE + "    source: [nowhere_2026]\n",
        8,
        "'source' names unknown source 'nowhere_2026'",
    ),
    (
        "instrument_without_sources",
        HEAD
        + "instruments:\n"
        + "  x_2026: {title: t, reference: r, status: proposal, grade: official}\n",
        CHANGE,
        5,
        "missing required key 'sources' in instrument 'x_2026'",
    ),
    (
        "new_regime_bad_area",
        HEAD,
        f"""\
changes:
  - regime:
      id: new_one
      title: t
      precedence: 5
      areas: [{{match: cross_zones, zones: [eu27]}}]
      phases: [{{from: 2027-01-01, kind: rlah}}]
    {BASIS}
    grade: hypothetical
""",
        9,
        "areas[0]: zones must list 2 zone id(s)",
    ),
]


@pytest.mark.parametrize(
    ("head", "body", "line", "message"),
    [case[1:] for case in BROKEN],
    ids=[case[0] for case in BROKEN],
)
def test_broken_scenario_names_file_and_line(
    tmp_path: Path, head: str, body: str, line: int | None, message: str
) -> None:
    path = _write(tmp_path, body, head)
    with pytest.raises(ScenarioFileError) as info:
        load_scenario(path, default_catalog())
    assert message in str(info.value)
    assert info.value.path == path
    assert info.value.line == line


def test_oversized_and_missing_files(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("#" * (MAX_SCENARIO_BYTES + 1), encoding="utf-8")
    with pytest.raises(ScenarioFileError, match="a scenario has at most"):
        load_scenario(big, default_catalog())
    with pytest.raises(ScenarioFileError, match="cannot read file"):
        load_scenario(tmp_path / "missing.yaml", default_catalog())


def test_rests_on_hypothesis_follows_the_changed_values_only() -> None:
    glide = load_scenario(scenario_path("eu-faster-glide-path-2027"), default_catalog())
    cat = glide.catalog

    def flagged(home: str, visited: str, on: dt.date) -> bool:
        return rests_on_hypothesis(resolve(home, visited, on, cat), cat)

    assert flagged("DE", "FR", dt.date(2027, 1, 1))  # the caps changed
    assert not flagged("DE", "FR", dt.date(2026, 12, 31))
    assert not flagged("DE", "DE", dt.date(2027, 6, 1))  # domestic
    assert not flagged("RS", "ME", dt.date(2027, 6, 1))  # WB caps unchanged
    wb6 = load_scenario(scenario_path("wb6-join-eu-rlah-2027"), default_catalog())
    rules = resolve("RS", "DE", dt.date(2027, 6, 1), wb6.catalog)
    assert all(c.grade != HYPOTHETICAL for c in rules.caps)  # the EU caps are the law's ...
    assert rests_on_hypothesis(rules, wb6.catalog)  # ... but RS reaches them hypothetically


def test_nothing_loads_the_catalog_at_import() -> None:
    """The law is a value passed to whoever needs it: importing every package loads no catalog."""
    import subprocess
    import sys

    code = (
        "import pkgutil, importlib, roamlike\n"
        "for m in pkgutil.walk_packages(roamlike.__path__, 'roamlike.'):\n"
        "    if not m.name.endswith('__main__'):\n"
        "        importlib.import_module(m.name)\n"
        "from roamlike.law.catalog import default_catalog\n"
        "print(default_catalog.cache_info().currsize)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-800:]
    assert done.stdout.strip() == "0"
