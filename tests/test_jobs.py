"""The job manager: background runs that start, stop, crash and survive a server restart."""

import dataclasses
import time

import pytest

from core import engine, paths
from core.errors import WorkbenchError
from core.jobs import JobManager
from storage import queries


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
    return dataclasses.replace(tiny_config, method="loop", max_steps=100_000, logging_steps=1)


def test_a_run_trains_in_the_background_and_completes(manager, tiny_config, db):
    run_id = manager.start(tiny_config)
    assert manager.active() == run_id
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


def test_a_second_launch_is_refused_while_one_trains(manager, tiny_config, db):
    run_id = manager.start(long_config(tiny_config))
    with pytest.raises(WorkbenchError, match=f"run {run_id} is still training"):
        manager.start(tiny_config)
    manager.stop(run_id)
    manager.wait(60)
    assert len(queries.list_runs(db)) == 1


def test_bad_input_is_refused_before_anything_is_written(manager, tiny_config, db):
    with pytest.raises(WorkbenchError, match="learning rate"):
        manager.start(dataclasses.replace(tiny_config, lr=0.0))
    assert queries.list_runs(db) == [] and manager.active() is None


def test_a_crash_fails_the_run_keeps_its_metrics_and_the_next_run_starts(manager, tiny_config, db,
                                                                          monkeypatch):
    real = engine.fit_and_evaluate

    def crash_after_logging(prepared, hooks, out_dir):
        hooks.log({"step": 1, "loss": 0.7})
        raise RuntimeError("injected failure")

    monkeypatch.setattr(engine, "fit_and_evaluate", crash_after_logging)
    failed = manager.start(tiny_config)
    manager.wait(60)
    run = queries.get_run(db, failed)
    assert run["status"] == "failed" and run["error"] == "RuntimeError: injected failure"
    assert "injected failure" in run["traceback"]
    assert len(queries.run_metrics(db, failed)) == 1

    monkeypatch.setattr(engine, "fit_and_evaluate", real)
    next_run = manager.start(tiny_config)
    manager.wait(120)
    assert queries.get_run(db, next_run)["status"] == "completed"


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


def test_a_killed_server_leaves_its_run_interrupted_at_the_next_start(tiny_config, db):
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    tests = Path(__file__).parent
    code = SERVER.format(root=str(tests.parent), config=dataclasses.asdict(long_config(tiny_config)))
    server = subprocess.Popen([sys.executable, "-c", code], env=os.environ.copy())
    try:
        wait_for(lambda: any(queries.run_metrics(db, r["id"]) for r in queries.list_runs(db)), 120)
    finally:
        server.send_signal(signal.SIGKILL)
        server.wait()
    [run] = queries.list_runs(db)
    assert run["status"] == "running"  # what a dead server leaves behind
    written = len(queries.run_metrics(db, run["id"]))

    manager = JobManager(paths.db_path())  # the server starting again

    assert manager.interrupted == [run["id"]]
    assert queries.get_run(db, run["id"])["status"] == "interrupted"
    assert len(queries.run_metrics(db, run["id"])) == written  # no row lost


def test_a_run_training_in_another_live_process_is_left_alone(db):
    run_id = queries.create_run(db, {"model": "m", "method": "loop", "dataset": "d"})
    queries.mark_running(db, run_id, "/out")  # owned by this (live) test process
    assert JobManager(paths.db_path()).interrupted == []
    assert queries.get_run(db, run_id)["status"] == "running"
