"""The Ray backend against a real Ray head on 127.0.0.1 (2 CPUs), started for this module and
ended by its pid (tests/ray_cluster.py)."""

import dataclasses
import functools
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_nothing_written
from ray_cluster import free_port, head_process

from core import experiments, paths
from core.cli import main
from core.errors import WorkbenchError
from core.jobs import JobManager
from storage import queries
from test_jobs import wait_for as wait_briefly

pytest.importorskip("ray.job_submission")
pytestmark = pytest.mark.slow
wait_for = functools.partial(wait_briefly, timeout=240)  # a worker starts in seconds

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def ray_head():
    with head_process() as address:
        yield address


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
    wait_for(lambda: queries.get_run(db, run["id"])["status"] != "running", timeout=120)

    ended = queries.get_run(db, run["id"])
    assert ended["status"] == "stopped", ended["error"]
    steps = [m["step"] for m in queries.run_metrics(db, run["id"]) if m["loss"] is not None]
    assert steps == list(range(1, steps[-1] + 1))  # none lost, none twice across the restart
    manager.wait(60)
    assert manager.queued() == [] and manager.active() is None


def test_a_run_whose_storage_is_a_uri_sends_its_model_there_and_is_read_back(ray_head, db,
                                                                             tiny_config,
                                                                             tmp_path):
    from core.models import run_model_dir

    storage = f"file://{tmp_path / 'bucket'}"  # any fsspec file system: s3://, gs://, …
    manager = JobManager(paths.db_path())
    run_id = manager.start(on_ray(tiny_config, ray_head, max_steps=10, ray_storage=storage))
    manager.wait(300)

    run = queries.get_run(db, run_id)
    assert run["status"] == "completed", run["traceback"]
    assert run["output_dir"] == f"{storage}/runs/{run_id}"
    assert (tmp_path / "bucket" / "runs" / run_id / "model").is_dir()  # uploaded by the worker
    assert not paths.run_dir(run_id).exists()  # nothing written in this home's runs/ by it
    assert run_model_dir(run_id) == paths.run_dir(run_id) / "model"  # fetched on first use


def test_a_comparison_on_ray_stores_its_evaluations_here(ray_head, db, tiny_causal,
                                                         sentiment_csv):
    from core.evaluate import EvalConfig
    from core.comparisons import Comparison

    config = EvalConfig(model=tiny_causal, dataset=str(sentiment_csv), text_column="review",
                        label_column="sentiment", shots=(0, 1), seeds=1, limit=8)
    manager = JobManager(paths.db_path())
    job_id = manager.compare(Comparison([config], limit=8, backend="ray", ray_address=ray_head))
    manager.wait(300)

    job = queries.get_comparison(db, job_id)
    assert job["status"] == "completed", job["traceback"]
    rows = queries.get_evaluations(db, job["evaluation_ids"])
    assert len(rows) == len(job["evaluation_ids"]) >= 2  # this home's ids, each stored once
    assert all(row["n"] == 8 for row in rows)
    assert db["predictions"].count == 8 * len(rows)
