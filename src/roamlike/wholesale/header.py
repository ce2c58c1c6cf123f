"""The batch around the call events: batch control, accounting, network and audit information.

These few elements are read in plain Python with :mod:`roamlike.wholesale.ber`; the call-event
list is only located here (its offsets), and walked by the compiled kernel.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from roamlike.wholesale import tags as t
from roamlike.wholesale.ber import BerError, Element, children, decode_ascii, decode_integer
from roamlike.wholesale.findings import Finding, finding

_MAX_CODE = 1_000_000


@dataclass(frozen=True)
class Stamp:
    """A DateTimeLong: local wall-clock time and its UTC offset in minutes."""

    local: dt.datetime
    offset_min: int

    @property
    def utc(self) -> dt.datetime:
        return self.local - dt.timedelta(minutes=self.offset_min)

    def iso(self) -> str:
        tz = dt.timezone(dt.timedelta(minutes=self.offset_min))
        return self.local.replace(tzinfo=tz).isoformat()


@dataclass
class Audit:
    """AuditControlInfo: the sender's own totals, as raw integers (÷ 10^TapDecimalPlaces)."""

    total_charge: int | None = None
    total_tax_value: int | None = None
    total_discount_value: int | None = None
    call_event_details_count: int | None = None
    earliest: Stamp | None = None
    latest: Stamp | None = None


@dataclass
class TapHeader:
    """Everything of a transfer batch or notification except its call events."""

    kind: str = "transfer_batch"
    sender: str | None = None
    recipient: str | None = None
    file_sequence_number: str | None = None
    specification_version: int | None = None
    release_version: int | None = None
    file_type_indicator: str | None = None
    created: Stamp | None = None
    cut_off: Stamp | None = None
    available: Stamp | None = None
    local_currency: str | None = None
    tap_currency: str | None = None
    tap_decimal_places: int | None = None
    #: exchange-rate code -> rate (TAP currency to local currency), exact
    exchange_rates: dict[int, Decimal] = field(default_factory=dict)
    #: UTC-offset code -> offset in minutes
    utc_offsets: dict[int, int] = field(default_factory=dict)
    audit: Audit = field(default_factory=Audit)

    @property
    def charge_currency(self) -> str:
        """The currency of every charge: TapCurrency, or SDR (``XDR``) when absent (TD.57)."""
        return self.tap_currency or "XDR"

    @property
    def release(self) -> str | None:
        """``"3.12"`` from specification 3 and release 12."""
        if self.specification_version is None or self.release_version is None:
            return None
        return f"{self.specification_version}.{self.release_version:02d}"

    def amount(self, raw: int | None) -> str | None:
        """A raw AbsoluteAmount as a decimal string (exact)."""
        if raw is None or self.tap_decimal_places is None:
            return None
        return format(Decimal(raw).scaleb(-self.tap_decimal_places), "f")

    def to_json(self) -> dict[str, Any]:
        a = self.audit
        return {
            "kind": self.kind,
            "sender": self.sender,
            "recipient": self.recipient,
            "file_sequence_number": self.file_sequence_number,
            "release": self.release,
            "file_type_indicator": self.file_type_indicator,
            "created": self.created.iso() if self.created else None,
            "cut_off": self.cut_off.iso() if self.cut_off else None,
            "available": self.available.iso() if self.available else None,
            "local_currency": self.local_currency,
            "tap_currency": self.tap_currency,
            "tap_decimal_places": self.tap_decimal_places,
            "exchange_rates": {str(k): format(v, "f") for k, v in self.exchange_rates.items()},
            "utc_offsets": {str(k): offset_text(v) for k, v in self.utc_offsets.items()},
            "audit": {
                "total_charge": self.amount(a.total_charge),
                "total_tax_value": self.amount(a.total_tax_value),
                "total_discount_value": self.amount(a.total_discount_value),
                "call_event_details_count": a.call_event_details_count,
                "earliest_call": a.earliest.iso() if a.earliest else None,
                "latest_call": a.latest.iso() if a.latest else None,
            },
        }


def offset_text(minutes: int) -> str:
    """60 minutes -> ``+0100`` (the TAP ``UtcTimeOffset`` form).

    Examples
    --------
    >>> offset_text(-150)
    '-0230'
    """
    sign = "-" if minutes < 0 else "+"
    m = abs(minutes)
    return f"{sign}{m // 60:02d}{m % 60:02d}"


def parse_offset(text: str) -> int:
    """``+0100`` -> 60 minutes.

    Raises
    ------
    ValueError
        Not ``±hhmm`` with hh <= 14 and mm < 60.
    """
    if len(text) != 5 or text[0] not in "+-" or not text[1:].isdigit():
        raise ValueError(f"a UTC offset must be written +hhmm or -hhmm, found {text!r}")
    hours, minutes = int(text[1:3]), int(text[3:])
    if hours > 14 or minutes > 59:
        raise ValueError(f"UTC offset out of range: {text!r}")
    return (hours * 60 + minutes) * (-1 if text[0] == "-" else 1)


