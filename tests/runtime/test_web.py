"""The web status page: its JSON is `coalition status --json`, /health follows the exit-code
rule, the page escapes everything; and in a real headless browser (Debian's chromium) it shows
a running coalition's committees, health and bootstrap address, and turns degraded when a member
is killed."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from coalition.config_file import load_coalition
from coalition.runtime.member import START_MEMBER_ENV
from coalition.runtime.plan import create_or_load
from coalition.runtime.web import PAGE, make_app, parse_listen

TRIO = Path(__file__).parent / "trio.toml"


def test_json_is_the_status_document_and_health_follows_the_exit_codes(tmp_path: Path) -> None:
    cfg = load_coalition(TRIO).config
    create_or_load(tmp_path, cfg)  # a planned coalition nobody runs
    client = TestClient(make_app(tmp_path))
    doc = client.get("/api/status").json()
    status = subprocess.run(
        [sys.executable, "-m", "coalition", "status", "--data", str(tmp_path), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert status.returncode == 2
    assert doc == json.loads(status.stdout)
    health = client.get("/health")
    assert health.status_code == 503 and health.json() == {"health": "not-running"}
    page = client.get("/")
    assert page.status_code == 200 and page.text == PAGE
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "innerHTML" not in PAGE  # every value is drawn with textContent


def test_listen_addresses() -> None:
    assert parse_listen("127.0.0.1:9000") == ("127.0.0.1", 9000)
    assert parse_listen(":9000") == ("127.0.0.1", 9000)
    assert parse_listen("9000") == ("127.0.0.1", 9000)
    assert parse_listen("[::1]:9000") == ("::1", 9000)
    for bad in ("host:port", "1:70000"):
        with pytest.raises(ValueError):  # noqa: PT011 - the messages differ by case
            parse_listen(bad)


def test_a_taken_port_is_one_line(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        res = subprocess.run(
            [sys.executable, "-m", "coalition", "up", str(TRIO), "--data", str(tmp_path / "d"),
             "--web", f"127.0.0.1:{port}", "--for", "1s"],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "cannot listen on" in res.stderr
    assert not (tmp_path / "d").exists()  # refused before anything was written


def _chromium() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or "/usr/lib/chromium/chromedriver"
    if browser is None or not Path(driver).exists():
        return None
    return browser, driver


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return int(s.getsockname()[1])


@pytest.fixture
def running(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """`coalition up --web` on the test trio, until the test ends."""
    data, port = tmp_path / "data", _free_port()
    env = {k: v for k, v in os.environ.items() if k != START_MEMBER_ENV}
    log = (tmp_path / "up.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "coalition", "up", str(TRIO), "--data", str(data),
         "--web", f"127.0.0.1:{port}", "--no-anchor", "--backoff", "30"],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while True:  # `up` serves the page once its supervisor runs
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                assert proc.poll() is None, (tmp_path / "up.log").read_text()[-2000:]
                assert time.monotonic() < deadline, "the web page never came up"
                time.sleep(0.2)
        yield data, port
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        log.close()


@pytest.mark.slow
def test_the_page_in_a_headless_browser(running: tuple[Path, int]) -> None:
    found = _chromium()
    if found is None:
        pytest.skip(
            "Debian's chromium and chromium-driver are not installed (.ci/run installs them)"
        )
    from selenium import webdriver  # noqa: PLC0415 - only this test drives a browser
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415
    from selenium.webdriver.common.by import By  # noqa: PLC0415
    from selenium.webdriver.support.ui import WebDriverWait  # noqa: PLC0415

    data, port = running
    browser, driver_path = found
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    profile = tempfile.mkdtemp(prefix="coalition-web-")
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile}",
    ):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    try:
        driver.get(f"http://127.0.0.1:{port}/")
        wait = WebDriverWait(driver, 60, poll_frequency=0.5)

        def health() -> str:
            return str(driver.find_element(By.ID, "health").text)

        wait.until(lambda _: health() == "healthy")
        rows = driver.find_elements(By.CSS_SELECTOR, "#committees tbody tr")
        assert {r.get_attribute("data-module") for r in rows} == {"atlas", "almanac", "chronicle"}
        members = driver.find_elements(By.CSS_SELECTOR, "#members tbody tr")
        assert len(members) == 9
        bootstrap = driver.find_element(By.ID, "bootstrap").text
        status = json.loads(
            subprocess.run(
                [sys.executable, "-m", "coalition", "status", "--data", str(data), "--json"],
                capture_output=True, text=True, check=False,
            ).stdout
        )  # fmt: skip
        assert bootstrap in status["bootstrap"]
        victim = status["committees"]["almanac"]["members"][2]
        os.kill(victim["pid"], signal.SIGKILL)  # the supervisor waits 30 s before a restart
        wait.until(lambda _: health() == "degraded")
        row = driver.find_element(By.CSS_SELECTOR, f'#members tr[data-member="{victim["name"]}"]')
        assert "down" in row.text
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
