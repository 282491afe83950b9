"""One queue per home, for every process: a command line waits behind a server's run and says
so, Ctrl-C while it waits cancels it with nothing trained, `--now` runs beside the queue, and a
page stops a run a command line trains."""

import dataclasses
import functools
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core import paths
from core.jobs import CANCELLED, JobManager
from storage import job_queue, queries
from test_jobs import wait_for as wait_briefly

pytestmark = pytest.mark.slow
wait_for = functools.partial(wait_briefly, timeout=180)  # a worker starts in seconds
ROOT = Path(__file__).resolve().parents[1]


def cli_train(config, *extra: str) -> subprocess.Popen:
    flags = ["train", "--model", config.model, "--method", config.method, "--dataset",
             config.dataset, "--text-column", "review", "--label-column", "sentiment",
             "--train-size", "120", "--eval-size", "40", "--test-size", "40", "--lr", "5e-3",
             "--batch-size", "8", "--warmup-steps", "0", "--max-length", "16", *extra]
    return subprocess.Popen([sys.executable, "-m", "core", *flags], cwd=ROOT,
                            env={**os.environ, "HF_HUB_OFFLINE": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def training_config(tiny_config):
    """A server's run long enough for a command line to arrive while it trains."""
    return dataclasses.replace(tiny_config, method="loop", max_steps=100_000, logging_steps=1,
                               checkpoint_steps=0)


def test_a_cli_run_waits_for_the_servers_run_says_so_and_never_trains_beside_it(db, tiny_config):
    manager = JobManager(paths.db_path())
    server_run = manager.start(training_config(tiny_config))
    wait_for(lambda: len(queries.run_metrics(db, server_run)) >= 3)

    cli = cli_train(tiny_config, "--epochs", "1")
    wait_for(lambda: len(job_queue.waiting(db)) == 1)  # its run is in the one queue
    [cli_run] = job_queue.waiting(db)
    assert manager.queued() == [cli_run] and manager.position(cli_run) == 1
    time.sleep(2)
    assert queries.run_metrics(db, cli_run) == []  # still waiting: nothing trained beside it
    manager.stop(server_run)
    out, err = cli.communicate(timeout=300)

    assert cli.returncode == 0, err
    assert out.strip() == cli_run
    assert "queued behind 1 job: run " in err and "(working)" in err
    first, second = queries.get_run(db, server_run), queries.get_run(db, cli_run)
    assert (first["status"], second["status"]) == ("stopped", "completed")
    assert first["finished_at"] <= second["started_at"]  # one after the other, from the rows


def test_ctrl_c_while_waiting_cancels_the_run_with_nothing_trained(db, tiny_config):
    manager = JobManager(paths.db_path())
    server_run = manager.start(training_config(tiny_config))
    wait_for(lambda: len(queries.run_metrics(db, server_run)) >= 1)
    cli = cli_train(tiny_config, "--epochs", "1")
    wait_for(lambda: len(job_queue.waiting(db)) == 1)
    [cli_run] = job_queue.waiting(db)

    cli.send_signal(signal.SIGINT)
    _out, err = cli.communicate(timeout=60)

    assert cli.returncode == 130, err
    assert f"run {cli_run} cancelled while it waited; nothing was trained" in err
    run = queries.get_run(db, cli_run)
    assert run["status"] == "stopped" and run["error"] == CANCELLED
    assert run["started_at"] is None and queries.run_metrics(db, cli_run) == []
    assert manager.queued() == []
    manager.stop(server_run)
    manager.wait(60)


def test_now_starts_beside_the_queue_and_a_page_stops_a_cli_run(db, tiny_config):
    manager = JobManager(paths.db_path())
    server_run = manager.start(training_config(tiny_config))
    wait_for(lambda: len(queries.run_metrics(db, server_run)) >= 1)

    cli = cli_train(training_config(tiny_config), "--max-steps", "100000", "--logging-steps",
                    "1", "--now")
    wait_for(lambda: len(queries.list_runs(db)) == 2)
    cli_run = next(r["id"] for r in queries.list_runs(db) if r["id"] != server_run)
    wait_for(lambda: len(queries.run_metrics(db, cli_run)) >= 3)  # training at once
    assert set(manager.working()) == {server_run, cli_run}

    assert manager.stop(cli_run)  # as its run page's Stop does, from another process
    _out, err = cli.communicate(timeout=120)
    assert f"run {cli_run} stopped" in err
    assert queries.get_run(db, cli_run)["status"] == "stopped"
    manager.stop(server_run)
    manager.wait(60)


def test_a_launcher_over_a_damaged_database_ends_without_an_unhandled_error(tmp_path, caplog):
    """The pages say a damaged database in one line; the launcher thread they start ends
    with a log line, not a traceback from a dead thread, and a later visit tries again."""
    import threading

    path = tmp_path / "workbench.db"
    path.write_bytes(b"this is no database " * 200)
    crashed = []
    previous, threading.excepthook = threading.excepthook, crashed.append
    try:
        manager = JobManager(path)
        for _ in range(2):  # the second as a page's next visit
            manager.ensure_dispatching()
            wait_briefly(lambda: manager._thread is None, timeout=10)
        manager.close()
    finally:
        threading.excepthook = previous
    assert not crashed
    assert "the job launcher stopped" in caplog.text and "not a SQLite database" in caplog.text
