"""The exception tree (``roamlike.errors``): shape, context in messages, and no leaks."""

from __future__ import annotations

import datetime as dt
import inspect
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from roamlike import errors
from roamlike.errors import (
    AlreadyRatedError,
    CatalogError,
    FxError,
    NotInForceError,
    OutputError,
    ParameterFileError,
    RoamlikeError,
    ScenarioFileError,
    SparkError,
    StoreConflictError,
    StoreError,
    TapEncodeError,
    TariffError,
    UnknownCountryError,
    UnknownParameterError,
    UsageInputError,
)
from roamlike.law import default_catalog, load_catalog, value_at
from roamlike.law.catalog import CATALOG_DIR
from roamlike.tariffs import FxTable, load_plans

#: Every class of the tree, with its parent in the tree and the builtin it also is.
EXPECTED_TREE: dict[type[Exception], tuple[type[Exception], type[Exception]]] = {
    CatalogError: (RoamlikeError, Exception),
    ParameterFileError: (CatalogError, ValueError),
    ScenarioFileError: (ParameterFileError, ValueError),
    UnknownParameterError: (CatalogError, KeyError),
    NotInForceError: (RoamlikeError, LookupError),
    UnknownCountryError: (RoamlikeError, ValueError),
    TariffError: (RoamlikeError, ValueError),
    FxError: (RoamlikeError, LookupError),
    UsageInputError: (RoamlikeError, ValueError),
    TapEncodeError: (RoamlikeError, ValueError),
    OutputError: (RoamlikeError, OSError),
    SparkError: (RoamlikeError, RuntimeError),
    StoreError: (RoamlikeError, OSError),
    StoreConflictError: (StoreError, OSError),
    AlreadyRatedError: (StoreError, OSError),
}


def _error_classes() -> set[type[BaseException]]:
    return {
        obj
        for _, obj in inspect.getmembers(errors, inspect.isclass)
        if issubclass(obj, BaseException) and obj.__module__ == errors.__name__
    }


def test_tree_is_complete_and_frozen() -> None:
    assert _error_classes() == {RoamlikeError, *EXPECTED_TREE}
    assert RoamlikeError.__bases__ == (Exception,)


@pytest.mark.parametrize("cls", list(EXPECTED_TREE), ids=[c.__name__ for c in EXPECTED_TREE])
def test_every_class_subclasses_roamlike_error_and_a_builtin(cls: type[Exception]) -> None:
    parent, builtin = EXPECTED_TREE[cls]
    assert issubclass(cls, RoamlikeError)
    assert issubclass(cls, parent)
    assert issubclass(cls, builtin)
    assert builtin.__module__ == "builtins"
    assert cls.__doc__
    assert cls.__doc__.strip()


def test_tree_is_drawn_in_the_module_docstring() -> None:
    doc = errors.__doc__ or ""
    for cls, (_, builtin) in EXPECTED_TREE.items():
        name = cls.__name__
        assert name in doc, name
        if builtin is not Exception:
            assert f"{name} ({builtin.__name__})" in doc, name


def test_exit_codes() -> None:
    assert (errors.EXIT_OK, errors.EXIT_FINDINGS, errors.EXIT_USAGE, errors.EXIT_DATA) == (
        0,
        1,
        2,
        3,
    )


# ------------------------------------------------------------------------------------------
# Context in messages


def test_parameter_file_error_carries_path_and_line() -> None:
    exc = ParameterFileError("law/parameters/x.yaml", "bad unit 'EUR/TB'", line=12)
    assert str(exc) == "law/parameters/x.yaml, line 12: bad unit 'EUR/TB'"
    assert exc.path == Path("law/parameters/x.yaml")
    assert (exc.line, exc.detail) == (12, "bad unit 'EUR/TB'")
    assert str(ParameterFileError("a.yaml", "empty")) == "a.yaml: empty"


def test_not_in_force_error_names_the_coverage() -> None:
    exc = NotInForceError(
        "regime eu_rlah", dt.date(2016, 1, 1), (dt.date(2017, 6, 15), dt.date(2032, 6, 30))
    )
    assert str(exc) == (
        "no rule in force for regime eu_rlah on 2016-01-01; "
        "the catalog covers 2017-06-15 to 2032-06-30"
    )
    assert exc.on == dt.date(2016, 1, 1)
    assert exc.coverage == (dt.date(2017, 6, 15), dt.date(2032, 6, 30))


def test_not_in_force_from_the_catalog_names_the_coverage() -> None:
    with pytest.raises(NotInForceError) as info:
        value_at("eu.wholesale.data_eur_per_gb", dt.date(2017, 6, 14))
    message = str(info.value)
    assert "eu.wholesale.data_eur_per_gb" in message
    assert "2017-06-14" in message
    assert "2017-06-15 to 2032-06-30" in message


