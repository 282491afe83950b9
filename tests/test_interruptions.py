"""No run is left `running` or `queued` by a process that is gone: SIGTERM stops a CLI run as
Ctrl-C does, SIGKILL leaves it `interrupted` wherever it is looked at next, a failing database
write ends it `failed`, a stop during the test pass is heard, and a run is resumed by one
process at a time, from the data it started with."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import assert_nothing_written

from core import checkpoints, engine, paths
from core.cli import main
from core.errors import WorkbenchError
from core.jobs import JobManager
from storage import locks, queries
from storage.db import connect

ROOT = Path(__file__).resolve().parents[1]


def start_cli(home: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "WORKBENCH_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen([sys.executable, "-m", "core", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def listed_status(listing: str, run_id: str) -> str:
    """The status `python -m core runs` lists for a run (columns: id, name, status, …)."""
    header, *rows = listing.splitlines()
    row = next(r for r in rows if r.startswith(run_id))
    start = header.index("status")
    return row[start:].split()[0]


def cli_runs(home: Path) -> str:
    env = {**os.environ, "WORKBENCH_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-m", "core", "runs"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def long_run_flags(config) -> list[str]:
    return ["train", "--model", config.model, "--method", "loop", "--dataset", config.dataset,
            "--text-column", "review", "--label-column", "sentiment", "--max-length", "16",
            "--train-size", "120", "--eval-size", "40", "--test-size", "40",
            "--max-steps", "100000", "--logging-steps", "1", "--checkpoint-steps", "0"]


def wait_until_training(home: Path, process: subprocess.Popen) -> dict:
    """The run, once it has logged a step (its process is then past every import)."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        if paths.db_path().exists():
            db = connect(paths.db_path())
            runs = list(db.query("select * from runs"))
            if runs and db.execute("select count(*) from metrics").fetchone()[0] > 0:
                return runs[0]
        time.sleep(0.3)
    raise AssertionError("the run never logged a step")


@pytest.mark.slow
def test_sigterm_stops_a_cli_run_like_ctrl_c(home, tiny_config):
    process = start_cli(home, *long_run_flags(tiny_config))
    run = wait_until_training(home, process)

    process.send_signal(signal.SIGTERM)
    _out, err = process.communicate(timeout=120)

    assert process.returncode == 143, err
    assert f"run {run['id']} stopped" in err and "Traceback" not in err
    assert queries.get_run(connect(paths.db_path()), run["id"])["status"] == "stopped"
    assert checkpoints.latest(paths.run_dir(run["id"])) is not None  # resumable
    assert listed_status(cli_runs(home), run["id"]) == "stopped"


@pytest.mark.slow
def test_sigkill_leaves_the_run_interrupted_at_the_next_look(home, tiny_config):
    process = start_cli(home, *long_run_flags(tiny_config))
    run = wait_until_training(home, process)

    process.kill()
    process.wait(timeout=60)

    assert listed_status(cli_runs(home), run["id"]) == "interrupted"  # no page needed to notice
    stored = queries.get_run(connect(paths.db_path()), run["id"])
    assert stored["status"] == "interrupted" and "ended before the run did" in stored["error"]


def test_get_run_notices_a_dead_owner(db, tiny_config):
    run_id = queries.create_run(db, tiny_config.to_dict())
    db["runs"].update(run_id, {"status": "running", "owner": "999999999:0"})  # no such process

    assert queries.get_run(db, run_id)["status"] == "interrupted"


@pytest.mark.parametrize("number, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_before_the_run_exists_writes_nothing(number, code, home, tiny_config,
                                                      monkeypatch, capsys):
    """Ctrl-C (or kill) while the data and the model are checked: the command ends, no run."""
    real_prepare = engine.prepare

    def prepare_interrupted(config):
        os.kill(os.getpid(), number)  # as the terminal would, half-way through
        return real_prepare(config)

    monkeypatch.setattr(engine, "prepare", prepare_interrupted)
    handlers = {n: signal.getsignal(n) for n in (signal.SIGINT, signal.SIGTERM)}
    try:
        assert main(long_run_flags(tiny_config)) == code
    finally:
        for n, handler in handlers.items():
            signal.signal(n, handler)

    err = capsys.readouterr().err
    assert err == "training interrupted; nothing was written\n"
    assert_nothing_written()


