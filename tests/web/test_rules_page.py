"""The rules explorer in real Chromium: choose, submit, read back, compare with the law layer."""

from __future__ import annotations

import datetime as dt
import subprocess
import tempfile

import pytest
from browser_support import (  # noqa: F401  (fixtures)
    CHROMIUM,
    CHROMIUM_FLAGS,
    browser,
    chromium_session,
    web_server,
)
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import require
from roamlike.law import format_decimal, resolve

pytestmark = pytest.mark.browser


def shown_caps(driver: object) -> dict[str, str]:
    rows = driver.find_elements(By.CSS_SELECTOR, "#caps tbody tr")  # type: ignore[attr-defined]
    return {
        r.find_element(By.CSS_SELECTOR, "td.num").get_attribute("data-parameter"): r.find_element(
            By.CSS_SELECTOR, "td.num"
        ).text
        for r in rows
    }


def test_rules_rs_me_wb_phase2_shows_law_layer_caps(browser, web_server):  # noqa: F811
    browser.get(f"{web_server}/rules?home=RS&visited=ME&on=2020-03-01")
    expected = resolve("RS", "ME", dt.date(2020, 3, 1))
    assert browser.find_element(By.ID, "regime").get_attribute("data-regime") == "wb_rra"
    assert browser.find_element(By.ID, "kind").text == expected.kind == "surcharge_cap"
    assert shown_caps(browser) == {c.parameter: format_decimal(c.value) for c in expected.caps}


def test_rules_form_choose_pair_and_date_then_submit(browser, web_server):  # noqa: F811
    browser.get(f"{web_server}/rules")
    Select(browser.find_element(By.ID, "home")).select_by_visible_text("Germany (DE)")
    Select(browser.find_element(By.ID, "visited")).select_by_visible_text("Albania (AL)")
    field = browser.find_element(By.ID, "on")
    browser.execute_script("arguments[0].value = '2024-05-01'", field)
    browser.find_element(By.CSS_SELECTOR, "form.query button").click()
    WebDriverWait(browser, 10).until(lambda d: "home=DE" in d.current_url)
    assert "home=DE" in browser.current_url
    assert "on=2024-05-01" in browser.current_url
    expected = resolve("DE", "AL", dt.date(2024, 5, 1))
    assert browser.find_element(By.ID, "regime").get_attribute("data-regime") == expected.regime
    assert shown_caps(browser) == {c.parameter: format_decimal(c.value) for c in expected.caps}


def test_rules_matrix_cell_opens_pair_and_back_restores(browser, web_server):  # noqa: F811
    browser.get(f"{web_server}/rules?home=RS&visited=ME&on=2020-03-01")
    cell = browser.find_element(By.CSS_SELECTOR, "#matrix a[href*='home=UA'][href*='visited=PL']")
    cell.click()
    WebDriverWait(browser, 10).until(lambda d: "home=UA" in d.current_url)
    assert browser.find_element(By.ID, "regime").get_attribute("data-regime") == (
        resolve("UA", "PL", dt.date(2020, 3, 1)).regime
    )
    assert "home=UA" in browser.current_url
    browser.back()
    assert "home=RS" in browser.current_url
    assert browser.find_element(By.ID, "regime").get_attribute("data-regime") == "wb_rra"
    browser.forward()
    assert "home=UA" in browser.current_url


def test_rules_step_chart_marks_the_date(browser, web_server):  # noqa: F811
    browser.get(f"{web_server}/rules?home=RS&visited=ME&on=2020-03-01")
    charts = browser.find_elements(By.CSS_SELECTOR, "figure.cap-chart svg")
    assert charts
    assert all(c.find_elements(By.CSS_SELECTOR, "line.marker") for c in charts)
    assert "2020-03-01" in charts[0].text


def test_rules_bad_input_is_a_message_not_a_traceback(browser, web_server):  # noqa: F811
    browser.get(f"{web_server}/rules?home=QQ&visited=ME&on=2020-13-01")
    alert = browser.find_element(By.CSS_SELECTOR, "[role=alert]").text
    assert "unknown country code 'QQ'" in alert
    assert "expected a date YYYY-MM-DD" in alert
    browser.get(f"{web_server}/rules?home=RS&visited=ME&on=2040-01-01")
    assert "2040-01-01" in browser.find_element(By.CSS_SELECTOR, "[role=alert]").text


def test_dump_dom_shows_regime_and_caps_without_script(web_server):  # noqa: F811
    require("chromium")
    url = f"{web_server}/rules?home=RS&visited=ME&on=2020-03-01"
    with tempfile.TemporaryDirectory() as profile:
        out = subprocess.run(
            [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", url],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
    assert 'data-regime="wb_rra"' in out
    assert "surcharge_cap" in out
    for cap in resolve("RS", "ME", dt.date(2020, 3, 1)).caps:
        assert f'data-parameter="{cap.parameter}">{format_decimal(cap.value)}<' in out
