"""Fixtures of the service tests: an in-process client over :func:`create_app`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from roamlike.service import ServiceConfig, create_app


@pytest.fixture
def client() -> Iterator[TestClient]:
    """A client of an app without a state store (law endpoints, inline quotes, audit)."""
    with TestClient(create_app(ServiceConfig()), raise_server_exceptions=False) as c:
        yield c
