"""``ntl serve`` as a real server: started by the tests on a free loopback port, stopped after.

A headless Chromium (Debian's ``chromium`` and ``chromium-driver``, driven by Selenium) uploads
a smoke-sized file, sorts the list, opens a customer and checks the chart and reasons; without
Chromium that test skips and says how to enable it (``.ci/run`` installs both packages). The
other tests check what only a real process shows: refusals at start, and that the token never
reaches the logs.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,1600",
)
TOKEN = "live-server-token-0123456789abcdef"
START_SECONDS = 90  # imports and loading the run on a busy two-core machine


def free_port() -> int:
    """A TCP port nothing listens on at the moment (the OS picks it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class LiveServer:
    url: str
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def ntl_serve(
    *args: str, env: dict[str, str] | None = None, **kwargs
) -> subprocess.CompletedProcess:
    """Run ``python -m ntl serve ...`` to completion (for the starts that must be refused)."""
    return subprocess.run(
        [sys.executable, "-m", "ntl", "serve", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        **kwargs,
    )


@contextlib.contextmanager
def live_server(
    artifacts: Path, log: Path, env: dict[str, str] | None = None
) -> Iterator[LiveServer]:
    """``python -m ntl serve`` on a free loopback port until the block ends (then stopped)."""
    port = free_port()
    environment = {key: value for key, value in os.environ.items() if key != "NTL_API_TOKEN"}
    environment |= env or {}  # no token unless the test gives one
    with log.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "ntl", "serve", "--artifacts", str(artifacts),
             "--port", str(port), "--host", "127.0.0.1"],
            stdout=sink, stderr=subprocess.STDOUT, env=environment,
        )  # fmt: skip
    server = LiveServer(f"http://127.0.0.1:{port}", process, log)
    headers = {"Authorization": f"Bearer {env['NTL_API_TOKEN']}"} if env else {}
    try:
        deadline = time.monotonic() + START_SECONDS
        while True:  # bounded by the deadline
            if process.poll() is not None:
                pytest.fail(f"ntl serve exited with {process.returncode}:\n{server.output()}")
            with contextlib.suppress(httpx.TransportError):
                if (
                    httpx.get(f"{server.url}/api/health", headers=headers, timeout=2).status_code
                    == 200
                ):
                    break
            if time.monotonic() > deadline:
                pytest.fail(
                    f"ntl serve did not answer within {START_SECONDS} s:\n{server.output()}"
                )
            time.sleep(0.25)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


# --------------------------------------------------------------------------- refused starts


