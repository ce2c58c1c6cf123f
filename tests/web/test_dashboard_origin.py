"""The dashboard's forms refuse requests another site's page sent (login and logout forgery)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from roamlike.service import ServiceConfig, create_app
from roamlike.service.tenants import add_tenant
from roamlike.state import migrate, open_store
from roamlike.web.dashboard_page import COOKIE

OWN = "http://testserver"


@pytest.fixture
def dashboard(tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    state = str(tmp_path / "state.db")
    with open_store(state) as store:
        migrate(store)
        _, key = add_tenant(store, "origin-test")
    app = create_app(ServiceConfig(state=state))
    with TestClient(app, base_url=OWN, raise_server_exceptions=False) as client:
        yield client, key


def _sign_in(dashboard: tuple[TestClient, str], headers: dict[str, str]) -> tuple[Any, str]:
    client, key = dashboard
    answer = client.post(
        "/dashboard", data={"api_key": key}, headers=headers, follow_redirects=False
    )
    return answer, key


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site"},
        {"Origin": "https://evil.example"},
        {"Origin": "http://testserver:8081"},
        {"Sec-Fetch-Site": "cross-site", "Origin": OWN},
    ],
)
def test_sign_in_from_another_site_is_refused(
    dashboard: tuple[TestClient, str], headers: dict[str, str]
) -> None:
    answer, _ = _sign_in(dashboard, headers)
    assert answer.status_code == 403
    assert "another site" in answer.text
    assert COOKIE not in answer.cookies


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Origin": OWN},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "same-origin"},
        {"Sec-Fetch-Site": "none"},
        {"Sec-Fetch-Site": "same-origin", "Origin": "https://ignored.example"},
    ],
)
def test_sign_in_from_this_site_sets_the_cookie(
    dashboard: tuple[TestClient, str], headers: dict[str, str]
) -> None:
    answer, key = _sign_in(dashboard, headers)
    assert answer.status_code == 303
    assert answer.cookies.get(COOKIE) == key


def test_sign_out_from_another_site_keeps_the_cookie(dashboard: tuple[TestClient, str]) -> None:
    client, key = dashboard
    client.cookies.set(COOKIE, key, path="/dashboard")
    forged = client.post(
        "/dashboard/sign-out", headers={"Origin": "https://evil.example"}, follow_redirects=False
    )
    assert forged.status_code == 403
    assert "set-cookie" not in forged.headers
    own = client.post("/dashboard/sign-out", headers={"Origin": OWN}, follow_redirects=False)
    assert own.status_code == 303
    assert COOKIE in own.headers["set-cookie"]
