"""What the pages show equals the service's JSON API for the same query (same process)."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from browser_support import *  # noqa: F403  (the fixtures)
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

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