def test_start_refusals_are_one_line_and_exit_code_2(smoke_artifacts, tmp_path):
    no_token = {"NTL_API_TOKEN": ""}
    cases = [
        (["--artifacts", str(smoke_artifacts), "--host", "0.0.0.0"], "is reachable from other machines: set an API token"),
        (["--artifacts", str(tmp_path / "none")], "no finished run there (no manifest.json); run the chain first: make run-all"),
        (["--artifacts", str(smoke_artifacts), "--port", "70000"], "--port must be between 1 and 65535"),
    ]  # fmt: skip
    copy = tmp_path / "tampered"
    shutil.copytree(smoke_artifacts, copy)
    with (copy / "preprocessing.json").open("ab") as handle:
        handle.write(b"x")
    cases.append((["--artifacts", str(copy)], "preprocessing.json changed since"))
    for args, message in cases:
        done = ntl_serve(*args, env=no_token)
        assert done.returncode == 2, (args, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
        assert "Traceback" not in done.stderr


def test_token_is_required_and_never_logged(smoke_artifacts, tmp_path):
    with live_server(
        smoke_artifacts, tmp_path / "server.log", env={"NTL_API_TOKEN": TOKEN}
    ) as server:
        assert httpx.get(f"{server.url}/api/health").status_code == 401
        wrong = {"Authorization": "Bearer not-the-token-0123456789"}
        assert httpx.get(f"{server.url}/api/health", headers=wrong).status_code == 401
        right = {"Authorization": f"Bearer {TOKEN}"}
        assert httpx.get(f"{server.url}/api/model", headers=right).status_code == 200
        with httpx.Client(base_url=server.url, follow_redirects=True) as browser_like:
            login = browser_like.post("/login", data={"token": TOKEN, "next": "/model"})
            assert login.status_code == 200 and "Model card" in login.text  # followed the 303
        assert httpx.get(f"{server.url}/api/health", headers=right).json()["verified"] is True
    log = server.output()
    assert "GET /api/model" in log and "POST /login" in log  # the access log was captured
    assert TOKEN not in log


# --------------------------------------------------------------------------- real browser


@pytest.fixture
def chromium(tmp_path, monkeypatch):
    """A headless Chromium driven by Selenium, with the Debian packages' binaries (no Selenium
    Manager download), a fresh profile, and no network chatter of its own."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.skip(
            f"the browser test needs {CHROMIUM} and {CHROMEDRIVER}: install Debian's packages "
            "with `apt-get install chromium chromium-driver` (.ci/run does this on CI)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must never fetch anything
    options = webdriver.ChromeOptions()
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'profile'}")
    options.binary_location = str(CHROMIUM)
    driver = webdriver.Chrome(
        service=Service(executable_path=str(CHROMEDRIVER), log_output=str(tmp_path / "driver.log")),
        options=options,
    )
    driver.set_page_load_timeout(120)
    try:
        yield driver
    finally:
        driver.quit()


def test_browser_uploads_sorts_and_opens_a_customer(
    smoke_artifacts, smoke_export, chromium, tmp_path
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as EC
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(chromium, 120)

    def scores() -> list[float]:
        cells = chromium.find_elements(By.CSS_SELECTOR, "#ranked td.score")
        return [float(cell.text) for cell in cells]

    with live_server(smoke_artifacts, tmp_path / "server.log") as server:
        chromium.get(server.url + "/")
        assert "Score a meter export" in chromium.page_source
        chromium.find_element(By.ID, "file").send_keys(str(smoke_export))
        chromium.find_element(By.ID, "score").click()
        wait.until(EC.presence_of_element_located((By.ID, "ranked")))
        assert "/results/" in chromium.current_url
        list_url = chromium.current_url  # the list in its order: customers to inspect first
        assert "Inspection list: meters.csv" in chromium.page_source
        first = scores()
        assert len(first) == 50 and first == sorted(first, reverse=True)

        chromium.find_element(By.CSS_SELECTOR, "a.sort[data-column='risk_score']").click()
        wait.until(EC.text_to_be_present_in_element((By.ID, "page-status"), "risk_score (asc)"))
        rising = scores()
        assert rising == sorted(rising) and rising[0] < first[0]
        chromium.find_element(By.CSS_SELECTOR, "a.sort[data-column='risk_score']").click()
        wait.until(EC.text_to_be_present_in_element((By.ID, "page-status"), "risk_score (desc)"))
        # by score, the known cases the list sets last (FLAG 1 in the file) join the ranking
        falling = scores()
        assert falling == sorted(falling, reverse=True) and falling[0] >= first[0]

        chromium.get(list_url)
        wait.until(EC.presence_of_element_located((By.ID, "ranked")))
        assert scores() == first
        top = chromium.find_element(By.CSS_SELECTOR, "#ranked a.customer")
        customer_id = top.text
        row = top.find_element(By.XPATH, "./ancestor::tr")
        listed_reasons = [
            d.text for d in row.find_elements(By.CSS_SELECTOR, "td.reasons div.reason-cell")
        ]
        top.click()
        wait.until(EC.presence_of_element_located((By.ID, "consumption-chart")))
        assert chromium.find_element(By.ID, "customer-id").text == customer_id
        chart = chromium.find_element(By.CSS_SELECTOR, "#consumption-chart svg")
        assert chart.size["width"] > 300 and chart.size["height"] > 80  # drawn, not empty
        assert chromium.find_elements(By.CSS_SELECTOR, "#consumption-chart svg polyline")
        assert len(chromium.find_elements(By.CSS_SELECTOR, "#profile-charts svg")) == 2
        shown = [r.text for r in chromium.find_elements(By.CSS_SELECTOR, "#reasons .reason")]
        assert shown and shown == listed_reasons
        assert chromium.find_element(By.ID, "tier").text in {"high", "medium"}
        chromium.save_screenshot(str(tmp_path / "customer.png"))
    assert re.search(r"POST /upload HTTP/1.1\" 303", server.output())
