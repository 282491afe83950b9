"""Pages read while a run writes every step: no 'database is locked', no row lost."""

import dataclasses
import time

import pytest

from bench.db_load import load
from core import paths
from core.jobs import JobManager
from storage import queries

pytestmark = pytest.mark.slow  # a run logging for seconds under load


def test_four_readers_at_10_hz_while_a_run_logs_every_step(db, tiny_config):
    manager = JobManager(paths.db_path())
    config = dataclasses.replace(tiny_config, epochs=None, max_steps=100_000, logging_steps=1)
    run_id = manager.start(config)
    while len(queries.run_metrics(db, run_id)) < 3:
        time.sleep(0.1)
    latencies, errors = load(paths.db_path(), run_id, readers=4, hz=10, seconds=5)
    manager.stop(run_id)
    manager.wait(60)
    assert errors == []
    assert len(latencies) >= 4 * 10 * 5 * 0.5  # each reader kept polling
    rows = queries.run_metrics(db, run_id)
    steps = [r["step"] for r in rows if r["loss"] is not None]
    assert steps == list(range(1, len(steps) + 1))  # every step's row is there, in order
    assert queries.get_run(db, run_id)["status"] == "stopped"
