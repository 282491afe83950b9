"""Pages rendered by Streamlit's AppTest over a real database."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

from storage import queries

PAGES = Path(__file__).resolve().parents[1] / "pages"


def recorded_run(db, status="completed"):
    run_id = queries.create_run(db, {"model": "minilm-l6", "method": "trainer", "adapter": "none",
                                     "dataset": "rt-reviews", "name": "sample run"})
    queries.mark_running(db, run_id, "/out")
    for step in (10, 20, 30):
        queries.log_metrics(db, run_id, {"step": step, "loss": 1.0 / step, "learning_rate": 1e-5,
                                         "grad_norm": 1.0})
    queries.log_metrics(db, run_id, {"step": 30, "eval_loss": 0.4, "eval_accuracy": 0.8})
    queries.add_evaluation(db, {"run_id": run_id, "mode": "fine-tuned", "n": 4, "accuracy": 0.75,
                                "precision": 0.8, "recall": 0.75, "f1": 0.73,
                                "labels": ["rotten", "fresh"], "confusion": [[1, 1], [0, 2]],
                                "per_class": {"rotten": {"accuracy": 0.5},
                                              "fresh": {"accuracy": 1.0}}}, [])
    queries.save_layer_changes(db, run_id, [{"layer": "embeddings", "relative_change": 0.01,
                                             "params": 10}])
    queries.finish_run(db, run_id, status, test_accuracy=0.75, test_f1=0.73,
                       error="boom" if status == "failed" else None)
    return run_id


def test_runs_page_without_runs_says_how_to_start(db):
    page = AppTest.from_file(str(PAGES / "runs.py")).run()
    assert not page.exception
    assert "No runs yet" in page.info[0].value


def test_runs_page_opens_the_run_named_in_the_url(db):
    run_id = recorded_run(db)
    page = AppTest.from_file(str(PAGES / "runs.py"))
    page.query_params["run"] = run_id
    page.run()
    assert not page.exception
    assert "sample run" in page.subheader[0].value
    assert [m.value for m in page.metric][:2] == ["0.750", "0.800"]


def test_a_failed_run_shows_its_error(db):
    run_id = recorded_run(db, status="failed")
    page = AppTest.from_file(str(PAGES / "runs.py"))
    page.query_params["run"] = run_id
    page.run()
    assert page.error[0].value == "boom"
