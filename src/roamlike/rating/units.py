"""Inputs of the compiled pass per price-table row: units, rates and bounds (rating.md §3-§6).

A row of the price table fixes the plan, visited country, event type and segment, so everything
but a record's quantity and ``is_beyond_fair_use`` flag is the same for all its records: it is
computed here once per row, with Polars expressions over the (small) table, and the pass reads
it at each record's row (``roamlike.rating.kernel``), where the billed units of §3 and what
depends on the other records of the subscriber (pools, fair use, bill-shock) are computed.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import polars as pl

from roamlike import money
from roamlike.rating import marks
from roamlike.rating.prices import MB_BYTES, POOL_KINDS


def pass_inputs(lf: pl.LazyFrame) -> pl.LazyFrame:
    """The per-row columns the compiled pass reads (names of ``kernel.WALK_INPUTS``), nulls -1.

    ``lf`` is the price table with the plan's columns (``_binary``, ``_m2m``, ``_bs_continue``,
    ``_allow_*``), ``_event``, ``rule_kind`` and ``_visited`` as enums, and ``_beyond`` (the
    record flag the surcharge mode depends on, the same for every row).

    ``kb`` is the bytes of a billed kB (1000, binary 1024; 0 for events other than data);
    ``initial`` the minimum billed seconds of a ``voice_mo`` call outside ``domestic`` (§3); the
    divisor turns charge units into law units times 1000 (micros from nanos): 60 000 per
    minute, 10^9 (binary 2^20 x 1000) per MB, 1000 per message.
    """
    ev = pl.col("_event")
    kind = pl.col("rule_kind")
    is_data = ev == "data"
    milli = money.NANOS_PER_UNIT // money.MICROS_PER_UNIT
    divisor = (
        pl.when(ev.is_in(["voice_mo", "voice_mt"]))
        .then(60)
        .when(is_data)
        .then(pl.when(pl.col("_binary")).then(MB_BYTES[True]).otherwise(MB_BYTES[False]))
        .otherwise(1)
        .cast(pl.Int64)
    )
    in_pool_kind = kind.is_in(list(POOL_KINDS))
    rlah = kind == "rlah"
    rlah_data = rlah & is_data
    beyond = pl.col("_beyond")
    pool = (
        pl.when(in_pool_kind & (ev == "voice_mo"))
        .then(marks.VOICE)
        .when(in_pool_kind & (ev == "sms_mo"))
        .then(marks.SMS)
        .when(in_pool_kind & is_data)
        .then(marks.DATA)
        .otherwise(-1)
    )
    allow = (
        pl.when(ev == "voice_mo")
        .then(pl.col("_allow_voice_s"))
        .when(ev == "sms_mo")
        .then(pl.col("_allow_sms"))
        .otherwise(pl.col("_allow_data_bytes"))
    )
    sur_all = (rlah & beyond & ev.is_in(["voice_mo", "voice_mt", "sms_mo", "data"])) | (
        (kind == "surcharge_cap") & ev.is_in(["voice_mo", "voice_mt", "sms_mo", "data"])
    )
    sur_mode = (
        pl.when(sur_all)
        .then(marks.SUR_ALL)
        .when(rlah_data)
        .then(marks.SUR_FUP)
        .otherwise(marks.SUR_NONE)
    )
    eligible = (
        is_data
        & (kind != "domestic")
        & ~pl.col("_m2m")
        & pl.col("billshock_limit_micros").is_not_null()
    )
    return lf.select(
        kb=pl.when(is_data)
        .then(pl.when(pl.col("_binary")).then(1024).otherwise(1000))
        .otherwise(0)
        .cast(pl.Int64),
        initial=pl.when((ev == "voice_mo") & (kind != "domestic"))
        .then(pl.col("initial_s").fill_null(0))
        .otherwise(0)
        .cast(pl.Int64),
        pool=pool.cast(pl.Int64),
        allow=allow.fill_null(-1),
        priced_dom=in_pool_kind,
        dom_nanos=pl.col("dom_nanos").fill_null(-1),
        divisor=divisor * milli,
        rlah_data=rlah_data,
        fup_open=rlah_data & pl.col("fup_is_open").fill_null(False),
        fup_allow=pl.col("fup_allowance_bytes").fill_null(-1),
        sur_mode=sur_mode.cast(pl.Int64),
        sur_nanos=pl.col("sur_nanos").fill_null(-1),
        ret_nanos=pl.when(in_pool_kind).then(-1).otherwise(pl.col("ret_nanos").fill_null(-1)),
        # §5.3: the retail maximum bounds WB phases 2-3 always, and EU rlah records of
        # 2017-06-15..2022-06-30 when they are surcharged (531/2012 Art. 6e(1)(b))
        max_nanos=pl.when(kind.is_in(["surcharge_cap", "rlah"]))
        .then(pl.col("max_nanos"))
        .fill_null(-1),
        max_if_surcharged=rlah,
        bs_eligible=eligible,
        bs_cut=~pl.col("_bs_continue"),
        bs_limit=pl.col("billshock_limit_micros").fill_null(-1),
        # 80 % alert where 100 x min(spend, limit) >= pct x limit, i.e. min(...) >= this
        bs_t80=(
            (pl.col("billshock_limit_micros").cast(pl.Int128) * pl.col("billshock_alert_pct") + 99)
            // 100
        )
        .cast(pl.Int64)
        .fill_null(-1),
        bs_extra=pl.col("billshock_extra_micros").fill_null(-1),
        vat_ppm=pl.col("vat_ppm"),
        visited=pl.col("_visited").to_physical().cast(pl.Int64),
        not_domestic=kind != "domestic",
    )


def as_arrays(frame: pl.DataFrame) -> dict[str, npt.NDArray[np.generic]]:
    """Each column as a contiguous NumPy array (Int64 as int64, Boolean as bool).

    Nulls become 0 (false): they occur only on rows whose records are all rejected (a segment
    with a reason), which the pass never reads.
    """
    boolean = {name for name, dtype in frame.schema.items() if dtype == pl.Boolean}
    # one query for every column (a Series' cast and fill each cost a query's fixed overhead:
    # 7 ms against 1.2 ms for the table's 25 columns, paid at every build of a price table)
    typed = frame.select(
        pl.col(name).cast(pl.Boolean).fill_null(False)
        if name in boolean
        else pl.col(name).cast(pl.Int64).fill_null(0)
        for name in frame.columns
    )
    return {
        name: np.ascontiguousarray(
            series.to_numpy(), dtype=np.bool_ if name in boolean else np.int64
        )
        for name, series in typed.to_dict().items()
    }
