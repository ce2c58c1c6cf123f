"""Fixtures of the browser tests: a real server on 127.0.0.1 and Debian's Chromium.

The pages run in a granian process (as ``roamlike serve`` runs them) on a free loopback port;
Chromium is driven through Debian's ``/usr/bin/chromedriver`` given explicitly, so Selenium never
tries to download a driver or a browser. A failing test leaves a PNG screenshot in its pytest
temporary directory (the path is printed).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from roamlike.synth.generator import fx_reference_rows
from roamlike.web.routes import STORY_RECORDS_ENV
from service.server import running_server
from suite import require

__all__ = [
    "STORY_RECORDS",
    "browser",
    "chromium_session",
    "fx_reference_csv",
    "web_server",
    "web_server_state",
]


CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)
HERE = Path(__file__).parent


@pytest.fixture(scope="session")
def fx_reference_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package's reference FX table as a CSV file (what the pages and the CLI both read)."""
    path = tmp_path_factory.mktemp("fx") / "fx_reference.csv"
    rows = ["date,currency,units_per_eur"]
    rows += [f"{d.isoformat()},{c},{r}" for d, c, r in fx_reference_rows()]
    path.write_text("\n".join(rows) + "\n")
    return path


#: Records of the Western Balkans story in the browser tests (the page is byte-compared with
#: ``roamlike demo --records`` of the same size; small, so the report is ready in seconds).
STORY_RECORDS = 2_000


@pytest.fixture(scope="session")
def web_server_state(
    tmp_path_factory: pytest.TempPathFactory, fx_reference_csv: Path
) -> Iterator[tuple[str, str]]:
    """(base URL, state store path) of ``roamlike serve --fx FX --state STORE`` on granian."""
    folder = tmp_path_factory.mktemp("server")
    state = str(folder / "state.db")
    before = os.environ.get(STORY_RECORDS_ENV)
    os.environ[STORY_RECORDS_ENV] = str(STORY_RECORDS)
    try:
        with running_server(folder, "--fx", str(fx_reference_csv), "--state", state) as (
            base,
            _proc,
        ):
            yield base, state
    finally:
        if before is None:
            os.environ.pop(STORY_RECORDS_ENV, None)
        else:
            os.environ[STORY_RECORDS_ENV] = before


@pytest.fixture(scope="session")
def web_server(web_server_state: tuple[str, str]) -> str:
    """Base URL of the pages' server (see :func:`web_server_state`)."""
    return web_server_state[0]


@contextlib.contextmanager
def chromium_driver(width: int = 1280, height: int = 900) -> Iterator[object]:
    """A Selenium Chrome driver on Debian's Chromium and chromedriver.

    Chromium's profile lives in a temporary folder that is removed once the browser has quit,
    so test sessions leave nothing behind in the temporary directory.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="roamlike-chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")
        options.add_argument(f"--window-size={width},{height}")
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        try:
            yield driver
        finally:
            driver.quit()


@pytest.fixture(scope="session")
def chromium_session() -> Iterator[object]:
    require("chromium", "chromedriver")
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.fail(f"needs {CHROMIUM} and {CHROMEDRIVER} (scripts/system-packages.sh)")
    with chromium_driver() as driver:
        yield driver


@pytest.fixture
def browser(chromium_session: object, request: pytest.FixtureRequest, tmp_path: Path) -> object:
    """The session's Chromium at desktop size; a screenshot is saved if the test fails."""
    driver = chromium_session
    driver.set_window_size(1280, 900)  # type: ignore[attr-defined]
    failed_before = request.session.testsfailed
    yield driver
    if request.session.testsfailed > failed_before:
        shot = tmp_path / f"{request.node.name}.png"
        driver.save_screenshot(str(shot))  # type: ignore[attr-defined]
        print(f"screenshot of the failure: {shot}")
