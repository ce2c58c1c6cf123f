"""Read usage records (CSV, Parquet, JSON lines) into a lazy frame with canonical column names.

The canonical columns are those of ``docs/rating.md`` §1.1. Text formats (CSV, JSON lines) are read
with every column as ``String``: no row may be lost to a parse error, so typing and validation are
left to the engine, which turns bad rows into rejects with a reason code. CSV lines may end in LF,
CRLF or a bare CR; a line without any value (blank, or separators only) is not a record. Parquet
is scanned as is.

A vendor whose files use other column names supplies a mapping file (YAML)::

    columns:
      CALL_ID: record_id
      MSISDN_HASH: subscriber_id
      TARIFF: plan_id

Unknown canonical names, duplicate keys and two vendor columns mapped to one canonical name are
errors. Missing optional columns are added as nulls; a missing required column is an error that
names it, lists the columns found and says how to map it. Extra columns are kept (after the
canonical ones, in file order).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl

from roamlike.columns import CANONICAL_COLUMNS as CANONICAL_COLUMNS
from roamlike.columns import OPTIONAL_COLUMNS as _OPTIONAL
from roamlike.columns import REQUIRED_COLUMNS as REQUIRED_COLUMNS
from roamlike.errors import ParameterFileError, UsageInputError, first_line
from roamlike.law.strict_yaml import load_strict

#: Parquet type of each optional column when a file leaves it out.
OPTIONAL_COLUMNS: dict[str, type[pl.DataType]] = dict(
    zip(
        _OPTIONAL,
        (pl.String, pl.Int64, pl.Int64, pl.Int64, pl.Boolean),
        strict=True,
    )
)
#: File extensions accepted by :func:`read_usage` and the format each selects.
USAGE_FORMATS: dict[str, str] = {
    ".csv": "csv",
    ".parquet": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}

_MAPPING_HINT = (
    "map it with a column-mapping file (YAML 'columns: {{your_column: {name}}}') passed as "
    "mapping= (CLI: --mapping)"
)


def read_column_mapping(path: Path | str) -> dict[str, str]:
    """Read a vendor-to-canonical column mapping file.

    Parameters
    ----------
    path : Path or str
        YAML file with one key, ``columns``, a mapping ``{vendor_name: canonical_name}``.

    Returns
    -------
    dict[str, str]
        Vendor column name -> canonical column name.

    Raises
    ------
    UsageInputError
        Unreadable file, invalid YAML, duplicate keys, unknown top-level keys, a canonical name
        that is not in :data:`CANONICAL_COLUMNS`, or two vendor columns mapped to one name.
    """
    path = Path(path)
    try:
        doc = load_strict(path, allow_aliases=False)
    except ParameterFileError as exc:
        line = f", line {exc.line}" if exc.line is not None else ""
        raise UsageInputError(f"{path}{line}: column mapping: {exc.detail}") from exc
    except OSError as exc:
        raise UsageInputError(f"{path}: cannot read column mapping: {exc.strerror}") from exc
    if not isinstance(doc, Mapping) or set(doc) != {"columns"}:
        found = ", ".join(map(str, doc)) if isinstance(doc, Mapping) else type(doc).__name__
        raise UsageInputError(
            f"{path}: a column mapping is a mapping with one key, 'columns' "
            f"({{vendor_name: canonical_name}}); found {found or 'nothing'}"
        )
    columns: Any = doc["columns"]
    if not isinstance(columns, Mapping) or not columns:
        raise UsageInputError(f"{path}: 'columns' must be a non-empty mapping vendor -> canonical")
    result: dict[str, str] = {}
    targets: dict[str, str] = {}
    for vendor, canonical in columns.items():
        if not isinstance(vendor, str) or not isinstance(canonical, str):
            raise UsageInputError(
                f"{path}: column names must be strings, found {vendor!r}: {canonical!r} "
                "(quote names YAML would read as numbers or booleans)"
            )
        if canonical not in CANONICAL_COLUMNS:
            near = difflib.get_close_matches(canonical, CANONICAL_COLUMNS, n=1)
            hint = f"; did you mean {near[0]!r}?" if near else ""
            raise UsageInputError(
                f"{path}: {vendor!r} is mapped to {canonical!r}, which is not a canonical usage "
                f"column{hint} Canonical columns: {', '.join(CANONICAL_COLUMNS)}"
            )
        if canonical in targets:
            raise UsageInputError(
                f"{path}: both {targets[canonical]!r} and {vendor!r} are mapped to {canonical!r}"
            )
        targets[canonical] = vendor
        result[vendor] = canonical
    return result


def active_renames(where: object, columns: list[str], renames: Mapping[str, str]) -> dict[str, str]:
    """The renames of a column mapping that apply to ``columns`` (vendor -> canonical).

    Raises
    ------
    UsageInputError
        A vendor column would be renamed onto a column the input already has.
    """
    present = set(columns)
    active = {src: dst for src, dst in renames.items() if src in present and src != dst}
    for src, dst in active.items():
        if dst in present and dst not in active:
            raise UsageInputError(
                f"{where}: the mapping renames {src!r} to {dst!r}, but the file already has a "
                f"column {dst!r}; drop one of them or remove the mapping entry"
            )
    return active


def _format_of(path: Path) -> str:
    fmt = USAGE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise UsageInputError(
            f"{path}: unknown usage file format {path.suffix or '(no extension)'!r}; "
            f"expected one of {', '.join(USAGE_FORMATS)} (CSV, Parquet, JSON lines)"
        )
    return fmt


def _line_end(path: Path) -> str:
    """``"\\r"`` when the file's lines end with a bare CR (no LF in its first 64 KiB), else LF."""
    with path.open("rb") as handle:
        head = handle.read(65_536)
    return "\r" if b"\r" in head and b"\n" not in head else "\n"


