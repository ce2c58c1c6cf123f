"""Declared schemas of the Spark path, taken from the engine itself so they cannot drift.

The output types are those ``roamlike.rating.rate_usage`` produces: the engine is run once on an
empty frame with the input's types, and its three result frames give the Arrow types of rated
records, rejects and notifications. Every batch a worker returns is cast to exactly these types
(a safe cast: an int32 where the schema says int64 is widened; a value that does not fit fails
loudly instead of being truncated in the JVM).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import pyarrow as pa
from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema
from pyspark.sql.types import StructType

from roamlike.rating import rate_usage

#: Column of the tagged output that says which of the three tables a row belongs to.
KIND = "kind"
#: Struct columns of the tagged output, by kind.
RATED, REJECT, NOTIFICATION = "rated", "reject", "notification"
KINDS = (RATED, REJECT, NOTIFICATION)


def plain_arrow_type(dtype: pa.DataType) -> pa.DataType:
    """The Arrow type Spark exchanges for ``dtype`` (large and view strings become string)."""
    if pa.types.is_large_string(dtype) or pa.types.is_string_view(dtype):
        return pa.string()
    if pa.types.is_large_binary(dtype) or pa.types.is_binary_view(dtype):
        return pa.binary()
    if pa.types.is_dictionary(dtype):
        return plain_arrow_type(dtype.value_type)
    if pa.types.is_large_list(dtype) or pa.types.is_list_view(dtype):
        return pa.list_(plain_arrow_type(dtype.value_type))
    if pa.types.is_list(dtype):
        return pa.list_(plain_arrow_type(dtype.value_type))
    if pa.types.is_struct(dtype):
        fields = [dtype.field(i) for i in range(dtype.num_fields)]
        return pa.struct([f.with_type(plain_arrow_type(f.type)) for f in fields])
    return dtype


def plain_arrow_schema(schema: pa.Schema) -> pa.Schema:
    """Every field of ``schema`` as :func:`plain_arrow_type`, all nullable."""
    return pa.schema([pa.field(f.name, plain_arrow_type(f.type), nullable=True) for f in schema])


@dataclass(frozen=True)
class OutputSchemas:
    """Arrow types of the three engine outputs and the Spark schema of the tagged output."""

    rated: pa.StructType
    reject: pa.StructType
    notification: pa.StructType

    @property
    def arrow(self) -> pa.Schema:
        """Arrow schema of the tagged output: ``kind`` and one struct column per kind."""
        return pa.schema(
            [
                pa.field(KIND, pa.string(), nullable=False),
                pa.field(RATED, self.rated),
                pa.field(REJECT, self.reject),
                pa.field(NOTIFICATION, self.notification),
            ]
        )

    @property
    def spark(self) -> StructType:
        """The same schema as Spark declares it for ``mapInArrow``."""
        return from_arrow_schema(self.arrow, prefer_timestamp_ntz=True)


def engine_input_frame(spark_schema: StructType) -> pl.DataFrame:
    """An empty Polars frame with the types a worker receives for ``spark_schema``."""
    arrow = to_arrow_schema(spark_schema, timezone="UTC")
    frame = pl.from_arrow(arrow.empty_table())
    assert isinstance(frame, pl.DataFrame)
    return frame


def output_schemas(input_frame: pl.DataFrame) -> OutputSchemas:
    """The engine's output types for input of the types of ``input_frame`` (no rows needed).

    ``input_frame`` has the usage columns plus the batch protocol's row number (Int64) and
    duplicate flag (Boolean), as a partition does when it reaches the engine.
    """
    result = rate_usage(input_frame.clear(), {}, None)

    def struct(frame: pl.DataFrame) -> pa.StructType:
        schema = plain_arrow_schema(frame.to_arrow().schema)
        return pa.struct(list(schema))

    return OutputSchemas(
        rated=struct(result.rated),
        reject=struct(result.rejects),
        notification=struct(result.notifications),
    )


def tagged_batches(
    frames: dict[str, pl.DataFrame], schemas: OutputSchemas, max_rows: int = 65_536
) -> list[pa.RecordBatch]:
    """The engine's three result frames as record batches of the tagged output schema.

    Every column is cast (safely) to its declared type; a frame whose columns differ from the
    declared ones raises ``KeyError``/``ArrowInvalid`` rather than shipping wrong data.
    """
    target = schemas.arrow
    out: list[pa.RecordBatch] = []
    for kind in KINDS:
        frame = frames[kind]
        if frame.height == 0:
            continue
        struct_type: pa.StructType = target.field(kind).type
        table = frame.to_arrow()
        arrays = [
            table.column(f.name).combine_chunks().cast(f.type, safe=True)
            for f in (struct_type.field(i) for i in range(struct_type.num_fields))
        ]
        value = pa.StructArray.from_arrays(arrays, fields=list(struct_type))
        n = frame.height
        columns: list[pa.Array] = []
        for name in (KIND, *KINDS):
            if name == KIND:
                columns.append(pa.repeat(pa.scalar(kind, type=pa.string()), n))
            elif name == kind:
                columns.append(value)
            else:
                columns.append(pa.nulls(n, type=target.field(name).type))
        whole = pa.Table.from_arrays(columns, schema=target)
        out.extend(whole.to_batches(max_chunksize=max_rows))
    return out
