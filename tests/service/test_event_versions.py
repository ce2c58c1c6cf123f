"""An event is rated against the plans version in force at its time (``events._version_of``),
also on the shortcut that skips parsing times two years after the latest version began."""

from __future__ import annotations

import pytest

from roamlike.service.events import _version_of
from roamlike.service.tenants import PlanVersion


def _v(n: int, valid_from: str) -> PlanVersion:
    return PlanVersion(n, valid_from, valid_from, "0" * 64, {})


VERSIONS = [_v(1, "2024-01-01T00:00:00.000000+00:00"), _v(2, "2025-06-01T00:00:00.000000+00:00")]


@pytest.mark.parametrize(
    ("started_at", "index"),
    [
        ("2023-12-31T23:59:59Z", -1),  # before the first version: none in force
        ("2024-01-01T00:00:00Z", 0),
        ("2025-05-31T23:59:59.999999Z", 0),
        ("2025-06-01T01:00:00+02:00", 0),  # 23:00 UTC the day before
        ("2025-06-01T00:00:00Z", 1),
        ("2027-01-01T00:00:00+14:00", 1),  # the shortcut: 2027 > 2025 + 1
        ("2027-02-30T00:00:00Z", 1),  # unreadable: the latest, shortcut or not
        ("soon", 1),
        (None, 1),
    ],
)
def test_the_version_in_force_at_the_events_time(started_at: str | None, index: int) -> None:
    assert _version_of(VERSIONS, started_at) == index
    assert _version_of([], started_at) == -1
