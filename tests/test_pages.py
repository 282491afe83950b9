"""Pages rendered by Streamlit's AppTest over a real database."""

from pathlib import Path

from streamlit.testing.v1 import AppTest

from storage import queries

PAGES = Path(__file__).resolve().parents[1] / "app_pages"


def app(page: str, **query) -> AppTest:
    """A page with the given URL query, before its first run."""
    test = AppTest.from_file(str(PAGES / page), default_timeout=120)
    test.query_params.update(query)
    return test


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
    page = app("runs.py").run()
    assert not page.exception
    assert "No runs yet" in page.info[0].value


def test_runs_page_opens_the_run_named_in_the_url(db):
    run_id = recorded_run(db)
    page = app("runs.py", run=run_id).run()
    assert not page.exception
    assert "sample run" in page.subheader[0].value
    assert [m.value for m in page.metric][:2] == ["0.750", "0.800"]


def test_a_failed_run_shows_its_error(db):
    run_id = recorded_run(db, status="failed")
    page = app("runs.py", run=run_id).run()
    assert page.error[0].value == "boom"


def launch_tiny_run(tiny_encoder, max_steps, button="Launch", processes=1):
    from ui.train_form import OTHER_MODEL

    page = app("train.py").run()
    key = lambda name: f"{name}-quick-cpu"  # noqa: E731 - widget keys carry the preset
    page.selectbox(key=key("model")).set_value(OTHER_MODEL).run()
    page.text_input(key=key("model-id")).input(tiny_encoder).run()
    for name, value in [("train_size", 64), ("eval_size", 16), ("test_size", 32)]:
        page.number_input(key=key(name)).set_value(value)
    page.number_input(key=key("steps-trainer-none")).set_value(max_steps)
    page.number_input(key=key("length-trainer-none")).set_value(16)
    page.number_input(key=key("processes")).set_value(processes)
    page.run()
    assert not page.exception and not page.error, [e.value for e in page.error]
    assert page.metric[0].label == "Trainable parameters"
    next(b for b in page.button if b.label == button).click().run()
    return page


def test_train_page_launches_a_run_and_shows_its_results(db, tiny_encoder):
    from ui.common import jobs

    page = launch_tiny_run(tiny_encoder, max_steps=6)
    run_id = page.query_params["run"]
    run_id = run_id[0] if isinstance(run_id, list) else run_id
    jobs().wait(120)
    assert queries.get_run(db, run_id)["status"] == "completed"
    page.run()
    assert not page.exception
    assert page.subheader[0].value.startswith(":material/check_circle:")
    assert any(m.label == "test accuracy" for m in page.metric)


def test_train_page_queues_a_second_launch_which_can_be_cancelled(db, tiny_encoder):
    from test_jobs import wait_for
    from ui.common import jobs

    launch_tiny_run(tiny_encoder, max_steps=100_000)
    wait_for(lambda: jobs().active() is not None)
    training = jobs().active()

    page = launch_tiny_run(tiny_encoder, max_steps=6, button="Add to queue")

    queued = page.query_params["run"]
    queued = queued[0] if isinstance(queued, list) else queued
    assert jobs().queued() == [queued]
    assert any(f"number 1, behind run {training}" in i.value for i in page.info)
    form = app("train.py").run()
    assert any(b.label == "Cancel" and b.key == f"cancel-{queued}" for b in form.button)
    next(b for b in page.button if b.label == "Cancel").click().run()
    assert queries.get_run(db, queued)["status"] == "stopped" and jobs().queued() == []
    jobs().stop(training)
    jobs().wait(60)
    assert queries.get_run(db, training)["status"] == "stopped"


def test_a_stopped_run_resumes_from_its_page(db, tiny_config):
    import dataclasses

    from core import engine
    from ui.common import jobs

    stopped = engine.train(dataclasses.replace(tiny_config, method="loop", logging_steps=1),
                           db, should_stop=lambda: True)  # stops (and checkpoints) at step 1
    page = app("runs.py", run=stopped).run()
    resume = next(b for b in page.button if b.label.startswith("Resume"))
    assert resume.label == "Resume from step 1"

    resume.click().run()
    jobs().wait(120)

    assert not page.exception
    assert queries.get_run(db, stopped)["status"] == "completed"
    page.run()
    assert page.subheader[0].value.startswith(":material/check_circle:")


def test_runs_page_filters_by_status(db):
    recorded_run(db)
    recorded_run(db, status="failed")
    page = app("runs.py").run()
    assert page.caption[0].value == "2 runs: 1 completed, 1 failed"
    page.multiselect(key="filter-status").set_value(["failed"]).run()
    assert list(page.dataframe[0].value["status"]) == ["failed"]


