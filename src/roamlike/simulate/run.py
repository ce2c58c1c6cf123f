"""Rate the same usage under the baseline law and under a scenario, and write what changes.

Output folder ``DIR``::

    baseline/rated.parquet, baseline/rejects.parquet      the baseline run (= ``roamlike rate``)
    <scenario>/rated.parquet, <scenario>/rejects.parquet  the scenario run
    summary.csv, summary.parquet   one row per (scenario, home, visited, service, month)
    savings.parquet                baseline vs scenario per (home, visited, service, month)
    wholesale.parquet              wholesale flows per (scenario, operator, visited, service, month)
    balance.parquet                wholesale inbound, outbound and net per (scenario, country)
    scenario.json                  the scenario's changes, each with its basis and grade
    report.html                    a self-contained report with charts

Every output file is written atomically (a temporary name, then a rename).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from roamlike.errors import OutputError
from roamlike.io import write_table
from roamlike.io.text import write_text_atomic
from roamlike.law import Catalog
from roamlike.law.scenarios import Scenario
from roamlike.pipeline import DEFAULT_BATCH_ROWS, RunSummary, rate_file
from roamlike.simulate.impact import KEYS, impact_tables, micros_to_eur
from roamlike.tariffs import FxTable, Plan

#: Columns of ``summary.csv`` in order (money in euro, exact to the micro-euro).
SUMMARY_COLUMNS = (
    "scenario",
    *KEYS,
    "records",
    "units",
    "unit",
    "charge_excl_vat_eur",
    "surcharge_eur",
    "wholesale_volume",
    "wholesale_eur",
    "regimes",
    "is_hypothetical",
)


@dataclass
class Simulation:
    """What a simulation produced (the same tables as the files in its folder)."""

    scenario: Scenario
    runs: dict[str, RunSummary]
    summary: pl.DataFrame
    savings: pl.DataFrame
    wholesale: pl.DataFrame
    balance: pl.DataFrame


def _rate_leg(
    usage: Path,
    plans: Mapping[str, Plan],
    fx: FxTable,
    folder: Path,
    catalog: Catalog,
    mapping: Path | None,
    batch_rows: int,
) -> RunSummary:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"{folder}: cannot create the folder: {exc.strerror or exc}") from exc
    return rate_file(
        usage,
        plans,
        fx,
        folder / "rated.parquet",
        folder / "rejects.parquet",
        mapping=mapping,
        batch_rows=batch_rows,
        catalog=catalog,
    )


def _summary_out(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(
        month=pl.col("month").dt.strftime("%Y-%m"),
        charge_excl_vat_eur=micros_to_eur("charge_micros_eur"),
        surcharge_eur=micros_to_eur("surcharge_micros_eur"),
        wholesale_eur=micros_to_eur("wholesale_micros_eur"),
    ).select(SUMMARY_COLUMNS)


def savings_table(summary: pl.DataFrame, scenario: str) -> pl.DataFrame:
    """Baseline against scenario per (home, visited, service, month), in micro-euro.

    ``savings_micros_eur`` is what travellers pay less under the scenario (negative: more).
    """
    cols = ("records", "charge_micros_eur", "surcharge_micros_eur", "wholesale_micros_eur")

    def leg(name: str, prefix: str) -> pl.DataFrame:
        return summary.filter(pl.col("scenario") == name).select(
            *KEYS, *(pl.col(c).alias(f"{prefix}_{c}") for c in cols), "is_hypothetical"
        )

    base = leg("baseline", "baseline").drop("is_hypothetical")
    other = leg(scenario, "scenario")
    joined = base.join(other, on=list(KEYS), how="full", coalesce=True)
    return (
        joined.with_columns(
            pl.col(f"{p}_{c}").fill_null(0) for p in ("baseline", "scenario") for c in cols[:3]
        )
        .with_columns(
            is_hypothetical=pl.col("is_hypothetical").fill_null(False),
            savings_micros_eur=pl.col("baseline_charge_micros_eur")
            - pl.col("scenario_charge_micros_eur"),
        )
        .sort(*KEYS)
    )


def balance_table(wholesale: pl.DataFrame) -> pl.DataFrame:
    """Wholesale inbound (as visited country), outbound (as home) and net, per scenario and
    country, in micro-euro."""
    inbound = wholesale.group_by("scenario", country="visited_country").agg(
        inbound_micros_eur=pl.col("wholesale_micros_eur").sum()
    )
    outbound = wholesale.group_by("scenario", country="home_country").agg(
        outbound_micros_eur=pl.col("wholesale_micros_eur").sum()
    )
    return (
        inbound.join(outbound, on=["scenario", "country"], how="full", coalesce=True)
        .with_columns(pl.col("inbound_micros_eur", "outbound_micros_eur").fill_null(0))
        .with_columns(net_micros_eur=pl.col("inbound_micros_eur") - pl.col("outbound_micros_eur"))
        .sort("scenario", "country")
    )


def simulate(
    usage: Path,
    plans: Mapping[str, Plan],
    fx: FxTable,
    scenario: Scenario,
    out: Path,
    mapping: Path | None = None,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    progress: Callable[[str], None] | None = None,
    report: Callable[[Simulation, Path], None] | None = None,
) -> Simulation:
    """Rate ``usage`` under the baseline and under ``scenario`` and write the comparison to ``out``.

    Parameters
    ----------
    usage : pathlib.Path
        Usage records (CSV, Parquet or JSON lines; docs/rating.md §1).
    plans, fx
        Tariff plans and exchange rates, as for ``roamlike rate``; ``fx`` must also hold a rate
        for every non-euro plan currency on every date (charges are reported in euro).
    scenario : Scenario
        The scenario (its ``baseline`` catalog is the baseline run's law).
    out : pathlib.Path
        The output folder (created if missing).
    report : callable, optional
        Writes the HTML report, called as ``report(simulation, out / "report.html")``.

    Raises
    ------
    UsageInputError, OutputError, FxError
        The usage cannot be read, an output cannot be written, or a rate is missing.
    """
    runs: dict[str, RunSummary] = {}
    summaries: list[pl.DataFrame] = []
    flows: list[pl.DataFrame] = []
    for name, catalog in (("baseline", scenario.baseline), (scenario.name, scenario.catalog)):
        if progress is not None:
            progress(f"rating under {name}")
        runs[name] = _rate_leg(usage, plans, fx, out / name, catalog, mapping, batch_rows)
        rated = pl.scan_parquet(out / name / "rated.parquet")
        summary, wholesale = impact_tables(rated, plans, fx, catalog, name)
        summaries.append(summary)
        flows.append(wholesale)
    summary = pl.concat(summaries)
    wholesale = pl.concat(flows)
    simulation = Simulation(
        scenario=scenario,
        runs=runs,
        summary=summary,
        savings=savings_table(summary, scenario.name),
        wholesale=wholesale,
        balance=balance_table(wholesale),
    )
    write_table(_summary_out(summary), out / "summary.csv")
    write_table(_summary_out(summary), out / "summary.parquet")
    write_table(simulation.savings, out / "savings.parquet")
    write_table(wholesale, out / "wholesale.parquet")
    write_table(simulation.balance, out / "balance.parquet")
    about = {
        "name": scenario.name,
        "title": scenario.title,
        "description": scenario.description,
        "grade": "hypothetical",
        "changes": [c.to_json() for c in scenario.changes],
    }
    write_text_atomic(out / "scenario.json", json.dumps(about, ensure_ascii=False, indent=2) + "\n")
    if report is not None:
        report(simulation, out / "report.html")
    return simulation
