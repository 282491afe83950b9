"""The database: schema through migrations, WAL, run lifecycle, evaluations, deletion."""

import threading

import pytest

from core.errors import WorkbenchError
from storage import locks, queries
from storage.db import connect


def config(**extra):
    return {"model": "minilm-l6", "method": "trainer", "adapter": "none", "dataset": "rt-reviews",
            **extra}


def test_fresh_database_has_the_design_tables_in_wal_mode(tmp_path):
    db = connect(tmp_path / "w.db")
    assert {"runs", "metrics", "evaluations", "predictions", "reviews",
            "layer_changes"} <= set(db.table_names())
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.execute("PRAGMA busy_timeout").fetchone()[0] >= 5000


def test_reopening_keeps_data_and_applies_no_migration_twice(tmp_path):
    run_id = queries.create_run(connect(tmp_path / "w.db"), config(), queue={})
    db = connect(tmp_path / "w.db")
    assert queries.get_run(db, run_id)["status"] == "queued"
    applied = list(db.query("select name from _sqlite_migrations"))
    assert len(applied) == len({r["name"] for r in applied})


def test_run_lifecycle(db):
    run_id = queries.create_run(db, config(name="first"))
    queries.mark_running(db, run_id, "/out")
    queries.log_metrics(db, run_id, {"step": 1, "loss": 0.7})
    queries.finish_run(db, run_id, "completed", test_accuracy=0.9)
    run = queries.get_run(db, run_id)
    assert (run["name"], run["status"], run["test_accuracy"]) == ("first", "completed", 0.9)
    assert run["started_at"] <= run["finished_at"]
    with pytest.raises(ValueError):
        queries.finish_run(db, run_id, "running")


def test_a_run_without_a_name_gets_a_readable_one_unique_after_deletes(db):
    first, second = queries.create_run(db, config()), queries.create_run(db, config(name="  "))
    other = queries.create_run(db, config(method="loop"))
    names = {i: queries.get_run(db, i)["name"] for i in (first, second, other)}
    assert names == {first: "minilm-l6 · trainer · rt-reviews · 1",
                     second: "minilm-l6 · trainer · rt-reviews · 2",
                     other: "minilm-l6 · loop · rt-reviews · 1"}
    queries.delete_run(db, first)
    third = queries.create_run(db, config())
    assert queries.get_run(db, third)["name"] == "minilm-l6 · trainer · rt-reviews · 3"


def test_a_given_name_is_kept_as_typed_without_its_outer_spaces(db):
    run_id = queries.create_run(db, config(name="  baseline, lr 2e-5 "))
    assert queries.get_run(db, run_id)["name"] == "baseline, lr 2e-5"


def test_a_run_is_renamed_in_any_status_and_a_bad_name_refused(db):
    run_id = queries.create_run(db, config())
    queries.mark_running(db, run_id, "/out")
    assert queries.rename_run(db, run_id, "  fast one ") == "fast one"
    assert queries.get_run(db, run_id)["name"] == "fast one"
    for bad in ("", "   ", "x" * 101):
        with pytest.raises(WorkbenchError):
            queries.rename_run(db, run_id, bad)
    assert queries.get_run(db, run_id)["name"] == "fast one"
    with pytest.raises(WorkbenchError, match="no run"):
        queries.rename_run(db, "no-such-run", "name")


def test_runs_whose_process_died_are_marked_interrupted_and_live_ones_kept(db):
    folder = locks.folder_of(db)
    orphan = queries.create_run(db, config())
    queries.mark_running(db, orphan, "/out")  # its lock held by no one: its process is gone
    alive = queries.create_run(db, config())
    held = locks.take(folder, alive)  # as its live process holds it
    queries.mark_running(db, alive, "/out")
    waiting = queries.create_run(db, config(), queue={})  # in the queue: waits, whoever looks
    lost = queries.create_run(db, config())  # queued, but neither in the queue nor locked
    done = queries.create_run(db, config())
    queries.finish_run(db, done, "completed")

    assert sorted(queries.mark_interrupted(db)) == sorted([orphan, lost])
    assert queries.get_run(db, orphan)["status"] == "interrupted"
    assert [queries.get_run(db, i)["status"] for i in (alive, waiting, done)] == \
        ["running", "queued", "completed"]
    held.release()
    assert queries.get_run(db, alive)["status"] == "interrupted"