def test_deleting_a_run_removes_it_from_the_database_and_the_page(db):
    keep, gone = recorded_run(db), recorded_run(db)
    page = app("runs.py", run=gone).run()
    next(b for b in page.button if b.label == "Delete for good").click().run()
    assert not page.exception
    assert [r["id"] for r in queries.list_runs(db)] == [keep]
    assert "run" not in page.query_params


def test_comparing_runs_shows_the_settings_that_differ():
    from ui.runs_table import config_diff

    runs = [{"id": "a", "config": '{"lr": 0.001, "seed": 1, "model": "m"}'},
            {"id": "b", "config": '{"lr": 0.01, "seed": 1, "model": "m"}'}]
    diff = config_diff(runs)
    assert list(diff.index) == ["lr"] and list(diff.loc["lr"]) == [0.001, 0.01]


def test_exports_hold_every_metric_and_prediction_row(db):
    from ui.runs_table import metrics_csv, predictions_csv

    run_id = recorded_run(db)
    evaluation_id = queries.run_evaluations(db, run_id)[0]["id"]
    db["predictions"].insert_all([{"evaluation_id": evaluation_id, "idx": i, "input": f"t{i}"}
                                  for i in range(3)])
    assert metrics_csv(db, run_id).count("\n") == 1 + 4
    assert predictions_csv(db, run_id).count("\n") == 1 + 3


def test_train_page_offers_causal_methods_and_refuses_qlora_without_cuda(db, tiny_causal):
    from ui.train_form import OTHER_MODEL

    page = app("train.py").run()
    key = lambda name: f"{name}-quick-cpu"  # noqa: E731
    page.selectbox(key=key("model")).set_value(OTHER_MODEL).run()
    page.text_input(key=key("model-id")).input(tiny_causal).run()
    page.selectbox(key=key("method")).set_value("sft").run()
    assert "aclsum" in page.selectbox(key=key("dataset-sft")).options[1]
    assert page.radio(key=key("adapter")).options == ["none", "lora", "qlora"]
    page.radio(key=key("adapter")).set_value("qlora").run()
    assert any("qlora needs a CUDA GPU" in e.value for e in page.error)
    assert not any(b.label == "Launch" for b in page.button)
    page.radio(key=key("adapter")).set_value("lora").run()
    assert not page.error and page.metric[0].label == "Trainable parameters"
    assert any(t.label == "Packing" for t in page.toggle)


def test_a_causal_preset_shows_the_method_defaults_it_leaves_unset(db):
    page = app("train.py").run()
    page.selectbox[0].set_value("quick-sft").run()  # the preset: it sets no warm-up
    assert not page.exception and not page.error, [e.value for e in page.error]
    # The form shows sft's own default, not a zero the run would then be given.
    assert page.number_input(key="warmup-sft-lora-quick-sft").value == 10
    assert page.number_input(key="lr-sft-lora-quick-sft").value == 2e-4


def test_a_causal_run_shows_original_vs_tuned(db):
    run_id = queries.create_run(db, {"model": "smollm2-135m", "method": "sft", "adapter": "lora",
                                     "dataset": "rt-reviews", "name": "causal run"})
    queries.mark_running(db, run_id, "/out")
    queries.log_metrics(db, run_id, {"step": 5, "loss": 1.2, "learning_rate": 1e-4})
    queries.log_metrics(db, run_id, {"step": 5, "eval_loss": 0.5})
    for mode, accuracy in [("fine-tuned", 0.9), ("zero-shot", 0.4)]:
        queries.add_evaluation(db, {"run_id": run_id, "mode": mode, "n": 10, "accuracy": accuracy,
                                    "unparseable": 1, "labels": ["rotten", "fresh"],
                                    "per_class": {"rotten": {"accuracy": accuracy},
                                                  "fresh": {"accuracy": accuracy}}},
                               [{"idx": 0, "input": "a film", "reference": "fresh",
                                 "prediction": "fresh", "output": "fresh"}])
    queries.finish_run(db, run_id, "completed", test_accuracy=0.9)
    page = app("runs.py", run=run_id).run()
    assert not page.exception
    table = next(d.value for d in page.dataframe if "accuracy on rotten" in d.value.columns)
    assert list(table.index) == ["Tuned", "Original"]
    assert list(table["accuracy on rotten"]) == [0.9, 0.4]
    assert any(b.label == "Export merged model" for b in page.button)
