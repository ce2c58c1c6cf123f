"""What the pages show equals the service's JSON API for the same query (same process)."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from browser_support import *  # noqa: F403  (the fixtures)
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from roamlike.demo.scenario import demo_plans
from roamlike.web.trip import AMOUNT_COLUMNS

pytestmark = pytest.mark.browser
PLANS = Path(__file__).parents[2] / "examples" / "plans_illustrative.yaml"


def get_json(url: str, body: bytes | None = None, media: str = "") -> object:
    request = urllib.request.Request(url, data=body, method="POST" if body else "GET")
    if media:
        request.add_header("Content-Type", media)
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())


@pytest.mark.parametrize(
    ("home", "visited", "on"),
    [("RS", "ME", "2020-03-01"), ("DE", "AL", "2024-05-01"), ("UA", "PL", "2026-02-01")],
)
def test_rules_page_equals_v1_rules(browser, web_server, home, visited, on):
    query = f"home={home}&visited={visited}&on={on}"
    api = get_json(f"{web_server}/v1/rules?{query}")
    browser.get(f"{web_server}/rules?{query}")
    assert browser.find_element(By.ID, "regime").get_attribute("data-regime") == api["regime"]
    assert browser.find_element(By.ID, "kind").text == api["kind"]
    shown = browser.execute_script(
        "return Array.from(document.querySelectorAll('#caps tbody tr')).map(r => ["
        "r.cells[2].dataset.parameter, r.cells[2].innerText, r.cells[3].innerText,"
        "r.cells[5].innerText])"
    )
    assert shown == [[c["parameter"], c["value"], c["unit"], c["grade"]] for c in api["caps"]]


def test_audit_download_equals_v1_audit(browser, web_server):
    api = get_json(f"{web_server}/v1/audit?on=2026-03-01", PLANS.read_bytes(), "application/yaml")
    browser.get(f"{web_server}/audit?on=2026-03-01")
    browser.find_element(By.CSS_SELECTOR, "details.upload summary").click()
    box = browser.find_element(By.ID, "plans_text")
    browser.execute_script("arguments[0].value = arguments[1]", box, PLANS.read_text())
    browser.find_element(By.CSS_SELECTOR, "details.upload button").click()
    WebDriverWait(browser, 30).until(lambda d: "plans=" in d.current_url)
    link = browser.find_element(By.ID, "download-json").get_attribute("href")
    assert "plans=" in link
    assert get_json(link) == api


@pytest.mark.parametrize(
    ("query", "event"),
    [
        ("mb=10&min_out=0", {"event_type": "data", "volume_bytes": 10_000_000, "second": 30}),
        ("mb=0&min_out=5", {"event_type": "voice_mo", "duration_s": 300, "second": 0}),
    ],
)
@pytest.mark.parametrize("day", ["2019-06-03", "2020-03-01"])
def test_trip_single_event_equals_v1_quote(browser, web_server, query, event, day):
    """A one-day trip with one event: the bill line shown equals POST /v1/quote's answer."""
    event = dict(event)
    second = event.pop("second")
    browser.get(
        f"{web_server}/trip?plan=rs-standard&visited=ME&from={day}&to={day}&{query}&min_in=0&sms=0"
    )
    row = browser.find_element(
        By.CSS_SELECTOR, f"#bill-0 ~ .scroll tr[data-event='{event['event_type']}']"
    )
    shown = {
        c.get_attribute("data-key"): int(c.get_attribute("data-micros"))
        for c in row.find_elements(By.CSS_SELECTOR, "td[data-key]")
    }
    [plan] = [p for p in demo_plans() if p["id"] == "rs-standard"]
    body = {
        "plan": json.loads(json.dumps(plan, default=str)),
        "visited_country": "ME",
        "started_at": f"{day}T00:00:{second:02d}Z",
        **event,
    }
    quote = get_json(f"{web_server}/v1/quote", json.dumps(body).encode(), "application/json")
    assert shown == {key: quote[key] for key in AMOUNT_COLUMNS}
    assert shown["charge_incl_vat_micros"] > 0
    assert browser.find_element(By.CSS_SELECTOR, "#bill-0 ~ p .regime").text == quote["regime"]
