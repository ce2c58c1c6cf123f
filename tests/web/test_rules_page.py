"""The rules explorer in real Chromium: choose, submit, read back, compare with the law layer."""

from __future__ import annotations

import datetime as dt
import subprocess
import tempfile

import pytest
from browser_support import *  # noqa: F403  (the fixtures)
from browser_support import CHROMIUM, CHROMIUM_FLAGS, require
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from roamlike.law import default_catalog, format_decimal, resolve

pytestmark = pytest.mark.browser


def shown_caps(driver: object) -> dict[str, str]:
    rows = driver.find_elements(By.CSS_SELECTOR, "#caps tbody tr")  # type: ignore[attr-defined]
    return {
        r.find_element(By.CSS_SELECTOR, "td.num").get_attribute("data-parameter"): r.find_element(
            By.CSS_SELECTOR, "td.num"
        ).text
        for r in rows
    }


def test_rules_rs_me_wb_phase2_shows_law_layer_caps(browser, web_server):
    browser.get(f"{web_server}/rules?home=RS&visited=ME&on=2020-03-01")
    expected = resolve("RS", "ME", dt.date(2020, 3, 1))
    assert browser.find_element(By.ID, "regime").get_attribute("data-regime") == "wb_rra"
    assert browser.find_element(By.ID, "kind").text == expected.kind == "surcharge_cap"
    assert shown_caps(browser) == {c.parameter: format_decimal(c.value) for c in expected.caps}


def test_rules_form_choose_pair_and_date_then_submit(browser, web_server):
    browser.get(f"{web_server}/rules")
    Select(browser.find_element(By.ID, "home")).select_by_visible_text("Germany (DE)")
    Select(browser.find_element(By.ID, "visited")).select_by_visible_text("Albania (AL)")
    field = browser.find_element(By.ID, "on")
    browser.execute_script("arguments[0].value = '2024-05-01'", field)
    browser.find_element(By.CSS_SELECTOR, "form.query button").click()
    WebDriverWait(browser, 30).until(lambda d: "home=DE" in d.current_url)
    assert "home=DE" in browser.current_url
    assert "on=2024-05-01" in browser.current_url
    expected = resolve("DE", "AL", dt.date(2024, 5, 1))
    assert browser.find_element(By.ID, "regime").get_attribute("data-regime") == expected.regime
    assert shown_caps(browser) == {c.parameter: format_decimal(c.value) for c in expected.caps}


def test_rules_matrix_cell_opens_pair_and_back_restores(browser, web_server):
    browser.get(f"{web_server}/rules?home=RS&visited=ME&on=2020-03-01")
    cell = browser.find_element(By.CSS_SELECTOR, "#matrix a[href*='home=UA'][href*='visited=PL']")
    cell.click()
    WebDriverWait(browser, 30).until(lambda d: "home=UA" in d.current_url)
    assert browser.find_element(By.ID, "regime").get_attribute("data-regime") == (
        resolve("UA", "PL", dt.date(2020, 3, 1)).regime
    )
    assert "home=UA" in browser.current_url
    browser.back()
    assert "home=RS" in browser.current_url
    assert browser.find_element(By.ID, "regime").get_attribute("data-regime") == "wb_rra"
    browser.forward()
    assert "home=UA" in browser.current_url


def test_rules_step_chart_marks_the_date(browser, web_server):
    browser.get(f"{web_server}/rules?home=RS&visited=ME&on=2020-03-01")
    charts = browser.find_elements(By.CSS_SELECTOR, "figure.cap-chart svg")
    assert charts
    assert all(c.find_elements(By.CSS_SELECTOR, "line.marker") for c in charts)
    assert "2020-03-01" in charts[0].text


def test_rules_bad_input_is_a_message_not_a_traceback(browser, web_server):
    browser.get(f"{web_server}/rules?home=QQ&visited=ME&on=2020-13-01")
    alert = browser.find_element(By.CSS_SELECTOR, "[role=alert]").text
    assert "unknown country code 'QQ'" in alert
    assert "expected a date YYYY-MM-DD" in alert
    browser.get(f"{web_server}/rules?home=RS&visited=ME&on=2040-01-01")
    assert "2040-01-01" in browser.find_element(By.CSS_SELECTOR, "[role=alert]").text


def test_dump_dom_shows_regime_and_caps_without_script(web_server):
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


RECAST_EURLEX = "https://eur-lex.europa.eu/legal-content/EN/TXT/?uri=CELEX:32022R0612"


def linked_bases(driver: object) -> dict[str, str | None]:
    """Parameter id -> the address its basis links to (None: shown without a link)."""
    return driver.execute_script(  # type: ignore[attr-defined, no-any-return]
        "return Object.fromEntries(Array.from(document.querySelectorAll('#caps tbody tr')).map("
        "r => [r.cells[2].dataset.parameter, (r.cells[4].querySelector('a.source') || {}).href"
        " || null]))"
    )


def test_rules_basis_links_to_the_registry_source(browser, web_server):
    catalog = default_catalog()
    browser.get(f"{web_server}/rules?home=UA&visited=PL&on=2026-02-01")
    links = linked_bases(browser)
    assert links
    assert set(links.values()) == {RECAST_EURLEX}
    assert catalog.sources["eurlex_2022_612"].url == RECAST_EURLEX
    regime_link = browser.find_element(By.CSS_SELECTOR, "dl.facts a.source")
    assert regime_link.get_attribute("href") == RECAST_EURLEX
    # a value whose sources record no web address is cited without a link
    day = dt.date(2020, 3, 1)
    browser.get(f"{web_server}/rules?home=RS&visited=ME&on={day.isoformat()}")
    links = linked_bases(browser)
    for cap in resolve("RS", "ME", day).caps:
        step_sources = catalog.parameters[cap.parameter].step_at(day).sources
        inst_sources = catalog.instruments[cap.basis.instrument].sources
        urls = [
            catalog.sources[s].url
            for s in (*step_sources, *inst_sources)
            if catalog.sources[s].url.startswith("http")
        ]
        assert links[cap.parameter] == (urls[0] if urls else None)
    assert None in links.values()
    assert any(v is not None for v in links.values())
