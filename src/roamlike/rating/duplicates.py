"""Duplicate record ids (docs/rating.md §7b), under the engine's name.

The functions live in :mod:`roamlike.duplicate_ids`, which imports no engine, so that the
input reader's thread can find the duplicates of a whole input while the engine is still being
imported (``roamlike.splits``).
"""

from roamlike.duplicate_ids import HashIds, hash_record_ids, repeated_ids, repeated_rows

__all__ = ["HashIds", "hash_record_ids", "repeated_ids", "repeated_rows"]