def _scan(path: Path, fmt: str) -> tuple[pl.LazyFrame, list[str]]:
    """Scan ``path`` lazily and read its column names (translating every failure)."""
    if not path.exists():
        raise UsageInputError(f"{path}: usage file not found")
    if not path.is_file():
        raise UsageInputError(f"{path}: not a file")
    try:
        if fmt == "csv":
            # every column as String and invalid UTF-8 replaced, not fatal: rows are never lost;
            # LF and CRLF line ends are read as they are, bare CR (old Mac exports) is sniffed;
            # a line without any value (a blank line) is not a record
            lf = pl.scan_csv(
                path, infer_schema=False, encoding="utf8-lossy", eol_char=_line_end(path)
            )
            lf = lf.filter(~pl.all_horizontal(pl.all().is_null()))
        elif fmt == "jsonl":
            # names from the whole file (a key may first appear late), then every column String
            names = list(pl.scan_ndjson(path, infer_schema_length=None).collect_schema().names())
            lf = pl.scan_ndjson(path, schema=dict.fromkeys(names, pl.String))
        else:
            lf = pl.scan_parquet(path)
        columns = list(lf.collect_schema().names())
    except UsageInputError:
        raise
    except OSError as exc:
        raise UsageInputError(f"{path}: cannot read usage file: {exc}") from exc
    except (pl.exceptions.PolarsError, ValueError, RuntimeError) as exc:
        message = first_line(exc)
        raise UsageInputError(f"{path}: cannot read usage file as {fmt}: {message}") from exc
    return lf, columns


def _missing_required_message(path: Path, name: str, columns: list[str]) -> str:
    near = [c for c in columns if c.lower().replace(" ", "_") == name]
    near = near or difflib.get_close_matches(name, columns, n=1, cutoff=0.6)
    hint = f" (did you mean {near[0]!r}?)" if near else ""
    return (
        f"{path}: required usage column {name!r} is missing{hint}; columns found: "
        f"{', '.join(columns) or '(none)'}. Rename the column in the file or "
        + _MAPPING_HINT.format(name=name)
    )


def read_usage(path: Path | str, mapping: Path | str | None = None) -> pl.LazyFrame:
    """Read a usage file into a lazy frame with the canonical column names.

    Parameters
    ----------
    path : Path or str
        ``.csv``, ``.parquet``, ``.jsonl`` or ``.ndjson`` file of usage records.
    mapping : Path or str, optional
        Column-mapping YAML (``columns: {vendor_name: canonical_name}``) applied before the
        canonical columns are checked.

    Returns
    -------
    polars.LazyFrame
        The canonical columns (docs/rating.md §1.1) in canonical order, then the file's other
        columns in file order. CSV and JSON lines: every column ``String``; Parquet: the file's
        types. Missing optional columns are null (``String`` for text formats, the canonical type
        for Parquet).

    Raises
    ------
    UsageInputError
        Unknown extension, missing or unreadable file, invalid mapping, a missing required column,
        or a mapped name colliding with an existing column.

    Notes
    -----
    The frame is lazy: a defect deep inside a file (e.g. a ragged CSV line) can still surface when
    it is collected. Values are not validated here; bad rows become rejects in the engine.
    """
    path = Path(path)
    fmt = _format_of(path)
    renames = read_column_mapping(mapping) if mapping is not None else {}
    lf, columns = _scan(path, fmt)

    active = active_renames(path, columns, renames)
    if active:
        lf = lf.rename(active)
    names = [active.get(c, c) for c in columns]

    for name in REQUIRED_COLUMNS:
        if name not in names:
            raise UsageInputError(_missing_required_message(path, name, columns))

    added: list[pl.Expr] = []
    for name, dtype in OPTIONAL_COLUMNS.items():
        if name not in names:
            added.append(pl.lit(None, dtype=pl.String if fmt != "parquet" else dtype).alias(name))
    if added:
        lf = lf.with_columns(added)
    extras = [c for c in names if c not in CANONICAL_COLUMNS]
    return lf.select([*CANONICAL_COLUMNS, *extras])
