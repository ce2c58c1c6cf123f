"""The law catalog: roaming regimes as cited, dated rules.

Public API::

    resolve(home, visited, on) -> Rules        which regime applies, its caps, basis and grade
    value_at(parameter_id, on) -> ParameterValue
    timeline(home, visited, start, end) -> list[Rules]
    default_catalog() / load_catalog(root)     the validated catalog
"""

from roamlike.law.catalog import (
    Basis,
    Catalog,
    Country,
    Instrument,
    Parameter,
    default_catalog,
    load_catalog,
)
from roamlike.law.resolution import (
    Cap,
    Gap,
    ParameterValue,
    Rules,
    format_decimal,
    resolve,
    timeline,
    value_at,
)

__all__ = [
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
]
