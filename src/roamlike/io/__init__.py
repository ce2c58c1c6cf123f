"""Reading usage records and writing tables.

Public API::

    read_usage(path, mapping=None) -> LazyFrame     CSV, Parquet or JSON lines, canonical names
    write_table(df, path)                           Parquet, CSV or JSON lines; atomic, same bytes
    TableWriter(path)                               the same, batch by batch (larger than memory)
    read_column_mapping(path) -> dict[str, str]     a vendor-to-canonical column mapping file

Errors: :class:`~roamlike.errors.UsageInputError` (a usage file cannot be read at all) and
:class:`~roamlike.errors.OutputError` (an output cannot be written). No Polars, Arrow, YAML or OS
exception escapes these functions.
"""

from roamlike.io.outputs import OUTPUT_FORMATS, TableWriter, write_table
from roamlike.io.usage import (
    CANONICAL_COLUMNS,
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    USAGE_FORMATS,
    read_column_mapping,
    read_usage,
)

__all__ = [
    "CANONICAL_COLUMNS",
    "OPTIONAL_COLUMNS",
    "OUTPUT_FORMATS",
    "REQUIRED_COLUMNS",
    "USAGE_FORMATS",
    "TableWriter",
    "read_column_mapping",
    "read_usage",
    "write_table",
]
