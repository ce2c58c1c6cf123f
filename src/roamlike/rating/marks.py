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
