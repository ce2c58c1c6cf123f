"""``roamlike.pipeline.rate_file``: counters carried through a batched file run."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from builders import make_plan, rec
from comparison import text_frame
from roamlike.pipeline import rate_file
from roamlike.rating import rate_usage
from roamlike.tariffs import FxTable


def test_rate_file_carries_counters_across_files_and_batches(tmp_path: Path) -> None:
    plans = {"de": make_plan(data_allowance_gb="0.005")}
    day1 = [rec(f"a{i}", subscriber_id=f"s{i % 3}", volume_bytes=2_000_000) for i in range(6)]
    day2 = [
        rec(f"b{i}", subscriber_id=f"s{i % 4}", volume_bytes=2_000_000,
            started_at="2026-03-11T10:00:00Z")
        for i in range(8)
    ]  # fmt: skip
    paths = []
    for name, rows in (("day1", day1), ("day2", day2)):
        path = tmp_path / f"{name}.csv"
        text_frame(rows).write_csv(path)
        paths.append(path)
    first = rate_file(paths[0], plans, FxTable(), tmp_path / "r1.parquet", batch_rows=2)
    second = rate_file(
        paths[1], plans, FxTable(), tmp_path / "r2.parquet", batch_rows=3,
        counters=first.counters, known_record_ids={"a0"},
    )  # fmt: skip
    whole = rate_usage(text_frame(day1 + day2), plans)
    assert first.batches > 1
    assert second.batches > 1
    rated = pl.concat(
        [pl.read_parquet(tmp_path / "r1.parquet"), pl.read_parquet(tmp_path / "r2.parquet")]
    ).sort("record_id")
    columns = ["record_id", "in_bundle_units", "domestic_micros", "charge_incl_vat_micros"]
    assert rated.select(columns).equals(whole.rated.select(columns).sort("record_id"))
    merged = first.counters.merge(second.counters)
    assert merged.periods.equals(whole.counters.periods)
    assert merged.subscribers.equals(whole.counters.subscribers)
