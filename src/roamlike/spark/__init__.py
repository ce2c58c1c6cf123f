"""Scale-out on Apache Spark: the same engine, the same results as ``roamlike rate``.

Needs the optional extra ``roamlike[spark]`` (pyspark, pandas) and Java 17. See docs/spark.md.
Importing this package imports pyspark; nothing else in roamlike does.
"""

from roamlike.spark.files import overlapping_paths, rate_paths, read_usage, write_outputs
from roamlike.spark.rating import (
    SparkRating,
    notification_events,
    rate,
    rate_frame,
    rated_records,
    rejected_records,
)
from roamlike.spark.session import spark_session

__all__ = [
    "SparkRating",
    "notification_events",
    "overlapping_paths",
    "rate",
    "rate_frame",
    "rate_paths",
    "rated_records",
    "read_usage",
    "rejected_records",
    "spark_session",
    "write_outputs",
]
