"""Stable reason codes for rejected usage records (docs/rating.md §7), in the order checked."""

from __future__ import annotations

from typing import Final

from roamlike.columns import ID_FORBIDDEN as ID_FORBIDDEN
from roamlike.columns import OPTIONAL_COLUMNS, REQUIRED_COLUMNS
from roamlike.columns import TIMESTAMP_PATTERN as TIMESTAMP_PATTERN
from roamlike.columns import UTC_OFFSET_RANGE_MIN as UTC_OFFSET_RANGE_MIN

MISSING_FIELD: Final = "MISSING_FIELD"
BAD_ID: Final = "BAD_ID"
BAD_TIMESTAMP: Final = "BAD_TIMESTAMP"
BAD_NUMBER: Final = "BAD_NUMBER"
BAD_EVENT_TYPE: Final = "BAD_EVENT_TYPE"
NEGATIVE_QUANTITY: Final = "NEGATIVE_QUANTITY"
QUANTITY_OUT_OF_RANGE: Final = "QUANTITY_OUT_OF_RANGE"
UNKNOWN_COUNTRY: Final = "UNKNOWN_COUNTRY"
UNKNOWN_PLAN: Final = "UNKNOWN_PLAN"
PLAN_HOME_MISMATCH: Final = "PLAN_HOME_MISMATCH"
DUPLICATE_RECORD_ID: Final = "DUPLICATE_RECORD_ID"
NO_RULE_IN_FORCE: Final = "NO_RULE_IN_FORCE"
NO_FX_RATE: Final = "NO_FX_RATE"
NO_PRICE: Final = "NO_PRICE"
NO_PRICE_OUTSIDE_REGULATED_ZONE: Final = "NO_PRICE_OUTSIDE_REGULATED_ZONE"

#: Every reason code, in the order the checks run; a row gets the first that applies.
ALL: Final = (
    MISSING_FIELD,
    BAD_ID,
    BAD_TIMESTAMP,
    BAD_NUMBER,
    BAD_EVENT_TYPE,
    NEGATIVE_QUANTITY,
    QUANTITY_OUT_OF_RANGE,
    UNKNOWN_COUNTRY,
    UNKNOWN_PLAN,
    PLAN_HOME_MISMATCH,
    DUPLICATE_RECORD_ID,
    NO_RULE_IN_FORCE,
    NO_FX_RATE,
    NO_PRICE,
    NO_PRICE_OUTSIDE_REGULATED_ZONE,
)


EVENT_TYPES: Final = ("voice_mo", "voice_mt", "sms_mo", "sms_mt", "data", "mms_mo")
__all__ = ["ALL", "EVENT_TYPES", "OPTIONAL_COLUMNS", "REQUIRED_COLUMNS"]
#: Bounds of one record's quantity (docs/rating.md §1.1).
MAX_DURATION_S: Final = 86_400
MAX_VOLUME_BYTES: Final = 10**12
MAX_COUNT: Final = 10_000
