"""``run_demo``: generate the demo's traffic, rate it on every key date, write the report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from roamlike.demo.prices import (
    Bill,
    Headline,
    PriceRow,
    headline,
    summarise,
    summary_frame,
    traveller_bills,
)
from roamlike.demo.report import render_report
from roamlike.demo.scenario import (
    KEY_DATES,
    FxUse,
    KeyDate,
    Scenario,
    build_scenario,
    fx_used,
    scenario_usage,
)
from roamlike.io import write_table
from roamlike.io.text import write_text_atomic
from roamlike.rating import rate_usage


@dataclass(frozen=True)
class DemoResult:
    """Everything the demo computed, and where it wrote its files."""

    scenario: Scenario
    key_dates: tuple[KeyDate, ...]
    rated_rows: int
    rejected_rows: int
    summary: list[PriceRow]
    headline: Headline
    fx: list[FxUse]
    bills: list[Bill]
    report_path: Path
    rated_path: Path
    summary_path: Path


def run_demo(out_dir: Path | str, records: int = 200_000, seed: int = 2019) -> DemoResult:
    """Generate the scenario, rate it on every key date, and write the report and tables.

    Parameters
    ----------
    out_dir : Path or str
        Output directory (created if missing): ``report.html``, ``rated.parquet`` (rated records
        of every key date, with ``scenario_date`` and ``route_group``) and ``summary.csv``.
    records : int
        Records in the synthetic year (each is rated once per key date).
    seed : int
        Seed of the traffic generator.

    Raises
    ------
    OutputError
        An output cannot be written.
    ValueError
        ``records`` is too small for the headline (no Albanian traffic in the WB6).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    scenario = build_scenario(records, seed)
    dates = tuple(k.on for k in KEY_DATES)
    result = rate_usage(scenario_usage(scenario.traffic, dates), scenario.plans, scenario.fx)
    rated = result.rated
    rows = summarise(rated, scenario.fx)
    head = headline(rated, scenario.fx)
    currencies = sorted({p.currency for p in scenario.plans.values()})
    fx = fx_used(scenario.fx, currencies, dates)
    bills = traveller_bills(scenario)
    demo = DemoResult(
        scenario=scenario,
        key_dates=KEY_DATES,
        rated_rows=rated.height,
        rejected_rows=result.rejects.height,
        summary=rows,
        headline=head,
        fx=fx,
        bills=bills,
        report_path=out / "report.html",
        rated_path=out / "rated.parquet",
        summary_path=out / "summary.csv",
    )
    write_table(rated, demo.rated_path)
    write_table(summary_frame(rows), demo.summary_path)
    write_text_atomic(demo.report_path, render_report(demo))
    return demo
