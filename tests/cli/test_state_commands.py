"""``roamlike state init|migrate``: exit codes and output, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from roamlike.cli import app

runner = CliRunner()


def test_init_creates_the_store_and_is_idempotent(store_url: str) -> None:
    first = runner.invoke(app, ["state", "init", "--state", store_url])
    assert first.exit_code == 0, first.output
    assert "applied state 1" in first.output
    again = runner.invoke(app, ["state", "init", "--state", store_url, "--json"])
    assert again.exit_code == 0, again.output
    doc = json.loads(again.stdout)
    assert doc["applied"] == []
    assert doc["components"]["state"]["version"] == doc["components"]["state"]["latest"]


def test_migrate_reads_the_store_from_the_environment(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    assert runner.invoke(app, ["state", "init", "--state", str(db)]).exit_code == 0
    result = runner.invoke(app, ["state", "migrate", "--json"], env={"ROAMLIKE_STATE": str(db)})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["store"] == str(db)


def test_migrate_refuses_a_missing_store_with_exit_3(tmp_path: Path) -> None:
    db = tmp_path / "none.db"
    result = runner.invoke(app, ["state", "migrate", "--state", str(db)])
    assert result.exit_code == 3
    assert "roamlike state init" in result.output
    assert not db.exists()


def test_state_without_a_store_is_a_usage_error() -> None:
    result = runner.invoke(app, ["state", "init"], env={"ROAMLIKE_STATE": ""})
    assert result.exit_code == 2