def parse_local(text: str) -> dt.datetime:
    """``CCYYMMDDhhmmss`` -> naive datetime.

    Raises
    ------
    ValueError
        Not 14 digits or not a real date and time.
    """
    if len(text) != 14 or not text.isdigit():
        raise ValueError(f"a local timestamp must be 14 digits CCYYMMDDhhmmss, found {text!r}")
    return dt.datetime.strptime(text, "%Y%m%d%H%M%S")


class _Reader:
    """Collects header values and findings while walking the batch."""

    def __init__(self, buf: bytes) -> None:
        self.buf = buf
        self.findings: list[Finding] = []

    def bad(self, code: str, path: str, message: str) -> None:
        self.findings.append(finding(code, path, message))

    def integer(self, el: Element, path: str) -> int | None:
        try:
            return decode_integer(self.buf, el)
        except BerError as exc:
            self.bad("TAP_HEADER_INVALID", path, exc.detail)
            return None

    def text(self, el: Element, path: str) -> str | None:
        try:
            return decode_ascii(self.buf, el)
        except BerError as exc:
            self.bad("TAP_HEADER_INVALID", path, exc.detail)
            return None

    def stamp(self, el: Element, path: str) -> Stamp | None:
        local: str | None = None
        offset: str | None = None
        for c in children(self.buf, el):
            if c.number == t.LOCAL_TIME_STAMP:
                local = self.text(c, path + "/localTimeStamp")
            elif c.number == t.UTC_TIME_OFFSET:
                offset = self.text(c, path + "/utcTimeOffset")
        if local is None or offset is None:
            self.bad(
                "TAP_MANDATORY_MISSING", path, "a timestamp needs localTimeStamp and utcTimeOffset"
            )
            return None
        try:
            return Stamp(parse_local(local), parse_offset(offset))
        except ValueError as exc:
            self.bad("TAP_HEADER_INVALID", path, str(exc))
            return None


def read_batch_control(r: _Reader, el: Element, h: TapHeader, path: str) -> None:
    """BatchControlInfo (or the same items directly inside a Notification)."""
    for c in children(r.buf, el):
        n = c.number
        if n == t.SENDER:
            h.sender = r.text(c, path + "/sender")
        elif n == t.RECIPIENT:
            h.recipient = r.text(c, path + "/recipient")
        elif n == t.FILE_SEQUENCE_NUMBER:
            h.file_sequence_number = r.text(c, path + "/fileSequenceNumber")
        elif n == t.SPECIFICATION_VERSION_NUMBER:
            h.specification_version = r.integer(c, path + "/specificationVersionNumber")
        elif n == t.RELEASE_VERSION_NUMBER:
            h.release_version = r.integer(c, path + "/releaseVersionNumber")
        elif n == t.FILE_TYPE_INDICATOR:
            h.file_type_indicator = r.text(c, path + "/fileTypeIndicator")
        elif n == t.FILE_CREATION_TIME_STAMP:
            h.created = r.stamp(c, path + "/fileCreationTimeStamp")
        elif n == t.TRANSFER_CUT_OFF_TIME_STAMP:
            h.cut_off = r.stamp(c, path + "/transferCutOffTimeStamp")
        elif n == t.FILE_AVAILABLE_TIME_STAMP:
            h.available = r.stamp(c, path + "/fileAvailableTimeStamp")


def read_accounting(r: _Reader, el: Element, h: TapHeader) -> None:
    path = "accountingInfo"
    for c in children(r.buf, el):
        if c.number == t.LOCAL_CURRENCY:
            h.local_currency = r.text(c, path + "/localCurrency")
        elif c.number == t.TAP_CURRENCY:
            h.tap_currency = r.text(c, path + "/tapCurrency")
        elif c.number == t.TAP_DECIMAL_PLACES:
            h.tap_decimal_places = r.integer(c, path + "/tapDecimalPlaces")
        elif c.number == t.CURRENCY_CONVERSION_LIST:
            for i, cc in enumerate(children(r.buf, c)):
                p = f"{path}/currencyConversionInfo[{i}]"
                code = places = rate = None
                for item in children(r.buf, cc):
                    if item.number == t.EXCHANGE_RATE_CODE:
                        code = r.integer(item, p + "/exchangeRateCode")
                    elif item.number == t.NUMBER_OF_DECIMAL_PLACES:
                        places = r.integer(item, p + "/numberOfDecimalPlaces")
                    elif item.number == t.EXCHANGE_RATE:
                        rate = r.integer(item, p + "/exchangeRate")
                if code is None or places is None or rate is None:
                    r.bad(
                        "TAP_MANDATORY_MISSING",
                        p,
                        "a currency conversion needs code, decimal places and rate",
                    )
                elif not (0 <= code <= _MAX_CODE and 0 <= places <= 18 and rate > 0):
                    r.bad(
                        "TAP_HEADER_INVALID",
                        p,
                        f"code {code}, decimal places {places}, rate {rate}",
                    )
                else:
                    h.exchange_rates[code] = Decimal(rate).scaleb(-places)


