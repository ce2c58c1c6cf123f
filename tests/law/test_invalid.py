"""One deliberately broken catalog per failure mode (``tests/law/invalid/<mode>.yaml``).

Each test copies the shipped catalog, overwrites ONE file with the broken content and asserts
that loading fails with a :class:`ParameterFileError` naming that file, the line to fix and
what was wrong.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from roamlike.errors import ParameterFileError
from roamlike.law import default_catalog, load_catalog
from roamlike.law.catalog import CATALOG_DIR, load_parameter

INVALID_DIR = Path(__file__).resolve().parent / "invalid"
PARAMETER = Path("parameters/eu/wholesale/data_eur_per_gb.yaml")
PARAMETER_ID = "eu.wholesale.data_eur_per_gb"


@dataclass(frozen=True)
class Mode:
    """A failure mode: the broken file, where it goes, and the error it must produce."""

    name: str
    target: Path
    line: int
    message: str


MODES = [
    Mode(
        "unknown_key",
        PARAMETER,
        6,
        "unknown key 'vaule' in values[0]; allowed keys: basis, from, grade, notes, source, value",
    ),
    Mode("duplicate_key", PARAMETER, 7, "invalid YAML: duplicate key 'value' (first on line 6)"),
    Mode(
        "bad_date_quoted",
        PARAMETER,
        5,
        "values[0]: 'from' must be a date written YYYY-MM-DD, found '1 July 2022'",
    ),
    Mode(
        "value_float",
        PARAMETER,
        6,
        "values[0]: 'value' must be a quoted decimal string such as \"0.022\", found 2.0 "
        "(float); quote it so no float touches money",
    ),
    Mode("missing_basis", PARAMETER, 5, "missing required key 'basis' in values[0]"),
    Mode("missing_grade", PARAMETER, 5, "missing required key 'grade' in values[0]"),
    Mode(
        "unknown_grade",
        PARAMETER,
        8,
        "values[0]: 'grade' must be one of legal, official, secondary, inference, found 'hearsay'",
    ),
    Mode(
        "unknown_instrument",
        PARAMETER,
        7,
        "values[0]: basis names unknown instrument 'eu_2099_1'; add it to instruments.yaml",
    ),
    Mode(
        "dates_not_ascending",
        PARAMETER,
        4,
        "values: dates must be strictly ascending, found 2023-01-01 after 2024-01-01",
    ),
    Mode("negative_value", PARAMETER, 6, "values[0]: value must not be negative, found -2.00"),
    Mode("missing_source", PARAMETER, 5, "missing required key 'source' in values[0]"),
    Mode(
        "unknown_source",
        PARAMETER,
        9,
        "values[0]: 'source' names unknown source 'a_blog_nobody_read'; add it to sources.yaml",
    ),
    Mode(
        "regime_unknown_zone",
        Path("regimes.yaml"),
        11,
        "regime 'eu_rlah': areas[1]: zones must be a list of zone ids from zones.yaml",
    ),
    Mode(
        "source_without_location",
        Path("sources.yaml"),
        4,
        "source 'eurlex_2022_612': say where it was read: url, or repository + path + commit",
    ),
    Mode("bad_unit", PARAMETER, 3, "unit must be one of EUR/min, EUR/SMS, EUR/MB, EUR/GB"),
    Mode(
        "date_not_zero_padded",
        PARAMETER,
        4,
        "values[0]: 'from' must be a date written YYYY-MM-DD, found '2022-7-1'",
    ),
    Mode(
        "zones_bare_no",
        Path("zones.yaml"),
        8,
        "invalid YAML: key read as the boolean False: quote it (e.g. 'NO' for Norway)",
    ),
]

#: A day that does not exist; the loader should report it like any other bad date.
IMPOSSIBLE_DATE = Mode("bad_date_impossible", PARAMETER, 5, "'from'")


def _broken_catalog(tmp_path: Path, mode: Mode) -> Path:
    root = tmp_path / "law"
    shutil.copytree(CATALOG_DIR, root, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    shutil.copyfile(INVALID_DIR / f"{mode.name}.yaml", root / mode.target)
    return root


def _assert_error(exc: ParameterFileError, path: Path, mode: Mode) -> None:
    assert exc.path == path
    assert exc.line == mode.line
    assert mode.message in exc.detail
    assert str(exc).startswith(f"{path}, line {mode.line}: ")


def test_every_invalid_file_has_a_mode() -> None:
    files = {p.stem for p in INVALID_DIR.glob("*.yaml")}
    assert files == {m.name for m in [*MODES, IMPOSSIBLE_DATE]}


def test_the_shipped_catalog_is_valid(tmp_path: Path) -> None:
    root = tmp_path / "law"
    shutil.copytree(CATALOG_DIR, root, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    catalog = load_catalog(root)
    assert set(catalog.parameters) == set(default_catalog().parameters)


@pytest.mark.parametrize("mode", MODES, ids=[m.name for m in MODES])
def test_broken_catalog_names_file_and_line(tmp_path: Path, mode: Mode) -> None:
    root = _broken_catalog(tmp_path, mode)
    with pytest.raises(ParameterFileError) as info:
        load_catalog(root)
    _assert_error(info.value, root / mode.target, mode)


PARAMETER_MODES = [m for m in MODES if m.target == PARAMETER]


@pytest.mark.parametrize("mode", PARAMETER_MODES, ids=[m.name for m in PARAMETER_MODES])
def test_load_parameter_names_file_and_line(mode: Mode) -> None:
    path = INVALID_DIR / f"{mode.name}.yaml"
    cat = default_catalog()
    with pytest.raises(ParameterFileError) as info:
        load_parameter(path, PARAMETER_ID, cat.instruments, cat.sources)
    _assert_error(info.value, path, mode)


def test_impossible_date_names_file_and_line() -> None:
    path = INVALID_DIR / f"{IMPOSSIBLE_DATE.name}.yaml"
    cat = default_catalog()
    with pytest.raises(ParameterFileError) as info:
        load_parameter(path, PARAMETER_ID, cat.instruments, cat.sources)
    assert info.value.path == path
    assert info.value.line == IMPOSSIBLE_DATE.line
    assert "invalid date '2022-13-01'" in info.value.detail
