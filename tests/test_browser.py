"""The app in a real browser (Debian's chromium driven by Playwright), as a user would use it.

Starts the server on a free local port, launches a run on the bundled defaults,
watches the loss chart gain points, reloads the page and finds the run again,
stops it, and finds it `stopped` on the Runs page. Screenshots go to test-output/.
"""

import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
OUTPUT = ROOT / "test-output"

if not Path(CHROMIUM).exists():
    if os.environ.get("CI"):
        raise RuntimeError("CI must install Debian's chromium for the browser test")
    pytest.skip("Debian's chromium is not installed (apt-get install chromium)",
                allow_module_level=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    port = free_port()
    env = {**os.environ, "WORKBENCH_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"{url}/_stcore/health", timeout=1).status == 200:
                break
        except OSError:
            time.sleep(0.3)
    else:
        process.kill()
        raise AssertionError(process.stdout.read().decode()[-2000:])
    yield url
    process.terminate()
    process.wait(15)


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield browser
        browser.close()


def chart_points(page) -> int:
    return page.locator(".js-plotly-plot .scatterlayer .point").count()


def test_launch_watch_reload_stop_in_a_real_browser(server, browser):
    OUTPUT.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1600})
    page.goto(server)
    page.get_by_role("button", name="Launch").click(timeout=90_000)
    page.wait_for_url(re.compile(r"\?run="), timeout=60_000)
    run_id = page.url.split("run=")[1]

    page.wait_for_function("document.querySelectorAll('.js-plotly-plot .scatterlayer .point')"
                           ".length >= 2", timeout=120_000)
    first = chart_points(page)
    page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot .scatterlayer .point')"
                           f".length > {first}", timeout=120_000)
    page.screenshot(path=str(OUTPUT / "train-page.png"), full_page=True)

    page.reload()
    page.get_by_text(run_id).first.wait_for(timeout=60_000)
    page.get_by_role("button", name="Stop").click(timeout=60_000)
    page.get_by_text("stopped").first.wait_for(timeout=60_000)

    page.goto(f"{server}/runs?run={run_id}")
    page.get_by_text("1 runs: 1 stopped").wait_for(timeout=60_000)
    page.get_by_text(run_id).first.wait_for(timeout=30_000)
    page.screenshot(path=str(OUTPUT / "runs-page.png"), full_page=True)
