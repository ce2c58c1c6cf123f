"""Exchange rates for euro caps (``roamlike.tariffs.fx``), docs/law/exchange-rates.md."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from roamlike.errors import FxError
from roamlike.tariffs import BAM_PEG, ECB_CURRENCIES, FxRate, FxTable

FX_CSV = Path(__file__).parent / "fx_rates.csv"
HEADER = "date,currency,units_per_eur\n"


@pytest.fixture(scope="module")
def table() -> FxTable:
    return FxTable.from_csv(FX_CSV)


def write_csv(tmp_path: Path, body: str, header: str = HEADER) -> Path:
    path = tmp_path / "fx.csv"
    path.write_text(header + body, encoding="utf-8")
    return path


# ------------------------------------------------------------------------------------------
# The rule


def test_eur_is_one_without_a_table() -> None:
    assert FxTable().rate("EUR", dt.date(2026, 3, 1)) == FxRate(
        "EUR", dt.date(2026, 3, 1), Decimal(1), "EUR"
    )
    assert FxTable().rate("eur", dt.date(2017, 6, 15)).units_per_eur == Decimal(1)


def test_ecb_currencies() -> None:
    assert {"PLN", "CZK", "HUF", "SEK", "BGN", "HRK"} <= ECB_CURRENCIES
    assert not {"RSD", "BAM", "ALL", "MKD", "UAH", "MDL"} & ECB_CURRENCIES


def test_ecb_mean_applies_from_15_may(table: FxTable) -> None:
    # 2026: 15 Feb and 15 Mar are Sundays; the table has the 16th. (4.30 + 4.25 + 4.26) / 3
    on = dt.date(2026, 5, 15)
    assert table.rate("PLN", on) == FxRate(
        "PLN", on, Decimal("4.27"), "ECB mean Jan-Mar 2026, applied from 15 May"
    )
    assert table.rate("PLN", dt.date(2027, 5, 14)).units_per_eur == Decimal("4.27")


def test_ecb_previous_year_mean_until_14_may(table: FxTable) -> None:
    # 2025: 15 Feb and 15 Mar are Saturdays; the 17th is used, not 14 Mar (4.90).
    rate = table.rate("pln", dt.date(2026, 5, 14))
    assert rate.currency == "PLN"
    assert rate.units_per_eur == Decimal("4.2")
    assert rate.method == "ECB mean Jan-Mar 2025, applied from 15 May"
    assert table.rate("PLN", dt.date(2026, 1, 1)).units_per_eur == Decimal("4.2")


def test_ecb_mean_is_rounded_half_even_to_ten_places(table: FxTable) -> None:
    # (24.30 + 24.20 + 24.20) / 3 = 24.2333...
    assert str(table.rate("CZK", dt.date(2026, 6, 1)).units_per_eur) == "24.2333333333"


def test_ecb_first_later_date_when_15_january_missing() -> None:
    rows = [
        (dt.date(2026, 1, 14), "PLN", Decimal("9.00")),  # before 15 Jan: never used
        (dt.date(2026, 1, 16), "PLN", Decimal("4.10")),
        (dt.date(2026, 1, 19), "PLN", Decimal("8.00")),
        (dt.date(2026, 2, 15), "PLN", Decimal("4.20")),
        (dt.date(2026, 3, 15), "PLN", Decimal("4.30")),
    ]
    rate = FxTable.from_rows(rows).rate("PLN", dt.date(2026, 7, 1))
    assert rate.units_per_eur == Decimal("4.2")


def test_ecb_missing_year_raises(table: FxTable) -> None:
    with pytest.raises(FxError) as info:
        table.rate("PLN", dt.date(2025, 5, 14))
    message = str(info.value)
    assert "no PLN rate for 2025-05-14" in message
    assert "15 January, 15 February and 15 March 2024" in message
    assert str(FX_CSV) in message


def test_ecb_gap_uses_next_date_and_missing_year_raises() -> None:
    rows = [
        (dt.date(2026, 1, 15), "HUF", Decimal("400")),
        (dt.date(2026, 3, 16), "HUF", Decimal("401")),
    ]
    table = FxTable.from_rows(rows, source="rows.csv")
    # No rate from 15 Feb: the first later one (16 Mar) serves for both Feb and Mar.
    assert table.rate("HUF", dt.date(2026, 6, 1)).units_per_eur == Decimal("400.6666666667")
    with pytest.raises(FxError, match=r"no HUF rate for 2027-06-01"):
        table.rate("HUF", dt.date(2027, 6, 1))


def test_non_ecb_latest_on_or_before(table: FxTable) -> None:
    assert table.rate("RSD", dt.date(2026, 3, 1)) == FxRate(
        "RSD", dt.date(2026, 3, 1), Decimal("117.5"), "table rate in force"
    )
    assert table.rate("RSD", dt.date(2026, 2, 1)).units_per_eur == Decimal("117.5")
    assert table.rate("RSD", dt.date(2026, 1, 31)).units_per_eur == Decimal("117.2")
    assert table.rate("RSD", dt.date(2026, 4, 1)).units_per_eur == Decimal("117.1")
    assert table.rate("RSD", dt.date(2030, 1, 1)).units_per_eur == Decimal("117.1")


def test_non_ecb_before_first_rate_raises(table: FxTable) -> None:
    with pytest.raises(FxError) as info:
        table.rate("RSD", dt.date(2025, 12, 30))
    message = str(info.value)
    assert "no RSD rate on or before 2025-12-30" in message
    assert "--fx" in message


def test_bam_falls_back_to_the_peg(table: FxTable) -> None:
    assert Decimal("1.95583") == BAM_PEG
    rate = table.rate("BAM", dt.date(2026, 3, 1))
    assert rate.units_per_eur == Decimal("1.95583")
    assert rate.method == "BAM peg 1.95583"


def test_bam_table_rate_wins_over_the_peg() -> None:
    table = FxTable.from_rows([(dt.date(2026, 1, 1), "BAM", Decimal("1.9558"))])
    assert table.rate("BAM", dt.date(2026, 3, 1)).units_per_eur == Decimal("1.9558")


def test_missing_currency_raises() -> None:
    with pytest.raises(FxError, match=r"^no ALL rate on or before 2026-03-01 in the FX table"):
        FxTable().rate("ALL", dt.date(2026, 3, 1))
    with pytest.raises(FxError, match=r"no PLN rate for 2026-03-01"):
        FxTable().rate("PLN", dt.date(2026, 3, 1))


# ------------------------------------------------------------------------------------------
# The CSV reader


def test_csv_blank_lines_and_spaces_are_accepted(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path, "\n 2026-01-01 , rsd , 117.0 \n\n", header="date, currency ,units_per_eur\n"
    )
    assert FxTable.from_csv(path).rate("RSD", dt.date(2026, 1, 1)).units_per_eur == Decimal("117.0")


@pytest.mark.parametrize(
    "header", ["currency,date,units_per_eur\n", "date,currency,rate\n", "date,currency\n", ""]
)
def test_csv_bad_header(tmp_path: Path, header: str) -> None:
    path = write_csv(tmp_path, "", header=header)
    with pytest.raises(FxError, match=r"the first line must be 'date,currency,units_per_eur'"):
        FxTable.from_csv(path)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("2026-01-01,RSD,117\n2026-13-01,RSD,117\n", "line 3: bad date '2026-13-01' (YYYY-MM-DD)"),
        ("01/02/2026,RSD,117\n", "line 2: bad date '01/02/2026' (YYYY-MM-DD)"),
        ("2026-01-01,RSD,abc\n", "line 2: bad rate 'abc'"),
        (
            "2026-01-01,RSD,0\n",
            "line 2: a rate must be > 0 and at most 1,000,000 units per euro, found '0'",
        ),
        (
            "2026-01-01,RSD,-1.5\n",
            "line 2: a rate must be > 0 and at most 1,000,000 units per euro, found '-1.5'",
        ),
        (
            "2026-01-01,RSD,NaN\n",
            "line 2: a rate must be > 0 and at most 1,000,000 units per euro, found 'NaN'",
        ),
        # an overflow of the engine's integers if accepted
        (
            "2026-01-01,RSD,1e30\n",
            "line 2: a rate must be > 0 and at most 1,000,000 units per euro, found '1e30'",
        ),
        ("2026-01-01,RSD\n", "line 2: expected 3 fields, found 2"),
        ("2026-01-01,RSD,117,x\n", "line 2: expected 3 fields, found 4"),
        ("2026-01-01,DINAR,117\n", "line 2: bad currency code 'DINAR'"),
    ],
)
def test_csv_bad_row_names_the_line(tmp_path: Path, body: str, expected: str) -> None:
    path = write_csv(tmp_path, body)
    with pytest.raises(FxError) as info:
        FxTable.from_csv(path)
    assert str(info.value) == f"{path}, {expected}"


def test_csv_duplicate_date(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "2026-01-01,RSD,117\n2026-01-01,rsd,118\n")
    with pytest.raises(FxError) as info:
        FxTable.from_csv(path)
    message = str(info.value)
    assert str(path) in message
    assert "two rates for the same currency on 2026-01-01" in message


def test_same_date_different_currencies_is_fine(tmp_path: Path) -> None:
    path = write_csv(tmp_path, "2026-01-01,RSD,117\n2026-01-01,ALL,100\n")
    table = FxTable.from_csv(path)
    assert table.rate("ALL", dt.date(2026, 1, 1)).units_per_eur == Decimal(100)


def test_csv_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FxError, match=r"fx\.csv: cannot read file"):
        FxTable.from_csv(tmp_path / "fx.csv")
