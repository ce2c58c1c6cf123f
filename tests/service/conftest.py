"""Fixtures of the service tests: an in-process client over :func:`create_app`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from roamlike.service import ServiceConfig, create_app
from roamlike.tariffs import FxTable


@pytest.fixture
def client() -> Iterator[TestClient]:
    """A client of an app without a state store, with the illustrative FX table."""
    fx = FxTable.from_csv(Path(__file__).parents[2] / "examples" / "fx_illustrative.csv")
    with TestClient(create_app(ServiceConfig(fx=fx)), raise_server_exceptions=False) as c:
        yield c
