"""The compiled call-event walker: one pass over the BER bytes into columnar arrays.

A TAP file is mostly its call-event list. :func:`walk_call_events` walks that list once with an
explicit stack (no recursion, no Python objects), and writes the fields of every event into
preallocated NumPy arrays, one slot per event. It implements the same BER rules as
:mod:`roamlike.wholesale.ber` (definite and indefinite lengths, multi-byte tags and lengths) and
never reads outside the buffer: a malformed element sets an error code on its event, and a list that
cannot be walked further stops with a list error and the offset, so the caller can report every
event as decoded or failed.

Fields are found by their application tag and, where a tag is used in several places, by the tag
of the element that contains it (e.g. ``LocalTimeStamp`` only under ``CallEventStartTimeStamp``).
Elements the walker does not know (other TAP items, later releases' extensions, operator-specific
data) are skipped after their length is checked.

References
----------
ITU-T X.690 clauses 8.1.2-8.1.5; GSMA TD.57 TAP 3.12 (tags in :mod:`roamlike.wholesale.tags`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from roamlike.wholesale.ber_kernel import (
    AMOUNT_LIMIT,
    CALLED_WIDTH,
    ERR_NOT_CONSTRUCTED,
    ERR_TOO_DEEP,
    ERR_TRUNCATED,
    F_AMOUNT_OVERFLOW,
    F_BAD_CHARGE_TYPE,
    F_BAD_SERVICE_CODE,
    F_BAD_TIMESTAMP,
    F_CHARGE_NO_TYPE,
    F_INT_TOO_LONG,
    F_NEGATIVE_AMOUNT,
    F_NEGATIVE_VOLUME,
    IMSI_WIDTH,
    MAX_DEPTH,
    MISSING,
    bcd_digits,
    digits_value,
    element_header,
    hex_value,
    integer_at,
    jit,
    local_seconds,
    skip_element,
)


@jit
def walk_call_events(buf: Any, start: int, end: int, count: int) -> Any:
    """Decode the ``count`` events that :func:`count_call_events` delimited into columns."""
    n = count
    ev_tag = np.zeros(n, np.int64)
    ev_offset = np.zeros(n, np.int64)
    ev_err = np.zeros(n, np.int64)
    ev_flags = np.zeros(n, np.int64)
    imsi = np.zeros((n, IMSI_WIDTH), np.uint8)
    imsi_len = np.zeros(n, np.int64)
    msisdn = np.zeros((n, IMSI_WIDTH), np.uint8)
    msisdn_len = np.zeros(n, np.int64)
    called = np.zeros((n, CALLED_WIDTH), np.uint8)
    called_len = np.zeros(n, np.int64)
    local_start = np.full(n, MISSING, np.int64)
    utc_code = np.full(n, MISSING, np.int64)
    duration = np.full(n, MISSING, np.int64)
    vol_in = np.full(n, MISSING, np.int64)
    vol_out = np.full(n, MISSING, np.int64)
    charge = np.zeros(n, np.int64)
    n_charge = np.zeros(n, np.int64)
    tax = np.full(n, MISSING, np.int64)
    discount = np.full(n, MISSING, np.int64)
    xr_code = np.full(n, MISSING, np.int64)
    charged_item = np.zeros(n, np.int64)
    ctl1 = np.full(n, MISSING, np.int64)
    ctl2 = np.full(n, MISSING, np.int64)
    ctl3 = np.full(n, MISSING, np.int64)
    service = np.full(n, MISSING, np.int64)
    service_is_bearer = np.zeros(n, np.int64)
    event_service = np.full(n, MISSING, np.int64)
    st_end = np.zeros(MAX_DEPTH + 1, np.int64)
    st_tag = np.zeros(MAX_DEPTH + 1, np.int64)
    pos = start
    for e in range(n):
        ev_offset[e] = pos
        _skip_err, ev_end = skip_element(buf, pos, end)
        err, first, number, cs, length = element_header(buf, pos, ev_end)
        pos = ev_end
        ev_tag[e] = number
        if err != 0:
            ev_err[e] = err
            continue
        if (first & 0xE0) != 0x60:
            ev_err[e] = ERR_NOT_CONSTRUCTED
            continue
        content_end = ev_end - 2 if length < 0 else cs + length
        depth = 0
        p = cs
        flags = 0
        cur_type = -1
        cur_charge = 0
        has_charge = False
        ev_charge = np.int64(0)
        ev_tax = np.int64(0)
        ev_disc = np.int64(0)
        has_tax = False
        has_disc = False
        start_parent = -1
        start_bad = False
        e_err = 0
        while True:
            # close finished containers
            while depth > 0:
                top_end = st_end[depth - 1]
                closing = False
                if top_end < 0:
                    if p + 1 < content_end and buf[p] == 0 and buf[p + 1] == 0:
                        p += 2
                        closing = True
                elif p == top_end:
                    closing = True
                elif p > top_end:
                    e_err = ERR_TRUNCATED
                    break
                if not closing:
                    break
                if st_tag[depth - 1] == 63 and has_charge:
                    if cur_type == -1:
                        flags |= F_CHARGE_NO_TYPE
                    elif cur_type == 0:
                        if cur_charge > AMOUNT_LIMIT - ev_charge:
                            flags |= F_AMOUNT_OVERFLOW
                        else:
                            ev_charge += cur_charge
                            n_charge[e] += 1
                depth -= 1
            if e_err != 0:
                break
            if p >= content_end:
                if depth > 0 or p > content_end:
                    e_err = ERR_TRUNCATED
                break
            limit = content_end
            if depth > 0 and st_end[depth - 1] >= 0:
                limit = st_end[depth - 1]
            err, first, tag, vs, vlen = element_header(buf, p, limit)
            if err != 0:
                e_err = err
                break
            parent = st_tag[depth - 1] if depth > 0 else number
            if first & 0x20:
                if depth >= MAX_DEPTH:
                    e_err = ERR_TOO_DEEP
                    break
                st_tag[depth] = tag
                st_end[depth] = -1 if vlen < 0 else vs + vlen
                depth += 1
                if tag == 63:
                    cur_type = -1
                    cur_charge = 0
                    has_charge = False
                p = vs
                continue
            p = vs + vlen
            if tag == 129 or tag == 152:
                if parent == 199 or parent == 286 or parent == 436:
                    if tag == 129:
                        if imsi_len[e] == 0:
                            k, f = bcd_digits(buf, vs, vlen, imsi, e, IMSI_WIDTH)
                            imsi_len[e] = k
                            flags |= f
                    elif msisdn_len[e] == 0:
                        k, f = bcd_digits(buf, vs, vlen, msisdn, e, IMSI_WIDTH)
                        msisdn_len[e] = k
                        flags |= f
            elif tag == 16 or tag == 232:
                # the start: CallEventStartTimeStamp (44), ServiceStartTimestamp (447),
                # DepositTimeStamp (88), else the first ChargingTimeStamp (74); both items are
                # taken from the same timestamp element
                is_start = parent == 44 or parent == 447 or parent == 88 or parent == 74
                if is_start and (start_parent == -1 or start_parent == parent):
                    start_parent = parent
                    if tag == 16 and local_start[e] == MISSING and not start_bad:
                        v = local_seconds(buf, vs, vlen)
                        if v == MISSING:
                            flags |= F_BAD_TIMESTAMP
                            start_bad = True
                        local_start[e] = v
                    elif tag == 232 and utc_code[e] == MISSING:
                        ok, v = integer_at(buf, vs, vlen)
                        if ok:
                            utc_code[e] = v
                        else:
                            flags |= F_INT_TOO_LONG
            elif tag == 223:
                ok, v = integer_at(buf, vs, vlen)
                if ok:
                    duration[e] = v
                else:
                    flags |= F_INT_TOO_LONG
            elif tag == 250 or tag == 251:
                ok, v = integer_at(buf, vs, vlen)
                if not ok:
                    flags |= F_INT_TOO_LONG
                elif v < 0:
                    flags |= F_NEGATIVE_VOLUME
                elif tag == 250:
                    vol_in[e] = v if vol_in[e] == MISSING else vol_in[e] + v
                else:
                    vol_out[e] = v if vol_out[e] == MISSING else vol_out[e] + v
            elif tag == 71:
                if parent == 63:
                    t = digits_value(buf, vs, vlen)
                    if t < 0:
                        flags |= F_BAD_CHARGE_TYPE
                        cur_type = -2
                    else:
                        cur_type = t
            elif tag == 62:
                ok, v = integer_at(buf, vs, vlen)
                if not ok:
                    flags |= F_INT_TOO_LONG
                elif v < 0 or v >= AMOUNT_LIMIT:
                    flags |= F_NEGATIVE_AMOUNT if v < 0 else F_AMOUNT_OVERFLOW
                elif parent == 63:
                    cur_charge = v
                    has_charge = True
                elif parent == 433:
                    ev_charge += v
                    n_charge[e] += 1
            elif tag == 397 or tag == 412:
                ok, v = integer_at(buf, vs, vlen)
                if not ok:
                    flags |= F_INT_TOO_LONG
                elif v < 0 or v >= AMOUNT_LIMIT:
                    flags |= F_NEGATIVE_AMOUNT if v < 0 else F_AMOUNT_OVERFLOW
                elif tag == 397 and parent == 213:
                    if v > AMOUNT_LIMIT - ev_tax:
                        flags |= F_AMOUNT_OVERFLOW
                    else:
                        ev_tax += v
                        has_tax = True
                elif tag == 412 and parent == 96:
                    if v > AMOUNT_LIMIT - ev_disc:
                        flags |= F_AMOUNT_OVERFLOW
                    else:
                        ev_disc += v
                        has_disc = True
            elif tag == 105:
                if (parent == 69 or parent == 449 or parent == 433) and xr_code[e] == MISSING:
                    ok, v = integer_at(buf, vs, vlen)
                    if ok:
                        xr_code[e] = v
                    else:
                        flags |= F_INT_TOO_LONG
            elif tag == 66:
                if charged_item[e] == 0 and vlen >= 1:
                    charged_item[e] = buf[vs]
            elif tag == 259 or tag == 255 or tag == 256:
                if parent == 258:
                    ok, v = integer_at(buf, vs, vlen)
                    if not ok:
                        flags |= F_INT_TOO_LONG
                    elif tag == 259 and ctl1[e] == MISSING:
                        ctl1[e] = v
                    elif tag == 255 and ctl2[e] == MISSING:
                        ctl2[e] = v
                    elif tag == 256 and ctl3[e] == MISSING:
                        ctl3[e] = v
            elif tag == 218 or tag == 40:
                if parent == 426 and service[e] == MISSING:
                    v = hex_value(buf, vs, vlen)
                    if v < 0:
                        flags |= F_BAD_SERVICE_CODE
                    else:
                        service[e] = v
                        service_is_bearer[e] = 1 if tag == 40 else 0
            elif tag == 407:
                if parent == 89 and called_len[e] == 0:
                    k, f = bcd_digits(buf, vs, vlen, called, e, CALLED_WIDTH)
                    called_len[e] = k
                    flags |= f
            elif (tag == 439 or tag == 440) and parent == number:
                ok, v = integer_at(buf, vs, vlen)
                if ok:
                    event_service[e] = v
        ev_err[e] = e_err
        ev_flags[e] = flags
        charge[e] = ev_charge
        if has_tax:
            tax[e] = ev_tax
        if has_disc:
            discount[e] = ev_disc
    return (
        ev_tag,
        ev_offset,
        ev_err,
        ev_flags,
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
        service_is_bearer,
        event_service,
    )
