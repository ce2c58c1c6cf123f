"""docs/rating.md §7c: ``roamlike rate`` starts reading its input before it builds its command
line (``roamlike.input_reader.start_early``), and the run takes that read only when it reads
the same thing."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from builders import DE_PLAN, rec
from comparison import text_frame
from roamlike import input_reader
from roamlike.cli import app
from roamlike.input_reader import DEFAULT_BATCH_ROWS, DEFAULT_MEMORY_BYTES, _early_key

U = Path("usage.csv")
DEFAULTS = (U, None, DEFAULT_MEMORY_BYTES, DEFAULT_BATCH_ROWS)


@pytest.mark.parametrize(
    ("args", "key"),
    [
        (["usage.csv", "--plans", "p.yaml", "--out", "r.parquet", "--quiet"], DEFAULTS),
        (["--plans=p.yaml", "usage.csv", "--mapping", "m.yaml", "--memory-gb=2.5",
          "--batch-rows", "7", "--out", "r.csv"],
         (U, Path("m.yaml"), 2_500_000_000, 7)),
        (["--out", "r.csv", "--", "usage.csv"], DEFAULTS),
        (["usage.csv", "--engine", "native"], DEFAULTS),
        # a run with a store reads as one without (its preload takes its keys from the rows)
        (["usage.csv", "--state", "s.db", "--apply-control"], DEFAULTS),
        # not plainly a native run: the run reads for itself
        (["usage.csv", "--engine=spark"], None),
        (["usage.csv", "--help"], None),
        (["usage.csv", "-h"], None),
        (["usage.csv", "other.csv"], None),
        (["--plans", "p.yaml"], None),
        (["usage.csv", "--memory-gb", "lots"], None),
        (["usage.csv", "--memory-gb", "nan"], None),
        (["usage.csv", "--batch-rows", "0"], None),
    ],
)  # fmt: skip
def test_the_early_key_is_what_the_command_reads(
    args: list[str], key: tuple[Any, ...] | None
) -> None:
    assert _early_key(args) == key


def _files(tmp_path: Path) -> tuple[Path, Path]:
    usage = tmp_path / "usage.csv"
    rows = [rec(f"r{i}", subscriber_id=f"s{i % 3}", volume_bytes=1000 + i) for i in range(9)]
    text_frame(rows).write_csv(usage)
    plans = tmp_path / "plans.yaml"
    plans.write_text(yaml.safe_dump({"plans": [DE_PLAN]}), encoding="utf-8")
    return usage, plans


def _opened_by(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The threads that open an input from now on."""
    calls: list[str] = []
    real = input_reader.open_input

    def noting(*args: Any) -> Any:
        calls.append(threading.current_thread().name)
        return real(*args)

    monkeypatch.setattr(input_reader, "open_input", noting)
    return calls


@pytest.mark.parametrize("same", [True, False])
def test_rating_md_7c_the_run_takes_the_early_read_only_of_what_it_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, same: bool
) -> None:
    usage, plans = _files(tmp_path)
    opened = _opened_by(monkeypatch)
    outputs = []
    for name, early in (("own", False), ("early", True)):
        args = [str(usage), "--plans", str(plans), "--out", str(tmp_path / f"{name}.parquet"),
                "--batch-rows", "4", "--quiet"]  # fmt: skip
        if early:
            input_reader.start_early(args if same else [*args[:-2], "5", "--quiet"])
        result = CliRunner().invoke(app, ["rate", *args])
        assert result.exit_code == 0, result.output
        assert input_reader._early is None  # taken by the run, or dropped
        outputs.append((tmp_path / f"{name}.parquet").read_bytes())
    assert outputs[0] == outputs[1]
    # the reader's thread opens the input in both runs; the early one is used only if it
    # read the same batches, else the run opens the file again itself
    assert opened == ["roamlike-reader", "roamlike-reader"] + ([] if same else ["roamlike-reader"])


def test_no_early_read_of_a_file_that_does_not_exist(tmp_path: Path) -> None:
    input_reader.start_early([str(tmp_path / "missing.csv"), "--out", "r.parquet"])
    assert input_reader._early is None
