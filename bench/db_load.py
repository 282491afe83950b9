"""Can pages read while a run writes every step? A load test of the SQLite store.

One run trains in the background (the job manager's thread, as in the server),
logging a metrics row at every step, while 4 readers, each with its own
connection as each page script has, poll the run and its metrics at 10 Hz.
Prints the readers' errors (target: none) and their latency percentiles, and
the ratio of the p95 under load to the p95 of the same reads once the run has
stopped (same process). Those idle reads return every row the run wrote, more
than any read under load did, so a ratio near or below 1 says that the writer
costs the readers nothing measurable.

    python bench/db_load.py [--seconds 60] [--readers 4] [--hz 10]
"""

import argparse
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def poll(db_path, run_id: str, hz: float, stop: threading.Event, latencies: list, errors: list):
    """Read the run and all its metrics `hz` times a second until `stop` is set."""
    from storage import queries
    from storage.db import connect

    db = connect(db_path)
    while not stop.is_set():
        started = time.perf_counter()
        try:
            queries.get_run(db, run_id)
            queries.run_metrics(db, run_id)
        except Exception as error:  # every failure is counted, none may stop the others
            errors.append(f"{type(error).__name__}: {error}")
        latencies.append(time.perf_counter() - started)
        stop.wait(max(0.0, 1 / hz - (time.perf_counter() - started)))


def load(db_path, run_id: str, readers: int, hz: float, seconds: float) -> tuple[np.ndarray, list]:
    """Run `readers` pollers for `seconds`; (latencies in seconds, errors)."""
    stop, latencies, errors = threading.Event(), [], []
    threads = [threading.Thread(target=poll, args=(db_path, run_id, hz, stop, latencies, errors))
               for _ in range(readers)]
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return np.array(latencies), errors


def describe(name: str, latencies: np.ndarray) -> str:
    p50, p95, top = np.percentile(latencies, [50, 95, 100]) * 1000
    return f"{name}: {len(latencies)} reads, p50 {p50:.1f} ms, p95 {p95:.1f} ms, max {top:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--readers", type=int, default=4)
    parser.add_argument("--hz", type=float, default=10)
    args = parser.parse_args()
    os.environ["WORKBENCH_HOME"] = tempfile.mkdtemp(prefix="db-load-")

    from core import paths
    from core.config import settle
    from core.jobs import JobManager
    from storage import queries
    from storage.db import connect

    manager = JobManager(paths.db_path())
    config = settle({"max_steps": 100_000, "logging_steps": 1}, "quick-cpu")
    run_id = manager.start(config)
    db = connect(paths.db_path())
    while len(queries.run_metrics(db, run_id)) < 3:  # really training, rows arriving
        time.sleep(0.5)
    before = len(queries.run_metrics(db, run_id))
    busy, errors = load(paths.db_path(), run_id, args.readers, args.hz, args.seconds)
    written = len(queries.run_metrics(db, run_id)) - before
    manager.stop(run_id)
    manager.wait()
    idle, idle_errors = load(paths.db_path(), run_id, args.readers, args.hz, min(args.seconds, 15))
    print(f"{args.readers} readers at {args.hz:g} Hz for {args.seconds:g} s while the run wrote "
          f"{written} metrics rows ({written / args.seconds:.1f} a second)")
    print(describe("under load", busy))
    print(describe("idle      ", idle))
    print(f"errors: {len(errors) + len(idle_errors)}" + (f" (first: {errors[0]})" if errors else ""))
    print(f"ratio p95 under load / idle: {np.percentile(busy, 95) / np.percentile(idle, 95):.2f}")


if __name__ == "__main__":
    main()
