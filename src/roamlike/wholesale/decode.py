"""Decode a TAP 3 file (transfer batch or notification) into a header, events and findings.

The batch is walked in plain Python down to the call-event list; the list itself is delimited
and decoded by the compiled kernel (:mod:`roamlike.wholesale.kernel`), one pass into columns.
Nothing raises on bad input: a broken file gives fatal findings and whatever could be decoded
before the break, and every event is either a row of the events table or the subject of a
severe finding (``decoded + failed == events in the file``, checked against the audit count).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from roamlike.law import Catalog
from roamlike.wholesale import ber_kernel as k
from roamlike.wholesale import tags as t
from roamlike.wholesale.ber import BerError, read_element, read_header
from roamlike.wholesale.countries import mcc_countries, tadig_country
from roamlike.wholesale.events import EVENT_SCHEMA, build_events
from roamlike.wholesale.findings import Finding, finding
from roamlike.wholesale.header import (
    TapHeader,
    _Reader,
    check_mandatory,
    read_accounting,
    read_audit,
    read_batch_control,
    read_network,
)
from roamlike.wholesale.kernel import walk_call_events


@dataclass
class TapFile:
    """One decoded file."""

    path: str
    header: TapHeader
    events: pl.DataFrame
    findings: list[Finding] = field(default_factory=list)
    #: events found in the call-event list (or declared by the audit count, if more)
    events_in_file: int = 0
    decoded: int = 0
    failed: int = 0

    def to_json(self, with_events: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": self.path,
            "header": self.header.to_json(),
            "events_in_file": self.events_in_file,
            "decoded": self.decoded,
            "failed": self.failed,
            "findings": [f.to_json() for f in self.findings],
        }
        if with_events:
            out["events"] = events_json(self.events)
        return out


def events_json(events: pl.DataFrame) -> list[dict[str, Any]]:
    """Events as JSON objects: amounts as decimal strings, local start time with its offset."""
    rows = []
    for r in events.iter_rows(named=True):
        started = r["started_at"]
        off = r["utc_offset_min"]
        local = None
        if started is not None and off is not None:
            tz = dt.timezone(dt.timedelta(minutes=off))
            local = started.astimezone(tz).isoformat()
        rows.append(
            {
                "index": r["event_index"],
                "kind": r["kind"],
                "event_type": r["event_type"],
                "imsi": r["imsi"],
                "msisdn": r["msisdn"],
                "home_country": r["home_country"],
                "visited_country": r["visited_country"],
                "started_at": local,
                "duration_s": r["duration_s"],
                "volume_in_bytes": r["volume_in_bytes"],
                "volume_out_bytes": r["volume_out_bytes"],
                "service_code": r["service_code"],
                "charged_item": r["charged_item"],
                "charge": _micros_text(r["charge_micros"]),
                "tax": _micros_text(r["tax_micros"]),
                "discount": _micros_text(r["discount_micros"]),
                "currency": r["currency"],
                "exchange_rate_code": r["exchange_rate_code"],
                "exchange_rate": r["exchange_rate"],
                "call_type_levels": [
                    r["call_type_level1"],
                    r["call_type_level2"],
                    r["call_type_level3"],
                ],
                "destination": r["destination"],
            }
        )
    return rows


def _micros_text(micros: int | None) -> str | None:
    if micros is None:
        return None
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), 1_000_000)
    return f"{sign}{whole}.{frac:06d}"


def empty_events() -> pl.DataFrame:
    """An events table with no rows and the full schema."""
    return pl.DataFrame(schema=EVENT_SCHEMA)


def _split_sum(values: np.ndarray[Any, Any]) -> int:
    """Exact sum of non-negative int64 values below 2^62 (no overflow for < 2^31 values)."""
    hi = int(np.sum(values >> 31, dtype=np.int64))
    lo = int(np.sum(values & ((1 << 31) - 1), dtype=np.int64))
    return (hi << 31) + lo


def decode_bytes(data: bytes, name: str, catalog: Catalog) -> TapFile:
    """Decode the bytes of one TAP file.

    Parameters
    ----------
    data : bytes
        The whole file.
    name : str
        What the findings and the ``file`` column call it (usually its path).
    catalog : Catalog
        The law catalog, for the home country of each IMSI (E.212 MCC).
    """
    r = _Reader(data)
    h = TapHeader()
    out = TapFile(name, h, empty_events(), r.findings)
    n = len(data)
    try:
        top = read_header(data, 0, n)
    except BerError as exc:
        r.bad("TAP_MALFORMED", "", f"not a BER file: {exc}")
        return out
    if (
        top.tag_class != 1
        or not top.constructed
        or top.number
        not in (
            t.TRANSFER_BATCH,
            t.NOTIFICATION,
        )
    ):
        r.bad("TAP_NOT_TAP", "", "the file does not start with a TransferBatch or a Notification")
        return out
    h.kind = "transfer_batch" if top.number == t.TRANSFER_BATCH else "notification"
    if top.length is None:
        end = n
    else:
        end = top.content_start + top.length
        if end > n:
            r.bad(
                "TAP_MALFORMED", "", f"truncated: the batch declares {end} bytes, the file has {n}"
            )
            end = n
    seen: set[int] = set()
    cols: tuple[Any, ...] | None = None
    walked = 0
    pos = top.content_start
    try:
        if h.kind == "notification":
            el = read_element(data, 0, n)
            read_batch_control(r, el, h, "notification")
            pos = el.end
        else:
            while True:
                if top.length is None and pos + 1 < n and data[pos] == 0 and data[pos + 1] == 0:
                    pos += 2
                    break
                if pos >= end:
                    if top.length is None:
                        r.bad("TAP_MALFORMED", "", "truncated: the batch has no end-of-contents")
                    break
                child = read_header(data, pos, end)
                seen.add(child.number)
                if child.number == t.CALL_EVENT_DETAIL_LIST and child.constructed:
                    limit = end if child.length is None else child.content_start + child.length
                    if limit > end:
                        r.bad(
                            "TAP_EVENT_LIST_TRUNCATED",
                            "callEventDetails",
                            f"the list declares {limit - child.content_start} bytes; "
                            "the file ends first",
                        )
                        limit = end
                    walked, lerr, lpos, after = k.count_call_events(
                        np.frombuffer(data, np.uint8),
                        child.content_start,
                        limit,
                        child.length is None,
                    )
                    if lerr:
                        r.bad(
                            "TAP_EVENT_LIST_TRUNCATED",
                            f"callEventDetails[{walked}]",
                            f"the list breaks off at byte {lpos}; events from here on are lost",
                        )
                    cols = walk_call_events(
                        np.frombuffer(data, np.uint8), child.content_start, limit, walked
                    )
                    pos = after if lerr == 0 else end
                    if child.length is not None and lerr == 0:
                        pos = limit
                    continue
                el = read_element(data, pos, end)
                if el.number == t.BATCH_CONTROL_INFO:
                    read_batch_control(r, el, h, "batchControlInfo")
                elif el.number == t.ACCOUNTING_INFO:
                    read_accounting(r, el, h)
                elif el.number == t.NETWORK_INFO:
                    read_network(r, el, h)
                elif el.number == t.AUDIT_CONTROL_INFO:
                    read_audit(r, el, h)
                pos = el.end
    except BerError as exc:
        r.bad("TAP_MALFORMED", "", f"broken structure: {exc}")
    if pos < n and (top.length is None or top.content_start + top.length < n):
        r.bad("TAP_TRAILING_BYTES", "", f"{n - pos} bytes after the end of the batch")
    check_mandatory(r, h, seen)
    declared = h.audit.call_event_details_count
    out.events_in_file = max(walked, declared or 0)
    if cols is not None and walked:
        mcc_map = mcc_countries(catalog)
        events, ev_findings, _failed = build_events(cols, h, name, mcc_map, tadig_country(h.sender))
        out.events = events
        r.findings.extend(ev_findings)
        out.decoded = events.height
        _reconcile(r, h, cols)
        _reconcile_times(r, h, events)
    elif declared:
        _reconcile_count(r, h, 0)
    out.failed = out.events_in_file - out.decoded
    if h.sender and tadig_country(h.sender) is None:
        r.bad(
            "TAP_COUNTRY_UNKNOWN",
            "batchControlInfo/sender",
            f"no country for TADIG {h.sender!r}: the visited country is unknown",
        )
    return out


def _reconcile_count(r: _Reader, h: TapHeader, found: int) -> None:
    declared = h.audit.call_event_details_count
    if declared is not None and declared != found:
        r.bad(
            "TAP_AUDIT_COUNT_MISMATCH",
            "auditControlInfo/callEventDetailsCount",
            f"declares {declared} events, the list holds {found}",
        )


def _reconcile(r: _Reader, h: TapHeader, cols: tuple[Any, ...]) -> None:
    """Audit reconciliation over every event whose structure could be walked."""
    err, charge, tax, discount = cols[2], cols[15], cols[17], cols[18]
    _reconcile_count(r, h, len(err))
    ok = err == 0
    a = h.audit
    for raw, declared, code, name in (
        (charge, a.total_charge, "TAP_AUDIT_TOTAL_CHARGE_MISMATCH", "totalCharge"),
        (tax, a.total_tax_value, "TAP_AUDIT_TOTAL_TAX_MISMATCH", "totalTaxValue"),
        (
            discount,
            a.total_discount_value,
            "TAP_AUDIT_TOTAL_DISCOUNT_MISMATCH",
            "totalDiscountValue",
        ),
    ):
        vals = np.where(ok & (raw != k.MISSING) & (raw >= 0), raw, 0)
        total = _split_sum(vals)
        if declared is not None and declared != total:
            r.bad(
                code,
                f"auditControlInfo/{name}",
                f"declares {h.amount(declared)}, the events sum to {h.amount(total)}",
            )


def _reconcile_times(r: _Reader, h: TapHeader, events: pl.DataFrame) -> None:
    """Earliest and latest start of the decoded events against the audit, as UTC instants."""
    a = h.audit
    starts = events.get_column("started_at").drop_nulls()
    if starts.is_empty():
        return
    lo, hi = starts.min(), starts.max()
    for stamp, value, code, name in (
        (a.earliest, lo, "TAP_AUDIT_EARLIEST_MISMATCH", "earliestCallTimeStamp"),
        (a.latest, hi, "TAP_AUDIT_LATEST_MISMATCH", "latestCallTimeStamp"),
    ):
        if stamp is None or not isinstance(value, dt.datetime):
            continue
        if stamp.utc != value.replace(tzinfo=None):
            r.bad(
                code,
                f"auditControlInfo/{name}",
                f"declares {stamp.iso()}, the events give {value.isoformat()}",
            )


def decode_file(path: Path | str, catalog: Catalog) -> TapFile:
    """Decode one file from disk; an unreadable file is a fatal finding, never an exception."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as exc:
        tap = TapFile(str(p), TapHeader(), empty_events())
        tap.findings.append(
            finding("TAP_UNREADABLE", "", f"cannot read {p}: {exc.strerror or exc}")
        )
        return tap
    return decode_bytes(data, str(p), catalog)
