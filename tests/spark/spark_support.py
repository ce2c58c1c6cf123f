"""Fixtures and data of the Spark tests: one local[2] session, dirty synthetic usage.

The session needs Java 17 (``scripts/system-packages.sh``) and the ``spark`` extra (installed by
``make install``); without them these tests skip locally and fail under CI (``conftest.require``).
"""

from __future__ import annotations

import datetime as dt
import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
import pytest

from conftest import in_ci, require
from roamlike.cli.synth_command import fx_csv, plans_yaml
from roamlike.synth import generate
from roamlike.tariffs import FxTable, Plan
from roamlike.tariffs.schema import parse_plan

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def _require_pyspark() -> None:
    if importlib.util.find_spec("pyspark") is None:
        message = "needs pyspark: make install installs the spark extra"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def spark() -> Iterator[SparkSession]:
    """A local[2] session with few shuffle partitions (small test data)."""
    require("java")
    _require_pyspark()
    from roamlike.spark import spark_session

    session = spark_session(
        "local[2]",
        config={
            "spark.ui.enabled": "false",
            "spark.sql.shuffle.partitions": "4",
            "spark.default.parallelism": "2",
            "spark.driver.memory": "1g",
        },
    )
    yield session
    session.stop()


@dataclass(frozen=True)
class DirtyUsage:
    """Synthetic usage made dirty, as text, with the plans and FX rates to rate it."""

    frame: pl.DataFrame  # every column String, in read order
    plans: dict[str, Plan]
    fx: FxTable
    plans_yaml: str  # the plans as a plans file
    fx_csv: str  # the FX rates as an FX file


def dirty_usage(records: int = 24_000, seed: int = 3) -> DirtyUsage:
    """Synthetic usage with padded subscriber ids, duplicate record ids and bad rows.

    About a third of the rows carry their subscriber id padded with spaces (the same subscriber
    appears padded and unpadded), 2 % repeat an earlier record id (some padded), and a few dozen
    rows are bad in the ways of docs/rating.md §7 (missing fields, bad timestamps and numbers,
    negative quantities, unknown countries and plans).
    """
    synth = generate(records, seed=seed, start=dt.date(2026, 1, 1), months=2)
    rng = np.random.default_rng(seed)
    text = synth.usage.with_columns(
        pl.col("started_at").dt.strftime("%Y-%m-%dT%H:%M:%S%.6fZ"),
        pl.col("volume_bytes") * 100,  # heavy data users: fair use and bill-shock limits bind
    ).cast(pl.String)
    n = text.height
    pad = rng.random(n) < 0.33
    dup_of = np.where(rng.random(n) < 0.02, rng.integers(0, n, n), -1)
    # few subscribers, so allowances, fair use and bill-shock limits run out
    subscribers = (
        text.select(
            pl.col("plan_id")
            + pl.lit("/")
            + (pl.col("subscriber_id").str.slice(1).cast(pl.Int64) % 3).cast(pl.String)
        )
        .to_series()
        .to_numpy()
        .astype(object)
    )
    subscribers[pad] = "  " + subscribers[pad] + " "
    rids = text.get_column("record_id").to_numpy().astype(object)
    copies = dup_of >= 0
    rids[copies] = rids[dup_of[copies]] + np.where(pad[copies], " ", "")
    columns = {c: text.get_column(c).to_numpy().astype(object) for c in text.columns}
    columns["subscriber_id"] = subscribers
    columns["record_id"] = rids
    bad = {
        "record_id": "",
        "plan_id": "no-such-plan",
        "started_at": "2026-02-30T10:00:00Z",
        "utc_offset_min": "9999",
        "duration_s": "-5",
        "volume_bytes": "12.5",
        "visited_country": "ZZ",
        "home_country": " ",
        "event_type": "fax",
        "count": "ten",
    }
    rows = rng.choice(n, size=len(bad) * 4, replace=False)
    for k, (column, value) in enumerate(bad.items()):
        columns[column][rows[4 * k : 4 * k + 4]] = value
    text = pl.DataFrame({c: pl.Series(c, v.tolist(), dtype=pl.String) for c, v in columns.items()})
    plans = {p["id"]: parse_plan(p, index=i) for i, p in enumerate(synth.plans)}
    return DirtyUsage(
        frame=text,
        plans=plans,
        fx=FxTable.from_rows(synth.fx_rows),
        plans_yaml=plans_yaml(synth.plans),
        fx_csv=fx_csv(synth.fx_rows),
    )


@pytest.fixture(scope="session")
def dirty() -> DirtyUsage:
    return dirty_usage()


def write_csv_parts(frame: pl.DataFrame, folder: Path, parts: int) -> list[Path]:
    """``frame`` as ``parts`` CSV files whose path order is the frame's row order."""
    folder.mkdir(parents=True, exist_ok=True)
    bounds = np.linspace(0, frame.height, parts + 1).astype(int)
    paths = []
    for k in range(parts):
        path = folder / f"part-{k:02d}.csv"
        frame.slice(int(bounds[k]), int(bounds[k + 1] - bounds[k])).write_csv(path)
        paths.append(path)
    return paths
