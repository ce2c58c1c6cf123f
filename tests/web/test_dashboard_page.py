"""The operator dashboard in real Chromium: sign in with an API key (never in a URL), see only
the tenant's own subscribers, events and runs, with the counters ``GET /v1/subscribers`` gives."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml
from browser_support import *  # noqa: F403  (the fixtures)
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from roamlike.service.overview import NOTIFICATION_FLAGS
from roamlike.service.tenants import add_tenant
from roamlike.state import migrate, open_store
from roamlike.state.ledger import LedgerRun, record_run
from roamlike.web.dashboard_page import COOKIE

pytestmark = pytest.mark.browser
PLANS = Path(__file__).parents[2] / "examples" / "plans_illustrative.yaml"


def call(url: str, key: str, method: str, body: bytes, media: str) -> Any:
    request = urllib.request.Request(url, data=body or None, method=method)
    request.add_header("Authorization", f"Bearer {key}")
    if media:
        request.add_header("Content-Type", media)
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.loads(answer.read())


def _events(key: str, base: str, subs: tuple[str, ...]) -> None:
    doc = yaml.safe_load(PLANS.read_text(encoding="utf-8"))
    plans = yaml.safe_dump({"plans": [p for p in doc["plans"] if p["id"] == "de_unlimited_ok"]})
    call(
        f"{base}/v1/plans?from=2017-01-01T00:00:00Z", key, "PUT", plans.encode(), "application/yaml"
    )
    records = [
        {
            "record_id": f"{sub}-{i}",
            "subscriber_id": sub,
            "plan_id": "de_unlimited_ok",
            "event_type": "data",
            "started_at": f"2026-03-0{i + 1}T09:00:00Z",
            "utc_offset_min": 60,
            "home_country": "DE",
            "visited_country": "IT",
            "volume_bytes": 700_000_000 * (i + 1),
        }
        for sub in subs
        for i in range(3)
    ]
    body = json.dumps({"records": records}).encode()
    answer = call(f"{base}/v1/events", key, "POST", body, "application/json")
    assert len(answer["rated"]) == len(records)


@pytest.fixture(scope="module")
def tenants(web_server_state: tuple[str, str]) -> dict[str, str]:
    """Two tenants with their own subscribers, events and one batch run each: name -> key."""
    base, state = web_server_state
    keys = {}
    with open_store(state) as store:
        migrate(store)
        for name in ("dash-acme", "dash-other"):
            tenant, keys[name] = add_tenant(store, name)
            with store.transaction() as tx:
                run = LedgerRun(
                    f"run-{name}", f"{name}-day.csv", name.ljust(64, "0"), 100, 4,
                    "2026-03-04T00:00:00+00:00", "2026-03-04T00:00:02+00:00", 3, 1, 0, 1, {}, {},
                )  # fmt: skip
                record_run(tx, run, tenant=tenant.tenant_id)
    _events(keys["dash-acme"], base, ("acme-1", "acme-2"))
    _events(keys["dash-other"], base, ("other-1",))
    return keys


def sign_in(driver: Any, base: str, key: str) -> None:
    driver.delete_all_cookies()
    driver.get(f"{base}/dashboard")
    driver.find_element(By.ID, "api_key").send_keys(key)
    driver.find_element(By.CSS_SELECTOR, "form.query button").click()
    WebDriverWait(driver, 30).until(lambda d: d.find_elements(By.ID, "tenant"))


def test_dashboard_shows_only_the_tenants_own_data(browser, web_server_state, tenants):
    base, state = web_server_state
    key = tenants["dash-acme"]
    sign_in(browser, base, key)
    assert browser.find_element(By.ID, "tenant").text == "dash-acme"
    assert key not in browser.current_url
    assert browser.current_url == f"{base}/dashboard"
    [cookie] = [c for c in browser.get_cookies() if c["name"] == COOKIE]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["path"] == "/dashboard"
    assert browser.execute_script("return document.cookie") == ""  # HttpOnly: no script reads it
    subs = {
        r.get_attribute("data-subscriber")
        for r in browser.find_elements(By.CSS_SELECTOR, "#counters tbody tr")
    }
    assert subs == {"acme-1", "acme-2"}
    records = {
        r.get_attribute("data-record")
        for r in browser.find_elements(By.CSS_SELECTOR, "#events tbody tr")
    }
    assert records == {f"{s}-{i}" for s in ("acme-1", "acme-2") for i in range(3)}
    runs = [
        r.get_attribute("data-run")
        for r in browser.find_elements(By.CSS_SELECTOR, "#runs tbody tr")
    ]
    assert runs == ["run-dash-acme"]
    assert "other-1" not in browser.page_source
    # a guessed subscriber of the other tenant: a message, none of its data
    browser.get(f"{base}/dashboard?subscriber=other-1")
    assert "no subscriber 'other-1'" in browser.find_element(By.CSS_SELECTOR, "[role=alert]").text
    assert not browser.find_elements(By.CSS_SELECTOR, "#counters tbody tr")
    # the other tenant's key shows the other tenant's data only
    sign_in(browser, base, tenants["dash-other"])
    subs = {
        r.get_attribute("data-subscriber")
        for r in browser.find_elements(By.CSS_SELECTOR, "#counters tbody tr")
    }
    assert subs == {"other-1"}
    assert "acme-1" not in browser.page_source
    # no key ever reached the server's log
    for log in Path(state).parent.glob("server-*.log"):
        text = log.read_text(errors="replace")
        assert all(k not in text for k in tenants.values())


def test_dashboard_counters_equal_v1_subscribers(browser, web_server_state, tenants):
    base, _ = web_server_state
    key = tenants["dash-acme"]
    sign_in(browser, base, key)
    browser.find_element(By.ID, "subscriber").send_keys("acme-2")
    browser.find_element(By.CSS_SELECTOR, "form[method=get] button").click()
    WebDriverWait(browser, 30).until(lambda d: "subscriber=acme-2" in d.current_url)
    api = call(f"{base}/v1/subscribers/acme-2", key, "GET", b"", "")
    shown = browser.execute_script(
        "return Array.from(document.querySelectorAll('#counters tbody tr')).map(r => ["
        "r.cells[1].innerText, r.cells[2].innerText, r.cells[3].innerText, r.cells[4].innerText,"
        "r.cells[5].innerText, r.cells[6].innerText, r.cells[7].dataset.micros,"
        "r.cells[8].innerText])"
    )
    assert shown == [
        [
            p["plan_id"], p["period_start"], str(p["voice_used_s"]), str(p["sms_used"]),
            str(p["data_used_bytes"]), str(p["fup_used_bytes"]), str(p["billshock_spend_micros"]),
            ", ".join(n for n in NOTIFICATION_FLAGS if p[f"has_{n}"]) or "–",
        ]
        for p in api["periods"]
    ]  # fmt: skip
    rows = browser.find_elements(By.CSS_SELECTOR, "#events tbody tr")
    assert {r.get_attribute("data-record") for r in rows} == {f"acme-2-{i}" for i in range(3)}
    assert api["events_stored"] == len(rows)


def test_dashboard_wrong_key_and_sign_out(browser, web_server_state, tenants):
    base, _ = web_server_state
    browser.delete_all_cookies()
    browser.get(f"{base}/dashboard")
    browser.find_element(By.ID, "api_key").send_keys("rlk_00000000_" + "x" * 43)
    browser.find_element(By.CSS_SELECTOR, "form.query button").click()
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.CSS_SELECTOR, "[role=alert]"))
    assert "unknown or revoked" in browser.find_element(By.CSS_SELECTOR, "[role=alert]").text
    assert not browser.get_cookies()
    assert not browser.find_elements(By.ID, "tenant")
    sign_in(browser, base, tenants["dash-acme"])
    browser.find_element(By.XPATH, "//button[text()='Sign out']").click()
    WebDriverWait(browser, 30).until(lambda d: d.find_elements(By.ID, "api_key"))
    assert not [c for c in browser.get_cookies() if c["name"] == COOKIE]
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(
            urllib.request.Request(f"{base}/dashboard", headers={"Cookie": f"{COOKIE}=guess"}),
            timeout=30,
        )
    assert caught.value.code == 401
    caught.value.close()
