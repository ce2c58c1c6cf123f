"""Exchange rates for converting euro caps into a plan's currency (docs/law/exchange-rates.md).

The table is user input (CSV ``date,currency,units_per_eur``), never fetched at run time.

Rule (Regulation (EU) 2022/612 Art. 1(4), recital 13):

* EUR: 1.
* Currencies for which the ECB publishes reference rates (:data:`ECB_CURRENCIES`): the mean of
  the table's rates on 15 January, 15 February and 15 March of year *Y* (where a date has no rate,
  the first later date in the table that has one), applied from 15 May of *Y* to 14 May of *Y+1*.
  The mean is kept exact (a decimal division by 3, rounded half-even to 10 decimal places).
* Other currencies (RSD, ALL, MKD, UAH, MDL, ISK, ...): the table's latest rate on or before the
  date. BAM falls back to its peg, 1.95583 per EUR, when the table has no rate.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import io
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path

from roamlike.errors import FxError

#: Currencies with ECB euro reference rates over 2017-2026 (HRK until 2022, BGN until 2025).
ECB_CURRENCIES = frozenset(
    {"BGN", "CZK", "DKK", "GBP", "HUF", "PLN", "RON", "SEK", "NOK", "CHF", "HRK"}
)
#: The convertible mark's fixed rate to the euro.
BAM_PEG = Decimal("1.95583")
#: Largest rate accepted (units of a currency per euro): keeps every converted amount of the
#: engine inside exact 64-bit integers (docs/rating.md §1.3).
MAX_UNITS_PER_EUR = Decimal(1_000_000)
FX_BASIS = "eu_2022_612 Art. 1(4) (mean of ECB rates of 15 Jan, 15 Feb, 15 Mar; from 15 May)"
_MEAN_QUANTUM = Decimal("1e-10")


@dataclass(frozen=True)
class FxRate:
    """A rate used for a conversion, with how it was obtained (for the output's audit trail)."""

    currency: str
    on: dt.date
    units_per_eur: Decimal
    method: str


@dataclass
class FxTable:
    """Dated euro exchange rates by currency."""

    rates: dict[str, list[tuple[dt.date, Decimal]]] = field(default_factory=dict)
    source: str = "built-in (EUR only)"

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[dt.date, str, Decimal]], source: str = "") -> FxTable:
        table = cls(source=source or "rows")
        for day, currency, rate in rows:
            table.rates.setdefault(currency.upper(), []).append((day, rate))
        for series in table.rates.values():
            series.sort()
            for (a, _), (b, _) in itertools.pairwise(series):
                if a == b:
                    raise FxError(f"{source}: two rates for the same currency on {a}")
        return table

    @classmethod
    def from_csv(cls, path: Path | str) -> FxTable:
        """Read ``date,currency,units_per_eur`` rows.

        Raises
        ------
        FxError
            Unreadable file, wrong header, a bad date or rate (the message names the line).
        """
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8-sig")
        except OSError as exc:
            raise FxError(f"{path}: cannot read file: {exc.strerror}") from exc
        except UnicodeDecodeError as exc:
            raise FxError(f"{path}: not a UTF-8 CSV file ({exc}); save it as UTF-8 text") from exc
        return cls.from_csv_text(text, str(path))

    @classmethod
    def from_csv_text(cls, text: str, source: str) -> FxTable:
        """Read ``date,currency,units_per_eur`` rows from CSV text; ``source`` names it.

        Raises
        ------
        FxError
            Wrong header, a bad date or rate (the message names the line).
        """
        path = source  # named in every message
        rows: list[tuple[dt.date, str, Decimal]] = []
        try:
            reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
            header = next(reader, None)
            if header is None or [h.strip() for h in header] != [
                "date",
                "currency",
                "units_per_eur",
            ]:
                raise FxError(
                    f"{path}: the first line must be 'date,currency,units_per_eur', "
                    f"found {','.join(header or [])!r}"
                )
            for line_no, row in enumerate(reader, start=2):
                if not row or all(not c.strip() for c in row):
                    continue
                if len(row) != 3:
                    raise FxError(f"{path}, line {line_no}: expected 3 fields, found {len(row)}")
                try:
                    day = dt.date.fromisoformat(row[0].strip())
                except ValueError:
                    raise FxError(
                        f"{path}, line {line_no}: bad date {row[0]!r} (YYYY-MM-DD)"
                    ) from None
                currency = row[1].strip().upper()
                if len(currency) != 3 or not currency.isalpha():
                    raise FxError(f"{path}, line {line_no}: bad currency code {row[1]!r}")
                try:
                    rate = Decimal(row[2].strip())
                except InvalidOperation:
                    raise FxError(f"{path}, line {line_no}: bad rate {row[2]!r}") from None
                if not rate.is_finite() or rate <= 0 or rate > MAX_UNITS_PER_EUR:
                    raise FxError(
                        f"{path}, line {line_no}: a rate must be > 0 and at most "
                        f"{MAX_UNITS_PER_EUR:,} units per euro, found {row[2].strip()!r}"
                    )
                rows.append((day, currency, rate))
        except csv.Error as exc:
            raise FxError(f"{path}: not a valid CSV text ({exc})") from exc
        return cls.from_rows(rows, source=source)

    def _first_on_or_after(self, currency: str, day: dt.date) -> Decimal | None:
        series = self.rates.get(currency, [])
        i = bisect.bisect_left(series, (day, Decimal(-1)))
        if i < len(series) and (series[i][0] - day).days <= 31:
            return series[i][1]
        return None

    def _latest_on_or_before(self, currency: str, day: dt.date) -> Decimal | None:
        series = self.rates.get(currency, [])
        i = bisect.bisect_right(series, (day, Decimal("Infinity"))) - 1
        return series[i][1] if i >= 0 else None

    def rate(self, currency: str, on: dt.date) -> FxRate:
        """Units of ``currency`` per euro applicable on ``on`` (rule in the module docstring).

        Raises
        ------
        FxError
            The table lacks the rates the rule needs.
        """
        currency = currency.upper()
        if currency == "EUR":
            return FxRate(currency, on, Decimal(1), "EUR")
        if currency in ECB_CURRENCIES:
            year = on.year if on >= dt.date(on.year, 5, 15) else on.year - 1
            picks = [self._first_on_or_after(currency, dt.date(year, m, 15)) for m in (1, 2, 3)]
            if any(p is None for p in picks):
                raise FxError(
                    f"no {currency} rate for {on.isoformat()}: docs/law/exchange-rates.md "
                    f"needs the ECB rates of "
                    f"15 January, 15 February and 15 March {year} (or the next published day) "
                    f"in the FX table ({self.source})"
                )
            mean = (sum(p for p in picks if p is not None) / Decimal(3)).quantize(
                _MEAN_QUANTUM, rounding=ROUND_HALF_EVEN
            )
            return FxRate(currency, on, mean, f"ECB mean Jan-Mar {year}, applied from 15 May")
        latest = self._latest_on_or_before(currency, on)
        if latest is not None:
            return FxRate(currency, on, latest, "table rate in force")
        if currency == "BAM":
            return FxRate(currency, on, BAM_PEG, "BAM peg 1.95583")
        raise FxError(
            f"no {currency} rate on or before {on.isoformat()} in the FX table ({self.source}); "
            "supply one with --fx (CSV date,currency,units_per_eur)"
        )

    def change_dates(self, currency: str) -> list[dt.date]:
        """Dates on which the rate applicable to ``currency`` may change (for segmenting)."""
        currency = currency.upper()
        if currency == "EUR":
            return []
        if currency in ECB_CURRENCIES:
            # a year's rate applies from 15 May; the next 15 May it changes, or ends when the
            # table has no data for that year
            years = {d.year for d, _ in self.rates.get(currency, [])}
            return sorted(dt.date(y, 5, 15) for y in years | {y + 1 for y in years})
        return [d for d, _ in self.rates.get(currency, [])]
