"""The canonical usage columns (docs/rating.md §1.1), named once for every layer."""

from __future__ import annotations

from typing import Final

#: Columns every usage record must carry.
REQUIRED_COLUMNS: Final[tuple[str, ...]] = (
    "record_id",
    "subscriber_id",
    "plan_id",
    "event_type",
    "started_at",
    "utc_offset_min",
    "home_country",
    "visited_country",
)
#: Columns a file may leave out (they are then null).
OPTIONAL_COLUMNS: Final[tuple[str, ...]] = (
    "destination_country",
    "duration_s",
    "volume_bytes",
    "count",
    "is_beyond_fair_use",
)
#: Every canonical column, in canonical order.
CANONICAL_COLUMNS: Final[tuple[str, ...]] = REQUIRED_COLUMNS + OPTIONAL_COLUMNS

#: The character no id may contain (reason ``BAD_ID``): U+0000 (NUL). The state stores cannot
#: keep it (PostgreSQL's text refuses it; SQLite's JSON functions cut a text at it), so an id
#: holding it could not be remembered as itself: two different ids would meet as one.
ID_FORBIDDEN: Final = "\x00"
#: Bounds of ``utc_offset_min`` [min] (docs/rating.md §1.1; reason ``BAD_TIMESTAMP``).
UTC_OFFSET_RANGE_MIN: Final = (-720, 840)
#: ISO 8601 text timestamps accepted (hours 00-23, minutes and seconds 00-59: no leap second).
TIMESTAMP_PATTERN: Final = (
    r"^\d{4}-\d{2}-\d{2}[T ]([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{1,6})?(Z|[+-]\d{2}:?\d{2})?$"
)

# The batch protocol's columns (``roamlike.rating.batch_keys``), in the namespace no input
# column may use; named here so that a module that reads the input needs no engine.
#: The row number of each row in the whole input (read order) ...
BATCH_ROW: Final = "__roamlike_row_number"
#: ... and whether its record_id already occurred on an earlier row of the whole input.
BATCH_DUPLICATE: Final = "__roamlike_duplicate"
#: The normalised subscriber key of ``roamlike.rating.batch_keys``, to partition on.
BATCH_SUBSCRIBER: Final = "__roamlike_subscriber"
#: Optional: the row's normalised ``record_id`` (``roamlike.record_keys.normalise_subscriber_id``
#: of it), worked out over the whole input with the duplicates; the engine then takes it as is
#: instead of normalising every record id of the batch again.
BATCH_RECORD_ID: Final = "__roamlike_record_id"
