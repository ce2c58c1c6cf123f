"""Validation findings: stable codes, severities and the element path they point at.

Severities follow a clearing house's practice, in roamlike's own words:

* ``fatal``: the file cannot be used (cannot be decoded, or a mandatory batch item is missing);
* ``severe``: one call event is unusable (a mandatory item missing or invalid) and is left out of
  the decoded events, or the audit totals do not reconcile;
* ``warning``: something is odd but the data can be used.

Any fatal or severe finding makes ``tap decode`` and ``wholesale check`` exit 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

import polars as pl

Severity = Literal["fatal", "severe", "warning"]

#: Every code roamlike emits, with its severity and what it means (docs/wholesale.md lists them).
CODES: Final[dict[str, tuple[Severity, str]]] = {
    # file level
    "TAP_UNREADABLE": ("fatal", "the file cannot be read"),
    "TAP_MALFORMED": ("fatal", "the BER structure is broken (truncated or bad length/tag)"),
    "TAP_NOT_TAP": ("fatal", "the first element is neither a TransferBatch nor a Notification"),
    "TAP_TRAILING_BYTES": ("warning", "bytes after the end of the batch"),
    "TAP_MANDATORY_MISSING": ("fatal", "a mandatory batch item is missing"),
    "TAP_HEADER_INVALID": ("fatal", "a batch item has an invalid value"),
    "TAP_RELEASE_UNSUPPORTED": ("warning", "a release other than 3.09-3.12; decoded as 3.12"),
    "TAP_DECIMAL_PLACES_INVALID": ("fatal", "TapDecimalPlaces outside 0..18"),
    "TAP_EVENT_LIST_TRUNCATED": ("fatal", "the call-event list breaks off; later events are lost"),
    # event level
    "TAP_EVENT_MALFORMED": ("severe", "a call event's BER structure is broken"),
    "TAP_EVENT_KIND_UNKNOWN": ("severe", "a call event of a kind the decoder does not know"),
    "TAP_IMSI_MISSING": ("severe", "the chargeable subscriber's IMSI is missing"),
    "TAP_BCD_INVALID": ("severe", "a BCD number has a misplaced filler"),
    "TAP_START_MISSING": ("severe", "the event's start timestamp is missing"),
    "TAP_TIMESTAMP_INVALID": ("severe", "a local timestamp is not a valid CCYYMMDDhhmmss"),
    "TAP_UTC_OFFSET_CODE_UNKNOWN": (
        "severe",
        "the UTC-offset code is missing or not in the header",
    ),
    "TAP_DURATION_MISSING": ("severe", "a call's total duration is missing"),
    "TAP_DURATION_NEGATIVE": ("severe", "a negative duration"),
    "TAP_VOLUME_MISSING": ("severe", "a data event's incoming or outgoing volume is missing"),
    "TAP_VOLUME_NEGATIVE": ("severe", "a negative data volume"),
    "TAP_CHARGE_WITHOUT_TYPE": ("severe", "a charge detail with a charge but no charge type"),
    "TAP_CHARGE_TYPE_INVALID": ("severe", "a charge type that is not 2-3 digits"),
    "TAP_AMOUNT_NEGATIVE": ("severe", "a negative charge, tax or discount (AbsoluteAmount >= 0)"),
    "TAP_AMOUNT_RANGE": ("severe", "an amount too large to hold exactly in micro-units"),
    "TAP_AMOUNT_PRECISION": (
        "severe",
        "an amount with digits below 10^-6 (TapDecimalPlaces > 6) that micro-units cannot hold",
    ),
    "TAP_INTEGER_TOO_LONG": ("severe", "an INTEGER longer than 8 octets or empty"),
    "TAP_EXCHANGE_RATE_CODE_UNKNOWN": ("severe", "an exchange-rate code not in the header"),
    "TAP_NO_TOTAL_CHARGE": ("warning", "no charge detail of charge type 00 (total charge 0)"),
    "TAP_FIELD_TOO_LONG": ("warning", "a number longer than the decoder keeps (truncated)"),
    "TAP_SERVICE_CODE_INVALID": ("warning", "a tele/bearer service code that is not hex"),
    "TAP_COUNTRY_UNKNOWN": ("warning", "home (IMSI MCC) or visited (sender TADIG) country unknown"),
    # audit reconciliation
    "TAP_AUDIT_COUNT_MISMATCH": ("severe", "callEventDetailsCount differs from the events found"),
    "TAP_AUDIT_TOTAL_CHARGE_MISMATCH": ("severe", "totalCharge differs from the sum of charges"),
    "TAP_AUDIT_TOTAL_TAX_MISMATCH": ("severe", "totalTaxValue differs from the sum of taxes"),
    "TAP_AUDIT_TOTAL_DISCOUNT_MISMATCH": (
        "severe",
        "totalDiscountValue differs from the sum of discounts",
    ),
    "TAP_AUDIT_EARLIEST_MISMATCH": ("warning", "earliestCallTimeStamp is not the earliest start"),
    "TAP_AUDIT_LATEST_MISMATCH": ("warning", "latestCallTimeStamp is not the latest start"),
    # wholesale check
    "WS_AVERAGE_ABOVE_CAP": (
        "severe",
        "a partner's average charge per unit in a month is above the wholesale cap",
    ),
    "WS_EVENTS_ABOVE_CAP": (
        "warning",
        "one event's price per unit is above the cap (caps bind averages)",
    ),
    "WS_NO_RATE_TO_EUR": ("severe", "no exchange rate to the euro for the charge currency"),
    "WS_NOT_IN_FORCE": ("severe", "no rule in force on the event's date (outside the catalog)"),
    "WS_COUNTRY_UNKNOWN": ("warning", "home or visited country unknown: the event is not checked"),
}


@dataclass(frozen=True)
class Finding:
    """One validation result: what, where, how bad."""

    severity: Severity
    code: str
    path: str
    message: str
    event_index: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "severity": self.severity,
            "code": self.code,
            "path": self.path,
            "message": self.message,
        }
        if self.event_index is not None:
            out["event_index"] = self.event_index
        return out


def finding(code: str, path: str, message: str, event_index: int | None = None) -> Finding:
    """A finding with the severity registered for ``code``."""
    return Finding(CODES[code][0], code, path, message, event_index)


def is_blocking(findings: list[Finding]) -> bool:
    """True when any finding is fatal or severe (the CLI then exits 1)."""
    return any(f.severity in ("fatal", "severe") for f in findings)


#: Columns of a findings table.
FINDINGS_SCHEMA: Final[dict[str, Any]] = {
    "file": pl.String(),
    "severity": pl.String(),
    "code": pl.String(),
    "path": pl.String(),
    "message": pl.String(),
    "event_index": pl.Int64(),
}


def findings_frame(rows: list[tuple[str, Finding]]) -> pl.DataFrame:
    """(file, finding) pairs as a table with :data:`FINDINGS_SCHEMA`."""
    return pl.DataFrame(
        [(f, x.severity, x.code, x.path, x.message, x.event_index) for f, x in rows],
        schema=FINDINGS_SCHEMA,
        orient="row",
    )
