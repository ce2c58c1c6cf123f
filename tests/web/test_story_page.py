"""The Western Balkans story in real Chromium: the page is ``roamlike demo``'s report."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
from browser_support import *  # noqa: F403  (the fixtures)
from browser_support import STORY_RECORDS
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from typer.testing import CliRunner

from roamlike.cli import app
from roamlike.web.story_page import BACK_LINK

pytestmark = pytest.mark.browser


def test_story_is_the_demo_report(browser, web_server, tmp_path: Path):
    browser.get(f"{web_server}/story")
    result = CliRunner().invoke(
        app, ["demo", "--out", str(tmp_path), "--records", str(STORY_RECORDS)]
    )
    assert result.exit_code == 0, result.output
    WebDriverWait(browser, 90, poll_frequency=1).until(
        lambda d: (
            (d.refresh() or True) and "roamlike pages" in d.find_element(By.TAG_NAME, "nav").text
        )
    )
    expected = (tmp_path / "report.html").read_text()
    with urllib.request.urlopen(f"{web_server}/story", timeout=30) as answer:
        served = answer.read().decode()
    assert served == expected.replace("<body>", "<body>" + BACK_LINK, 1)
    assert browser.title
    assert browser.title in expected
    shown_tables = browser.execute_script(
        "return Array.from(document.querySelectorAll('table')).map(t => t.innerText)"
    )
    assert shown_tables
    assert len(shown_tables) == expected.count("<table")
    assert browser.find_elements(By.CSS_SELECTOR, "svg")
