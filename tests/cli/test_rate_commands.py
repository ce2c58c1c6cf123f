"""``roamlike rate``: output files and formats, exit codes, the summary and determinism."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from typer.testing import CliRunner, Result

from roamlike.cli import app

runner = CliRunner()
WIDE = {"COLUMNS": "250"}

USAGE_HEADER = [
    "record_id",
    "subscriber_id",
    "plan_id",
    "event_type",
    "started_at",
    "utc_offset_min",
    "home_country",
    "visited_country",
    "duration_s",
    "volume_bytes",
    "count",
]


def _plans() -> list[dict[str, Any]]:
    de = {
        "id": "de",
        "home_country": "DE",
        "currency": "EUR",
        "price": "20.00",
        "price_includes_vat": True,
        "billing_period": "month",
        "data_allowance_gb": "10",
        "voice_allowance_min": "unlimited",
        "sms_allowance": "unlimited",
        "out_of_bundle": {"voice_per_min": "0.10", "sms": "0.10", "data_per_mb": "0.01"},
    }
    rs = {
        "id": "rs",
        "home_country": "RS",
        "currency": "RSD",
        "price": "1000",
        "price_includes_vat": False,
        "billing_period": "month",
        "data_allowance_gb": "5",
        "voice_allowance_min": "0",
        "sms_allowance": "unlimited",
        "out_of_bundle": {"voice_per_min": "10", "sms": "5", "data_per_mb": "1"},
    }
    return [de, rs]


GOOD_ROWS = [
    ["a", "s1", "de", "data", "2026-03-02T10:00:00Z", "60", "DE", "AT", "", "1000000", ""],
    ["b", "s1", "de", "voice_mo", "2026-03-02T11:00:00Z", "60", "DE", "DE", "5", "", ""],
    ["c", "s1", "de", "sms_mo", "2026-03-03T09:00:00Z", "60", "DE", "FR", "", "", "2"],
    # RS in ME on 2019-08-01: 600 s at the cap 0.19 EUR/min x 117.5 = 223.25 RSD
    ["d", "s2", "rs", "voice_mo", "2019-08-01T10:00:00Z", "120", "RS", "ME", "600", "", ""],
]
BAD_ROWS = [
    ["e", "s1", "de", "data", "2026-13-01T10:00:00Z", "60", "DE", "AT", "", "10", ""],
    ["a", "s1", "de", "data", "2026-03-04T10:00:00Z", "60", "DE", "AT", "", "10", ""],
]


def _write_csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def plans_file(tmp_path: Path) -> Path:
    path = tmp_path / "plans.yaml"
    path.write_text(yaml.safe_dump({"plans": _plans()}, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture
def fx_file(tmp_path: Path) -> Path:
    path = tmp_path / "fx.csv"
    path.write_text("date,currency,units_per_eur\n2019-07-01,RSD,117.5\n", encoding="utf-8")
    return path


@pytest.fixture
def good_usage(tmp_path: Path) -> Path:
    return _write_csv(tmp_path / "usage.csv", USAGE_HEADER, GOOD_ROWS)


@pytest.fixture
def mixed_usage(tmp_path: Path) -> Path:
    return _write_csv(tmp_path / "mixed.csv", USAGE_HEADER, GOOD_ROWS + BAD_ROWS)


def _rate(
    usage: Path,
    plans: Path,
    out_dir: Path,
    fx: Path | None = None,
    ext: str = ".parquet",
    *extra: str | Path,
) -> tuple[Result, Path, Path, Path]:
    out_dir.mkdir(exist_ok=True)
    out, rejects, notes = (out_dir / f"{n}{ext}" for n in ("rated", "rejects", "notifications"))
    args: list[str | Path] = ["rate", usage, "--plans", plans, "--out", out, "--rejects", rejects]
    args += ["--notifications", notes]
    if fx is not None:
        args += ["--fx", fx]
    args += list(extra)
    result = runner.invoke(app, [str(a) for a in args], env=WIDE)
    return result, out, rejects, notes


def _read(path: Path) -> pl.DataFrame:
    if path.suffix == ".parquet":
        return pl.read_parquet(path)
    if path.suffix == ".csv":
        return pl.read_csv(path, infer_schema=False)
    return pl.read_ndjson(path)


def test_rate_exit_0_when_every_record_is_rated(
    tmp_path: Path, good_usage: Path, plans_file: Path, fx_file: Path
) -> None:
    result, out, rejects, notes = _rate(good_usage, plans_file, tmp_path / "o", fx_file)
    assert result.exit_code == 0, result.output
    rated = pl.read_parquet(out)
    assert rated["record_id"].to_list() == ["a", "b", "c", "d"]
    assert rated.filter(pl.col("record_id") == "d")["roaming_micros"].to_list() == [223_250_000]
    assert rated.filter(pl.col("record_id") == "d")["currency"].to_list() == ["RSD"]
    assert pl.read_parquet(rejects).height == 0
    kinds = pl.read_parquet(notes).select("record_id", "kind").rows()
    assert ("a", "welcome") in kinds
    assert "read 4 = rated 4 + rejected 0" in result.stderr


def test_rate_exit_1_with_rejects_and_summary_adds_up(
    tmp_path: Path, mixed_usage: Path, plans_file: Path, fx_file: Path
) -> None:
    result, out, rejects, _ = _rate(mixed_usage, plans_file, tmp_path / "o", fx_file)
    assert result.exit_code == 1, result.output
    assert pl.read_parquet(out).height == 4
    rej = pl.read_parquet(rejects)
    assert rej.select("row_number", "reason_code").rows() == [
        (4, "BAD_TIMESTAMP"),
        (5, "DUPLICATE_RECORD_ID"),
    ]
    assert rej["started_at"].to_list() == ["2026-13-01T10:00:00Z", "2026-03-04T10:00:00Z"]
    assert "read 6 = rated 4 + rejected 2" in result.stderr
    assert "BAD_TIMESTAMP=1" in result.stderr
    assert "DUPLICATE_RECORD_ID=1" in result.stderr


@pytest.mark.parametrize("ext", [".parquet", ".csv", ".jsonl"])
def test_rate_writes_the_format_the_extension_names(
    tmp_path: Path, mixed_usage: Path, plans_file: Path, fx_file: Path, ext: str
) -> None:
    result, out, rejects, notes = _rate(mixed_usage, plans_file, tmp_path / "o", fx_file, ext)
    assert result.exit_code == 1, result.output
    for path in (out, rejects, notes):
        head = path.read_bytes()[:4]
        if ext == ".parquet":
            assert head == b"PAR1"
        elif ext == ".csv":
            first = path.read_text(encoding="utf-8").splitlines()[0]
            assert first.split(",")[0] in ("record_id", "subscriber_id")
        else:
            lines = path.read_text(encoding="utf-8").splitlines()
            assert all(isinstance(json.loads(line), dict) for line in lines)
    rated = _read(out)
    assert rated.height == 4
    # a: 1 MB in AT, in bundle; b: 5 s at home, unlimited minutes; c: 2 SMS in FR, unlimited;
    # d: 600 s RS->ME 2019 at the cap 22.325 RSD/min = 223.25 RSD.
    assert [int(v) for v in rated["charge_excl_vat_micros"]] == [0, 0, 0, 223_250_000]
    assert _read(rejects).height == 2
    assert _read(notes).height >= 1
    if ext != ".parquet":
        # time-zone-aware datetimes are ISO 8601 UTC with a Z suffix in text formats
        assert str(rated["started_at"][0]) == "2026-03-02T10:00:00.000000Z"


def test_rate_outputs_are_byte_identical_across_runs(
    tmp_path: Path, mixed_usage: Path, plans_file: Path, fx_file: Path
) -> None:
    for ext in (".parquet", ".csv", ".jsonl"):
        first = _rate(mixed_usage, plans_file, tmp_path / f"one{ext}", fx_file, ext)
        second = _rate(mixed_usage, plans_file, tmp_path / f"two{ext}", fx_file, ext)
        assert first[0].exit_code == second[0].exit_code == 1
        for a, b in zip(first[1:], second[1:], strict=True):
            assert a.read_bytes() == b.read_bytes(), a.name


def test_rate_exit_2_when_out_equals_rejects(
    tmp_path: Path, good_usage: Path, plans_file: Path
) -> None:
    out = tmp_path / "same.parquet"
    args = ["rate", good_usage, "--plans", plans_file, "--out", out, "--rejects", out]
    result = runner.invoke(app, [str(a) for a in args], env=WIDE)
    assert result.exit_code == 2
    assert "must be different files" in result.stderr
    assert not out.exists()


def test_rate_exit_3_for_a_missing_usage_file(tmp_path: Path, plans_file: Path) -> None:
    result, out, _, _ = _rate(tmp_path / "nope.csv", plans_file, tmp_path / "o")
    assert result.exit_code == 3
    assert "usage file not found" in result.stderr
    assert not out.exists()


def test_rate_exit_3_for_a_missing_required_column(tmp_path: Path, plans_file: Path) -> None:
    header = [c for c in USAGE_HEADER if c != "visited_country"]
    rows = [[v for i, v in enumerate(r) if USAGE_HEADER[i] != "visited_country"] for r in GOOD_ROWS]
    usage = _write_csv(tmp_path / "usage.csv", header, rows)
    result, out, _, _ = _rate(usage, plans_file, tmp_path / "o")
    assert result.exit_code == 3
    assert "'visited_country' is missing" in result.stderr
    assert not out.exists()


def test_rate_exit_3_for_a_bad_plans_file(tmp_path: Path, good_usage: Path) -> None:
    plans = _plans()
    plans[0]["price"] = 20.0  # unquoted: a float would touch money
    path = tmp_path / "plans.yaml"
    path.write_text(yaml.safe_dump({"plans": plans}), encoding="utf-8")
    result, out, _, _ = _rate(good_usage, path, tmp_path / "o")
    assert result.exit_code == 3
    assert "quoted decimal" in result.stderr
    assert not out.exists()


def test_rate_exit_3_for_a_bad_fx_file(tmp_path: Path, good_usage: Path, plans_file: Path) -> None:
    fx = tmp_path / "fx.csv"
    fx.write_text("day,ccy,rate\n2019-07-01,RSD,117.5\n", encoding="utf-8")
    result, out, _, _ = _rate(good_usage, plans_file, tmp_path / "o", fx)
    assert result.exit_code == 3
    assert "date,currency,units_per_eur" in result.stderr
    assert not out.exists()


def test_rate_without_fx_rejects_non_euro_roaming(
    tmp_path: Path, good_usage: Path, plans_file: Path
) -> None:
    result, _, rejects, _ = _rate(good_usage, plans_file, tmp_path / "o")
    assert result.exit_code == 1
    assert pl.read_parquet(rejects).select("record_id", "reason_code").rows() == [
        ("d", "NO_FX_RATE")
    ]


def test_rate_mapping_renames_vendor_columns(
    tmp_path: Path, plans_file: Path, fx_file: Path
) -> None:
    vendor = {"record_id": "CALL_ID", "subscriber_id": "MSISDN_HASH", "plan_id": "TARIFF"}
    header = [vendor.get(c, c) for c in USAGE_HEADER] + ["CELL"]
    usage = _write_csv(tmp_path / "vendor.csv", header, [[*r, "cell-1"] for r in GOOD_ROWS])
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(
        yaml.safe_dump({"columns": {v: k for k, v in vendor.items()}}), encoding="utf-8"
    )
    result, out, _, _ = _rate(
        usage, plans_file, tmp_path / "o", fx_file, ".parquet", "--mapping", mapping
    )
    assert result.exit_code == 0, result.output
    rated = pl.read_parquet(out)
    assert rated["record_id"].to_list() == ["a", "b", "c", "d"]
    assert rated["plan_id"].to_list() == ["de", "de", "de", "rs"]
    assert "CALL_ID" not in rated.columns
    assert rated["CELL"].to_list() == ["cell-1"] * 4  # extra vendor column kept

    unmapped, _, _, _ = _rate(usage, plans_file, tmp_path / "u", fx_file)
    assert unmapped.exit_code == 3
    assert "--mapping" in unmapped.stderr


def test_rate_quiet_prints_no_summary(
    tmp_path: Path, mixed_usage: Path, plans_file: Path, fx_file: Path
) -> None:
    result, _, _, _ = _rate(mixed_usage, plans_file, tmp_path / "o", fx_file, ".csv", "--quiet")
    assert result.exit_code == 1
    assert "read 6" not in result.output


def test_rate_files_equal_the_library_result(
    tmp_path: Path, mixed_usage: Path, plans_file: Path, fx_file: Path
) -> None:
    from polars.testing import assert_frame_equal

    from roamlike.io import read_usage
    from roamlike.rating import rate_usage
    from roamlike.tariffs import FxTable, load_plans

    result, out, rejects, notes = _rate(mixed_usage, plans_file, tmp_path / "o", fx_file)
    assert result.exit_code == 1, result.output
    plans, fx = load_plans(plans_file), FxTable.from_csv(fx_file)
    library = rate_usage(read_usage(mixed_usage), plans, fx)
    coded = rate_usage(read_usage(mixed_usage), plans, fx, coded_text=True)
    written = pl.read_parquet(out)
    # the command writes plan ids and currencies as enums of the plans (rating.md §8) ...
    assert_frame_equal(written, coded.rated)
    assert isinstance(written.schema["plan_id"], pl.Enum)
    assert isinstance(written.schema["currency"], pl.Enum)
    # ... whose values are the text the library gives by default
    text = written.with_columns(pl.col("plan_id", "currency").cast(pl.String))
    assert_frame_equal(text, library.rated)
    assert_frame_equal(pl.read_parquet(rejects), library.rejects)
    assert_frame_equal(pl.read_parquet(notes), library.notifications)


def test_rated_parquet_text_codes_are_utf8_strings_for_other_readers(
    tmp_path: Path, mixed_usage: Path, plans_file: Path, fx_file: Path
) -> None:
    # rating.md §8: plan_id and currency (like regime or the countries) are written from enum
    # codes: Parquet stores them as dictionary-encoded UTF-8 strings (logical type String), so
    # Arrow reads dictionary<string> and a reader without Polars' enum metadata reads text
    import pyarrow as pa
    import pyarrow.parquet as pq

    from roamlike.tariffs import load_plans

    result, out, _, _ = _rate(mixed_usage, plans_file, tmp_path / "o", fx_file)
    assert result.exit_code == 1, result.output
    schema = pq.read_schema(out)
    parquet = pq.ParquetFile(out).schema
    for name in ("plan_id", "currency", "regime", "visited_country"):
        kind = schema.field(name).type
        assert pa.types.is_dictionary(kind), name
        assert kind.value_type == pa.string(), name
        column = parquet.column(parquet.names.index(name))
        assert column.physical_type == "BYTE_ARRAY", name
        assert str(column.logical_type) == "String", name
    plain = pq.read_table(out).column("plan_id").cast(pa.string()).to_pylist()
    assert plain == pl.read_parquet(out).get_column("plan_id").cast(pl.String).to_list()
    assert set(plain) <= set(load_plans(plans_file))


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_batch_rows_gives_the_same_rated_values(tmp_path: Path, suffix: str) -> None:
    # Batches are cut by subscriber (through Parquet files on disk when there are several), so
    # every counter stays in one batch: one batch or many, the rated values per record are the
    # same (rows come grouped by batch).
    usage = tmp_path / f"usage{suffix}"
    plans = tmp_path / "plans.yaml"
    fx = tmp_path / "fx.csv"
    made = CliRunner().invoke(
        app,
        [
            "synth",
            "--records",
            "3000",
            "--out",
            str(usage),
            "--plans-out",
            str(plans),
            "--fx-out",
            str(fx),
        ],
    )
    assert made.exit_code == 0, made.output
    outs = []
    for rows in ("1000000", "500"):
        out = tmp_path / f"rated-{rows}.parquet"
        result = CliRunner().invoke(
            app,
            [
                "rate",
                str(usage),
                "--plans",
                str(plans),
                "--fx",
                str(fx),
                "--out",
                str(out),
                "--batch-rows",
                rows,
                "--quiet",
            ],
        )
        assert result.exit_code in (0, 1), result.output
        outs.append(pl.read_parquet(out).sort("row_number"))
    assert outs[0].height == outs[1].height > 0
    assert outs[0].equals(outs[1])


def test_rate_memory_budget_decides_memory_or_disk(tmp_path: Path) -> None:
    usage, plans, fx = tmp_path / "usage.parquet", tmp_path / "plans.yaml", tmp_path / "fx.csv"
    made = runner.invoke(app, ["synth", "--records", "4000", "--out", str(usage),
                               "--plans-out", str(plans), "--fx-out", str(fx)])  # fmt: skip
    assert made.exit_code == 0, made.output
    ample, out, _, _ = _rate(usage, plans, tmp_path / "a", fx, ".parquet")
    assert "1 batch(es) in memory" in ample.output
    # 1 MB: less than twice what the input takes, so it is split into batch files on disk
    tight, tight_out, _, _ = _rate(usage, plans, tmp_path / "t", fx, ".parquet",
                                   "--memory-gb", "0.001")  # fmt: skip
    assert "batch(es) on disk" in tight.output
    assert ample.exit_code == tight.exit_code
    assert (
        pl.read_parquet(out)
        .sort("row_number")
        .equals(pl.read_parquet(tight_out).sort("row_number"))
    )
    none, _, _, _ = _rate(usage, plans, tmp_path / "n", fx, ".parquet", "--memory-gb", "0")
    assert none.exit_code == 2, none.output


@pytest.mark.parametrize("extra", [["--state", "state.db"], ["--apply-control"]])
def test_rate_exit_2_when_spark_is_asked_to_keep_state(
    tmp_path: Path, good_usage: Path, plans_file: Path, extra: list[str]
) -> None:
    args = [
        "rate", good_usage, "--plans", plans_file, "--out", tmp_path / "r.parquet",
        "--engine", "spark", *[str(tmp_path / a) if a.endswith(".db") else a for a in extra],
    ]  # fmt: skip
    result = runner.invoke(app, [str(a) for a in args], env=WIDE)
    assert result.exit_code == 2, result.output
    assert "stateless periods" in result.output
    assert not (tmp_path / "r.parquet").exists()
    assert not (tmp_path / "state.db").exists()
