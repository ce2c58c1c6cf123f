"""A Spark session set up for roamlike: UTC session time, exact Parquet timestamps, same Python.

The settings below are the ones the rating path depends on (docs/spark.md):

* ``spark.sql.session.timeZone = UTC``: timestamps cross into the Python workers in the session
  time zone; UTC keeps text renderings and CSV output identical to ``roamlike rate``.
* ``spark.sql.parquet.outputTimestampType = TIMESTAMP_MICROS``: Spark otherwise writes INT96
  timestamps, which other Parquet readers interpret differently.
* ``PYSPARK_PYTHON``: the workers must run the driver's interpreter (the one roamlike and its
  engine are installed in), unless the environment already names one (clusters).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping

from pyspark.errors import PySparkException
from pyspark.sql import SparkSession

from roamlike.errors import SparkError, first_line

#: Session settings roamlike relies on; a caller's ``config`` may add to them.
SESSION_DEFAULTS: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.ui.showConsoleProgress": "false",
}


def spark_session(
    master: str = "local[*]",
    *,
    config: Mapping[str, str] | None = None,
    app_name: str = "roamlike",
) -> SparkSession:
    """Start (or join) a Spark session configured for :func:`roamlike.spark.rate`.

    Parameters
    ----------
    master : str
        Spark master URL: ``local[N]``, ``spark://host:7077``, ``yarn``, ``k8s://...``.
    config : mapping of str to str, optional
        Further Spark settings (e.g. ``spark.driver.memory``); they override the defaults.
    app_name : str
        Application name shown by the cluster manager.

    Returns
    -------
    pyspark.sql.SparkSession

    Raises
    ------
    SparkError
        The session cannot start (no Java on PATH, a bad master URL, ...).
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = SparkSession.builder.master(master).appName(app_name)
    for key, value in {**SESSION_DEFAULTS, **(config or {})}.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
        session.sparkContext.setLogLevel("ERROR")
    except (PySparkException, OSError, RuntimeError) as exc:
        first = first_line(exc)
        raise SparkError(
            f"cannot start Spark (master {master!r}): {first}; Spark needs Java 17 on PATH "
            "(scripts/system-packages.sh installs it)"
        ) from exc
    for key in ("spark.sql.session.timeZone", "spark.sql.parquet.outputTimestampType"):
        session.conf.set(key, SESSION_DEFAULTS[key])  # also when joining an existing session
    return session
