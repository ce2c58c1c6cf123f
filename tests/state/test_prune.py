"""``roamlike state prune``: presence days and closed periods the permanent-roaming control
(Implementing Regulation (EU) 2016/2286, Art. 4: a four-month window) no longer needs are
dropped; controls and runs that would need them are refused afterwards. SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from roamlike.cli import app
from roamlike.errors import StoreError, UsageInputError
from roamlike.state import open_store
from roamlike.state.control import assess, pruned_before
from roamlike.state.packs import readable
from roamlike.state.prune import latest_allowed, prune
from state.test_control import MB, _day, _rate, hand_worked_usage

runner = CliRunner()
MAY1 = dt.date(2026, 5, 1)
AUG31 = dt.date(2026, 8, 31)


def _may_to_august() -> list[dict[str, Any]]:
    """The traveller stays in FR, the commuter at home, 2026-05-01..2026-08-31."""
    rows = []
    for i in range((AUG31 - MAY1).days + 1):
        day = MAY1 + dt.timedelta(days=i)
        rows.append(_day("traveller", day, "FR", 500 * MB))
        rows.append(_day("commuter", day, "DE", 100 * MB))
    return rows


def _counts(url: str) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with open_store(url) as store, store.transaction() as tx:
        readable(tx)  # the views then hold the packs' rows too
        days = tx.execute(
            "SELECT subscriber_id, min(day), count(*) FROM state_days_now "
            "GROUP BY subscriber_id ORDER BY subscriber_id"
        )
        periods = tx.execute(
            "SELECT DISTINCT period_start FROM state_periods_now ORDER BY period_start"
        )
    return days, periods


@pytest.fixture
def eight_months(store_url: str, tmp_path: Path) -> str:
    _rate(store_url, hand_worked_usage(), tmp_path, "jan-apr")
    _rate(store_url, _may_to_august(), tmp_path, "may-aug")
    return store_url


def test_art4_prune_keeps_what_a_control_on_the_last_day_reads(
    eight_months: str, tmp_path: Path
) -> None:
    url = eight_months
    assert latest_allowed(AUG31) == MAY1  # the four months ending on 2026-08-31
    with open_store(url) as store, store.transaction() as tx:
        before = assess(tx, AUG31)
        dry = prune(tx, MAY1, dry_run=True)
    assert _counts(url)[0] == [("commuter", "2026-01-01", 243), ("traveller", "2026-01-01", 243)]
    with open_store(url) as store, store.transaction() as tx:
        done = prune(tx, MAY1)
        after = assess(tx, AUG31)
        assert pruned_before(tx) == MAY1
    # January..April go, each subscriber's first day stays: its history still starts there
    assert (done.days_dropped, done.periods_dropped) == (dry.days_dropped, dry.periods_dropped)
    assert done.days_dropped == 2 * 119
    days, periods = _counts(url)
    assert days == [("commuter", "2026-01-01", 124), ("traveller", "2026-01-01", 124)]
    # periods that ended before May (started before 2026-03-31) go; April's may still be needed
    assert [p for (p,) in periods] == ["2026-04-01", "2026-05-01", "2026-06-01", "2026-07-01",
                                       "2026-08-01"]  # fmt: skip
    assert after == before
    assert [e["subscriber_id"] for e in after if e["flagged"]] == ["traveller"]


def test_after_a_prune_controls_and_runs_that_need_dropped_days_are_refused(
    eight_months: str, tmp_path: Path
) -> None:
    url = eight_months
    with open_store(url) as store:
        with (
            pytest.raises(StoreError, match=r"prune before 2026-05-01 at the latest"),
            store.transaction() as tx,
        ):
            prune(tx, MAY1 + dt.timedelta(days=1))
        with store.transaction() as tx:
            prune(tx, MAY1)
        with (
            pytest.raises(StoreError, match="pruned before 2026-05-01"),
            store.transaction() as tx,
        ):
            assess(tx, dt.date(2026, 7, 31))  # window from 2026-04-01
        with store.transaction() as tx:
            prune(tx, dt.date(2026, 3, 1))  # an earlier day later: the latest prune stays
            assert pruned_before(tx) == MAY1
    late = [_day("traveller", dt.date(2026, 4, 30), "FR", MB) | {"record_id": "late-april"}]
    with pytest.raises(UsageInputError, match="older than the day the store was pruned"):
        _rate(url, late, tmp_path, "late")
    with open_store(url) as store, store.transaction() as tx:
        assert tx.execute("SELECT count(*) FROM state_records WHERE record_id = 'late-april'") == [
            (0,)
        ]


def test_prune_command(tmp_path: Path) -> None:
    url = str(tmp_path / "s.db")
    _rate(url, hand_worked_usage(), tmp_path, "jan-apr")
    _rate(url, _may_to_august(), tmp_path, "may-aug")
    dry = runner.invoke(
        app, ["state", "prune", "--state", url, "--before", "2026-05-01", "--dry-run", "--json"]
    )
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout) == {
        "before": "2026-05-01",
        "last_day": "2026-08-31",
        "days_dropped": 238,
        "periods_dropped": 6,
        "dry_run": True,
    }
    done = runner.invoke(app, ["state", "prune", "--state", url, "--before", "2026-05-01"])
    assert done.exit_code == 0, done.output
    said = " ".join(done.output.split())
    assert "dropped 238 presence day(s) and 6 billing period(s) before 2026-05-01" in said
    too_late = runner.invoke(app, ["state", "prune", "--state", url, "--before", "2026-06-01"])
    assert too_late.exit_code == 3
    assert "2026-05-01 at the latest" in " ".join(too_late.output.split())
    bad = runner.invoke(app, ["state", "prune", "--state", url, "--before", "June"])
    assert bad.exit_code == 2
    control = runner.invoke(app, ["control", "--state", url, "--on", "2026-06-30"])
    assert control.exit_code == 3
    assert "pruned before 2026-05-01" in " ".join(control.output.split())
