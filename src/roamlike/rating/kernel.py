"""The compiled pass: per-subscriber counters walked once in event order (docs/rating.md §5).

Allowance pools, the fair-use counter, surcharges, the total bound of §5.3, bill-shock and VAT,
and the notification flags, for every rated record, in one Numba loop. The loop visits records in
the order of a permutation (event order per subscriber, late records last) and writes each result
at the record's own position, so nothing is sorted back. State lives in arrays indexed by
subscriber (``sid``) and by (subscriber, plan, period) group (``gid``), both numbered by
:func:`number_groups`; it starts from the counters of an earlier run and ends as the counters
after this one.

Compiled code is cached in a per-user directory (``$NUMBA_CACHE_DIR``, which importing
``roamlike`` sets to ``roamlike.user_cache.cache_dir() / "numba"`` unless it is set), so only the
first run on a machine compiles.
"""

from __future__ import annotations

import os

import numba
import numpy as np
import numpy.typing as npt

from roamlike import money
from roamlike.counters import COUNTER_MAX
from roamlike.rating.marks import (
    BILLSHOCK_80,
    BILLSHOCK_100,
    BILLSHOCK_EXTRA,
    FUP_EXHAUSTED,
    SUR_ALL,
    SUR_FUP,
    WELCOME,
)

if not getattr(numba.config, "CACHE_DIR", ""):  # numba was imported before roamlike set it
    setattr(numba.config, "CACHE_DIR", os.environ["NUMBA_CACHE_DIR"])  # noqa: B010

I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]

_mul_div_round = numba.njit(cache=True, nogil=True)(money.mul_div_round)


@numba.njit(cache=True, nogil=True)
def _number_groups(
    order: I64, sub: I64, plan: I64, period: I64, n_codes: int
) -> tuple[I64, I64, I64, I64]:  # pragma: no cover - compiled
    n = order.shape[0]
    sid = np.empty(n, np.int64)
    gid = np.empty(n, np.int64)
    sub_first = np.empty(n, np.int64)
    group_first = np.empty(n, np.int64)
    group_plan = np.empty(n, np.int64)
    group_period = np.empty(n, np.int64)
    next_group = np.empty(n, np.int64)
    number_of_code = np.full(n_codes, -1, np.int64)
    head = np.empty(n, np.int64)  # per subscriber: its latest group, then next_group links
    subs = 0
    groups = 0
    for k in range(n):
        i = order[k]
        s = number_of_code[sub[i]]
        if s < 0:
            s = subs
            number_of_code[sub[i]] = s
            sub_first[s] = i
            head[s] = -1
            subs += 1
        sid[i] = s
        # a subscriber has few (plan, period) groups in a run; the latest is the likeliest
        found = head[s]
        while found >= 0 and not (
            group_plan[found] == plan[i] and group_period[found] == period[i]
        ):
            found = next_group[found]
        if found < 0:
            found = groups
            group_first[groups] = i
            group_plan[groups] = plan[i]
            group_period[groups] = period[i]
            next_group[groups] = head[s]
            head[s] = groups
            groups += 1
        gid[i] = found
    return sid, gid, sub_first[:subs].copy(), group_first[:groups].copy()


@numba.njit(cache=True, nogil=True)
def _sort_runs_by_subscriber(
    order: I64, key: I64, late: Bool, sub: I64
) -> None:  # pragma: no cover - compiled
    n = order.shape[0]
    a = 0
    while a < n:
        b = a + 1
        if not late[order[a]]:
            while b < n and not late[order[b]] and key[order[b]] == key[order[a]]:
                b += 1
        if b - a > 1:
            rows = order[a:b].copy()
            codes = np.empty(b - a, np.int64)
            for j in range(b - a):
                codes[j] = sub[rows[j]]
            perm = np.argsort(codes, kind="mergesort")
            for j in range(b - a):
                order[a + j] = rows[perm[j]]
        a = b


@numba.njit(cache=True, nogil=True)
def _tie_runs(order: I64, sub: I64, key: I64, late: Bool) -> I64:  # pragma: no cover - compiled
    run = np.full(order.shape[0], -1, np.int64)
    runs = 0
    for k in range(1, order.shape[0]):
        i, j = order[k - 1], order[k]
        if sub[i] == sub[j] and key[i] == key[j] and not late[i] and not late[j]:
            if run[k - 1] < 0:
                run[k - 1] = runs
                runs += 1
            run[k] = run[k - 1]
    return run


@numba.njit(cache=True, nogil=True)
def _ascending(values: I64) -> bool:  # pragma: no cover - compiled
    for k in range(1, values.shape[0]):  # noqa: SIM110 - a loop, compiled
        if values[k] < values[k - 1]:
            return False
    return True


@numba.njit(cache=True, nogil=True)
def _sat(x: int) -> int:  # pragma: no cover - compiled
    return x if x < COUNTER_MAX else COUNTER_MAX


