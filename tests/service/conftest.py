"""Fixtures of the service tests: in-process clients over :func:`create_app`, tenants, stores.

(A package, so this conftest is imported as ``service.conftest`` and never shadows the suite's
root ``conftest`` module.)
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from roamlike.service import ServiceConfig, create_app
from roamlike.service.tenants import add_tenant
from roamlike.state import migrate, open_store
from roamlike.tariffs import FxTable


@pytest.fixture
def client() -> Iterator[TestClient]:
    """A client of an app without a state store, with the illustrative FX table."""
    fx = FxTable.from_csv(Path(__file__).parents[2] / "examples" / "fx_illustrative.csv")
    with TestClient(create_app(ServiceConfig(fx=fx)), raise_server_exceptions=False) as c:
        yield c


FX_FILE = Path(__file__).parents[2] / "examples" / "fx_illustrative.csv"


def make_tenant(state: str, name: str) -> str:
    """Create a tenant in the store ``state``; return its API key."""
    with open_store(state) as store:
        migrate(store)
        _, key = add_tenant(store, name)
    return key


@pytest.fixture
def state_db(tmp_path: Path) -> str:
    """A fresh SQLite store path."""
    return str(tmp_path / "state.db")


@pytest.fixture
def store_client(state_db: str) -> Iterator[TestClient]:
    """A client of an app over a SQLite store, with the illustrative FX table."""
    config = ServiceConfig(state=state_db, fx=FxTable.from_csv(FX_FILE))
    with TestClient(create_app(config), raise_server_exceptions=False) as c:
        yield c
