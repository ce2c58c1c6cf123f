"""The curated public API: changing it must be a deliberate edit of this file."""

from __future__ import annotations

import importlib

import pytest

PUBLIC_API: dict[str, set[str]] = {
    "roamlike.law": {
        "Basis",
        "Cap",
        "Catalog",
        "Country",
        "Gap",
        "Instrument",
        "Parameter",
        "ParameterValue",
        "Rules",
        "default_catalog",
        "format_decimal",
        "load_catalog",
        "resolve",
        "timeline",
        "value_at",
    },
    "roamlike.tariffs": {
        "BAM_PEG",
        "ECB_CURRENCIES",
        "Charging",
        "DataPackage",
        "FairUse",
        "FxRate",
        "FxTable",
        "OutOfBundle",
        "Plan",
        "RoamingPrice",
        "Surcharges",
        "excl_vat",
        "fair_use_allowance",
        "home_rlah_regime",
        "load_plans",
        "parse_plan",
        "parse_plans",
        "plan_vat_rate",
    },
    "roamlike.rating": {
        "BATCH_DUPLICATE",
        "BATCH_ROW",
        "BATCH_SUBSCRIBER",
        "Counters",
        "RATED_COLUMNS",
        "REASON_CODES",
        "RatingResult",
        "batch_keys",
        "normalise_subscriber_id",
        "rate_usage",
    },
    "roamlike.service": {
        "ServiceConfig",
        "create_app",
    },
    "roamlike.wholesale": {
        "CODES",
        "EVENT_SCHEMA",
        "BatchSpec",
        "Finding",
        "TapFile",
        "TapHeader",
        "decode_bytes",
        "decode_file",
        "encode_batch",
        "events_json",
        "findings_frame",
        "is_blocking",
        "load_batch_spec",
        "tadig_country",
    },
}


@pytest.mark.parametrize("module_name", sorted(PUBLIC_API))
def test_all_is_the_curated_set(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = module.__all__
    assert len(exported) == len(set(exported)), "duplicates in __all__"
    assert set(exported) == PUBLIC_API[module_name]


@pytest.mark.parametrize(
    ("module_name", "name"),
    sorted((module, name) for module, names in PUBLIC_API.items() for name in names),
)
def test_every_public_name_is_importable(module_name: str, name: str) -> None:
    module = importlib.import_module(module_name)
    assert getattr(module, name) is not None
    namespace: dict[str, object] = {}
    exec(f"from {module_name} import {name}", namespace)
    assert namespace[name] is getattr(module, name)


@pytest.mark.parametrize("module_name", sorted(PUBLIC_API))
def test_star_import_gives_exactly_all(module_name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from {module_name} import *", namespace)
    namespace.pop("__builtins__", None)
    assert set(namespace) == PUBLIC_API[module_name]


def test_package_version() -> None:
    import roamlike

    assert isinstance(roamlike.__version__, str)
    assert roamlike.__version__.count(".") == 2
