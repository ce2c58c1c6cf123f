"""Request bodies of the service as msgspec types: decoded and validated in one step.

A body that does not match is a 400 problem naming the JSON path of the first bad member.
Quantities are bounded here as in the engine's contract (docs/rating.md §1.1) so no integer a
user sends can overflow.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

EventType = Literal["voice_mo", "voice_mt", "sms_mo", "sms_mt", "data", "mms_mo"]
_Country = Annotated[str, msgspec.Meta(min_length=1, max_length=8)]
#: Ids are stored as text, which cannot hold U+0000 (NUL) on every store (docs/rating.md §7b).
_Id = Annotated[
    str, msgspec.Meta(min_length=1, max_length=200, pattern="^[^\x00]*$", description="no NUL")
]
_Timestamp = Annotated[
    str, msgspec.Meta(min_length=10, max_length=40, description="ISO 8601, e.g. 2024-05-01T10:00Z")
]


class QuoteRequest(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """The price of one hypothetical event (``POST /v1/quote``).

    Either ``plan`` (an inline plan: one entry of a plans file, as JSON) or ``plan_id`` (a plan
    of the caller's tenant, which needs a key). ``home_country`` defaults to the plan's.
    """

    event_type: EventType
    visited_country: _Country
    started_at: _Timestamp
    utc_offset_min: Annotated[int, msgspec.Meta(ge=-720, le=840)] = 0
    plan: dict[str, Any] | None = None
    plan_id: _Id | None = None
    home_country: _Country | None = None
    destination_country: _Country | None = None
    duration_s: Annotated[int, msgspec.Meta(ge=0, le=86_400)] | None = None
    volume_bytes: Annotated[int, msgspec.Meta(ge=0, le=10**12)] | None = None
    count: Annotated[int, msgspec.Meta(ge=0, le=10_000)] | None = None
    is_beyond_fair_use: bool = False
    subscriber_id: _Id | None = None


_Text = Annotated[str, msgspec.Meta(max_length=200)]
_Quantity = Annotated[int, msgspec.Meta(ge=-(2**62), le=2**62)]


class EventRecord(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One usage record in the canonical columns (docs/rating.md §1.1).

    Only ``record_id`` (the idempotency key) is required here; every other check is the
    engine's, and a record that fails one is answered as a reject with its reason code.
    """

    record_id: _Id
    subscriber_id: _Text | None = None
    plan_id: _Text | None = None
    event_type: _Text | None = None
    started_at: _Text | None = None
    utc_offset_min: _Quantity | None = None
    home_country: _Text | None = None
    visited_country: _Text | None = None
    destination_country: _Text | None = None
    duration_s: _Quantity | None = None
    volume_bytes: _Quantity | None = None
    count: _Quantity | None = None
    is_beyond_fair_use: bool | None = None


class EventsRequest(msgspec.Struct, forbid_unknown_fields=True):
    """``POST /v1/events``: records to rate and commit (at most 10,000 per request)."""

    records: Annotated[list[EventRecord], msgspec.Meta(min_length=1, max_length=10_000)]


_Units = Annotated[int, msgspec.Meta(ge=0, le=10**12)]


class SessionOpen(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``POST /v1/sessions``: open a credit-control session and reserve units (RFC 4006 initial).

    Units are bytes for ``data`` and seconds for voice.
    """

    session_id: _Id
    subscriber_id: _Id
    plan_id: _Id
    event_type: Literal["data", "voice_mo", "voice_mt"]
    visited_country: _Country
    started_at: _Timestamp
    home_country: _Country | None = None
    utc_offset_min: Annotated[int, msgspec.Meta(ge=-720, le=840)] = 0
    requested_units: _Units
    validity_s: Annotated[int, msgspec.Meta(ge=1, le=86_400)] = 300


class SessionUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """``POST /v1/sessions/{id}/update`` (and ``/terminate``, where ``requested_units`` is 0).

    ``request_number`` 1, 2, 3… (the initial request is 0): a repeated number is answered from
    the store, never applied twice. ``used_units`` are the units used since the last report.
    """

    request_number: Annotated[int, msgspec.Meta(ge=1, le=10**9)]
    used_units: _Units
    requested_units: _Units = 0


class RawPlan(msgspec.Struct):
    """The inline plan of a quote body as its exact JSON text (amounts keep every digit)."""

    plan: msgspec.Raw = msgspec.field(default_factory=lambda: msgspec.Raw(b""))


#: The request types whose JSON Schemas go into the OpenAPI document.
REQUEST_TYPES: tuple[Any, ...] = (QuoteRequest, EventsRequest, SessionOpen, SessionUpdate)
