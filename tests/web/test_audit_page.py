"""The plan audit in real Chromium: upload, findings equal ``roamlike audit --json``, filters kept
in the URL (back/forward), JSON and HTML downloads equal the CLI's outputs."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from browser_support import browser, chromium_session, web_server  # noqa: F401  (fixtures)
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait
from typer.testing import CliRunner

from roamlike.cli import app
from roamlike.synth.generator import fx_reference_rows

pytestmark = pytest.mark.browser
PLANS = Path(__file__).parents[2] / "examples" / "plans_illustrative.yaml"


@pytest.fixture
def cli_audit(tmp_path: Path) -> tuple[list[dict[str, object]], str]:
    """``roamlike audit`` of the illustrative plans on 2026-03-01 with the pages' FX table."""
    fx = tmp_path / "fx.csv"
    rows = ["date,currency,units_per_eur"] + [
        f"{d.isoformat()},{c},{r}" for d, c, r in fx_reference_rows()
    ]
    fx.write_text("\n".join(rows) + "\n")
    report = tmp_path / "report.html"
    args = ["audit", str(PLANS), "--on", "2026-03-01", "--fx", str(fx)]
    result = CliRunner().invoke(app, [*args, "--json", "--html", str(report)])
    assert result.exit_code == 1, result.output  # the illustrative plans have failures
    return json.loads(result.stdout), report.read_text()


def upload(browser, web_server) -> None:  # noqa: F811
    browser.get(f"{web_server}/audit?on=2026-03-01")
    browser.find_element(By.CSS_SELECTOR, "details.upload summary").click()
    browser.find_element(By.ID, "plans-file").send_keys(str(PLANS))
    WebDriverWait(browser, 10).until(
        lambda d: d.find_element(By.ID, "plans_text-note").text.startswith("Loaded")
    )
    browser.find_element(By.CSS_SELECTOR, "details.upload button").click()
    WebDriverWait(browser, 10).until(lambda d: "plans=" in d.current_url)


def visible_rows(driver: object) -> list[list[str]]:
    """The text of the findings rows the reader sees (one script call, not one per cell)."""
    return driver.execute_script(  # type: ignore[attr-defined, no-any-return]
        "return Array.from(document.querySelectorAll('#findings tbody tr'))"
        ".filter(r => r.offsetParent !== null)"
        ".map(r => Array.from(r.cells).map(c => c.innerText.trim()));"
    )


def test_audit_upload_shows_cli_findings(browser, web_server, cli_audit):  # noqa: F811
    upload(browser, web_server)
    expected, _ = cli_audit
    rows = visible_rows(browser)
    assert len(rows) == len(expected)
    for row, f in zip(rows, expected, strict=True):
        assert row[:4] == [f["plan_id"], f["check"], f["status"], f["severity"]]
        assert row[4:6] == [f["expected"], f["found"]]
        assert row[6] == (f["basis"] or "–")
        assert row[7] == (f["grade"] or "–")


def test_audit_filters_live_in_the_url(browser, web_server, cli_audit):  # noqa: F811
    upload(browser, web_server)
    expected, _ = cli_audit
    Select(browser.find_element(By.ID, "status")).select_by_value("fail")
    WebDriverWait(browser, 10).until(lambda d: "status=fail" in d.current_url)
    fails = [f for f in expected if f["status"] == "fail"]
    assert fails
    assert [r[1] for r in visible_rows(browser)] == [f["check"] for f in fails]
    Select(browser.find_element(By.ID, "severity")).select_by_value("warning")
    WebDriverWait(browser, 10).until(lambda d: "severity=warning" in d.current_url)
    warned = [f for f in fails if f["severity"] == "warning"]
    assert len(visible_rows(browser)) == len(warned)
    browser.back()
    WebDriverWait(browser, 10).until(lambda d: "severity" not in d.current_url)
    assert len(visible_rows(browser)) == len(fails)
    browser.refresh()  # the server applies the filter from the URL too
    assert len(visible_rows(browser)) == len(fails)
    assert browser.find_element(By.ID, "status").get_attribute("value") == "fail"


def test_audit_downloads_equal_cli_outputs(browser, web_server, cli_audit):  # noqa: F811
    upload(browser, web_server)
    expected, report = cli_audit
    json_link = browser.find_element(By.ID, "download-json").get_attribute("href")
    with urllib.request.urlopen(json_link, timeout=30) as answer:
        assert answer.headers["Content-Disposition"].startswith("attachment")
        assert json.loads(answer.read()) == expected
    html_link = browser.find_element(By.ID, "download-html").get_attribute("href")
    with urllib.request.urlopen(html_link, timeout=30) as answer:
        assert answer.read().decode() == report


def test_audit_bad_date_and_bad_plans_are_messages(browser, web_server):  # noqa: F811
    browser.get(f"{web_server}/audit?on=yesterday&status=maybe")
    alert = browser.find_element(By.CSS_SELECTOR, "[role=alert]").text
    assert "audit date: expected a date YYYY-MM-DD, found 'yesterday'" in alert
    assert "status: one of pass, fail, not_applicable, found 'maybe'" in alert
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(f"{web_server}/audit/findings.json?plans=xx", timeout=30)
    assert info.value.code == 400
    info.value.close()
