"""``roamlike rate`` under hostile conditions: each defect found by probing, with its test.

Outputs naming an input, unknown output extensions, YAML alias bombs, totals beyond Int64, an
unexpected exception (internal error, exit 4), SIGTERM mid-run, leftovers of killed runs.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from builders import DE_PLAN
from roamlike.cli import app
from roamlike.cli.common import run_app
from roamlike.errors import EXIT_INTERNAL, EXIT_TERMINATED, EXIT_USAGE

runner = CliRunner()
HEADER = [
    "record_id", "subscriber_id", "plan_id", "event_type", "started_at", "utc_offset_min",
    "home_country", "visited_country", "volume_bytes",
]  # fmt: skip
PLAN = {**DE_PLAN, "data_allowance_gb": "0"}


def _usage(path: Path, n: int = 3, volume: int = 1_000_000) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for i in range(n):
            writer.writerow(
                [f"r{i}", f"s{i % 997}", "de", "data", f"2026-03-{1 + i % 28:02d}T10:00:00Z",
                 "60", "DE", "DE", str(volume)]
            )  # fmt: skip
    return path


def _plans(path: Path, **over: object) -> Path:
    path.write_text(yaml.safe_dump({"plans": [{**PLAN, **over}]}), encoding="utf-8")
    return path


@pytest.mark.parametrize("which", ["--out", "--rejects", "--notifications"])
@pytest.mark.parametrize("victim", ["usage", "plans"])
def test_output_naming_an_input_is_refused_before_any_work(
    tmp_path: Path, which: str, victim: str
) -> None:
    # --out or --rejects used to overwrite the input file
    usage = _usage(tmp_path / "usage.csv")
    plans = _plans(tmp_path / "plans.yaml")
    before = {p: p.read_bytes() for p in (usage, plans)}
    target = {"usage": usage, "plans": tmp_path / "." / "plans.yaml"}[victim]
    outputs = {"--out": tmp_path / "rated.csv", "--rejects": tmp_path / "rej.csv",
               "--notifications": tmp_path / "notes.csv"}  # fmt: skip
    outputs[which] = target
    args = ["rate", str(usage), "--plans", str(plans)]
    for option, path in outputs.items():
        args += [option, str(path)]
    result = runner.invoke(app, args)
    assert result.exit_code == EXIT_USAGE
    assert "is also an input" in result.output
    assert {p: p.read_bytes() for p in (usage, plans)} == before


def test_unknown_output_extension_is_refused_before_rating(tmp_path: Path) -> None:
    usage = _usage(tmp_path / "usage.csv")
    plans = _plans(tmp_path / "plans.yaml")
    result = runner.invoke(
        app, ["rate", str(usage), "--plans", str(plans), "--out", str(tmp_path / "rated.xlsx")]
    )
    assert result.exit_code == EXIT_USAGE
    assert "unknown output format '.xlsx'" in result.output


BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(8)
)


@pytest.mark.parametrize("kind", ["plans", "mapping"])
def test_yaml_alias_bomb_is_refused_with_a_short_message(tmp_path: Path, kind: str) -> None:
    # aliases used to be expanded into an error message hundreds of MB long
    usage = _usage(tmp_path / "usage.csv")
    plans = _plans(tmp_path / "plans.yaml")
    bomb = tmp_path / f"{kind}.bomb.yaml"
    bomb.write_text(f"plans:\n  - id: x\n{BOMB}" if kind == "plans" else BOMB, encoding="utf-8")
    args = ["rate", str(usage), "--out", str(tmp_path / "rated.csv")]
    args += ["--plans", str(bomb)] if kind == "plans" else ["--plans", str(plans)]
    args += ["--mapping", str(bomb)] if kind == "mapping" else []
    result = runner.invoke(app, args)
    assert result.exit_code == 3
    assert "alias *a is not allowed" in result.output
    assert len(result.output) < 2_000


def test_summary_totals_beyond_int64_do_not_wrap(tmp_path: Path) -> None:
    # 10 records of 10^12 bytes at 10^6 EUR/MB: 1.19 x 10^19 micros incl. VAT in total, more
    # than Int64 holds (the total used to wrap negative with exit 0)
    usage = _usage(tmp_path / "usage.csv", n=10, volume=10**12)
    plans = _plans(
        tmp_path / "plans.yaml",
        out_of_bundle={"voice_per_min": "0", "sms": "0", "data_per_mb": "1000000"},
        price_includes_vat=False,
    )
    out = tmp_path / "rated.parquet"
    result = runner.invoke(
        app, ["rate", str(usage), "--plans", str(plans), "--out", str(out)], env={"COLUMNS": "250"}
    )
    assert result.exit_code == 0, result.output
    rated = pl.read_parquet(out)
    assert rated["charge_excl_vat_micros"].to_list() == [10**18] * 10
    assert "10,000,000,000,000.000000" in result.output  # the excl. VAT total, not negative


def test_unexpected_exception_is_an_internal_error_exit_4(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import roamlike.cli.rate_commands as rate_commands

    def broken(*args: object, **kwargs: object) -> None:
        raise ZeroDivisionError("a defect deep inside")

    monkeypatch.setattr(rate_commands, "rate_file", broken)
    usage = _usage(tmp_path / "usage.csv")
    plans = _plans(tmp_path / "plans.yaml")
    args = ["rate", str(usage), "--plans", str(plans), "--out", str(tmp_path / "r.csv")]
    with pytest.raises(SystemExit) as info:
        run_app(app, args)
    assert info.value.code == EXIT_INTERNAL
    err = capsys.readouterr().err
    assert "internal error: ZeroDivisionError: a defect deep inside" in err
    assert "Traceback" not in err
    assert "--debug" in err
    with pytest.raises(SystemExit) as info:
        run_app(app, [*args, "--debug"])
    assert info.value.code == EXIT_INTERNAL
    assert "Traceback" in capsys.readouterr().err


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(done.stdout)


def test_leftovers_of_killed_runs_are_swept_on_the_next_run(tmp_path: Path) -> None:
    usage = _usage(tmp_path / "usage.csv")
    plans = _plans(tmp_path / "plans.yaml")
    dead = _dead_pid()
    stale_file = tmp_path / f".rated.csv.{dead}.{'a' * 32}.tmp"
    stale_file.write_text("half a file")
    stale_dir = tmp_path / f".roamlike-batches-{dead}-x1y2"
    (stale_dir / "_batch=0").mkdir(parents=True)
    live_file = tmp_path / f".rated.csv.1.{'b' * 32}.tmp"  # pid 1 runs: not ours to remove
    live_file.write_text("someone's run in progress")
    result = runner.invoke(
        app, ["rate", str(usage), "--plans", str(plans), "--out", str(tmp_path / "rated.csv")]
    )
    assert result.exit_code == 0, result.output
    assert not stale_file.exists()
    assert not stale_dir.exists()
    assert live_file.exists()


def test_sigterm_cleans_up_like_sigint(tmp_path: Path) -> None:
    # SIGTERM used to leave the batch folder and temporary outputs behind
    usage = _usage(tmp_path / "usage.csv", n=60_000)
    plans = _plans(tmp_path / "plans.yaml")
    out = tmp_path / "rated.csv"
    # faulthandler: SIGABRT prints the stack of every thread (what a run that hangs is doing)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "PYTHONFAULTHANDLER": "1"}
    # a memory budget too small to hold the file: it is split into batch files on disk
    cmd = [sys.executable, "-m", "roamlike.cli", "rate", str(usage), "--plans", str(plans),
           "--out", str(out), "--rejects", str(tmp_path / "rej.csv"), "--batch-rows", "2000",
           "--memory-gb", "0.004", "--quiet"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not any(p.name.startswith(".roamlike-batches-") for p in tmp_path.iterdir()):
            assert proc.poll() is None, "the run ended before it could be terminated"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)
            _, err = proc.communicate(timeout=30)
            pytest.fail("no exit 60 s after SIGTERM; the threads:\n" + err.decode(errors="replace"))
    finally:  # nothing left running (or holding pipes) for the tests after this one
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == EXIT_TERMINATED, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plans.yaml", "usage.csv"]
