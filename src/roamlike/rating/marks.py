"""The codes the compiled pass shares with the Polars steps around it (``roamlike.rating.kernel``).

They live apart from the kernel so that the steps that only need the codes (price-table inputs,
notifications, counters) do not import Numba: ``roamlike rate`` loads the compiled code on a
thread while it reads its input (``roamlike.rating.compiled``).
"""

from __future__ import annotations

from typing import Final

#: Notification bits of ``notes`` (and of the per-group ``flags``).
BILLSHOCK_80: Final = 1
BILLSHOCK_100: Final = 2
BILLSHOCK_EXTRA: Final = 4
FUP_EXHAUSTED: Final = 8
WELCOME: Final = 16
#: Pools (``pool`` column): voice seconds, SMS, data bytes; -1 = draws on no pool.
VOICE: Final = 0
SMS: Final = 1
DATA: Final = 2
#: Surcharge modes (``sur_mode``): none, every unit, units beyond the fair-use allowance.
SUR_NONE: Final = 0
SUR_ALL: Final = 1
SUR_FUP: Final = 2


#: Inputs of the pass, in argument order: ``order`` .. ``beyond`` are arrays over the rated
#: records, the others arrays over the price-table rows (read at the record's ``prow``).
WALK_INPUTS = (
    "order", "sid", "gid", "is_late",
    "qty", "prow", "beyond",
    "kb", "initial", "pool", "allow", "priced_dom", "dom_nanos", "divisor",
    "rlah_data", "fup_open", "fup_allow", "sur_mode", "sur_mode_beyond", "sur_nanos",
    "ret_nanos", "max_nanos", "max_if_surcharged",
    "bs_eligible", "bs_cut", "bs_limit", "bs_t80", "bs_extra",
    "vat_ppm", "visited", "not_domestic",
)  # fmt: skip
#: State arrays: pool_used (groups x 3), fup_used, bs_spend, flags (groups); last_visited,
#: last_row (subscribers).
WALK_STATE = ("pool_used", "fup_used", "bs_spend", "flags", "last_visited", "last_row")
