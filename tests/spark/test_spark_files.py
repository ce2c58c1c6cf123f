"""``roamlike rate --engine spark`` and ``roamlike.spark`` files: outputs, formats, errors.

The CLI runs in the test's Spark session (``rate_paths`` uses an active session and leaves it
running), so these tests pay for one JVM start.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import polars.selectors as cs
import pytest
from polars.testing import assert_frame_equal
from spark_support import DirtyUsage, dirty, spark
from typer.testing import CliRunner

from roamlike.cli import app
from roamlike.errors import SparkError, UsageInputError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["dirty", "spark"]  # fixtures

pytestmark = pytest.mark.spark
runner = CliRunner()


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory, dirty: DirtyUsage) -> dict[str, Path]:
    """A 4,000-record slice as two Parquet parts and as one file, with plans and FX files."""
    folder = tmp_path_factory.mktemp("small")
    frame = dirty.frame.head(4_000)
    parts = folder / "parts.parquet"
    parts.mkdir()
    frame.head(2_500).write_parquet(parts / "a.parquet")
    frame.slice(2_500).write_parquet(parts / "b.parquet")
    frame.write_parquet(folder / "whole.parquet")
    (folder / "plans.yaml").write_text(dirty.plans_yaml, encoding="utf-8")
    (folder / "fx.csv").write_text(dirty.fx_csv, encoding="utf-8")
    return {
        "parts": parts,
        "whole": folder / "whole.parquet",
        "plans": folder / "plans.yaml",
        "fx": folder / "fx.csv",
        "dir": folder,
    }


def _rate(usage: Path, small: dict[str, Path], *args: str) -> tuple[int, str]:
    result = runner.invoke(
        app,
        [
            "rate",
            str(usage),
            "--plans",
            str(small["plans"]),
            "--fx",
            str(small["fx"]),
            *args,
        ],
    )
    return result.exit_code, result.output


def _outputs(folder: Path, prefix: str, suffix: str = ".parquet") -> list[Path]:
    return [folder / f"{prefix}-{name}{suffix}" for name in ("rated", "rejects", "notes")]


def _flags(paths: list[Path]) -> list[str]:
    return ["--out", str(paths[0]), "--rejects", str(paths[1]), "--notifications", str(paths[2])]


def test_cli_spark_writes_what_roamlike_rate_writes(
    spark: SparkSession, small: dict[str, Path], tmp_path: Path
) -> None:
    native = _outputs(tmp_path, "native")
    code, output = _rate(small["whole"], small, *_flags(native), "--quiet")
    assert code == 1, output
    on_spark = _outputs(tmp_path, "spark")
    code, output = _rate(
        small["parts"], small, *_flags(on_spark), "--engine", "spark", "--partitions", "3"
    )
    assert code == 1, output  # rejects: finished with findings
    assert "read 4,000 = rated" in output
    assert "stateless periods" in output
    keys = ["row_number", "row_number", ["subscriber_id", "started_at", "record_id", "kind"]]
    for mine, theirs, key in zip(on_spark, native, keys, strict=True):
        assert mine.is_dir()  # a Spark dataset: a folder of part files
        got = pl.read_parquet(mine / "*.parquet").sort(key)
        # roamlike rate's enum codes (docs/rating.md §8) are Spark's text: the same values
        want = pl.read_parquet(theirs).with_columns(cs.enum().cast(pl.String))
        assert_frame_equal(got, want.sort(key))


def test_cli_spark_writes_csv_readable_like_roamlike_rate_csv(
    spark: SparkSession, small: dict[str, Path], tmp_path: Path
) -> None:
    native = _outputs(tmp_path, "native", ".csv")
    assert _rate(small["whole"], small, *_flags(native), "--quiet")[0] == 1
    on_spark = _outputs(tmp_path, "spark", ".csv")
    code, output = _rate(small["parts"], small, *_flags(on_spark), "--engine", "spark")
    assert code == 1, output
    for mine, theirs in zip(on_spark, native, strict=True):
        got = pl.read_csv(mine / "*.csv", infer_schema=False)
        want = pl.read_csv(theirs, infer_schema=False)
        assert got.columns == want.columns
        assert_frame_equal(got.sort(got.columns), want.sort(want.columns))


@pytest.mark.parametrize(
    "options",
    [["--partitions", "2"], ["--spark-conf", "spark.driver.memory=1g"]],
    ids=["partitions", "spark-conf"],
)
def test_cli_spark_options_need_the_spark_engine(
    small: dict[str, Path], tmp_path: Path, options: list[str]
) -> None:
    code, output = _rate(small["whole"], small, "--out", str(tmp_path / "o.parquet"), *options)
    assert code == 2
    assert "--engine spark only" in output


def test_cli_spark_conf_must_be_key_value(small: dict[str, Path], tmp_path: Path) -> None:
    code, output = _rate(
        small["whole"],
        small,
        "--out",
        str(tmp_path / "o.parquet"),
        "--engine",
        "spark",
        "--spark-conf",
        "spark.driver.memory",
    )
    assert code == 2
    assert "expected KEY=VALUE" in output


def test_cli_spark_refuses_an_output_inside_the_input(
    small: dict[str, Path], tmp_path: Path
) -> None:
    code, output = _rate(
        small["parts"], small, "--out", str(small["parts"] / "rated.parquet"), "--engine", "spark"
    )
    assert code == 2
    assert "may not be, contain or lie in the input" in output
    assert not (small["parts"] / "rated.parquet").exists()


def test_cli_spark_without_pyspark_says_how_to_install_it(
    small: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "roamlike.spark", None)  # import fails as if not installed
    code, output = _rate(
        small["whole"], small, "--out", str(tmp_path / "o.parquet"), "--engine", "spark"
    )
    assert code == 2
    assert "roamlike[spark]" in output


def test_cli_spark_without_java_is_a_clear_error(small: dict[str, Path], tmp_path: Path) -> None:
    # a fresh process whose PATH has no java and no JAVA_HOME: the session cannot start
    env = {k: v for k, v in os.environ.items() if k not in ("JAVA_HOME", "SPARK_HOME")}
    env["PATH"] = str(Path(sys.executable).parent)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "roamlike.cli",
            "rate",
            str(small["whole"]),
            "--plans",
            str(small["plans"]),
            "--out",
            str(tmp_path / "o.parquet"),
            "--engine",
            "spark",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 3, result.stderr
    assert "cannot start Spark" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_input_or_output_formats_are_errors(spark: SparkSession, tmp_path: Path) -> None:
    from roamlike.spark import read_usage
    from roamlike.spark.files import usage_files

    (tmp_path / "u.txt").write_text("x", encoding="utf-8")
    with pytest.raises(UsageInputError, match=r"unknown usage format '\.txt'"):
        read_usage(spark, [tmp_path / "u.txt"])
    with pytest.raises(UsageInputError, match="usage file not found"):
        usage_files([tmp_path / "missing.csv"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageInputError, match=r"holds no \.csv or \.parquet file"):
        usage_files([tmp_path / "empty"])
    (tmp_path / "a.csv").write_text("x\n1\n", encoding="utf-8")
    (tmp_path / "b.parquet").write_bytes(b"")
    with pytest.raises(UsageInputError, match="mix formats"):
        usage_files([tmp_path / "a.csv", tmp_path / "b.parquet"])


def test_a_missing_required_column_names_it(spark: SparkSession, tmp_path: Path) -> None:
    from roamlike.spark import read_usage

    pl.DataFrame({"record_id": ["r1"], "subscriber": ["s"]}).write_csv(tmp_path / "u.csv")
    with pytest.raises(UsageInputError, match="required usage column 'subscriber_id'"):
        read_usage(spark, [tmp_path / "u.csv"])


def test_vendor_columns_are_mapped_as_in_roamlike_rate(
    spark: SparkSession, dirty: DirtyUsage, tmp_path: Path
) -> None:
    from roamlike.spark import read_usage

    frame = dirty.frame.head(10).rename({"record_id": "CALL_ID", "subscriber_id": "MSISDN"})
    frame.write_csv(tmp_path / "u.csv")
    mapping = tmp_path / "m.yaml"
    mapping.write_text("columns:\n  CALL_ID: record_id\n  MSISDN: subscriber_id\n", "utf-8")
    df = read_usage(spark, [tmp_path / "u.csv"], mapping)
    assert df.columns[:2] == ["record_id", "subscriber_id"]
    assert "CALL_ID" not in df.columns


def test_a_reserved_column_is_refused(spark: SparkSession, dirty: DirtyUsage) -> None:
    from roamlike.spark import rate

    df = spark.createDataFrame(
        dirty.frame.head(5)
        .with_row_index("__roamlike_row_number")
        .cast({"__roamlike_row_number": pl.Int64})
        .to_pandas()
    )
    with pytest.raises(UsageInputError, match="reserved"):
        rate(df, dirty.plans, dirty.fx)


def test_rated_plus_rejected_must_equal_read(
    spark: SparkSession, dirty: DirtyUsage, tmp_path: Path
) -> None:
    from roamlike.spark import rate_frame, write_outputs
    from roamlike.spark.rating import SparkRating

    df = spark.createDataFrame(dirty.frame.head(200).to_pandas())
    result = rate_frame(df, dirty.plans, dirty.fx, partitions=2)
    summary = write_outputs(result, tmp_path / "ok.parquet")
    assert summary.read == summary.rated + summary.rejected == 200
    wrong = SparkRating(frame=result.frame, read=result.read + 1, schemas=result.schemas)
    with pytest.raises(SparkError, match=r"rated \d+ \+ rejected \d+ != read 201"):
        write_outputs(wrong, tmp_path / "wrong.parquet")


def test_the_catalog_given_is_the_one_the_workers_use(
    spark: SparkSession, dirty: DirtyUsage
) -> None:
    import dataclasses
    import datetime as dt

    from roamlike.law import default_catalog
    from roamlike.law.catalog import Coverage
    from roamlike.rating import rate_usage
    from roamlike.spark import rate, rejected_records

    base = default_catalog()
    # a catalog that ends on 2026-01-31: February's records have no rule in force
    short = dataclasses.replace(base, coverage=Coverage(base.coverage.start, dt.date(2026, 1, 31)))
    frame = dirty.frame.tail(300)  # the last records: February
    tagged = rate(spark.createDataFrame(frame.to_pandas()), dirty.plans, dirty.fx, catalog=short)
    got = pl.from_arrow(rejected_records(tagged).toArrow())
    assert isinstance(got, pl.DataFrame)
    want = rate_usage(frame, dirty.plans, dirty.fx, catalog=short).rejects
    assert "NO_RULE_IN_FORCE" in set(want.get_column("reason_code"))
    assert_frame_equal(got.sort("row_number"), want.sort("row_number"))
