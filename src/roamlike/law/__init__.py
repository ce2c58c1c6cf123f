"""The law catalog: roaming regimes as cited, dated rules.

Public API::

    resolve(home, visited, on) -> Rules        which regime applies, its caps, basis and grade
    value_at(parameter_id, on) -> ParameterValue
    timeline(home, visited, start, end) -> list[Rules]
    effective_table() -> polars.DataFrame      the same rules as an effective-dated table
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
from roamlike.law.tables import CAP_COLUMNS, effective_table, lookup_table

__all__ = [
    "CAP_COLUMNS",
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
    "effective_table",
    "format_decimal",
    "load_catalog",
    "lookup_table",
    "resolve",
    "timeline",
    "value_at",
]
