"""The job manager: runs in worker processes that queue, start, stop, crash, resume and go on
through a server restart."""

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core import paths
from core.errors import WorkbenchError
from core.jobs import CANCELLED, JobManager
from storage import locks, queries

pytestmark = pytest.mark.slow  # worker processes training runs


def wait_for(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.fixture
def manager(db):
    manager = JobManager(paths.db_path())
    yield manager
    manager.wait(60)


def long_config(tiny_config):
    return dataclasses.replace(tiny_config, method="loop", max_steps=100_000, logging_steps=1,
                               checkpoint_steps=5)


def loss_steps(db, run_id: str) -> list[int]:
    return [m["step"] for m in queries.run_metrics(db, run_id) if m["loss"] is not None]


def test_a_run_trains_in_the_background_and_completes(manager, tiny_config, db):
    run_id = manager.start(tiny_config)
    wait_for(lambda: manager.active() == run_id)
    manager.wait(120)
    assert manager.active() is None
    assert queries.get_run(db, run_id)["status"] == "completed"


def test_stop_ends_the_run_within_a_step_or_two(manager, tiny_config, db):
    run_id = manager.start(long_config(tiny_config))
    wait_for(lambda: len(queries.run_metrics(db, run_id)) >= 3)
    assert manager.stop(run_id)
    step_at_stop = max(m["step"] for m in queries.run_metrics(db, run_id))
    manager.wait(60)
    run = queries.get_run(db, run_id)
    assert run["status"] == "stopped"
    assert max(m["step"] for m in queries.run_metrics(db, run_id)) <= step_at_stop + 2
    assert (paths.run_dir(run_id) / "model" / "model.safetensors").exists()  # saved as it was


def test_launches_while_a_run_trains_wait_in_order_and_start_by_themselves(manager, tiny_config,
                                                                         db):
    first = manager.start(long_config(tiny_config))
    wait_for(lambda: manager.active() == first)
    second, third = manager.start(tiny_config), manager.start(tiny_config)
    assert manager.queued() == [second, third]
    assert (manager.position(second), manager.position(third)) == (1, 2)
    assert queries.get_run(db, third)["status"] == "queued"

    manager.stop(first)
    manager.wait(180)

    runs = {r["id"]: r for r in queries.list_runs(db)}
    assert [runs[i]["status"] for i in (first, second, third)] == ["stopped", "completed", "completed"]
    assert runs[first]["finished_at"] <= runs[second]["started_at"] <= runs[third]["started_at"]
    assert manager.queued() == [] and manager.active() is None


def test_a_queued_run_can_be_cancelled(manager, tiny_config, db):
    first = manager.start(long_config(tiny_config))
    waiting = manager.start(tiny_config)
    wait_for(lambda: manager.active() == first)

    assert manager.stop(waiting)

    assert manager.queued() == [] and manager.position(waiting) is None
    run = queries.get_run(db, waiting)
    assert run["status"] == "stopped" and run["error"] == CANCELLED
    assert queries.run_metrics(db, waiting) == []
    manager.stop(first)
    manager.wait(60)
    assert queries.get_run(db, waiting)["started_at"] is None  # the queue did not start it


def test_a_stopped_run_resumes_through_the_queue(manager, tiny_config, db):
    run_id = manager.start(long_config(tiny_config))
    wait_for(lambda: len(queries.run_metrics(db, run_id)) >= 3)
    manager.stop(run_id)
    manager.wait(60)
    steps = loss_steps(db, run_id)

    manager.resume(run_id)
    wait_for(lambda: len(loss_steps(db, run_id)) > len(steps) + 2)
    manager.stop(run_id)
    manager.wait(60)

    resumed = loss_steps(db, run_id)
    assert resumed[:len(steps)] == steps  # the curve goes on where it ended
    assert resumed == list(range(1, resumed[-1] + 1))
    assert queries.get_run(db, run_id)["status"] == "stopped"


def test_bad_input_is_refused_before_anything_is_written(manager, tiny_config, db):
    with pytest.raises(WorkbenchError, match="learning rate"):
        manager.start(dataclasses.replace(tiny_config, lr=0.0))
    assert queries.list_runs(db) == [] and manager.active() is None


def test_a_worker_that_fails_says_why_and_the_next_run_starts(manager, tiny_config, db,
                                                             sentiment_csv):
    first = manager.start(long_config(tiny_config))
    doomed = manager.start(tiny_config)  # waits; its data is gone before its worker reads it
    sentiment_csv.rename(sentiment_csv.with_suffix(".gone"))
    manager.stop(first)
    wait_for(lambda: queries.get_run(db, doomed)["status"] not in ("queued", "running"), 120)
    run = queries.get_run(db, doomed)
    assert run["status"] == "failed" and "not found" in run["error"], run["error"]
    assert "reviews.csv" in run["traceback"]  # the worker's log, kept with the run

    sentiment_csv.with_suffix(".gone").rename(sentiment_csv)
    next_run = manager.start(tiny_config)
    manager.wait(120)
    assert queries.get_run(db, next_run)["status"] == "completed"


def test_a_sigkilled_worker_ends_its_run_interrupted_and_the_next_starts(manager, tiny_config, db):
    from core import jobs

    killed = manager.start(long_config(tiny_config))
    after = manager.start(tiny_config)
    wait_for(lambda: len(queries.run_metrics(db, killed)) >= 3, 120)
    os.kill(jobs.WORKERS[killed].pid, signal.SIGKILL)  # as the out-of-memory killer does

    wait_for(lambda: queries.get_run(db, killed)["status"] == "interrupted")
    assert "SIGKILL" in queries.get_run(db, killed)["error"]
    manager.wait(120)
    assert queries.get_run(db, after)["status"] == "completed"


SERVER = """
import sys, time
sys.path.insert(0, {root!r})
from core import paths
from core.config import TrainConfig
from core.jobs import JobManager
config = TrainConfig(**{config!r})
JobManager(paths.db_path()).start(config)
time.sleep(600)
"""


def test_a_server_killed_while_its_run_trains_finds_it_still_training_when_it_restarts(
        tiny_config, db):
    tests = Path(__file__).parent
    code = SERVER.format(root=str(tests.parent), config=dataclasses.asdict(long_config(tiny_config)))
    server = subprocess.Popen([sys.executable, "-c", code], env=os.environ.copy())
    try:
        wait_for(lambda: any(len(loss_steps(db, r["id"])) >= 3 for r in queries.list_runs(db)), 120)
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait()
    [run] = queries.list_runs(db)
    written = len(queries.run_metrics(db, run["id"]))

    manager = JobManager(paths.db_path())  # the server starting again

    assert manager.active() == run["id"]
    wait_for(lambda: len(queries.run_metrics(db, run["id"])) > written + 2)  # still training
    assert queries.get_run(db, run["id"])["status"] == "running"
    assert manager.stop(run["id"])  # a worker another process launched: stopped all the same
    manager.wait(60)
    assert queries.get_run(db, run["id"])["status"] == "stopped"
    steps = loss_steps(db, run["id"])
    assert steps == list(range(1, steps[-1] + 1))  # no row lost or twice


def test_a_run_training_in_another_live_process_is_left_alone(db):
    run_id = queries.create_run(db, {"model": "m", "method": "loop", "dataset": "d"})
    held = locks.take(locks.folder_of(db), run_id)  # as its (live) process holds it
    queries.mark_running(db, run_id, "/out")
    JobManager(paths.db_path())
    assert queries.get_run(db, run_id)["status"] == "running"
    assert [r["status"] for r in queries.list_runs(db)] == ["running"]
    held.release()
    assert queries.get_run(db, run_id)["status"] == "interrupted"  # seen at once, no clock
