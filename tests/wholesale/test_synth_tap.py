"""The TAP writer hook of ``synth``: valid files, charged exactly at the cap."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from roamlike.errors import OutputError
from roamlike.law import default_catalog
from roamlike.synth import generate
from roamlike.synth.tap import tadig, write_tap_files
from roamlike.wholesale import decode_file
from roamlike.wholesale.check import check_wholesale

CAT = default_catalog()


def test_synthetic_tap_files_decode_cleanly_and_sit_at_the_cap(tmp_path: Path) -> None:
    usage = generate(4000, seed=3).usage
    paths = write_tap_files(usage, tmp_path, CAT, dt.datetime(2026, 4, 1))
    taps = [decode_file(p, CAT) for p in paths]
    assert [f for t in taps for f in t.findings] == []
    expected = usage.filter(
        (pl.col("home_country") != pl.col("visited_country")) & (pl.col("event_type") != "mms_mo")
    ).height
    assert sum(t.decoded for t in taps) == expected > 0
    events = pl.concat([t.events for t in taps])
    result = check_wholesale(events, CAT)
    checked = result.events.filter(pl.col("status") == "checked")
    assert checked.height > 0
    assert not checked.get_column("is_above_cap").any()
    assert result.partners.get_column("excess_eur_micros").sum() == 0
    charged = checked.get_column("charge_eur_micros").sum()
    at_cap = checked.get_column("at_cap_eur_micros").sum()
    assert at_cap - checked.height <= charged <= at_cap  # each event rounded down, < 1 µ
    assert {t.header.sender for t in taps} <= {tadig(c) for c in CAT.countries}


def test_missing_directory_is_an_output_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="does not exist"):
        write_tap_files(generate(10).usage, tmp_path / "none", CAT, dt.datetime(2026, 4, 1))
