"""Runs beyond one process: a run is a YAML file and a command; `accelerate launch` trains it in
subprocesses (DDP over gloo on this CPU machine); only the main process writes to SQLite, so
one run has one series of metrics; the job manager runs, stops and reports such runs as it
does thread runs."""

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from core import checkpoints, paths
from core.config import TrainConfig, to_yaml
from core.jobs import JobManager
from core.launch import command_line
from storage import queries
from test_jobs import wait_for

pytestmark = pytest.mark.slow  # accelerate subprocesses and workers

ROOT = Path(__file__).resolve().parents[1]
ACCELERATE = str(Path(sys.executable).parent / "accelerate")


def one_series(db, run_id: str) -> list[int]:
    """The steps of the run's training-loss rows: each step once, in order."""
    steps = [m["step"] for m in queries.run_metrics(db, run_id) if m["loss"] is not None]
    assert steps == sorted(set(steps)), steps
    return steps


def shell(*argv, home, timeout=600):
    env = {**os.environ, "WORKBENCH_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.parametrize("change, command", [
    ({}, "python -m core train --config run.yaml"),
    ({"processes": 2}, "accelerate launch --num_processes 2 --multi_gpu -m core train "
                       "--config run.yaml"),
    ({"processes": 4, "accelerate_config": "fsdp.yaml"},
     "accelerate launch --config_file fsdp.yaml --num_processes 4 -m core train --config run.yaml"),
])
def test_the_command_line_that_reproduces_a_run(change, command):
    assert command_line(dataclasses.replace(TrainConfig(), **change)) == command


def test_the_issues_command_trains_the_bundled_encoder_into_one_run(home, db, tmp_path):
    config = TrainConfig(model="minilm-l6", method="trainer", dataset="rt-reviews",
                         train_size=64, eval_size=16, test_size=32, max_steps=4, batch_size=8,
                         max_length=32, logging_steps=1)
    (tmp_path / "run.yaml").write_text(to_yaml(config))

    result = shell(ACCELERATE, "launch", "--cpu", "--num_processes", "2", "-m", "core", "train",
                   "--config", str(tmp_path / "run.yaml"), home=home)

    assert result.returncode == 0, result.stderr[-3000:]
    [run] = queries.list_runs(db)
    assert result.stdout.strip() == run["id"] and run["status"] == "completed"
    assert one_series(db, run["id"]) == [1, 2, 3, 4]


def test_two_processes_train_one_run_that_only_the_main_process_records(home, db, tiny_config,
                                                                        tmp_path):
    config = dataclasses.replace(tiny_config, processes=2, logging_steps=1, max_steps=6)
    (tmp_path / "run.yaml").write_text(to_yaml(config))

    # `python -m core train` of a run that asks for 2 processes launches them itself
    result = shell(sys.executable, "-m", "core", "train", "--config", str(tmp_path / "run.yaml"),
                   home=home)

    assert result.returncode == 0, result.stderr[-3000:]
    [run] = queries.list_runs(db)
    assert run["status"] == "completed" and result.stdout.strip() == run["id"]
    assert one_series(db, run["id"]) == [1, 2, 3, 4, 5, 6]
    assert len(queries.run_evaluations(db, run["id"])) == 1


def test_the_job_manager_runs_a_launched_run_like_any_worker(db, tiny_config):
    manager = JobManager(paths.db_path())
    run_id = manager.start(dataclasses.replace(tiny_config, processes=2, epochs=1))
    manager.wait(300)

    run = queries.get_run(db, run_id)
    assert run["status"] == "completed", run["error"]
    # each process takes its own batch of 8: 120 examples are 8 steps, and the progress knew it
    assert run["total_steps"] == 8 == max(m["step"] for m in queries.run_metrics(db, run_id))
    assert run["test_accuracy"] is not None
    log = (paths.run_dir(run_id) / "log.txt").read_text()
    assert "test accuracy" in log and run_id in log  # the launched main process's own output
    assert (paths.run_dir(run_id) / "run.yaml").exists()
    assert one_series(db, run_id) == [1, 5]  # logged at step 1 (progress at once), then every 5


def test_stop_ends_a_launched_run_stopped_with_a_checkpoint(db, tiny_config):
    manager = JobManager(paths.db_path())
    config = dataclasses.replace(tiny_config, processes=2, max_steps=100_000, logging_steps=1)
    run_id = manager.start(config)
    wait_for(lambda: len(queries.run_metrics(db, run_id)) >= 3, timeout=300)

    assert manager.stop(run_id)
    manager.wait(120)

    run = queries.get_run(db, run_id)
    assert run["status"] == "stopped", run["error"]
    steps = one_series(db, run_id)
    assert checkpoints.step_of(checkpoints.latest(paths.run_dir(run_id))) == steps[-1]


def test_the_train_page_launches_watches_and_stops_a_launched_run(db, tiny_encoder):
    from test_pages import launch_tiny_run
    from ui.common import jobs

    page = launch_tiny_run(tiny_encoder, max_steps=100_000, processes=2)
    run_id = page.query_params["run"]
    run_id = run_id[0] if isinstance(run_id, list) else run_id
    wait_for(lambda: len(queries.run_metrics(db, run_id)) >= 2, timeout=300)

    page.run()
    assert not page.exception
    assert len(page.get("plotly_chart")) >= 2  # live charts, read from SQLite
    assert any(e.label == "Log (the run's worker process)" for e in page.expander)
    next(b for b in page.button if b.label == "Stop training").click().run()
    jobs().wait(120)

    assert queries.get_run(db, run_id)["status"] == "stopped"
    page.run()
    assert page.subheader[0].value.startswith(":material/stop_circle:")


def test_report_to_passes_the_trainers_logs_to_tensorboard_too(db, tiny_config):
    from core import engine

    config = dataclasses.replace(tiny_config, report_to="tensorboard", max_steps=10)
    run_id = engine.train(config, db)

    assert queries.get_run(db, run_id)["status"] == "completed"
    events = list((paths.run_dir(run_id) / "tensorboard").rglob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0  # kept: the checkpoints went, these stay
    assert len(queries.run_metrics(db, run_id)) >= 2  # and the workbench's own rows as ever


def test_run_id_continues_only_a_queued_or_unfinished_run(home, db, tiny_config, capsys):
    from core import engine
    from core.cli import main

    completed = engine.train(dataclasses.replace(tiny_config, max_steps=2), db)
    path = paths.home() / "run.yaml"
    path.write_text(to_yaml(tiny_config))

    assert main(["train", "--config", str(path), "--run-id", completed]) == 2
    assert "is completed; --run-id continues a queued" in capsys.readouterr().err
    assert main(["train", "--config", str(path), "--run-id", "nope"]) == 2
    assert len(queries.list_runs(db)) == 1
