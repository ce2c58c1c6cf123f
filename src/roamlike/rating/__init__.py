"""The vectorized rating engine (Polars): see ``docs/rating.md`` for the contract."""

from roamlike.rating.engine import RATED_COLUMNS, RatingResult, rate_usage
from roamlike.rating.reasons import ALL as REASON_CODES

__all__ = ["RATED_COLUMNS", "REASON_CODES", "RatingResult", "rate_usage"]
