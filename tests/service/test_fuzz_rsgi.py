"""The OpenAPI document fuzzed with schemathesis over a real ``roamlike serve`` on granian's RSGI
interface (its default): quotes, events and session steps answered by the RSGI layer, the rest
through its bridge to the Starlette app; no input gives a 5xx, answers match the document (the
in-process fuzz of the ASGI app: ``test_fuzz_openapi.py``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from roamlike.service.openapi import openapi_document
from service.conftest import make_tenant
from service.server import running_server

FX_FILE = Path(__file__).parents[2] / "examples" / "fx_illustrative.csv"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A server on RSGI over a store with one tenant: (base URL, the tenant's key)."""
    folder = tmp_path_factory.mktemp("fuzz-rsgi")
    state = str(folder / "state.db")
    key = make_tenant(state, "fuzz")
    with pytest.MonkeyPatch.context() as m:
        m.delenv("ROAMLIKE_INTERFACE", raising=False)
        with running_server(folder, "--state", state, "--fx", str(FX_FILE)) as (base, _):
            yield base, key


# the document the server serves (a test checks they are equal), read without a server
schema = schemathesis.openapi.from_dict(openapi_document())


@schema.parametrize()
@settings(
    max_examples=5,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_rsgi_server_conforms_to_its_openapi_document(
    case: schemathesis.Case, served: tuple[str, str]
) -> None:
    # as test_fuzz_openapi.py: the documented 400/422 for schema-valid but unrateable input
    case.call_and_validate(
        base_url=served[0],
        headers={"Authorization": f"Bearer {served[1]}"},
        excluded_checks=[schemathesis.checks.positive_data_acceptance],
    )