def test_a_clock_step_leaves_a_live_run_running(db, monkeypatch):
    """Liveness is the lock, not a time: the clock moved by hours (NTP, a paused machine, a
    laptop waking), and every process start time read differently, change nothing."""
    import datetime
    import time

    import psutil

    run_id = queries.create_run(db, config())
    held = locks.take(locks.folder_of(db), run_id)
    queries.mark_running(db, run_id, "/out")
    real = time.time()
    monkeypatch.setattr(time, "time", lambda: real + 6 * 3600)
    monkeypatch.setattr(psutil.Process, "create_time", lambda self: real + 6 * 3600)

    class Later(datetime.datetime):
        @classmethod
        def now(cls, tz=None):
            return datetime.datetime.fromtimestamp(real + 6 * 3600, tz)

    monkeypatch.setattr(datetime, "datetime", Later)
    assert queries.get_run(db, run_id)["status"] == "running"
    assert [r["status"] for r in queries.list_runs(db)] == ["running"]
    held.release()
    assert queries.get_run(db, run_id)["status"] == "interrupted"  # seen at once when it ends


def test_evaluation_and_predictions_are_stored_together(db):
    run_id = queries.create_run(db, config())
    evaluation_id = queries.add_evaluation(
        db, {"run_id": run_id, "mode": "fine-tuned", "n": 2, "accuracy": 0.5,
             "per_class": {"a": {"accuracy": 1.0}}},
        [{"idx": 0, "input": "x", "reference": "a", "prediction": "a", "score": 0.9},
         {"idx": 1, "input": "y", "reference": "b", "prediction": "a", "score": 0.6}])
    [evaluation] = queries.run_evaluations(db, run_id)
    assert evaluation["per_class"] == '{"a": {"accuracy": 1.0}}'
    assert [p["input"] for p in queries.evaluation_predictions(db, evaluation_id)] == ["x", "y"]


def test_delete_run_removes_every_row_that_hangs_off_it(db):
    run_id = queries.create_run(db, config())
    queries.log_metrics(db, run_id, {"step": 1, "loss": 0.7})
    queries.save_layer_changes(db, run_id, [{"layer": "l0", "relative_change": 0.1, "params": 4}])
    evaluation_id = queries.add_evaluation(db, {"run_id": run_id, "mode": "fine-tuned"},
                                           [{"idx": 0, "input": "x"}])
    prediction_id = queries.evaluation_predictions(db, evaluation_id)[0]["id"]
    db["reviews"].insert({"prediction_id": prediction_id, "reviewer": "ann"})
    keep = queries.create_run(db, config())
    queries.log_metrics(db, keep, {"step": 1, "loss": 0.5})

    queries.delete_run(db, run_id)

    for table in ("metrics", "evaluations", "predictions", "reviews", "layer_changes"):
        rows = db[table].count
        assert rows == (1 if table == "metrics" else 0), table
    assert [r["id"] for r in queries.list_runs(db)] == [keep]


def test_a_writer_thread_and_a_reader_do_not_lock_each_other(tmp_path):
    path = tmp_path / "w.db"
    run_id = queries.create_run(connect(path), config())
    errors = []

    def write():
        db = connect(path)  # connections are per thread
        try:
            for step in range(300):
                queries.log_metrics(db, run_id, {"step": step, "loss": 1.0 / (step + 1)})
        except Exception as error:  # noqa: BLE001 - any failure is the finding
            errors.append(error)

    writer = threading.Thread(target=write)
    writer.start()
    reader = connect(path)
    while True:  # read at least once, however soon a fast writer is done (a busy machine)
        queries.run_metrics(reader, run_id)
        if not writer.is_alive():
            break
    writer.join()
    assert errors == []
    assert len(queries.run_metrics(reader, run_id)) == 300


