"""Do the pages stay responsive while a run trains?

Times full script runs of the Train page (AppTest, the form with its data
preview and memory estimate) and of the same page watching a run, first with
nothing training, then while a run trains in this process, as it would in
the server. Prints the medians and their ratio (target: under 1.5).

    python bench/ui_latency.py [--repeats 15]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def timed_runs(page, repeats: int) -> list[float]:
    durations = []
    for _ in range(repeats):
        started = time.perf_counter()
        page.run()
        durations.append(time.perf_counter() - started)
        if page.exception:
            raise SystemExit(f"page raised: {page.exception}")
    return durations


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    os.environ["WORKBENCH_HOME"] = tempfile.mkdtemp(prefix="ui-latency-")

    from streamlit.testing.v1 import AppTest

    from core.config import settle
    from storage import queries
    from ui.common import jobs, open_db

    form = AppTest.from_file(str(ROOT / "app_pages" / "train.py"), default_timeout=120)
    form.run()  # warm the caches: data preview, model sizing
    idle = timed_runs(form, args.repeats)

    config = settle({"max_steps": 100_000}, "quick-cpu")
    run_id = jobs().start(config)
    db = open_db()
    while not queries.run_metrics(db, run_id):  # wait until it is really training
        time.sleep(0.5)
    watching = AppTest.from_file(str(ROOT / "app_pages" / "train.py"), default_timeout=120)
    watching.query_params["run"] = run_id
    busy = timed_runs(form, args.repeats)
    busy_watch = timed_runs(watching, args.repeats)
    jobs().stop(run_id)
    jobs().wait(120)
    idle_watch = timed_runs(watching, args.repeats)  # the same page over the stopped run

    def show(name, values):
        print(f"{name:34s} median {statistics.median(values) * 1000:7.1f} ms "
              f"(min {min(values) * 1000:.1f}, max {max(values) * 1000:.1f})")

    show("Train form, nothing training", idle)
    show("Train form, a run training", busy)
    show("Run view, run stopped", idle_watch)
    show("Run view, run training (live)", busy_watch)
    ratio = statistics.median(busy) / statistics.median(idle)
    print(f"ratio training / idle (Train form) = {ratio:.2f} (target < 1.5)")


if __name__ == "__main__":
    main()
