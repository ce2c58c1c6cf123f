"""The compiled pass as the engine calls it: ahead-of-time machine code when built, else the JIT.

The functions of ``roamlike.rating.kernel`` (Numba) come from one of two places, chosen once
per process by :func:`implementation`: the module ``roamlike.rating.aot`` built ahead of time
for the current sources (loaded in a millisecond, without Numba), or, when it is missing or
cannot load, the kernel itself, compiled just in time or loaded from Numba's per-user cache
(about half a CPU-second to import Numba and load the code). The ahead-of-time functions do not
check their arguments, so every call checks them against ``aot.SIGNATURES`` first and falls
back to the JIT function on a mismatch (the engine always passes the exact types: a mismatch
is a defect, never a wrong result). Importing this module imports neither Numba nor the
ahead-of-time module.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from types import SimpleNamespace
from typing import Any

import numpy as np
import numpy.typing as npt

from roamlike.rating import aot
from roamlike.rating.marks import WALK_INPUTS, WALK_STATE

I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]

_ARRAYS = {
    "i": (np.dtype(np.int64), 1),
    "b": (np.dtype(np.bool_), 1),
    "w": (np.dtype(np.int32), 1),
    "c": (np.dtype(np.int8), 1),
    "m": (np.dtype(np.int64), 2),
}
_lock = threading.Lock()
_chosen: list[Any] = []  # the implementation, once chosen


def _jit() -> SimpleNamespace:
    from roamlike.rating import kernel

    return SimpleNamespace(**{name: getattr(kernel, f"_{name}") for name in aot.SIGNATURES})


def implementation() -> Any:
    """The functions of the pass (a module or namespace with one attribute per name of
    ``aot.SIGNATURES``): the ahead-of-time module when it loads, else the JIT kernel."""
    if not _chosen:
        with _lock:
            if not _chosen:
                _chosen.append(aot.load() or _jit())
    return _chosen[0]


def uses_aot() -> bool:
    """Whether this process runs the ahead-of-time module (chooses it if not yet chosen)."""
    return getattr(implementation(), "__name__", "") == aot.MODULE


def _fits(letters: str, args: tuple[Any, ...]) -> bool:
    """Whether ``args`` have exactly the types the ahead-of-time function was built for."""
    wanted = letters.split(">")[0]
    if len(args) != len(wanted):
        return False
    for letter, arg in zip(wanted, args, strict=True):
        if letter == "n":
            if not isinstance(arg, int | np.integer) or not -(2**63) <= int(arg) < 2**63:
                return False
            continue
        dtype, ndim = _ARRAYS[letter]
        if not (
            isinstance(arg, np.ndarray)
            and arg.dtype == dtype
            and arg.ndim == ndim
            and arg.flags.c_contiguous
            and arg.flags.aligned
        ):
            return False
    return True


def _call(name: str, *args: Any) -> Any:
    function: Callable[..., Any] = getattr(implementation(), name)
    if uses_aot() and not _fits(aot.SIGNATURES[name], args):
        function = getattr(_jit(), name)
    return function(*args)


def number_groups(
    order: I64, sub: I64, plan: I64, period: I64, n_codes: int
) -> tuple[I64, I64, I64, I64]:
    """Number subscribers and (subscriber, plan, period) groups in the order of ``order``.

    Parameters
    ----------
    order : int64 array
        Row indices in processing order (a subscriber's rows need not be contiguous).
    sub, plan, period : int64 arrays
        Codes of the normalised subscriber (in ``[0, n_codes)``) and plan, and the period start
        [days since 1970].
    n_codes : int
        One more than the largest subscriber code.

    Returns
    -------
    sid, gid : int64 arrays
        The subscriber number and group number of each row (numbered by first appearance).
    sub_first, group_first : int64 arrays
        The first row (in processing order) of each subscriber and of each group.
    """
    result: tuple[I64, I64, I64, I64] = _call("number_groups", order, sub, plan, period, n_codes)
    return result


def sort_runs_by_subscriber(order: I64, key: I64, late: Bool, sub: I64) -> None:
    """Within each run of on-time rows of ``order`` with the same ``key``, put the rows of one
    subscriber next to each other (stable; in place), so :func:`tie_runs` finds its ties."""
    _call("sort_runs_by_subscriber", order, key, late, sub)


def tie_runs(order: I64, sub: I64, key: I64, late: Bool) -> I64:
    """Runs of on-time records of one subscriber with the same start time.

    ``order`` is sorted by subscriber, lateness and ``key``. Returns, per position of ``order``,
    the number of its run of equal (subscriber, key) on-time records, or -1 outside any run.
    """
    result: I64 = _call("tie_runs", order, sub, key, late)
    return result


def ascending(values: I64) -> bool:
    """Whether ``values`` never decrease (one pass, stops at the first descent)."""
    return bool(_call("ascending", values))


def walk(
    columns: Mapping[str, npt.NDArray[np.generic]], state: Mapping[str, npt.NDArray[np.generic]]
) -> dict[str, npt.NDArray[np.generic]]:
    """Run the compiled pass over ``columns`` (one array per name of ``marks.WALK_INPUTS``).

    ``state`` holds the per-group and per-subscriber arrays, updated in place. Returns the
    per-record outputs: ``billed_units`` (Int32), ``in_bundle_units``, ``domestic_micros``,
    ``surcharge_micros``, ``roaming_micros``, ``charge_excl_vat_micros``, ``vat_micros``,
    ``fup_used_bytes`` (-1 = null), ``is_over_fup``, ``is_blocked_by_cutoff`` and ``notes``
    (bits above).
    """
    n = columns["qty"].shape[0]
    out: dict[str, npt.NDArray[np.generic]] = {
        "billed_units": np.empty(n, np.int32),
        "in_bundle_units": np.empty(n, np.int64),
        "domestic_micros": np.empty(n, np.int64),
        "surcharge_micros": np.empty(n, np.int64),
        "roaming_micros": np.empty(n, np.int64),
        "charge_excl_vat_micros": np.empty(n, np.int64),
        "vat_micros": np.empty(n, np.int64),
        "fup_used_bytes": np.empty(n, np.int64),
        "is_over_fup": np.empty(n, np.bool_),
        "is_blocked_by_cutoff": np.empty(n, np.bool_),
        "notes": np.empty(n, np.int8),
    }
    _call(
        "walk",
        *(columns[name] for name in WALK_INPUTS),
        *(state[name] for name in WALK_STATE),
        *out.values(),
    )
    return out