def test_unknown_country_error_says_how_many_and_where_to_look() -> None:
    exc = UnknownCountryError("ZZ", ["RS", "DE", "AT"])
    assert "unknown country code 'ZZ'" in str(exc)
    assert "the catalog knows 3 countries (AT, DE, RS, ...;" in str(exc)
    assert exc.code == "ZZ"


def test_unknown_country_from_the_catalog() -> None:
    with pytest.raises(UnknownCountryError) as info:
        default_catalog().country("ZZ")
    message = str(info.value)
    assert "'ZZ'" in message
    assert "the catalog knows 250 countries" in message
    assert "'roamlike countries' lists them" in message


def test_unknown_parameter_error_is_not_quoted_and_hints() -> None:
    exc = UnknownParameterError("eu.data_eur_per_gb", ["eu.wholesale.data_eur_per_gb", "x.y"])
    assert str(exc) == (
        "unknown parameter 'eu.data_eur_per_gb'; did you mean eu.wholesale.data_eur_per_gb?"
    )
    assert str(UnknownParameterError("nope")) == "unknown parameter 'nope'"


def test_tariff_error_names_file_and_plan() -> None:
    assert str(TariffError("bad", Path("p.yaml"), "x")) == "p.yaml: plan 'x': bad"
    assert str(TariffError("bad")) == "bad"


# ------------------------------------------------------------------------------------------
# No third-party or builtin exception leaks from file readers


def _only_roamlike_errors(call: Callable[[], object]) -> RoamlikeError:
    try:
        call()
    except RoamlikeError as exc:
        return exc
    except Exception as exc:  # pragma: no cover - reached only on a defect
        pytest.fail(f"leaked {type(exc).__module__}.{type(exc).__qualname__}: {exc}")
    pytest.fail("no error raised")


BINARY_GARBAGE = b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe\xfd\x80garbage"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("plans.yaml", b"plans: [\n  {id: a\n"),
        ("plans.yaml", b"plans:\n  - id: a\n   bad: indent\n"),
        ("plans.yaml", b"\tplans: x\n"),
        ("plans.yaml", b"plans: !!python/object:os.system [x]\n"),
        ("plans.json", b"{plans: [}"),
        ("plans.json", b'{"plans": [1, 2,]}'),
        pytest.param("plans.json", BINARY_GARBAGE, id="plans.json-binary"),
        pytest.param(
            "plans.yaml",
            BINARY_GARBAGE,
            id="plans.yaml-binary",
        ),
    ],
)
def test_bad_plans_file_raises_only_tariff_error(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    exc = _only_roamlike_errors(lambda: load_plans(path))
    assert isinstance(exc, TariffError)
    assert str(path) in str(exc)


@pytest.mark.parametrize(
    "content",
    [
        b"date,currency,units_per_eur\n2026-01-01,RSD,1\x00\n",
        b'date,currency,units_per_eur\n"2026-01-01,RSD,1\n',
        b"\x00\x00\x00",
        pytest.param(
            BINARY_GARBAGE,
            id="binary",
        ),
    ],
)
def test_bad_fx_file_raises_only_fx_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "fx.csv"
    path.write_bytes(content)
    exc = _only_roamlike_errors(lambda: FxTable.from_csv(path))
    assert isinstance(exc, FxError)
    assert str(path) in str(exc)


def _copy_catalog(tmp_path: Path) -> Path:
    root = tmp_path / "catalog"
    shutil.copytree(CATALOG_DIR, root, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return root


def test_copied_catalog_loads(tmp_path: Path) -> None:
    catalog = load_catalog(_copy_catalog(tmp_path))
    assert set(catalog.countries) == set(default_catalog().countries)


@pytest.mark.parametrize(
    "missing",
    [
        "instruments.yaml",
        "countries.yaml",
        "zones.yaml",
        "regimes.yaml",
        "parameters/eu/wholesale/data_eur_per_gb.yaml",
    ],
)
def test_catalog_missing_file_raises_only_catalog_error(tmp_path: Path, missing: str) -> None:
    root = _copy_catalog(tmp_path)
    (root / missing).unlink()
    exc = _only_roamlike_errors(lambda: load_catalog(root))
    assert isinstance(exc, CatalogError)
    assert str(root) in str(exc)


@pytest.mark.parametrize(
    "content",
    [
        b"countries: [\n",
        pytest.param(
            BINARY_GARBAGE,
            id="binary",
        ),
    ],
)
def test_catalog_garbage_file_raises_only_catalog_error(tmp_path: Path, content: bytes) -> None:
    root = _copy_catalog(tmp_path)
    (root / "countries.yaml").write_bytes(content)
    exc = _only_roamlike_errors(lambda: load_catalog(root))
    assert isinstance(exc, ParameterFileError)
    assert "countries.yaml" in str(exc)
