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