@pytest.mark.slow
def test_a_failing_database_write_ends_the_run_failed_with_the_disk_advice(db, tiny_config,
                                                                        monkeypatch):
    real = queries.log_metrics

    def full_disk(db_, run_id, row):
        if (row.get("step") or 0) >= 3:
            raise sqlite3.OperationalError("database or disk is full")
        real(db_, run_id, row)

    monkeypatch.setattr(queries, "log_metrics", full_disk)
    run_id = engine.train(tiny_config, db)

    run = queries.get_run(db, run_id)
    assert run["status"] == "failed"
    assert run["error"].startswith("the disk is full") and "then resume the run" in run["error"]


class StopWhenJudging:
    """The Stop button (or Ctrl-C) pressed once the test split starts to be judged."""

    def __init__(self, monkeypatch, module, name):
        self.judging, self.forward_passes = False, 0
        real = getattr(module, name)

        def start_judging(*args, **kwargs):
            self.judging = True
            return real(*args, **kwargs)
        monkeypatch.setattr(module, name, start_judging)

    def should_stop(self) -> bool:
        return self.judging


@pytest.mark.parametrize("config, module, judging", [
    ("tiny_config", "core.encoder", "predict"),  # an encoder's test pass
    ("causal_config", "core.causal_data", "test_items"),  # a causal model's tuned-vs-original
], ids=["encoder", "causal"])
@pytest.mark.slow
def test_a_stop_during_the_test_pass_stops_it(config, module, judging, db, request,
                                              monkeypatch):
    import importlib

    stop = StopWhenJudging(monkeypatch, importlib.import_module(module), judging)
    run_id = engine.train(request.getfixturevalue(config), db, stop.should_stop)

    run = queries.get_run(db, run_id)
    assert run["status"] == "stopped" and "while the test split was being judged" in run["error"]
    assert queries.run_evaluations(db, run_id) == []


@pytest.fixture
def stopped_run(db, tiny_config):
    """A run stopped after its first logged steps, with a checkpoint to resume from."""
    steps = []
    run_id = engine.train(tiny_config, db, lambda: len(steps) >= 2, on_metrics=steps.append)
    assert queries.get_run(db, run_id)["status"] == "stopped"
    return run_id


def test_two_resumes_at_once_one_is_refused(db, stopped_run):
    other = connect(paths.db_path())  # a second process's connection
    engine.claim_for_resume(db, stopped_run)

    with pytest.raises(WorkbenchError, match="already being resumed"):
        engine.claim_for_resume(other, stopped_run)
    with pytest.raises(WorkbenchError, match="is queued; only a stopped"):
        engine.prepare_resume(other, stopped_run)


@pytest.mark.slow
def test_the_job_manager_claims_a_resume_once(db, stopped_run):
    manager = JobManager(paths.db_path())
    held = locks.take(locks.folder_of(db), stopped_run)  # a command line got there first
    assert queries.claim(db, stopped_run, engine.RESUMABLE, queue={"starter": "self"})

    with pytest.raises(WorkbenchError):
        manager.resume(stopped_run)
    assert manager.queued() == [stopped_run] and manager.active() is None  # queued once
    held.release()


@pytest.mark.slow
def test_a_resume_refuses_data_that_changed_unless_allowed(home, db, stopped_run, tiny_config,
                                                           capsys):
    data = Path(tiny_config.dataset)
    data.write_text(data.read_text().replace("great", "grand"))

    assert main(["train", "--resume", stopped_run]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "changed since it started" in err
    assert queries.get_run(db, stopped_run)["status"] == "stopped"  # untouched

    assert main(["train", "--resume", stopped_run, "--allow-changed-data"]) == 0
    assert queries.get_run(db, stopped_run)["status"] == "completed"