def test_an_old_file_is_migrated_and_keeps_its_rows(tmp_path):
    from sqlite_utils import Database

    from storage.db import schema_version
    from storage.schema import migrations

    old = Database(tmp_path / "w.db")
    migrations.apply(old, stop_before="add_planned_steps")  # the first release's schema
    old["runs"].insert({"id": "r1", "model": "m", "method": "loop", "dataset": "d",
                        "status": "completed", "created_at": "2026-01-01"})
    old["metrics"].insert({"run_id": "r1", "step": 1, "loss": 0.5})
    old.close()

    db = connect(tmp_path / "w.db")

    assert schema_version(db) == len(migrations.applied(db)) > 1
    assert migrations.pending(db) == []
    assert {"total_steps", "backend", "ray_job"} <= set(db["runs"].columns_dict)
    assert queries.get_run(db, "r1")["status"] == "completed"
    assert queries.run_metrics(db, "r1")[0]["loss"] == 0.5


def test_a_file_from_a_newer_workbench_is_refused_unchanged(tmp_path):
    from core.errors import WorkbenchError

    db = connect(tmp_path / "w.db")
    db["_sqlite_migrations"].insert({"migration_set": "workbench", "name": "from_the_future",
                                     "applied_at": "2027-01-01"})
    db.close()
    with pytest.raises(WorkbenchError, match="newer version of the workbench"):
        connect(tmp_path / "w.db")


def test_opening_a_connection_writes_nothing(tmp_path):
    """Pages open a connection every rerun: a write there (it once set the schema version
    every time) failed a background job's transaction with "database is locked"."""
    path = tmp_path / "w.db"
    watcher = connect(path)
    before = watcher.execute("PRAGMA data_version").fetchone()[0]
    for _ in range(3):
        connect(path)
    assert watcher.execute("PRAGMA data_version").fetchone()[0] == before


def queue_row(key, state="waiting", backend="local", slot=None, starter=None):
    return {"key": key, "state": state, "backend": backend, "slot": slot, "starter": starter}


def test_the_queue_starts_local_jobs_in_order_per_free_slot_and_ray_jobs_at_once():
    from storage.job_queue import next_startable

    busy = [queue_row("a", "working", slot=0), queue_row("b"), queue_row("c")]
    assert next_startable(busy, 1, frozenset()) == (None, None)  # the one slot is taken
    assert next_startable(busy, 2, frozenset()) == (busy[1], 1)  # the first waiting, slot 1
    cluster = [*busy, queue_row("r", backend="ray")]
    assert next_startable(cluster, 1, frozenset()) == (cluster[3], None)  # waits for no slot
    own = [queue_row("mine", starter="self"), queue_row("later")]
    assert next_startable(own, 1, frozenset()) == (None, None)  # its command line starts it
    assert next_startable(own, 1, frozenset({"mine"})) == (own[0], 0)


def test_a_file_from_before_the_renames_keeps_its_lineups_reviews_and_comparisons(tmp_path):
    """One word per thing: the playground's `comparisons` became `lineups` and the Compare
    page's `evaluation_jobs` became `comparisons`, rows, reviews and review queue kept."""
    from sqlite_utils import Database

    from storage.schema import migrations

    old = Database(tmp_path / "w.db")
    migrations.apply(old, stop_before="one_word_per_thing")
    old["comparisons"].insert({"id": 1, "input": "What is LoRA?", "task": "chat", "saved": 1,
                               "name": "lora", "created_at": "2026-01-01"})
    old["comparison_outputs"].insert({"id": 7, "comparison_id": 1, "position": 0,
                                      "model": "m", "output": "adapters"})
    old["rubrics"].insert({"id": 1, "name": "r", "criteria": "[]", "created_at": "2026-01-01"})
    old["reviews"].insert({"output_id": 7, "rubric_id": 1, "reviewer": "ann"})
    old["evaluation_jobs"].insert({"id": 3, "name": "job", "status": "completed",
                                   "settings": "{}", "evaluation_ids": "[]",
                                   "created_at": "2026-01-01"})
    old.close()

    db = connect(tmp_path / "w.db")

    assert not {"evaluation_jobs", "comparison_outputs"} & set(db.table_names())
    lineup, outputs = queries.get_lineup(db, 1)
    assert lineup["name"] == "lora" and outputs[0]["lineup_id"] == 1
    assert [t["item"] for t in db["review_targets"].rows] == ["lineup 1"]
    assert db.execute("select reviewer from reviews join lineup_outputs o "
                      "on o.id = reviews.output_id").fetchall() == [("ann",)]
    assert queries.get_comparison(db, 3)["name"] == "job"
