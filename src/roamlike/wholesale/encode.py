"""Write TAP 3.12 transfer batches from an events table (for tests, synthetic data and demos).

The encoder writes the subset of TD.57 that roamlike decodes: mobile originated and terminated
calls and GPRS calls, with one basic service, one charge detail of type ``00`` (the total charge),
optional tax and discount, exchange-rate code and call-type levels. It computes the audit block
from the events, so the files it writes reconcile. ``decode(encode(x)) == x`` is property-tested.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from roamlike.errors import TapEncodeError
from roamlike.wholesale import tags as t
from roamlike.wholesale.ber import ascii_, bcd, integer, seq
from roamlike.wholesale.header import offset_text, parse_offset

_KIND_TAGS = {
    "mobile_originated_call": t.MOBILE_ORIGINATED_CALL,
    "mobile_terminated_call": t.MOBILE_TERMINATED_CALL,
    "gprs_call": t.GPRS_CALL,
}
_REQUIRED = ("kind", "imsi", "started_at", "utc_offset_min", "duration_s", "charge_micros")


@dataclass(frozen=True)
class BatchSpec:
    """What a transfer batch needs besides its events (``--header H.yaml``)."""

    sender: str
    recipient: str
    file_sequence_number: str
    tap_decimal_places: int = 6
    local_currency: str = "EUR"
    tap_currency: str | None = "EUR"
    exchange_rates: Mapping[int, Decimal] = field(default_factory=dict)
    created: dt.datetime = dt.datetime(2026, 1, 1)
    utc_offset: str = "+0000"

    def __post_init__(self) -> None:
        for name, value, size in (
            ("sender", self.sender, 5),
            ("recipient", self.recipient, 5),
            ("file_sequence_number", self.file_sequence_number, 5),
        ):
            if len(value) != size or not value.isascii() or not value.isalnum():
                raise TapEncodeError(
                    f"header {name}: expected {size} letters/digits, found {value!r}"
                )
        if not self.file_sequence_number.isdigit():
            raise TapEncodeError("header file_sequence_number: expected 5 digits")
        if not 0 <= self.tap_decimal_places <= 18:
            raise TapEncodeError(
                f"header tap_decimal_places: expected 0 to 18, found {self.tap_decimal_places}"
            )
        try:
            parse_offset(self.utc_offset)
        except ValueError as exc:
            raise TapEncodeError(f"header utc_offset: {exc}") from None
        for code, rate in self.exchange_rates.items():
            if code < 0 or not rate.is_finite() or rate <= 0:
                raise TapEncodeError(f"header exchange_rates: code {code} rate {rate} (rate > 0)")


def load_batch_spec(path: Path | str) -> BatchSpec:
    """Read a header YAML: sender, recipient, file_sequence_number, tap_decimal_places, ...

    Raises
    ------
    TapEncodeError
        Unreadable file, unknown or missing keys, bad values.
    """
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise TapEncodeError(f"{p}: cannot read the header: {exc}") from None
    if not isinstance(raw, dict):
        raise TapEncodeError(f"{p}: expected a mapping of header items")
    known = set(BatchSpec.__dataclass_fields__)
    unknown = set(map(str, raw)) - known
    if unknown:
        raise TapEncodeError(f"{p}: unknown header keys {sorted(unknown)}; known: {sorted(known)}")
    try:
        kwargs: dict[str, Any] = {k: raw[k] for k in raw}
        for key in ("sender", "recipient", "file_sequence_number", "local_currency", "utc_offset"):
            if key in kwargs:
                kwargs[key] = str(kwargs[key])
        if "file_sequence_number" in kwargs:
            kwargs["file_sequence_number"] = kwargs["file_sequence_number"].zfill(5)
        if "exchange_rates" in kwargs:
            kwargs["exchange_rates"] = {
                int(c): Decimal(str(v)) for c, v in dict(kwargs["exchange_rates"]).items()
            }
        if "created" in kwargs and not isinstance(kwargs["created"], dt.datetime):
            kwargs["created"] = dt.datetime.fromisoformat(str(kwargs["created"]))
        if "tap_decimal_places" in kwargs:
            kwargs["tap_decimal_places"] = int(kwargs["tap_decimal_places"])
        return BatchSpec(**kwargs)
    except TapEncodeError as exc:
        raise TapEncodeError(f"{p}: {exc}") from None
    except (TypeError, ValueError, InvalidOperation) as exc:
        raise TapEncodeError(f"{p}: invalid header: {exc}") from None


def _raw_amount(micros: int, places: int, what: str, index: int) -> int:
    if micros < 0:
        raise TapEncodeError(f"event {index}: {what} {micros} micro-units is negative")
    if places <= 6:
        div: int = 10 ** (6 - places)
        if micros % div:
            raise TapEncodeError(
                f"event {index}: {what} {micros} micro-units needs more than {places} decimals"
            )
        return micros // div
    factor: int = 10 ** (places - 6)
    return micros * factor


def _stamp_long(number: int, local: dt.datetime, offset: str) -> bytes:
    return seq(
        number,
        ascii_(t.LOCAL_TIME_STAMP, local.strftime("%Y%m%d%H%M%S")),
        ascii_(t.UTC_TIME_OFFSET, offset),
    )


def _rate_parts(rate: Decimal) -> tuple[int, int]:
    """(integer, decimal places) of an exact rate: 1.0825 -> (10825, 4)."""
    exp = rate.normalize().as_tuple().exponent
    places = max(0, -int(exp))
    return int(rate.scaleb(places)), places


def _charge_info(r: dict[str, Any], places: int, i: int) -> tuple[bytes, int, int, int]:
    charge = _raw_amount(r["charge_micros"], places, "charge", i)
    parts = []
    if r.get("charged_item"):
        parts.append(ascii_(t.CHARGED_ITEM, r["charged_item"]))
    if r.get("exchange_rate_code") is not None:
        parts.append(integer(t.EXCHANGE_RATE_CODE, r["exchange_rate_code"]))
    levels = [
        (t.CALL_TYPE_LEVEL1, r.get("call_type_level1")),
        (t.CALL_TYPE_LEVEL2, r.get("call_type_level2")),
        (t.CALL_TYPE_LEVEL3, r.get("call_type_level3")),
    ]
    if any(v is not None for _, v in levels):
        parts.append(seq(t.CALL_TYPE_GROUP, *(integer(n, v) for n, v in levels if v is not None)))
    parts.append(
        seq(
            t.CHARGE_DETAIL_LIST,
            seq(t.CHARGE_DETAIL, ascii_(t.CHARGE_TYPE, "00"), integer(t.CHARGE, charge)),
        )
    )
    tax = disc = 0
    if r.get("tax_micros") is not None:
        tax = _raw_amount(r["tax_micros"], places, "tax", i)
        parts.append(
            seq(
                t.TAX_INFORMATION_LIST,
                seq(t.TAX_INFORMATION, integer(t.TAX_CODE, 1), integer(t.TAX_VALUE, tax)),
            )
        )
    if r.get("discount_micros") is not None:
        disc = _raw_amount(r["discount_micros"], places, "discount", i)
        parts.append(
            seq(t.DISCOUNT_INFORMATION, integer(t.DISCOUNT_CODE, 1), integer(t.DISCOUNT, disc))
        )
    return seq(t.CHARGE_INFORMATION_LIST, seq(t.CHARGE_INFORMATION, *parts)), charge, tax, disc


def _event(
    r: dict[str, Any], places: int, codes: dict[int, int], i: int
) -> tuple[bytes, int, int, int]:
    kind = r["kind"]
    if kind not in _KIND_TAGS:
        raise TapEncodeError(
            f"event {i}: kind {kind!r} cannot be encoded; use one of {sorted(_KIND_TAGS)}"
        )
    required = _REQUIRED + (("volume_in_bytes", "volume_out_bytes") if kind == "gprs_call" else ())
    for col in required:
        if r.get(col) is None:
            raise TapEncodeError(f"event {i}: {col} is missing (mandatory in TAP)")
    imsi = str(r["imsi"])
    if not imsi.isdigit() or not 5 <= len(imsi) <= 16:
        raise TapEncodeError(f"event {i}: IMSI must be 5 to 16 digits, found {imsi!r}")
    offset = int(r["utc_offset_min"])
    started: dt.datetime = r["started_at"]
    local = started.replace(tzinfo=None) + dt.timedelta(minutes=offset)
    sub = [bcd(t.IMSI, imsi)]
    if r.get("msisdn"):
        sub.append(bcd(t.MSISDN, str(r["msisdn"])))
    subscriber = seq(t.CHARGEABLE_SUBSCRIBER, seq(t.SIM_CHARGEABLE_SUBSCRIBER, *sub))
    start = seq(
        t.CALL_EVENT_START_TIME_STAMP,
        ascii_(t.LOCAL_TIME_STAMP, local.strftime("%Y%m%d%H%M%S")),
        integer(t.UTC_TIME_OFFSET_CODE, codes[offset]),
    )
    duration = [integer(t.TOTAL_CALL_EVENT_DURATION, r["duration_s"])]
    info, charge, tax, disc = _charge_info(r, places, i)
    tag = _KIND_TAGS[kind]
    if tag == t.GPRS_CALL:
        vols = [
            integer(n, r[c])
            for n, c in (
                (t.DATA_VOLUME_INCOMING, "volume_in_bytes"),
                (t.DATA_VOLUME_OUTGOING, "volume_out_bytes"),
            )
            if r.get(c) is not None
        ]
        body = seq(
            tag,
            seq(
                t.GPRS_BASIC_CALL_INFORMATION,
                seq(t.GPRS_CHARGEABLE_SUBSCRIBER, subscriber),
                seq(t.GPRS_DESTINATION, ascii_(t.ACCESS_POINT_NAME_NI, "internet")),
                start,
                *duration,
                integer(t.CHARGING_ID, i),
            ),
            seq(
                t.GPRS_LOCATION_INFORMATION,
                seq(
                    t.GPRS_NETWORK_LOCATION,
                    seq(t.REC_ENTITY_CODE_LIST, integer(t.REC_ENTITY_CODE, 0)),
                ),
            ),
            seq(t.GPRS_SERVICE_USED, *vols, info),
        )
        return body, charge, tax, disc
    basic = [subscriber]
    if tag == t.MOBILE_ORIGINATED_CALL and r.get("destination"):
        basic.append(seq(t.DESTINATION, bcd(t.CALLED_NUMBER, str(r["destination"]))))
    basic += [start, *duration]
    service = r.get("service_code") or ("11")
    body = seq(
        tag,
        seq(
            t.MO_BASIC_CALL_INFORMATION
            if tag == t.MOBILE_ORIGINATED_CALL
            else t.MT_BASIC_CALL_INFORMATION,
            *basic,
        ),
        seq(t.LOCATION_INFORMATION, seq(t.NETWORK_LOCATION, integer(t.REC_ENTITY_CODE, 0))),
        seq(
            t.BASIC_SERVICE_USED_LIST,
            seq(
                t.BASIC_SERVICE_USED,
                seq(
                    t.BASIC_SERVICE, seq(t.BASIC_SERVICE_CODE, ascii_(t.TELE_SERVICE_CODE, service))
                ),
                info,
            ),
        ),
    )
    return body, charge, tax, disc


def encode_batch(events: pl.DataFrame, spec: BatchSpec) -> bytes:
    """A TAP 3.12 transfer batch holding ``events`` (columns as in the decoded events table).

    Raises
    ------
    TapEncodeError
        A missing column value, a kind the encoder does not write, an amount that needs more
        decimals than ``spec.tap_decimal_places``, an undeclared exchange-rate code.
    """
    missing = [c for c in _REQUIRED if c not in events.columns]
    if missing:
        raise TapEncodeError(f"the events table lacks columns {missing}")
    places = spec.tap_decimal_places
    offsets = sorted(
        {int(v) for v in events.get_column("utc_offset_min").drop_nulls().to_list()}
        | {parse_offset(spec.utc_offset)}
    )
    codes = {m: i for i, m in enumerate(offsets)}
    bodies: list[bytes] = []
    total = tax_total = disc_total = 0
    first: tuple[dt.datetime, int] | None = None
    last: tuple[dt.datetime, int] | None = None
    for i, r in enumerate(events.iter_rows(named=True)):
        xr = r.get("exchange_rate_code")
        if xr is not None and xr not in spec.exchange_rates:
            raise TapEncodeError(f"event {i}: exchange-rate code {xr} is not in the header")
        body, charge, tax, disc = _event(r, places, codes, i)
        bodies.append(body)
        total += charge
        tax_total += tax
        disc_total += disc
        s = r["started_at"].replace(tzinfo=None)
        if first is None or s < first[0]:
            first = (s, int(r["utc_offset_min"]))
        if last is None or s > last[0]:
            last = (s, int(r["utc_offset_min"]))
    created = spec.created
    control = seq(
        t.BATCH_CONTROL_INFO,
        ascii_(t.SENDER, spec.sender),
        ascii_(t.RECIPIENT, spec.recipient),
        ascii_(t.FILE_SEQUENCE_NUMBER, spec.file_sequence_number),
        _stamp_long(t.FILE_CREATION_TIME_STAMP, created, spec.utc_offset),
        _stamp_long(t.TRANSFER_CUT_OFF_TIME_STAMP, created, spec.utc_offset),
        _stamp_long(t.FILE_AVAILABLE_TIME_STAMP, created, spec.utc_offset),
        integer(t.SPECIFICATION_VERSION_NUMBER, 3),
        integer(t.RELEASE_VERSION_NUMBER, 12),
        ascii_(t.FILE_TYPE_INDICATOR, "T"),
    )
    conv = [
        seq(
            t.CURRENCY_CONVERSION,
            integer(t.EXCHANGE_RATE_CODE, c),
            integer(t.NUMBER_OF_DECIMAL_PLACES, _rate_parts(v)[1]),
            integer(t.EXCHANGE_RATE, _rate_parts(v)[0]),
        )
        for c, v in sorted(spec.exchange_rates.items())
    ]
    accounting = seq(
        t.ACCOUNTING_INFO,
        ascii_(t.LOCAL_CURRENCY, spec.local_currency),
        *([ascii_(t.TAP_CURRENCY, spec.tap_currency)] if spec.tap_currency else []),
        *([seq(t.CURRENCY_CONVERSION_LIST, *conv)] if conv else []),
        integer(t.TAP_DECIMAL_PLACES, places),
    )
    network = seq(
        t.NETWORK_INFO,
        seq(
            t.UTC_TIME_OFFSET_INFO_LIST,
            *(
                seq(
                    t.UTC_TIME_OFFSET_INFO,
                    integer(t.UTC_TIME_OFFSET_CODE, c),
                    ascii_(t.UTC_TIME_OFFSET, offset_text(m)),
                )
                for m, c in codes.items()
            ),
        ),
        seq(
            t.REC_ENTITY_INFO_LIST,
            seq(
                t.REC_ENTITY_INFORMATION,
                integer(t.REC_ENTITY_CODE, 0),
                integer(t.REC_ENTITY_TYPE, 1),
                ascii_(t.REC_ENTITY_ID, "MSC00"),
            ),
        ),
    )
    audit_parts = []
    if first is not None and last is not None:
        audit_parts += [
            _stamp_long(
                t.EARLIEST_CALL_TIME_STAMP,
                first[0] + dt.timedelta(minutes=first[1]),
                offset_text(first[1]),
            ),
            _stamp_long(
                t.LATEST_CALL_TIME_STAMP,
                last[0] + dt.timedelta(minutes=last[1]),
                offset_text(last[1]),
            ),
        ]
    audit = seq(
        t.AUDIT_CONTROL_INFO,
        *audit_parts,
        integer(t.TOTAL_CHARGE, total),
        integer(t.TOTAL_TAX_VALUE, tax_total),
        integer(t.TOTAL_DISCOUNT_VALUE, disc_total),
        integer(t.CALL_EVENT_DETAILS_COUNT, len(bodies)),
    )
    parts = [control, accounting, network]
    if bodies:
        parts.append(seq(t.CALL_EVENT_DETAIL_LIST, *bodies))
    parts.append(audit)
    return seq(t.TRANSFER_BATCH, *parts)