def read_network(r: _Reader, el: Element, h: TapHeader) -> None:
    path = "networkInfo"
    for c in children(r.buf, el):
        if c.number != t.UTC_TIME_OFFSET_INFO_LIST:
            continue
        for i, info in enumerate(children(r.buf, c)):
            p = f"{path}/utcTimeOffsetInfo[{i}]"
            code: int | None = None
            text: str | None = None
            for item in children(r.buf, info):
                if item.number == t.UTC_TIME_OFFSET_CODE:
                    code = r.integer(item, p + "/utcTimeOffsetCode")
                elif item.number == t.UTC_TIME_OFFSET:
                    text = r.text(item, p + "/utcTimeOffset")
            if code is None or text is None:
                r.bad("TAP_MANDATORY_MISSING", p, "a UTC offset entry needs a code and an offset")
                continue
            try:
                h.utc_offsets[code] = parse_offset(text)
            except ValueError as exc:
                r.bad("TAP_HEADER_INVALID", p, str(exc))


def read_audit(r: _Reader, el: Element, h: TapHeader) -> None:
    path = "auditControlInfo"
    a = h.audit
    for c in children(r.buf, el):
        n = c.number
        if n == t.TOTAL_CHARGE:
            a.total_charge = r.integer(c, path + "/totalCharge")
        elif n == t.TOTAL_TAX_VALUE:
            a.total_tax_value = r.integer(c, path + "/totalTaxValue")
        elif n == t.TOTAL_DISCOUNT_VALUE:
            a.total_discount_value = r.integer(c, path + "/totalDiscountValue")
        elif n == t.CALL_EVENT_DETAILS_COUNT:
            a.call_event_details_count = r.integer(c, path + "/callEventDetailsCount")
        elif n == t.EARLIEST_CALL_TIME_STAMP:
            a.earliest = r.stamp(c, path + "/earliestCallTimeStamp")
        elif n == t.LATEST_CALL_TIME_STAMP:
            a.latest = r.stamp(c, path + "/latestCallTimeStamp")


def check_mandatory(r: _Reader, h: TapHeader, seen: set[int]) -> None:
    """Fatal findings for the batch items TD.57 marks mandatory (``*m.m.``)."""
    required: dict[str, object] = {
        "sender": h.sender,
        "recipient": h.recipient,
        "fileSequenceNumber": h.file_sequence_number,
        "specificationVersionNumber": h.specification_version,
        "releaseVersionNumber": h.release_version,
    }
    base = "batchControlInfo" if h.kind == "transfer_batch" else "notification"
    if h.kind == "transfer_batch":
        required["transferCutOffTimeStamp"] = h.cut_off
        required["fileAvailableTimeStamp"] = h.available
        for tag, name in (
            (t.BATCH_CONTROL_INFO, "batchControlInfo"),
            (t.AUDIT_CONTROL_INFO, "auditControlInfo"),
        ):
            if tag not in seen:
                r.bad("TAP_MANDATORY_MISSING", name, f"{name} is missing")
    for name, value in required.items():
        if value is None:
            r.bad("TAP_MANDATORY_MISSING", f"{base}/{name}", f"{name} is missing")
    if h.kind != "transfer_batch":
        return
    if t.CALL_EVENT_DETAIL_LIST in seen:
        for tag, name in ((t.ACCOUNTING_INFO, "accountingInfo"), (t.NETWORK_INFO, "networkInfo")):
            if tag not in seen:
                r.bad(
                    "TAP_MANDATORY_MISSING", name, f"{name} is missing (the batch has call events)"
                )
        if t.ACCOUNTING_INFO in seen:
            if h.local_currency is None:
                r.bad(
                    "TAP_MANDATORY_MISSING",
                    "accountingInfo/localCurrency",
                    "localCurrency is missing",
                )
            if h.tap_decimal_places is None:
                r.bad(
                    "TAP_MANDATORY_MISSING",
                    "accountingInfo/tapDecimalPlaces",
                    "tapDecimalPlaces is missing",
                )
            elif not 0 <= h.tap_decimal_places <= 18:
                r.bad(
                    "TAP_DECIMAL_PLACES_INVALID",
                    "accountingInfo/tapDecimalPlaces",
                    f"tapDecimalPlaces must be 0 to 18, found {h.tap_decimal_places}",
                )
    if t.AUDIT_CONTROL_INFO in seen:
        for name, value in (
            ("totalCharge", h.audit.total_charge),
            ("totalTaxValue", h.audit.total_tax_value),
            ("totalDiscountValue", h.audit.total_discount_value),
            ("callEventDetailsCount", h.audit.call_event_details_count),
        ):
            if value is None:
                r.bad("TAP_MANDATORY_MISSING", f"auditControlInfo/{name}", f"{name} is missing")
    if (
        h.release_version is not None
        and h.specification_version is not None
        and (h.specification_version != 3 or not 9 <= h.release_version <= 12)
    ):
        r.bad("TAP_RELEASE_UNSUPPORTED", f"{base}/releaseVersionNumber", f"release {h.release}")
