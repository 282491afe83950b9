"""Issue 16, item 1: a comparison is a job in the queue training uses, stored with its state,
progress and evaluations; a stop keeps the executions that finished."""

import dataclasses
import time

import pytest

from core import comparisons, paths
from core.evaluate import EvalConfig
from core.comparisons import Comparison
from core.jobs import JobManager, comparison_key
from storage import queries
from test_jobs import wait_for


def prompting(model: str, dataset: str, **settings) -> EvalConfig:
    return EvalConfig(model=model, dataset=dataset, text_column="review",
                      label_column="sentiment", limit=10, batch_size=4, **settings)


@pytest.fixture
def comparison(tiny_causal, sentiment_csv) -> Comparison:
    # 0-shot once, 1- and 2-shot under two seeds each: five executions, each also calibrated
    return Comparison([prompting(tiny_causal, str(sentiment_csv), shots=(0, 1, 2), seeds=2)],
                      limit=10)


@pytest.mark.slow
def test_a_queued_comparison_runs_in_the_background_and_stores_what_it_scored(db, comparison):
    manager = JobManager(paths.db_path())
    job_id = manager.compare(comparison)
    manager.wait(120)
    job = queries.get_comparison(db, job_id)
    assert job["status"] == "completed" and job["progress"] == 1.0
    assert job["evaluation_ids"] == [e["id"] for e in db["evaluations"].rows]
    assert len(job["evaluation_ids"]) == 10
    assert job["split"].endswith("first 10") and job["name"].endswith("0/1/2-shot on "
                                                                      + comparison.configs[0].dataset)
    assert Comparison.from_dict(job["settings"]) == comparison  # what was asked, kept


def test_a_stopped_comparison_keeps_the_executions_that_finished(db, comparison):
    job_id = comparisons.create(db, comparison)
    # Stop as soon as the first prompt's executions (plain and calibrated) are stored.
    comparisons.score(db, job_id, comparison, lambda: db["evaluations"].count >= 2)
    job = queries.get_comparison(db, job_id)
    assert job["status"] == "stopped"
    assert job["evaluation_ids"] == [e["id"] for e in db["evaluations"].rows]
    assert len(job["evaluation_ids"]) == 2  # of 10: the rest were never started
    assert job["error"] == "Stopped; the 2 executions finished before the stop are kept."


@pytest.mark.slow
def test_training_and_comparisons_share_one_queue(db, tiny_config, comparison):
    manager = JobManager(paths.db_path())
    run_id = manager.start(tiny_config)
    job_id = manager.compare(comparison)
    wait_for(lambda: manager.active() == run_id)
    assert manager.position(comparison_key(job_id)) == 1  # waits for the run: never beside it
    assert queries.get_comparison(db, job_id)["status"] == "queued"
    manager.wait(300)
    run, job = queries.get_run(db, run_id), queries.get_comparison(db, job_id)
    assert run["status"] == job["status"] == "completed"
    assert job["started_at"] >= run["finished_at"]


@pytest.mark.slow
def test_a_queued_comparison_can_be_cancelled_and_scores_nothing(db, tiny_config, comparison):
    manager = JobManager(paths.db_path())
    manager.start(tiny_config)
    job_id = manager.compare(comparison)
    assert manager.stop(comparison_key(job_id))
    manager.wait(300)
    job = queries.get_comparison(db, job_id)
    assert job["status"] == "stopped" and job["evaluation_ids"] == []
    assert "nothing was scored" in job["error"]
    assert not [e for e in db["evaluations"].rows if e["run_id"] is None]


@pytest.mark.parametrize("bad, message", [
    (Comparison(), "at least one model to prompt or one fine-tuned run"),
    (Comparison(runs=["20260101-000000-abcdef"]), "no run with id"),
    (Comparison([EvalConfig(model="nobody/no-such-model")]), "no-such-model"),
    (Comparison([EvalConfig(model="smollm2-135m", verbalizer="awful=bad")]), "not a label"),
])
def test_a_comparison_that_cannot_run_is_refused_with_nothing_written(db, bad, message):
    manager = JobManager(paths.db_path())
    with pytest.raises(Exception, match=message):
        manager.compare(bad)
    assert db["comparisons"].count == 0 and manager.active() is None


@pytest.mark.slow
def test_a_comparison_whose_process_died_reads_interrupted(db, comparison):
    job_id = comparisons.create(db, comparison)
    db["comparisons"].update(job_id, {"status": "running"})  # its lock held by no process
    job = queries.get_comparison(db, job_id)
    assert job["status"] == "interrupted" and "executions it finished are kept" in job["error"]


@pytest.mark.slow
def test_progress_is_stored_while_the_comparison_runs(db, comparison, monkeypatch):
    monkeypatch.setattr(comparisons, "PROGRESS_SECONDS", 0.0)
    seen = []
    job_id = comparisons.create(db, comparison)

    def watch() -> bool:  # what a page polling the row reads, each batch
        job = queries.get_comparison(db, job_id)
        seen.append((job["status"], job["progress"], job["progress_text"]))
        return False

    started = time.monotonic()
    comparisons.score(db, job_id, comparison, watch)
    assert time.monotonic() - started < 120
    assert {status for status, _, _ in seen} == {"running"}
    fractions = [fraction for _, fraction, _ in seen]
    assert fractions == sorted(fractions) and any(0 < f < 1 for f in fractions)
    assert any("2-shot, seed 1" in (text or "") for _, _, text in seen)


@pytest.mark.slow
def test_a_comparison_asked_again_reuses_its_executions_instead_of_copying_them(db, comparison):
    first, again = (comparisons.create(db, comparison) for _ in range(2))
    comparisons.score(db, first, comparison, lambda: False)
    comparisons.score(db, again, comparison, lambda: False)
    ids = queries.get_comparison(db, first)["evaluation_ids"]
    assert queries.get_comparison(db, again)["evaluation_ids"] == ids
    assert db["evaluations"].count == len(ids) == 10  # zero-shot is still one execution
    # Settings that change the prompt or the answer are other executions, never reused.
    for changed in ({"train_size": 0.5}, {"decide": "generate", "max_new_tokens": 2},
                    {"decide": "generate", "max_new_tokens": 3}):
        other = Comparison([dataclasses.replace(comparison.configs[0], shots=(0,), **changed)])
        comparisons.score(db, comparisons.create(db, other), other, lambda: False)
    assert db["evaluations"].count == 10 + 2 + 1 + 1


@pytest.mark.slow
def test_pages_opening_the_database_never_fail_a_comparison(db, tiny_config):
    """A page opens a connection every rerun and every poll; that once wrote to the file and
    failed comparisons "database is locked" (5 to 8 of 30 with a poller every 10 ms)."""
    import threading

    from core import engine
    from storage.db import connect

    run_id = engine.train(tiny_config, db)
    polling = threading.Event()
    polling.set()

    def poll():
        while polling.is_set():
            connect(paths.db_path())
            time.sleep(0.005)

    poller = threading.Thread(target=poll)
    poller.start()
    try:
        statuses = []
        for limit in range(1, 31):
            comparison = Comparison(runs=[run_id], limit=limit)
            job_id = comparisons.create(db, comparison)
            comparisons.score(db, job_id, comparison, lambda: False)
            statuses.append(queries.get_comparison(db, job_id)["status"])
    finally:
        polling.clear()
        poller.join()
    assert statuses == ["completed"] * 30
