"""What does training in a worker process of its own cost? The same `quick-cpu` run (minilm-l6,
the Trainer, rt-reviews) from Launch to `completed`, two ways, alternating:

- in process: the run trains in the launching process, as the job manager's thread once ran
  it inside the server (torch and the model's libraries already imported there);
- worker: the job manager's path today, what the Train page's Launch calls: the run is
  queued, claimed, and trained by `python -m core train --run-id ID` in a process of its
  own, which imports torch, reads the data and loads the model again.

Prints each round's seconds and the seconds a worker adds, as a share of the in-process run
(goal: at most 10 %).

    python bench/worker_overhead.py [--rounds 2]

Keep the machine otherwise idle: another job on the cores is noise.
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


def in_process(config) -> float:
    from core import engine, paths
    from storage.db import connect

    started = time.monotonic()
    run_id = engine.train(config, connect(paths.db_path()))
    seconds = time.monotonic() - started
    assert status(run_id) == "completed"
    return seconds


def in_worker(config) -> float:
    from core import paths
    from core.jobs import JobManager

    started = time.monotonic()
    manager = JobManager(paths.db_path())
    run_id = manager.start(config)  # what the Train page's Launch calls
    manager.wait()
    seconds = time.monotonic() - started
    assert status(run_id) == "completed"
    return seconds


def status(run_id: str) -> str:
    from core import paths
    from storage import queries
    from storage.db import connect

    return queries.get_run(connect(paths.db_path()), run_id)["status"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    os.environ["WORKBENCH_HOME"] = tempfile.mkdtemp(prefix="worker-overhead-")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from core.cli import quiet_libraries
    from core.config import PRESETS, TrainConfig
    from core.engine import prepare

    quiet_libraries()
    config = TrainConfig(**PRESETS["quick-cpu"])
    prepare(config)  # a server has its libraries imported: so does this process, before timing
    added, bases = [], []
    for round_number in range(args.rounds):
        ways = [("in process", in_process), ("worker", in_worker)]
        if round_number % 2:
            ways.reverse()  # each round's order flipped, to cancel drift
        seconds = {name: way(config) for name, way in ways}
        added.append(seconds["worker"] - seconds["in process"])
        print(f"round {round_number + 1}: in process {seconds['in process']:.1f} s, worker "
              f"{seconds['worker']:.1f} s, added {added[-1]:+.1f} s "
              f"({added[-1] / seconds['in process']:+.1%})", flush=True)
        bases.append(seconds["in process"])
    base = statistics.median(bases)
    print(f"median seconds a worker adds: {statistics.median(added):+.1f} s, "
          f"{statistics.median(added) / base:+.1%} of a {base:.0f} s run (goal: at most +10 %)")


if __name__ == "__main__":
    main()
