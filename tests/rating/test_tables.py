"""``roamlike.rating.tables``: one price table shared by the batches of a run (rating.md §7c)."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from builders import make_plan, rec
from comparison import text_frame
from roamlike.rating import engine, rate_usage
from roamlike.rating.tables import PriceTables


def _batch(prefix: str, subscriber: str, days: list[str], visited: list[str]) -> pl.DataFrame:
    rows = [
        rec(f"{prefix}{i}", subscriber_id=subscriber, started_at=f"{day}T10:00:00Z",
            visited_country=country, volume_bytes=300_000_000 + i)
        for i, (day, country) in enumerate((d, c) for d in days for c in visited)
    ]  # fmt: skip
    return text_frame(rows)


def _counting_builds(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The pairs of each price table built from now on."""
    built: list[int] = []
    price_table = engine.price_table

    def counting(pairs: pl.DataFrame, *args: Any, **kwargs: Any) -> pl.DataFrame:
        built.append(pairs.height)
        return price_table(pairs, *args, **kwargs)

    monkeypatch.setattr(engine, "price_table", counting)
    return built


def test_rating_md_7c_batches_sharing_a_wider_price_table_rate_as_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    plans = {"de": make_plan(data_allowance_gb="0.5")}
    # the second batch reaches back across the end of the EU total price cap (2022-06-30) and
    # to another visited country: the kept table does not cover it and is widened
    first = _batch("a", "s1", ["2022-07-05", "2022-07-20"], ["AT"])
    second = _batch("b", "s2", ["2022-06-20", "2022-07-10"], ["AT", "FR"])
    # the third brings one more pair within those dates: only that pair is priced, and its
    # rows merged with the kept ones
    third = _batch("c", "s3", ["2022-06-29", "2022-07-01"], ["IT", "AT"])
    built = _counting_builds(monkeypatch)
    tables = PriceTables()
    for batch in (first, second, third, first, second, third):
        shared = rate_usage(batch, plans, price_tables=tables)
        alone = rate_usage(batch, plans)
        assert shared.rated.equals(alone.rated)
        assert shared.notifications.equals(alone.notifications)
        assert shared.counters.periods.equals(alone.counters.periods)
        assert shared.rated.get_column("charge_excl_vat_micros").sum() > 0
    # shared: built for the first batch, for both pairs of the second (its dates reach further
    # back), for the third's new pair only, then reused; alone: every call builds its own
    assert built == [1, 1, 2, 2, 1, 2, 1, 2, 2]
    kept = tables.find(third.select(_pair=pl.lit(0, dtype=pl.Int64), lo=None, hi=None).head(0))
    assert kept is not None
    assert kept.pairs.height == 3
    assert kept.prices.get_column("valid_from").is_sorted()
    assert kept.prices.get_column("_price_row").to_list() == list(range(kept.prices.height))
    assert tables.find(pl.DataFrame({"_pair": [0], "lo": [None], "hi": [None]})) is None


def test_rating_md_7c_a_table_priced_over_the_run_s_span_serves_later_stretches_of_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import datetime as dt

    plans = {"de": make_plan(data_allowance_gb="0.5")}
    # consecutive stretches of time (time ranges of one input): the first build prices every
    # date of the span, across the end of the EU total price cap (2022-06-30), so the later
    # stretches reuse it
    stretches = [
        _batch("a", "s1", ["2022-06-20", "2022-06-25"], ["AT"]),
        _batch("b", "s1", ["2022-06-29", "2022-07-02"], ["AT"]),
        _batch("c", "s1", ["2022-07-10", "2022-07-20"], ["AT"]),
    ]
    built = _counting_builds(monkeypatch)
    spanned = PriceTables(span=(dt.date(2022, 6, 19), dt.date(2022, 7, 21)))
    with_span = [rate_usage(batch, plans, price_tables=spanned) for batch in stretches]
    assert len(built) == 1  # built once, for the first stretch
    plain = PriceTables()
    for batch, rated in zip(stretches, with_span, strict=True):
        assert rated.rated.equals(rate_usage(batch, plans, price_tables=plain).rated)
    assert len(built) == 4  # without the span the table is widened by each later stretch
    kept = spanned.find(pl.DataFrame(schema={"_pair": pl.Int64, "lo": pl.Date, "hi": pl.Date}))
    assert kept is not None
    assert kept.pairs.get_column("lo").to_list() == [dt.date(2022, 6, 19)]


def test_rating_md_7c_batches_building_at_once_price_a_shared_pair_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import threading

    plans = {"de": make_plan(data_allowance_gb="0.5")}
    first = _batch("a", "s1", ["2022-07-05"], ["AT"])
    second = _batch("b", "s2", ["2022-07-05"], ["AT", "FR"])
    built: list[int] = []
    started, release = threading.Event(), threading.Event()
    price_table = engine.price_table

    def slow(pairs: pl.DataFrame, *args: Any, **kwargs: Any) -> pl.DataFrame:
        built.append(pairs.height)
        started.set()
        release.wait(5)  # the first build holds on until the second batch asks for a table
        return price_table(pairs, *args, **kwargs)

    monkeypatch.setattr(engine, "price_table", slow)
    tables = PriceTables()
    results: dict[str, Any] = {}
    one = threading.Thread(
        target=lambda: results.update(a=rate_usage(first, plans, price_tables=tables))
    )
    one.start()
    assert started.wait(5)
    two = threading.Thread(
        target=lambda: results.update(b=rate_usage(second, plans, price_tables=tables))
    )
    two.start()
    two.join(0.5)
    assert two.is_alive()  # waits for the build under way instead of pricing AT again
    release.set()
    one.join(10)
    two.join(10)
    # AT priced once (by the first batch), then only FR for the second
    assert built == [1, 1]
    monkeypatch.setattr(engine, "price_table", price_table)
    assert results["a"].rated.equals(rate_usage(first, plans).rated)
    assert results["b"].rated.equals(rate_usage(second, plans).rated)
