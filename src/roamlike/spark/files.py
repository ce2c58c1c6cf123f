"""Files in and out of the Spark path: usage files or folders, and the three outputs in one pass.

Inputs are CSV or Parquet files, or folders of them (Spark's own part files included), local or on
any file system Spark reaches (``hdfs://``, ``s3a://``...). Files are read in path order, each in
row order, and numbered over the whole input (``roamlike.spark.keys``). CSV is read with every
column as text, like ``roamlike rate``, so a rejected row keeps its raw text.

Outputs are Spark datasets (a folder of part files per output, named as given; the format from
its extension: ``.parquet``, ``.csv``, ``.jsonl``/``.ndjson``), written with Spark's commit
protocol in overwrite mode. The tagged result is persisted once, so the engine runs once for
all three outputs and the run summary.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from urllib.parse import urlparse

import polars as pl
from pyspark import StorageLevel
from pyspark.errors import PySparkException
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as sf
from pyspark.sql.types import BooleanType, LongType, StringType

from roamlike.columns import CANONICAL_COLUMNS, REQUIRED_COLUMNS
from roamlike.errors import OutputError, SparkError, UsageInputError
from roamlike.io.usage import active_renames, read_column_mapping
from roamlike.pipeline import RunSummary
from roamlike.spark import keys
from roamlike.spark.rating import (
    SparkRating,
    notification_events,
    rate_frame,
    rated_records,
    rejected_records,
)
from roamlike.spark.schemas import KIND, NOTIFICATION, RATED, REJECT
from roamlike.spark.session import spark_session
from roamlike.tariffs import FxTable, Plan

#: Input formats by extension.
INPUT_FORMATS = {".csv": "csv", ".parquet": "parquet"}
#: Output formats by extension.
OUTPUT_FORMATS = {".parquet": "parquet", ".csv": "csv", ".jsonl": "json", ".ndjson": "json"}
_TIMESTAMP_TEXT = "yyyy-MM-dd'T'HH:mm:ss.SSSSSSXXX"  # 2026-03-01T10:00:00.000000Z in UTC
_NO_NULL_TEXT = "\u0000roamlike: no text stands for null\u0000"
_OPTIONAL_PARQUET_TYPES = {
    "destination_country": StringType(),
    "duration_s": LongType(),
    "volume_bytes": LongType(),
    "count": LongType(),
    "is_beyond_fair_use": BooleanType(),
}


def _is_local(path: str) -> bool:
    scheme = urlparse(path).scheme
    return scheme in ("", "file") or len(scheme) == 1  # a Windows drive letter is no scheme


def _format_of(path: str, formats: Mapping[str, str], what: str) -> str:
    suffix = Path(urlparse(path).path.rstrip("/")).suffix.lower()
    fmt = formats.get(suffix)
    if fmt is None:
        raise (UsageInputError if formats is INPUT_FORMATS else OutputError)(
            f"{path}: unknown {what} format {suffix or '(no extension)'!r}; expected "
            f"{', '.join(formats)} (a file or a folder of them)"
        )
    return fmt


def usage_files(paths: Sequence[str | Path]) -> tuple[list[str], str]:
    """The files to read, in path order, and their format (one format per run).

    A local folder stands for its ``.csv``/``.parquet`` files (not recursive); other paths
    (remote URIs, local files) are taken as they are.
    """
    files: list[str] = []
    for p in map(str, paths):
        local = Path(urlparse(p).path) if _is_local(p) and "://" in p else Path(p)
        if _is_local(p) and local.is_dir():
            found = sorted(
                str(f) for f in local.iterdir() if f.suffix.lower() in INPUT_FORMATS and f.is_file()
            )
            if not found:
                raise UsageInputError(f"{p}: folder holds no .csv or .parquet file")
            files.extend(found)
        elif _is_local(p) and not local.exists():
            raise UsageInputError(f"{p}: usage file not found")
        else:
            files.append(p)
    if not files:
        raise UsageInputError("no usage file given")
    formats = {_format_of(f, INPUT_FORMATS, "usage") for f in files}
    if len(formats) > 1:
        raise UsageInputError(f"usage files mix formats ({', '.join(sorted(formats))}); use one")
    return sorted(files), formats.pop()


def read_usage(
    spark: SparkSession, paths: Sequence[str | Path], mapping: Path | str | None = None
) -> DataFrame:
    """Read usage files (CSV or Parquet, files or folders) for :func:`roamlike.spark.rate`.

    Parameters
    ----------
    spark : SparkSession
    paths : sequence of str or Path
        Files or folders; read in path order.
    mapping : Path or str, optional
        Vendor column mapping (as ``roamlike rate --mapping``).

    Returns
    -------
    pyspark.sql.DataFrame
        Canonical columns, then extras, plus hidden columns that number rows in read order.

    Raises
    ------
    UsageInputError
        No file, mixed or unknown formats, a missing required column, a mapping clash.
    """
    files, fmt = usage_files(paths)
    renames = read_column_mapping(mapping) if mapping is not None else {}
    try:
        if fmt == "csv":
            # every column as text, RFC 4180 quoting: rows are never lost to a type. As in
            # roamlike rate, an empty field is null and a quoted empty field ("") is empty
            # text; Spark reads both as null unless no text stands for null.
            reader = spark.read.options(
                header=True,
                inferSchema=False,
                escape='"',
                emptyValue="",
                nullValue=_NO_NULL_TEXT,
            )
            df = reader.csv(files)
        else:
            df = spark.read.parquet(*files)
        df = df.select(
            *(sf.col(f"`{c}`") for c in df.columns),
            sf.col("_metadata.file_path").alias(keys.FILE),
            sf.col("_metadata.file_block_start").alias(keys.BLOCK),
            sf.monotonically_increasing_id().alias(keys.POSITION),
        )
    except PySparkException as exc:
        first = str(exc).strip().splitlines()[0]
        raise UsageInputError(f"{', '.join(files)}: cannot read usage as {fmt}: {first}") from exc
    columns = [c for c in df.columns if c not in keys.HIDDEN]
    active = active_renames(", ".join(files), columns, renames)
    if active:
        df = df.withColumnsRenamed(active)
    names = [active.get(c, c) for c in columns]
    for name in REQUIRED_COLUMNS:
        if name not in names:
            raise UsageInputError(
                f"{', '.join(files)}: required usage column {name!r} is missing; columns found: "
                f"{', '.join(columns) or '(none)'}; rename it or pass a column mapping"
            )
    missing = {
        c: sf.lit(None).cast(StringType() if fmt == "csv" else t)
        for c, t in _OPTIONAL_PARQUET_TYPES.items()
        if c not in names
    }
    if missing:
        df = df.withColumns(missing)
    extras = [c for c in names if c not in CANONICAL_COLUMNS]
    return df.select(
        *(sf.col(f"`{c}`") for c in (*CANONICAL_COLUMNS, *extras)),
        keys.FILE,
        keys.BLOCK,
        keys.POSITION,
    )


def _write(df: DataFrame, path: str) -> None:
    fmt = _format_of(path, OUTPUT_FORMATS, "output")
    writer = df.write.mode("overwrite")
    try:
        if fmt == "parquet":
            writer.option("compression", "zstd").parquet(path)
        elif fmt == "csv":
            # Spark trims text when it writes CSV unless told not to: rejects keep raw text
            writer.options(
                header=True,
                escape='"',
                timestampFormat=_TIMESTAMP_TEXT,
                ignoreLeadingWhiteSpace=False,
                ignoreTrailingWhiteSpace=False,
            ).csv(path)
        else:
            writer.options(timestampFormat=_TIMESTAMP_TEXT).json(path)
    except PySparkException as exc:
        first = str(exc).strip().splitlines()[0]
        raise OutputError(f"{path}: cannot write: {first}") from exc


def overlapping_paths(inputs: Sequence[str | Path], outputs: Sequence[str | Path]) -> list[str]:
    """Outputs that are, contain or lie inside an input (an overwrite would destroy it)."""
    found = []
    ins = [Path(str(p)).resolve() for p in inputs if _is_local(str(p))]
    for out in outputs:
        if not _is_local(str(out)):
            continue
        o = Path(str(out)).resolve()
        if any(o == i or o in i.parents or i in o.parents for i in ins):
            found.append(str(out))
    return found


def write_outputs(
    result: SparkRating,
    out: str | Path,
    rejects: str | Path | None = None,
    notifications: str | Path | None = None,
) -> RunSummary:
    """Write rated records (and rejects, notifications) from one run of the engine.

    Returns
    -------
    RunSummary
        read, rated, rejected, notifications, totals by regime and currency, rejects by reason
        (``batches`` is the number of partitions rated).

    Raises
    ------
    OutputError
        An output cannot be written.
    SparkError
        A Spark job failed, or rated + rejected != read (never expected).
    """
    for p in (out, rejects, notifications):
        if p is not None:
            _format_of(str(p), OUTPUT_FORMATS, "output")
    tagged = result.frame.persist(StorageLevel.MEMORY_AND_DISK)
    try:
        summary = _summarise(tagged, result.read)
        _write(rated_records(tagged), str(out))
        if rejects is not None:
            _write(rejected_records(tagged), str(rejects))
        if notifications is not None:
            _write(notification_events(tagged), str(notifications))
    finally:
        with contextlib.suppress(PySparkException):
            tagged.unpersist()
    return summary


def _summarise(tagged: DataFrame, read: int) -> RunSummary:
    """Counts and totals of a tagged result (one Spark job, which also fills the cache)."""
    exact = "decimal(38,0)"  # sums of micros never wrap
    try:
        rows = (
            tagged.groupBy(
                KIND,
                sf.col(f"{RATED}.regime").alias("regime"),
                sf.col(f"{RATED}.currency").alias("currency"),
                sf.col(f"{REJECT}.reason_code").alias("reason_code"),
            )
            .agg(
                sf.count(sf.lit(1)).alias("records"),
                *(
                    sf.sum(sf.col(f"{RATED}.{c}").cast(exact)).alias(c)
                    for c in ("charge_excl_vat_micros", "vat_micros", "charge_incl_vat_micros")
                ),
            )
            .collect()
        )
        partitions = tagged.rdd.getNumPartitions()
    except PySparkException as exc:
        first = str(exc).strip().splitlines()[0]
        raise SparkError(f"the Spark rating job failed: {first}") from exc
    summary = RunSummary(read=read, batches=partitions)
    totals = []
    for r in rows:
        n = int(r["records"])
        if r[KIND] == RATED:
            summary.rated += n
            totals.append(
                {
                    "regime": r["regime"],
                    "currency": r["currency"],
                    "records": n,
                    **{
                        c: int(r[c])
                        for c in ("charge_excl_vat_micros", "vat_micros", "charge_incl_vat_micros")
                    },
                }
            )
        elif r[KIND] == REJECT:
            summary.rejected += n
            summary.rejects_by_reason[r["reason_code"]] = n
        elif r[KIND] == NOTIFICATION:
            summary.notifications += n
    if totals:
        summary.totals = pl.DataFrame(totals).sort("regime", "currency")
    if summary.rated + summary.rejected != read:
        raise SparkError(
            f"rated {summary.rated} + rejected {summary.rejected} != read {read}: please report "
            "this defect"
        )
    return summary


def rate_paths(
    paths: Sequence[str | Path],
    plans: Mapping[str, Plan],
    fx: FxTable | None,
    out: str | Path,
    rejects: str | Path | None = None,
    notifications: str | Path | None = None,
    mapping: Path | str | None = None,
    *,
    master: str = "local[*]",
    partitions: int | None = None,
    config: Mapping[str, str] | None = None,
) -> RunSummary:
    """``roamlike rate --engine spark``: read, rate and write with a session of its own.

    A session this call starts is stopped at the end (the JVM and the Python workers go with
    it); an active session of the caller is used as it is (``master`` is then ignored) and left
    running.
    """
    existing = SparkSession.getActiveSession()
    spark = spark_session(master, config=config)
    try:
        df = read_usage(spark, paths, mapping)
        try:
            result = rate_frame(df, plans, fx, partitions=partitions)
        except PySparkException as exc:
            first = str(exc).strip().splitlines()[0]
            raise SparkError(f"the Spark rating job failed: {first}") from exc
        return write_outputs(result, out, rejects, notifications)
    finally:
        if existing is None:
            spark.stop()
