"""The engine's internal steps: the event order's sorts, the step hook, the output types.

The values these steps produce are checked against the reference rater elsewhere
(``test_engine_vs_reference.py``); here each step is checked on its own, on cases built so that
a wrong sort, a lost tie-breaker or a widened type shows.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from builders import make_plan, rec
from comparison import differences, text_frame
from roamlike.law import default_catalog
from roamlike.rating import assembly, engine, rate_usage, reasons, segments
from roamlike.rating import passes as kernel
from roamlike.rating.tables import PriceTables
from roamlike.reference import rate_records
from roamlike.tariffs import FxTable


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 3), st.integers(0, 2), st.booleans()), max_size=40),
    st.randoms(use_true_random=False),
)
def test_sort_runs_by_subscriber_groups_each_runs_subscribers_stably(
    rows: list[tuple[int, int, bool]], rnd: Any
) -> None:
    # rows (key, subscriber, late), ordered by key with on-time rows first as the engine does
    key = np.array([r[0] for r in rows], dtype=np.int64)
    sub = np.array([r[1] for r in rows], dtype=np.int64)
    late = np.array([r[2] for r in rows], dtype=np.bool_)
    shuffled = list(range(len(rows)))
    rnd.shuffle(shuffled)
    order = np.array(sorted(shuffled, key=lambda i: (late[i], key[i])), dtype=np.int64)
    before = order.tolist()
    kernel.sort_runs_by_subscriber(order, key, late, sub)
    rank = {r: k for k, r in enumerate(before)}
    # on-time rows: by key, then subscriber, then as before; late rows keep their places
    on_time = [r for r in before if not late[r]]
    want = sorted(on_time, key=lambda r: (key[r], sub[r], rank[r])) + [r for r in before if late[r]]
    assert order.tolist() == want


def test_number_groups_in_any_order_of_subscribers() -> None:
    # subscribers interleave in the processing order (all on-time records by start time)
    order = np.array([3, 0, 4, 1, 2], dtype=np.int64)
    sub = np.array([1, 0, 1, 0, 1], dtype=np.int64)
    plan = np.array([0, 0, 0, 0, 1], dtype=np.int64)
    period = np.array([10, 10, 10, 11, 10], dtype=np.int64)
    sid, gid, sub_first, group_first = kernel.number_groups(order, sub, plan, period, 2)
    # row 3 (code 0) appears first: subscriber 0; row 0 (code 1): subscriber 1
    assert sid.tolist() == [1, 0, 1, 0, 1]
    # groups by first appearance: 0 = (code 0, plan 0, 11) row 3; 1 = (code 1, plan 0, 10)
    # rows 0 and 2; 2 = (code 1, plan 1, 10) row 4; 3 = (code 0, plan 0, 10) row 1
    assert gid.tolist() == [1, 3, 1, 0, 2]
    assert sub_first.tolist() == [3, 0]
    assert group_first.tolist() == [3, 0, 4, 1]


def test_tie_runs_numbers_on_time_runs_of_one_subscriber_only() -> None:
    order = np.arange(7, dtype=np.int64)
    sub = np.array([0, 0, 0, 1, 1, 1, 1], dtype=np.int64)
    key = np.array([5, 5, 6, 6, 7, 7, 7], dtype=np.int64)
    late = np.array([False, False, False, False, False, False, True])
    # rows 0-1 tie (sub 0, key 5); row 2 and 3 share key 6 but not the subscriber; rows 4-5
    # tie; row 6 has the same key but is late (late records keep read order, no tie-breaker)
    assert kernel.tie_runs(order, sub, key, late).tolist() == [0, 0, -1, -1, 1, 1, -1]


def test_rating_md_2_ties_of_several_subscribers_sorted_by_record_id() -> None:
    # three subscribers, each with four records at one instant read in scrambled record-id
    # order, one domestic minute each: only the smallest record id of a subscriber is in bundle
    plans = {"de": make_plan(voice_allowance_min="1")}
    rows = [
        rec(f"{sub}-{rid}", subscriber_id=sub, event_type="voice_mo", duration_s=60)
        for rid in ("c", "a", "d", "b")
        for sub in ("s3", "s1", "s2")
    ]
    got = rate_usage(text_frame(rows), plans)
    in_bundle = dict(zip(got.rated["record_id"], got.rated["in_bundle_units"], strict=True))
    assert {rid for rid, units in in_bundle.items() if units} == {"s1-a", "s2-a", "s3-a"}
    assert differences(rate_records(rows, plans, FxTable()), got) == []


def test_step_hook_hears_every_step_in_order() -> None:
    heard: list[str] = []
    engine.STEP_HOOK = heard.append
    try:
        rate_usage(text_frame([rec("a"), rec("b", visited_country="ZZ")]), {"de": make_plan()})
    finally:
        engine.STEP_HOOK = None
    assert heard == [
        "split input",
        "validate",
        "local date, period",
        "price table",
        "segment join, rejects",
        "event order",
        "pass inputs",
        "compiled pass",
        "counters after",
        "notifications",
        "assembly",
    ]


def _rated(records: list[dict[str, Any]]) -> pl.DataFrame:
    world = {"prices": [{"countries": ["*"], "data_per_mb": "1.19"}]}
    plans = {"de": make_plan(roaming=world), "ch": make_plan(id="ch", currency="CHF")}
    fx = FxTable.from_rows([(dt.date(2025, 1, 15), "CHF", Decimal("0.94"))])
    return rate_usage(text_frame(records), plans, fx).rated


def test_rating_md_8_output_types_are_narrow_and_values_unchanged() -> None:
    # codes of a fixed vocabulary are enums (the engine's, or the catalog's regimes and
    # countries): Parquet stores them as dictionary-encoded text with the same values
    rated = _rated([rec("a"), rec("b", event_type="voice_mo", duration_s=61)])
    catalog = default_catalog()
    countries = pl.Enum(sorted(catalog.countries))
    want = {
        "plan_id": pl.String,
        "event_type": pl.Enum(["voice_mo", "voice_mt", "sms_mo", "sms_mt", "data", "mms_mo"]),
        "utc_offset_min": pl.Int32,
        "home_country": countries,
        "visited_country": countries,
        "rule_kind": pl.Enum(
            ["rlah", "surcharge_cap", "retail_cap", "offer_cap", "domestic", "unregulated"]
        ),
        "regime": pl.Enum(sorted(["domestic", "unregulated", *(r.id for r in catalog.regimes)])),
        "billed_units": pl.Int32,
        "billed_unit": pl.Enum(["s", "msg", "kB"]),
        "currency": pl.String,
        "vat_rate": pl.Decimal(9, 6),
        "in_bundle_units": pl.Int64,
        "parameters": pl.String,
    }
    assert {name: rated.schema[name] for name in want} == want
    rows = rated.select(*want).to_dicts()
    assert [(r["event_type"], r["billed_unit"], r["billed_units"]) for r in rows] == [
        ("data", "kB", 1000),
        ("voice_mo", "s", 61),
    ]
    assert [(r["regime"], r["rule_kind"], r["currency"]) for r in rows] == [
        ("eu_rlah", "rlah", "EUR")
    ] * 2
    assert rows[0]["vat_rate"] == Decimal("0.19")
    assert rows[0]["utc_offset_min"] == 60


def test_output_types_do_not_depend_on_the_records() -> None:
    # batches of one run are written into one file: their types must be the same whatever
    # regimes and currencies their records happen to have
    domestic = _rated([rec("a", visited_country="DE")])
    roaming = _rated([rec("b", visited_country="US")])
    assert domestic.schema == roaming.schema
    assert domestic["regime"].to_list() == ["domestic"]
    assert roaming["regime"].to_list() == ["unregulated"]


def test_segment_key_refuses_more_plans_than_its_bits_hold() -> None:
    # (plan, visited, event) codes share one Int64 with the local date: past 2^31 codes the
    # key would wrap and records would meet another plan's prices, so the run is refused
    from roamlike.errors import TariffError
    from roamlike.rating.segments import SegmentCodes

    countries = [f"C{i}" for i in range(250)]
    most = SegmentCodes.LIMIT // (250 * 6)
    assert SegmentCodes([f"p{i}" for i in range(most)], countries).n_countries == 250
    with pytest.raises(TariffError, match="split the plans file"):
        SegmentCodes([f"p{i}" for i in range(most + 1)], countries)


def test_price_rows_by_hash_join_equal_those_by_direct_lookup(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the records' price rows come from a direct lookup table when the (plan, visited, event,
    # day) combinations are few, else from a hash join: across law changes (2022-07-01), FX
    # and regimes, both must give every record the same segment
    world = {"prices": [{"countries": ["*"], "data_per_mb": "1.19", "voice_mo_per_min": "2"}]}
    plans = {"de": make_plan(roaming=world), "ch": make_plan(id="ch", currency="CHF")}
    fx = FxTable.from_rows(
        [(dt.date(y, m, 15), "CHF", Decimal("0.94")) for y in (2021, 2022) for m in (1, 2, 3)]
    )
    records = [
        rec(
            f"r{i}",
            subscriber_id=f"s{i % 3}",
            plan_id=plan,
            event_type=event,
            duration_s=61,
            visited_country=visited,
            started_at=f"2022-{month:02d}-{day:02d}T10:00:00Z",
        )
        for i, (plan, visited, event, month, day) in enumerate(
            (p, v, e, m, d)
            for p in ("de", "ch")
            for v in ("AT", "US", "DE")
            for e in ("data", "voice_mo")
            for m, d in ((6, 30), (7, 1), (7, 2))
        )
    ]
    frame = text_frame(records)
    # a shared table's rows spread over its days (tables.PriceTables, as in a run's batches)
    by_day = rate_usage(frame, plans, fx, price_tables=PriceTables()).rated
    monkeypatch.setattr(engine, "day_rows", lambda *args: pytest.fail("a single call joins"))
    direct = rate_usage(frame, plans, fx).rated
    monkeypatch.setattr(segments, "DIRECT_KEYS", 0)
    hashed = rate_usage(frame, plans, fx).rated
    assert direct.height == len(records) - 6  # ch has no roaming price for US: rejected
    assert hashed.equals(direct)
    assert by_day.equals(direct)
    assert direct["regime"].n_unique() >= 3


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_day_rows_give_each_record_the_segment_of_the_as_of_join(data: st.DataObject) -> None:
    # a table's rows spread over its days (segments.day_rows): every record must meet the
    # row an as-of join gives it, whatever the segments' starts; a code the table does not
    # price sends the batch to the join
    codes = segments.SegmentCodes(["a", "b"], ["AT", "DE", "FR"])
    first = dt.date(2026, 1, 10)
    keys = [(p, v, e) for p in "ab" for v in ("AT", "DE", "FR") for e in ("data", "sms_mo")]
    priced = data.draw(st.lists(st.sampled_from(keys), min_size=1, max_size=8, unique=True))
    rows = []
    for plan, visited, event in priced:
        # the first segment starts on or before the table's first day (prices.segment_starts)
        starts = {data.draw(st.integers(-30, 0))} | set(
            data.draw(st.lists(st.integers(-30, 40), max_size=5))
        )
        rows += [(plan, visited, event, first + dt.timedelta(days=d)) for d in starts]
    prices = (
        pl.DataFrame(rows, schema=["_plan", "_visited", "_event", "valid_from"], orient="row")
        .sort("valid_from")
        .with_row_index("_price_row")
    )
    records = data.draw(
        st.lists(st.tuples(st.sampled_from(priced), st.integers(0, 35)), min_size=1, max_size=40)
    )
    ok = pl.DataFrame(
        {
            "_event_kind": pl.Series([k[2] for k, _ in records], dtype=assembly.EVENT_ENUM),
            "local_date": [first + dt.timedelta(days=d) for _, d in records],
        }
    )
    pair = pl.DataFrame({"p": [k[0] for k, _ in records], "v": [k[1] for k, _ in records]})
    pair_codes = pair.select(codes.pair(pl.col("p"), pl.col("v"))).to_series()
    days = segments.day_rows(prices, codes, first, first + dt.timedelta(days=35))
    assert days is not None
    joined = segments.price_rows(ok, pair_codes, prices, codes)
    # a code the table does not price has no rows (a record of it, which the engine never
    # gives, would be sent to the join)
    for plan, visited, event in set(keys) - set(priced):
        pair_code = codes.n_countries * "ab".index(plan) + ["AT", "DE", "FR"].index(visited)
        code = codes.n_events * pair_code + list(reasons.EVENT_TYPES).index(event)
        assert code >= days.index.size or days.index[code] == -1
    assert segments.price_rows(ok, pair_codes, prices, codes, days).tolist() == joined.tolist()


def test_row_table_of_equal_arguments_is_a_copy_of_the_last_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The last price table's arrays are reused for an equal one (a service's groups), never
    shared: each call gets arrays of its own; another table is built anew."""
    built: list[int] = []
    real = segments.build_row_table

    def counted(prices: pl.DataFrame, plans: pl.DataFrame, countries: list[str]) -> Any:
        built.append(prices.height)
        return real(prices, plans, countries)

    monkeypatch.setattr(segments, "build_row_table", counted)
    monkeypatch.setattr(segments, "_LAST_TABLE", [])
    captured: list[tuple[pl.DataFrame, pl.DataFrame, list[str]]] = []
    monkeypatch.setattr(
        engine,
        "row_table",
        lambda p, q, c: captured.append((p, q, c)) or segments.row_table(p, q, c),
    )
    rate_usage(pl.DataFrame([rec("a"), rec("b", visited_country="FR")]), {"de": make_plan()})
    prices, plan_frame, countries = captured[0]
    first = segments.row_table(prices, plan_frame, countries)
    second = segments.row_table(prices.clone(), plan_frame.clone(), list(countries))
    assert built == [prices.height]
    assert first["reason_plain"] is not second["reason_plain"]
    first["reason_plain"][:] = 99
    third = segments.row_table(prices, plan_frame, countries)
    assert np.array_equal(third["reason_plain"], second["reason_plain"])
    assert third["inputs"].keys() == real(prices, plan_frame, countries)["inputs"].keys()
    assert prices.height > 1
    other = prices.head(prices.height - 1)
    segments.row_table(other, plan_frame, countries)
    assert built == [prices.height, other.height]
