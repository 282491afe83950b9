"""Does watching a run slow it down? Steps per second of one training run with a real
headless browser on the Train page watching it, vs with no page open, alternating.

Starts the server as a user does (`streamlit run app.py`, its own config), launches a
run from the Train page on the bundled defaults (minilm-l6 on rt-reviews) with no
step limit and a metrics row every step, then alternates rounds: the page watching the
run for --seconds, the page away (about:blank) for --seconds, each round's order
flipped to cancel drift. A round's speed is measured between the rows the run logged
at the start and at the end of its window, after --settle seconds to let the page
load or go. Prints each round's ratio (watched speed / unwatched speed) and the median
(goal: at least 0.95).

    python bench/watch_overhead.py [--rounds 5] [--seconds 20]

Keep the machine otherwise idle: another job on the cores is noise.
"""

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from app_server import CHROMIUM, CHROMIUM_ARGS, Server  # noqa: E402


def latest_step(db_path: Path, run_id: str) -> tuple[int, float]:
    """(step, seconds trained) of the run's latest training row."""
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as db:
        return db.execute("select step, time from metrics where run_id = ? and loss is not null "
                          "order by id desc limit 1", [run_id]).fetchone()


def launch_long_run(page, url: str) -> str:
    """Launch from the Train page's form: no step limit but a huge one, a row every step."""
    page.goto(f"{url}/train")
    page.get_by_role("spinbutton", name="Max steps (0 = by epochs)").fill("100000", timeout=120_000)
    page.get_by_role("spinbutton", name="Log every N steps").fill("1")
    page.get_by_role("spinbutton", name="Log every N steps").press("Enter")
    page.wait_for_timeout(3000)
    page.get_by_role("button", name="Launch").click(timeout=120_000)
    page.wait_for_url(lambda address: "run=" in address, timeout=120_000)
    return page.url.split("run=")[1]


def speed(db_path: Path, run_id: str, seconds: float) -> float:
    """Steps per second the run trained over the next `seconds`."""
    step0, time0 = latest_step(db_path, run_id)
    time.sleep(seconds)
    step1, time1 = latest_step(db_path, run_id)
    return (step1 - step0) / (time1 - time0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--settle", type=float, default=8.0)
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    home = Path(tempfile.mkdtemp(prefix="watch-overhead-"))
    server = Server(home)
    url = server.start()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 1600})
            run_id = launch_long_run(page, url)
            watch_url, db_path = f"{url}/train?run={run_id}", home / "workbench.db"
            page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length > 0",
                                   timeout=300_000)
            ratios = []
            for round_number in range(args.rounds):
                rates = {}
                order = ("watched", "away") if round_number % 2 == 0 else ("away", "watched")
                for state in order:
                    page.goto(watch_url if state == "watched" else "about:blank")
                    time.sleep(args.settle)
                    rates[state] = speed(db_path, run_id, args.seconds)
                ratios.append(rates["watched"] / rates["away"])
                print(f"round {round_number + 1}: watched {rates['watched']:.2f} steps/s, "
                      f"away {rates['away']:.2f} steps/s, ratio {ratios[-1]:.3f}", flush=True)
            browser.close()
    finally:
        server.stop()
    print(f"median ratio (watched / away) over {args.rounds} rounds: "
          f"{statistics.median(ratios):.3f} (goal: at least 0.95)")


if __name__ == "__main__":
    main()
