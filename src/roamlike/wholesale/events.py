"""From the kernel's arrays to the events table and the per-event findings (vectorized).

An event with any severe finding is left out of the table (it is *failed*); every other event is a
row. So ``decoded + failed`` is the number of events in the file.

Amounts: TAP writes every charge, tax and discount as an integer ``a`` meaning
``a / 10^TapDecimalPlaces`` of the TAP currency. roamlike holds them as integer micro-units
(10^-6): ``a * 10^(6 - d)`` for ``d <= 6``. For ``d > 6`` the amount must be a multiple of
``10^(d - 6)`` (no digit below a micro-unit), otherwise the event fails with
``TAP_AMOUNT_PRECISION``: a digit is never dropped silently. A micro-unit amount must stay below
2^62 (``TAP_AMOUNT_RANGE``), so sums over millions of events cannot overflow 64-bit integers.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import polars as pl
import pyarrow as pa

from roamlike.wholesale import ber_kernel as k
from roamlike.wholesale import tags as t
from roamlike.wholesale.findings import Finding, finding
from roamlike.wholesale.header import TapHeader

#: Columns of a decoded events table, in order (docs/wholesale.md defines each).
EVENT_SCHEMA: Final[dict[str, Any]] = {
    "file": pl.String(),
    "event_index": pl.Int64(),
    "kind": pl.String(),
    "event_type": pl.String(),
    "imsi": pl.String(),
    "msisdn": pl.String(),
    "sender": pl.String(),
    "recipient": pl.String(),
    "home_country": pl.String(),
    "visited_country": pl.String(),
    "started_at": pl.Datetime("us", "UTC"),
    "utc_offset_min": pl.Int32(),
    "duration_s": pl.Int64(),
    "volume_in_bytes": pl.Int64(),
    "volume_out_bytes": pl.Int64(),
    "service_code": pl.String(),
    "charged_item": pl.String(),
    "charge_micros": pl.Int64(),
    "tax_micros": pl.Int64(),
    "discount_micros": pl.Int64(),
    "currency": pl.String(),
    "local_currency": pl.String(),
    "exchange_rate_code": pl.Int64(),
    "exchange_rate": pl.String(),
    "call_type_level1": pl.Int64(),
    "call_type_level2": pl.Int64(),
    "call_type_level3": pl.Int64(),
    "destination": pl.String(),
}

_LIMIT: Final = int(k.AMOUNT_LIMIT)
_NEED_IMSI = (9, 10, 11, 12, 14, 433, 434)
_NEED_START = (9, 10, 12, 14, 433, 434)
_NEED_DURATION = (9, 10, 14, 434)
_FLAG_CODES = (
    (k.F_BAD_TIMESTAMP, "TAP_TIMESTAMP_INVALID", "a local timestamp is not CCYYMMDDhhmmss"),
    (k.F_CHARGE_NO_TYPE, "TAP_CHARGE_WITHOUT_TYPE", "a charge detail has a charge and no type"),
    (k.F_INT_TOO_LONG, "TAP_INTEGER_TOO_LONG", "an INTEGER of 0 or more than 8 octets"),
    (k.F_NEGATIVE_AMOUNT, "TAP_AMOUNT_NEGATIVE", "a negative charge, tax or discount"),
    (k.F_BAD_BCD, "TAP_BCD_INVALID", "a BCD number with a filler before its end"),
    (k.F_AMOUNT_OVERFLOW, "TAP_AMOUNT_RANGE", "an amount or a sum of amounts of 2^62 or more"),
    (k.F_BAD_CHARGE_TYPE, "TAP_CHARGE_TYPE_INVALID", "a charge type that is not digits"),
    (k.F_NEGATIVE_VOLUME, "TAP_VOLUME_NEGATIVE", "a negative data volume"),
)
_ERR_TEXT = {
    k.ERR_TRUNCATED: "an element runs past the end of the event",
    k.ERR_LENGTH_FORM: "a length form TAP does not use",
    k.ERR_TOO_DEEP: "nesting too deep",
    k.ERR_NOT_CONSTRUCTED: "the event is not a constructed application element",
    k.ERR_INDEFINITE_PRIMITIVE: "an indefinite length on a primitive element",
    k.ERR_TAG: "a tag number out of range",
}


def strings(mat: np.ndarray[Any, Any], lens: np.ndarray[Any, Any]) -> pa.Array:
    """Rows of a fixed-width byte matrix, each cut to its length, as an Arrow string array."""
    n, width = mat.shape
    lens = np.minimum(lens, width)
    offsets = np.zeros(n + 1, np.int32)
    np.cumsum(lens, out=offsets[1:])
    data = mat[np.arange(width)[None, :] < lens[:, None]]
    validity = pa.array(lens > 0).buffers()[1] if n else None
    return pa.Array.from_buffers(
        pa.string(), n, [validity, pa.py_buffer(offsets), pa.py_buffer(data.tobytes())]
    )


def to_micros(
    raw: np.ndarray[Any, Any], places: int
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """(micros, out-of-range mask, lost-precision mask) of raw AbsoluteAmounts (MISSING kept)."""
    missing = raw == k.MISSING
    vals = np.where(missing, 0, raw)
    if places <= 6:
        factor = 10 ** (6 - places)
        too_big = vals >= _LIMIT // factor
        micros = np.where(too_big, 0, vals) * factor
        lost = np.zeros(len(raw), bool)
    else:
        div = 10 ** (places - 6)
        micros = vals // div
        lost = (vals % div) != 0
        too_big = np.zeros(len(raw), bool)
    micros = np.where(missing, k.MISSING, micros)
    return micros, too_big & ~missing, lost & ~missing


def _col(values: np.ndarray[Any, Any]) -> pl.Series:
    s = pl.Series(values)
    return s.set(s == k.MISSING, None) if len(s) else s


def build_events(
    cols: tuple[Any, ...],
    header: TapHeader,
    name: str,
    mcc_map: dict[str, str],
    visited: str | None,
) -> tuple[pl.DataFrame, list[Finding], np.ndarray[Any, Any]]:
    """The events table, the per-event findings and the mask of failed events."""
    (
        tag,
        _offset,
        err,
        flags,
        imsi,
        imsi_len,
        msisdn,
        msisdn_len,
        called,
        called_len,
        local_start,
        utc_code,
        duration,
        vol_in,
        vol_out,
        charge,
        n_charge,
        tax,
        discount,
        xr_code,
        charged_item,
        ctl1,
        ctl2,
        ctl3,
        service,
        is_bearer,
        _evs,
    ) = cols
    n = len(tag)
    findings: list[Finding] = []
    failed = np.zeros(n, bool)

    def fail(mask: np.ndarray[Any, Any], code: str, text: str, severe: bool = True) -> None:
        idx = np.nonzero(mask)[0]
        for i in idx.tolist():
            findings.append(
                finding(
                    code,
                    f"callEventDetails[{i}]/{t.EVENT_KINDS.get(int(tag[i]), 'unknown')}",
                    text,
                    event_index=i,
                )
            )
        if severe:
            failed[idx] = True

    broken = err != 0
    for code_num, text in _ERR_TEXT.items():
        fail(err == code_num, "TAP_EVENT_MALFORMED", text)
    ok = ~broken
    known = np.isin(tag, np.array(list(t.EVENT_KINDS), np.int64))
    fail(ok & ~known, "TAP_EVENT_KIND_UNKNOWN", "an event tag this decoder does not know")
    ok &= known
    for bit, code, text in _FLAG_CODES:
        fail(ok & ((flags & bit) != 0), code, text)
    fail(ok & ((flags & k.F_FIELD_TOO_LONG) != 0), "TAP_FIELD_TOO_LONG", "a number was cut", False)
    fail(ok & ((flags & k.F_BAD_SERVICE_CODE) != 0), "TAP_SERVICE_CODE_INVALID", "not hex", False)
    fail(ok & np.isin(tag, _NEED_IMSI) & (imsi_len == 0), "TAP_IMSI_MISSING", "no IMSI")
    no_start = (local_start == k.MISSING) & ((flags & k.F_BAD_TIMESTAMP) == 0)
    fail(ok & np.isin(tag, _NEED_START) & no_start, "TAP_START_MISSING", "no start timestamp")
    offsets_known = np.array(sorted(header.utc_offsets), np.int64)
    has_start = local_start != k.MISSING
    fail(
        ok & has_start & ~np.isin(utc_code, offsets_known),
        "TAP_UTC_OFFSET_CODE_UNKNOWN",
        "the UTC-offset code is missing or not in networkInfo/utcTimeOffsetInfo",
    )
    fail(
        ok & np.isin(tag, _NEED_DURATION) & (duration == k.MISSING),
        "TAP_DURATION_MISSING",
        "no totalCallEventDuration",
    )
    fail(ok & (duration != k.MISSING) & (duration < 0), "TAP_DURATION_NEGATIVE", "duration < 0")
    gprs = ok & (tag == t.GPRS_CALL)
    fail(
        gprs
        & ((vol_in == k.MISSING) | (vol_out == k.MISSING))
        & ((flags & k.F_NEGATIVE_VOLUME) == 0),
        "TAP_VOLUME_MISSING",
        "dataVolumeIncoming or dataVolumeOutgoing is missing",
    )
    xr_known = np.array(sorted(header.exchange_rates), np.int64)
    fail(
        ok & (xr_code != k.MISSING) & ~np.isin(xr_code, xr_known),
        "TAP_EXCHANGE_RATE_CODE_UNKNOWN",
        "the exchange-rate code is not in accountingInfo/currencyConversionInfo",
    )
    places = header.tap_decimal_places
    if places is not None and 0 <= places <= 18:
        charge_m, big1, lost1 = to_micros(charge, places)
        tax_m, big2, lost2 = to_micros(tax, places)
        disc_m, big3, lost3 = to_micros(discount, places)
        fail(ok & (big1 | big2 | big3), "TAP_AMOUNT_RANGE", "an amount too large for micro-units")
        fail(
            ok & (lost1 | lost2 | lost3),
            "TAP_AMOUNT_PRECISION",
            f"an amount has digits below 10^-6 (TapDecimalPlaces {places})",
        )
    else:
        charge_m = tax_m = disc_m = np.full(n, k.MISSING, np.int64)
    fail(ok & ~failed & (n_charge == 0), "TAP_NO_TOTAL_CHARGE", "no charge of type 00", False)
    failed |= broken | ~known

    keep = ~failed
    offset_min = pl.Series(utc_code).replace_strict(
        header.utc_offsets, default=None, return_dtype=pl.Int32()
    )
    started = pl.Series(
        local_start
        - np.where(offset_min.is_null().to_numpy(), 0, offset_min.fill_null(0).to_numpy()) * 60
    )
    frame = pl.DataFrame(
        {
            "event_index": np.arange(n, dtype=np.int64),
            "tag": tag,
            "imsi": strings(imsi, imsi_len),
            "msisdn": strings(msisdn, msisdn_len),
            "started_s": _col(started.to_numpy()),
            "utc_offset_min": offset_min,
            "duration_s": _col(duration),
            "volume_in_bytes": _col(vol_in),
            "volume_out_bytes": _col(vol_out),
            "service": _col(service),
            "is_bearer": is_bearer,
            "charged_item_code": charged_item,
            "charge_micros": _col(charge_m),
            "tax_micros": _col(tax_m),
            "discount_micros": _col(disc_m),
            "exchange_rate_code": _col(xr_code),
            "call_type_level1": _col(ctl1),
            "call_type_level2": _col(ctl2),
            "call_type_level3": _col(ctl3),
            "destination": strings(called, called_len),
        }
    ).filter(pl.Series(keep))
    return finish(frame, header, name, mcc_map, visited), findings, failed


def finish(
    frame: pl.DataFrame, header: TapHeader, name: str, mcc_map: dict[str, str], visited: str | None
) -> pl.DataFrame:
    """Name the kinds, map the event types and countries, and order the columns."""
    tag = pl.col("tag")
    svc = pl.col("service")
    tele = pl.col("is_bearer") == 0
    event_type = (
        pl.when((tag == t.MOBILE_ORIGINATED_CALL) & tele & svc.is_in([0x10, 0x11, 0x12]))
        .then(pl.lit("voice_mo"))
        .when((tag == t.MOBILE_ORIGINATED_CALL) & tele & svc.is_in([0x20, 0x22]))
        .then(pl.lit("sms_mo"))
        .when((tag == t.MOBILE_TERMINATED_CALL) & tele & svc.is_in([0x10, 0x11]))
        .then(pl.lit("voice_mt"))
        .when((tag == t.MOBILE_TERMINATED_CALL) & tele & svc.is_in([0x20, 0x21]))
        .then(pl.lit("sms_mt"))
        .when(tag == t.GPRS_CALL)
        .then(pl.lit("data"))
        .otherwise(pl.lit(None, pl.String()))
    )
    rates = {c: format(r, "f") for c, r in header.exchange_rates.items()}
    item = pl.col("charged_item_code")
    out = frame.with_columns(
        pl.lit(name, pl.String()).alias("file"),
        tag.replace_strict(t.EVENT_KINDS, default=None, return_dtype=pl.String()).alias("kind"),
        event_type.alias("event_type"),
        pl.lit(header.sender, pl.String()).alias("sender"),
        pl.lit(header.recipient, pl.String()).alias("recipient"),
        pl.col("imsi")
        .str.slice(0, 3)
        .replace_strict(mcc_map, default=None, return_dtype=pl.String())
        .alias("home_country"),
        pl.lit(visited, pl.String()).alias("visited_country"),
        (pl.col("started_s") * 1_000_000).cast(pl.Datetime("us", "UTC")).alias("started_at"),
        _hex2(svc).alias("service_code"),
        pl.when(item == 0).then(None).otherwise(_char(item)).alias("charged_item"),
        pl.lit(header.charge_currency, pl.String()).alias("currency"),
        pl.lit(header.local_currency, pl.String()).alias("local_currency"),
        pl.col("exchange_rate_code")
        .replace_strict(rates, default=None, return_dtype=pl.String())
        .alias("exchange_rate"),
    )
    return out.select([pl.col(c).cast(d) for c, d in EVENT_SCHEMA.items()])


_HEX = "0123456789ABCDEF"


def _hex2(svc: pl.Expr) -> pl.Expr:
    """A service code as its two hex characters (``0x11`` -> ``"11"``)."""
    hi = (svc // 16).replace_strict(dict(enumerate(_HEX)), default="?", return_dtype=pl.String())
    lo = (svc % 16).replace_strict(dict(enumerate(_HEX)), default="?", return_dtype=pl.String())
    return pl.when(svc.is_null()).then(None).otherwise(hi + lo)


def _char(code: pl.Expr) -> pl.Expr:
    """An ASCII code as a one-character string (charged item letters A-Z, digits)."""
    table = {i: chr(i) for i in range(32, 127)}
    return code.replace_strict(table, default=None, return_dtype=pl.String())
