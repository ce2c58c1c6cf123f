"""A commit group rated by the reference rater answers byte for byte as the engine would.

Random small groups (the shared ``strategies.records`` batches, read into the service's typed
records, with blanks, lower-case codes and other timestamp spellings mixed in) are rated twice
with the same stored counters: by :func:`rate_group` (the reference rater whenever it may) and by
the engine alone (``small_group_max=0``). Every record's answer, the counters after the group and
the days' presence rows must be identical.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roamlike.counters import Counters
from roamlike.law import default_catalog
from roamlike.reference import rate_records
from roamlike.service.group_rating import GroupRating, rate_group
from roamlike.service.schemas import EventRecord
from strategies import FX, PLANS, records

CATALOG = default_catalog()
_INTS = ("utc_offset_min", "duration_s", "volume_bytes", "count")


def _typed(row: dict[str, Any], variant: int) -> EventRecord:
    """A strategies row as the service's typed record (JSON numbers and booleans)."""
    out: dict[str, Any] = {}
    for name, value in row.items():
        if name in _INTS:
            try:
                out[name] = None if value is None else int(value)
            except ValueError:
                out[name] = None
        elif name == "is_beyond_fair_use":
            out[name] = {"true": True, "false": False}.get(value) if value else None
        else:
            out[name] = value
    # an empty record id, or one holding NUL, is a 400 before any rating (schemas.EventRecord)
    out["record_id"] = (out["record_id"] or "r-empty").replace("\x00", "-")
    if variant == 1:
        out["subscriber_id"] = f" {out['subscriber_id']} "  # blanks: the engine's path
    elif variant == 2 and out["visited_country"]:
        out["visited_country"] = out["visited_country"].lower()
    elif variant == 3 and out["started_at"] and not out["started_at"].startswith("2026-02-30"):
        stamp = dt.datetime.fromisoformat(out["started_at"].replace("Z", "+00:00"))
        out["started_at"] = (stamp + dt.timedelta(hours=1)).strftime("%Y-%m-%d %H:%M:%S.25+01:00")
    return msgspec.convert(out, EventRecord)


@st.composite
def groups(draw: st.DrawFn) -> tuple[list[EventRecord], int]:
    rows = draw(records())
    variants = draw(st.lists(st.sampled_from([0, 0, 0, 0, 1, 2, 3]), min_size=len(rows)))
    typed = [_typed(r, v) for r, v in zip(rows, variants, strict=False)]
    if draw(st.integers(0, 3)):
        # mostly groups the reference rater rates whole: rows it rejects and blanks left out
        rejected = {
            r["row_number"]
            for r in rate_records([msgspec.structs.asdict(t) for t in typed], PLANS, FX).rejects
        }
        typed = [
            t
            for i, (t, v) in enumerate(zip(typed, variants, strict=False))
            if i not in rejected and v in (0, 3)
        ]
    return typed, draw(st.integers(0, len(typed)))


def _outcome(rating: GroupRating, group: list[EventRecord]) -> tuple[Any, ...]:
    return (
        rating.answers(group),
        rating.counters.periods.to_dicts(),
        rating.counters.subscribers.to_dicts(),
        rating.days("t").to_dicts(),
    )


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(groups())
def test_small_group_answers_equal_the_engines(drawn: tuple[list[EventRecord], int]) -> None:
    group, cut = drawn
    # the first records make the stored counters; the rest is the group rated both ways
    before = rate_group(group[:cut], PLANS, FX, CATALOG, Counters.empty(), small_group_max=0)
    stored = before.counters
    rest = group[cut:]
    if not rest:
        return
    fast = rate_group(rest, PLANS, FX, CATALOG, stored, {})
    engine = rate_group(rest, PLANS, FX, CATALOG, stored, small_group_max=0)
    assert engine.path == "engine"
    got, want = _outcome(fast, rest), _outcome(engine, rest)
    for mine, theirs in zip(got[0], want[0], strict=True):
        assert mine.decode() == theirs.decode()
    assert got == want


def test_clean_group_without_rejects_takes_the_memoised_path() -> None:
    group = [
        EventRecord(
            record_id=f"r{i}",
            subscriber_id="s-de2",
            plan_id="de-small",
            event_type="data",
            started_at=f"2026-03-0{i + 1}T10:00:00Z",
            utc_offset_min=60,
            home_country="DE",
            visited_country="FR",
            volume_bytes=700_000,
        )
        for i in range(4)
    ]
    fast = rate_group(group, PLANS, FX, CATALOG, Counters.empty(), {})
    assert fast.path == "memoised"
    engine = rate_group(group, PLANS, FX, CATALOG, Counters.empty(), small_group_max=0)
    assert _outcome(fast, group) == _outcome(engine, group)
    # a reject anywhere in the group: the engine words its message
    bad = [*group, msgspec.structs.replace(group[0], record_id="bad", visited_country="QQ")]
    assert rate_group(bad, PLANS, FX, CATALOG, Counters.empty(), {}).path == "engine"