@numba.njit(cache=True, nogil=True)
def _walk(  # type: ignore[no-untyped-def]  # pragma: no cover - compiled
    order,
    sid,
    gid,
    is_late,  # processing order and numbering
    qty,
    prow,
    beyond,  # per record: quantity, price-table row, is_beyond_fair_use
    kb,
    initial,  # §3: bytes per billed kB (0: not data), minimum billed seconds (0: none)
    pool,
    allow,
    priced_dom,
    dom_nanos,
    divisor,  # §5.1
    rlah_data,
    fup_open,
    fup_allow,
    sur_mode,
    sur_mode_beyond,
    sur_nanos,  # §5.2, §5.3
    ret_nanos,
    max_nanos,
    max_if_surcharged,  # §5.3-§5.5
    bs_eligible,
    bs_cut,
    bs_limit,
    bs_t80,
    bs_extra,  # §5.6
    vat_ppm,
    visited,
    not_domestic,  # §6, welcome
    pool_used,
    fup_used,
    bs_spend,
    flags,
    last_visited,
    last_row,  # state (in place)
    billed_out,
    in_bundle,
    dom_out,
    sur_out,
    roam_out,
    excl_out,
    vat_out,  # outputs
    fup_out,
    is_over,
    blocked,
    notes,
):
    for k in range(order.shape[0]):
        i = order[k]
        r = prow[i]  # the record's price-table row: every input below indexed by r
        g = gid[i]
        s = sid[i]
        # §3: billed units (seconds, messages or kB) and the units charged (data: billed bytes)
        q = qty[i]
        if kb[r] > 0:
            billed = (q + kb[r] - 1) // kb[r]
            u = billed * kb[r]
        else:
            billed = max(q, initial[r]) if q > 0 else q
            u = billed
        billed_out[i] = billed
        d = divisor[r]
        # §5.1: domestic allowances, in event order
        ib = 0
        p = pool[r]
        if p >= 0:
            used = pool_used[g, p]
            ib = u if allow[r] < 0 else min(max(allow[r] - used, 0), u)
            pool_used[g, p] = _sat(used + u)
        dom = 0
        if priced_dom[r] and dom_nanos[r] >= 0:
            dom = _mul_div_round(u - ib, dom_nanos[r], d)
        # §5.2: the fair-use counter of rlah data; surcharges
        excess = 0
        fup_out[i] = -1
        if rlah_data[r]:
            fup_used[g] = _sat(fup_used[g] + u)
            fup_out[i] = fup_used[g]
            if fup_open[r] and fup_allow[r] >= 0:
                excess = min(max(fup_used[g] - fup_allow[r], 0), u)
        mode = sur_mode_beyond[r] if beyond[i] else sur_mode[r]
        sur_units = u if mode == SUR_ALL else (excess if mode == SUR_FUP else 0)
        sur = 0
        if sur_units > 0 and sur_nanos[r] >= 0:
            sur = _mul_div_round(sur_units, sur_nanos[r], d)
        roam = 0
        if ret_nanos[r] >= 0:
            roam = _mul_div_round(u, ret_nanos[r], d)
        # §5.3: the retail maximum bounds domestic price + surcharge
        if max_nanos[r] >= 0 and (sur_units > 0 or not max_if_surcharged[r]):
            total_max = _mul_div_round(u, max_nanos[r], d)
            if dom + sur > total_max:
                sur = max(total_max - dom, 0)
                dom = min(dom, total_max)
        # §5.6: bill-shock, running sum before the cut
        note = 0
        cut = False
        if bs_eligible[r]:
            limit = bs_limit[r]
            before = bs_spend[g]
            after = _sat(before + dom + sur + roam)
            bs_spend[g] = after
            if bs_cut[r]:
                if before >= limit:
                    cut = True
                    dom = 0
                    sur = 0
                    roam = 0
                elif after > limit:
                    over = after - limit
                    take = min(over, roam)
                    roam -= take
                    over -= take
                    take = min(over, sur)
                    sur -= take
                    over -= take
                    dom -= over
            if min(after, limit) >= bs_t80[r] and not flags[g] & BILLSHOCK_80:
                note |= BILLSHOCK_80
            if after >= limit and not flags[g] & BILLSHOCK_100:
                note |= BILLSHOCK_100
            extra = bs_extra[r]
            if not bs_cut[r] and extra >= 0 and after >= extra and not flags[g] & BILLSHOCK_EXTRA:
                note |= BILLSHOCK_EXTRA
        if excess > 0 and not flags[g] & FUP_EXHAUSTED:
            note |= FUP_EXHAUSTED
        flags[g] |= note
        # welcome: a non-domestic record in a country other than the previous record's
        if not_domestic[r] and visited[r] != last_visited[s]:
            note |= WELCOME
        last_visited[s] = visited[r]
        if not is_late[i]:
            last_row[s] = i
        excl = dom + sur + roam
        in_bundle[i] = ib
        dom_out[i] = dom
        sur_out[i] = sur
        roam_out[i] = roam
        excl_out[i] = excl
        vat_out[i] = _mul_div_round(excl, vat_ppm[r], money.PPM)
        is_over[i] = excess > 0
        blocked[i] = cut
        notes[i] = note
