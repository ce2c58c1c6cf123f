"""Fixtures of the browser tests: a real server on 127.0.0.1 and Debian's Chromium.

The pages run in a granian process (as ``roamlike serve`` runs them) on a free loopback port;
Chromium is driven through Debian's ``/usr/bin/chromedriver`` given explicitly, so Selenium never
tries to download a driver or a browser. A failing test leaves a PNG screenshot in its pytest
temporary directory (the path is printed).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from conftest import require

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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(base: str, proc: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(base + "/static/style.css", timeout=2):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.2)
    raise RuntimeError(f"server at {base} did not answer in {seconds} s")


def start_granian(
    target: str, working_dir: Path, port: int, log: IO[bytes] | None = None
) -> subprocess.Popen[bytes]:
    """granian serving ``target`` (a factory) on 127.0.0.1:``port``."""
    return subprocess.Popen(
        [
            sys.executable, "-m", "granian", "--interface", "asgi", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--working-dir", str(working_dir),
            "--no-access-log", "--log-level", "warning", target,
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
    )  # fmt: skip


@pytest.fixture(scope="session")
def web_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of the pages served by a real server process."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("server") / "server.log"
    log = log_path.open("wb")
    proc = start_granian("webapp:create", HERE, port, log)
    base = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_until_up(base, proc)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}; server log:\n{log_path.read_text()[-3000:]}") from None
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def chromium_driver(width: int = 1280, height: int = 900) -> object:
    """A Selenium Chrome driver on Debian's Chromium and chromedriver."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tempfile.mkdtemp(prefix='roamlike-chromium-')}")
    options.add_argument(f"--window-size={width},{height}")
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


@pytest.fixture(scope="session")
def chromium_session() -> Iterator[object]:
    require("chromium", "chromedriver")
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.fail(f"needs {CHROMIUM} and {CHROMEDRIVER} (scripts/system-packages.sh)")
    driver = chromium_driver()
    try:
        yield driver
    finally:
        driver.quit()  # type: ignore[attr-defined]


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
