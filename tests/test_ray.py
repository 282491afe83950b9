"""The Ray backend against a real Ray head on 127.0.0.1 (2 CPUs), started for this module and
ended by its pid (never `ray stop`, which would end every Ray process on the machine)."""

import dataclasses
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import assert_nothing_written

from core import experiments, paths
from core.cli import main
from core.errors import WorkbenchError
from core.jobs import JobManager
from storage import queries

pytest.importorskip("ray.job_submission")
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}  # Ray binds 127.0.0.1 only


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def ray_head():
    """A Ray head as a child process; its dashboard (the Jobs API) address."""
    folder = tempfile.mkdtemp(prefix="r", dir="/tmp")  # short: Unix socket paths are limited
    port, dashboard = free_port(), free_port()
    env = {**os.environ, **LOOPBACK, "HF_HUB_OFFLINE": "1",
           # the jobs' `python` is this interpreter (the project's environment)
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])}
    ray = Path(sys.executable).parent / "ray"
    head = subprocess.Popen(
        [str(ray), "start", "--head", "--block", "--port", str(port), "--num-cpus", "2",
         "--object-store-memory", "300000000", "--dashboard-host", "127.0.0.1",
         "--dashboard-port", str(dashboard), "--temp-dir", folder, "--disable-usage-stats"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    for line in head.stdout:
        if "Ray runtime started" in line or time.monotonic() > deadline:
            break
    assert head.poll() is None, "the Ray head did not start"
    os.environ.update(LOOPBACK)
    yield f"http://127.0.0.1:{dashboard}"
    head.send_signal(signal.SIGTERM)
    try:
        head.wait(60)
    except subprocess.TimeoutExpired:
        head.kill()
    shutil.rmtree(folder, ignore_errors=True)


def wait_for(condition, timeout=240.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


def on_ray(config, address: str, **changes):
    return dataclasses.replace(config, backend="ray", ray_address=address, **changes)


def test_an_unreachable_cluster_is_refused_with_nothing_written(home, tiny_config, capsys):
    address = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(WorkbenchError, match="cannot be reached"):
        JobManager(paths.db_path()).start(on_ray(tiny_config, address))
    assert main(["train", "--model", tiny_config.model, "--dataset", tiny_config.dataset,
                 "--text-column", "review", "--label-column", "sentiment", "--backend", "ray",
                 "--ray-address", address]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot be reached" in err
    assert_nothing_written()


def test_a_sweep_on_ray_runs_both_with_live_metrics(ray_head, db, tiny_config):
    manager = JobManager(paths.db_path())
    plan = experiments.plan(on_ray(tiny_config, ray_head, epochs=6).to_dict(),
                            sweep={"lr": [5e-3, 1e-2]})
    experiment_id = manager.start_experiment(plan)
    runs = queries.experiment_runs(db, experiment_id)
    seen_live = set()

    def ended() -> bool:  # and note each run seen running with metrics rows already
        for run in queries.experiment_runs(db, experiment_id):
            if run["status"] == "running" and queries.run_metrics(db, run["id"]):
                seen_live.add(run["id"])
        return all(r["status"] not in ("queued", "running")
                   for r in queries.experiment_runs(db, experiment_id))

    wait_for(ended)
    done = queries.experiment_runs(db, experiment_id)
    assert [r["status"] for r in done] == ["completed", "completed"], [r["traceback"] for r in done]
    assert seen_live == {r["id"] for r in runs}  # rows came back while each trained
    for run in done:
        assert run["ray_job"] and run["backend"] == "ray"
        assert queries.run_evaluations(db, run["id"])  # judged, stored here
        assert (paths.run_dir(run["id"]) / "model").is_dir()  # its model in the storage
        steps = [m["step"] for m in queries.run_metrics(db, run["id"]) if m["loss"] is not None]
        assert steps == sorted(set(steps))  # each row once
    manager.wait(60)
    assert manager.queued() == [] and manager.active() is None


SERVER = """
import sys, time
sys.path.insert(0, {root!r})
from core import paths
from core.config import TrainConfig
from core.jobs import JobManager
JobManager(paths.db_path()).start(TrainConfig(**{config!r}))
time.sleep(600)
"""


def test_a_server_restarted_re_attaches_to_its_ray_run_and_stop_ends_it(ray_head, db,
                                                                         tiny_config):
    config = on_ray(tiny_config, ray_head, method="loop", max_steps=100_000, logging_steps=1,
                    checkpoint_steps=20)
    code = SERVER.format(root=str(ROOT), config=dataclasses.asdict(config))
    server = subprocess.Popen([sys.executable, "-c", code], env=os.environ.copy())
    try:
        wait_for(lambda: any(len(queries.run_metrics(db, r["id"])) >= 5
                             for r in queries.list_runs(db)))
    finally:
        server.send_signal(signal.SIGKILL)  # the server dies; the Ray job goes on
        server.wait()
    [run] = queries.list_runs(db)
    written = len(queries.run_metrics(db, run["id"]))

    manager = JobManager(paths.db_path())  # the server starting again re-attaches
    wait_for(lambda: len(queries.run_metrics(db, run["id"])) > written + 5)
    assert queries.get_run(db, run["id"])["status"] == "running"
    assert manager.stop(run["id"])
    wait_for(lambda: queries.get_run(db, run["id"])["status"] != "running", 120)

    ended = queries.get_run(db, run["id"])
    assert ended["status"] == "stopped", ended["error"]
    steps = [m["step"] for m in queries.run_metrics(db, run["id"]) if m["loss"] is not None]
    assert steps == list(range(1, steps[-1] + 1))  # none lost, none twice across the restart
    manager.wait(60)
    assert manager.queued() == [] and manager.active() is None
