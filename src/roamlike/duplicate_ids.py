"""Duplicate record ids (docs/rating.md §7b): a 64-bit hash finds candidates, the text decides.

Every occurrence of a normalised ``record_id`` after its first, in read order, is a duplicate.
Hashing the ids and sorting the hashes (one pass, 8 bytes per record) finds the few hash values
that occur more than once; only the rows carrying one of them are compared on their exact text.
Two different ids that happen to share a hash are therefore never duplicates of each other, and
the result is exactly that of comparing every id with every earlier one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

#: Computes a 64-bit hash of each id (``UInt64``); replaceable so tests can force collisions.
HashIds = Callable[[pl.Expr], pl.Expr]

_SEED: Final = 20_220_701


def hash_record_ids(ids: pl.Expr) -> pl.Expr:
    """Polars' 64-bit hash of each id (stable within a run, which is all this module needs)."""
    return ids.hash(seed=_SEED)


def _repeated(hashes: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """The hash values that occur more than once (sorted, each once)."""
    ordered = np.sort(hashes)
    same = ordered[1:] == ordered[:-1]
    return np.unique(ordered[1:][same])


def repeated_ids(ids: pl.Series, hash_ids: HashIds = hash_record_ids) -> pl.Series:
    """Whether each row's id already occurred on an earlier row (null ids never do).

    Parameters
    ----------
    ids : polars.Series
        Normalised record ids (``String``, null for none), in read order.
    hash_ids : callable, optional
        The 64-bit hash (default :func:`hash_record_ids`).

    Returns
    -------
    polars.Series
        ``Boolean``, one per row, never null.
    """
    frame = ids.rename("_id").to_frame().with_row_index("_row")
    present = frame.filter(pl.col("_id").is_not_null())
    hashes = present.select(hash_ids(pl.col("_id")).cast(pl.UInt64).alias("_h"))
    candidates = _repeated(hashes.to_series().to_numpy())
    flags = np.zeros(ids.len(), dtype=np.bool_)
    if candidates.size:
        rows = (
            present.with_columns(hashes)
            .filter(pl.col("_h").is_in(pl.Series(candidates).implode()))
            .filter(~pl.col("_id").is_first_distinct())
            .get_column("_row")
            .to_numpy()
        )
        flags[rows] = True
    return pl.Series(ids.name, flags, dtype=pl.Boolean)


def repeated_rows(
    ids: pl.LazyFrame,
    *,
    read: Callable[[pl.LazyFrame], pl.DataFrame] = pl.LazyFrame.collect,
    hash_ids: HashIds = hash_record_ids,
    hashes: npt.NDArray[np.uint64] | None = None,
) -> pl.Series:
    """Row numbers (0-based, read order) whose id already occurred on an earlier row.

    For inputs larger than memory: ``ids`` is a lazy frame with one column, the normalised ids
    in read order, scanned twice (once for the hashes, 8 bytes per row held; once for the few
    candidate rows), or once when the caller has the hashes already.

    Parameters
    ----------
    ids : polars.LazyFrame
        One column of normalised record ids.
    read : callable, optional
        Collects a lazy frame (the caller's, to translate read errors).
    hash_ids : callable, optional
        The 64-bit hash (default :func:`hash_record_ids`).
    hashes : numpy.ndarray, optional
        ``hash_ids`` of every non-null id, in any order (``roamlike.disk_split`` works them
        out while it splits the input); default: read from ``ids``.

    Returns
    -------
    polars.Series
        ``Int64`` row numbers, ascending.
    """
    name = ids.collect_schema().names()[0]
    numbered = ids.select(pl.col(name).alias("_id")).with_row_index("_row")
    present = numbered.filter(pl.col("_id").is_not_null())
    if hashes is None:
        read_hashes = read(present.select(hash_ids(pl.col("_id")).cast(pl.UInt64).alias("_h")))
        hashes = read_hashes.to_series().to_numpy()
    candidates = _repeated(hashes)
    if not candidates.size:
        return pl.Series("row_number", [], dtype=pl.Int64)
    found = read(
        present.filter(
            hash_ids(pl.col("_id")).cast(pl.UInt64).is_in(pl.Series(candidates).implode())
        )
    )
    return (
        found.filter(~pl.col("_id").is_first_distinct())
        .get_column("_row")
        .cast(pl.Int64)
        .rename("row_number")
    )
