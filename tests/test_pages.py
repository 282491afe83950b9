"""Pages rendered by Streamlit's AppTest over a real database."""

import json
from pathlib import Path

import pytest
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


@pytest.mark.slow
def test_runs_page_opens_the_run_named_in_the_url(db):
    run_id = recorded_run(db)
    page = app("runs.py", run=run_id).run()
    assert not page.exception
    assert "sample run" in page.subheader[0].value
    assert [m.value for m in page.metric][:2] == ["0.750", "0.800"]


@pytest.mark.slow
def test_a_run_is_renamed_from_its_page_and_an_empty_name_refused(db):
    run_id = recorded_run(db)
    page = app("runs.py", run=run_id).run()
    name_box = lambda: next(t for t in page.text_input if t.label == "Run name")  # noqa: E731
    name_box().input("  better name ")
    next(b for b in page.button if b.label == "Save").click().run()
    assert not page.exception and not page.error
    assert queries.get_run(db, run_id)["name"] == "better name"
    assert "better name" in page.subheader[0].value

    assert name_box().value == "better name"
    name_box().input(" ")
    next(b for b in page.button if b.label == "Save").click().run()
    assert "cannot be empty" in page.error[0].value
    assert queries.get_run(db, run_id)["name"] == "better name"


def test_a_running_run_is_renamed_from_its_live_panel(db):
    run_id = queries.create_run(db, {"model": "minilm-l6", "method": "trainer",
                                     "dataset": "rt-reviews"})
    queries.mark_running(db, run_id, "/out")  # owned by this process: it stays running
    page = app("runs.py", run=run_id).run()
    box = next(t for t in page.text_input if t.label == "Run name")
    assert box.value == "minilm-l6 · trainer · rt-reviews · 1"  # the default
    box.input("live rename")
    next(b for b in page.button if b.label == "Save").click().run()
    assert not page.exception
    assert queries.get_run(db, run_id)["name"] == "live rename"


def test_the_runs_table_shows_the_name_first_and_keeps_the_id(db):
    run_id = recorded_run(db)
    page = app("runs.py").run()
    table = page.dataframe[0].value
    assert list(table.columns[:2]) == ["name", "id"]
    assert list(table["name"]) == ["sample run"] and list(table["id"]) == [run_id]


def test_a_failed_run_shows_its_error(db):
    run_id = recorded_run(db, status="failed")
    page = app("runs.py", run=run_id).run()
    assert page.error[0].value == "boom"


def launch_tiny_run(tiny_encoder, max_steps, button="Launch", processes=1, name=""):
    from ui.train_form import OTHER_MODEL

    page = app("train.py").run()
    key = lambda name: f"{name}-quick-cpu"  # noqa: E731 - widget keys carry the preset
    page.selectbox(key=key("model")).set_value(OTHER_MODEL).run()
    page.text_input(key=key("model-id")).input(tiny_encoder).run()
    page.text_input(key="run-name").input(name)
    for name, value in [("train_size", 64), ("eval_size", 16), ("test_size", 32)]:
        page.number_input(key=key(name)).set_value(value)
    page.number_input(key=key("steps")).set_value(max_steps)
    page.number_input(key=key("length")).set_value(16)
    page.number_input(key=key("processes")).set_value(processes)
    page.run()
    assert not page.exception and not page.error, [e.value for e in page.error]
    assert page.metric[0].label == "Trainable parameters"
    next(b for b in page.button if b.label == button).click().run()
    return page


@pytest.mark.slow
def test_train_page_launches_a_run_and_shows_its_results(db, tiny_encoder):
    from ui.common import jobs

    page = launch_tiny_run(tiny_encoder, max_steps=6, name=" my first run ")
    run_id = page.query_params["run"]
    run_id = run_id[0] if isinstance(run_id, list) else run_id
    jobs().wait(120)
    assert queries.get_run(db, run_id)["status"] == "completed"
    assert queries.get_run(db, run_id)["name"] == "my first run"
    page.run()
    assert not page.exception
    assert page.subheader[0].value.startswith(":material/check_circle:")
    assert any(m.label == "test accuracy" for m in page.metric)


@pytest.mark.slow
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
    name = queries.get_run(db, training)["name"]
    assert name == f"{Path(tiny_encoder).name} · trainer · rt-reviews · 1"
    assert any(f"number 1, behind run {name}" in i.value for i in page.info)
    form = app("train.py").run()
    assert any(b.label == "Cancel" and b.key == f"cancel-{queued}" for b in form.button)
    assert any(f"Running now: [{name}](?run={training})" in i.value for i in form.info)
    next(b for b in page.button if b.label == "Cancel").click().run()
    assert queries.get_run(db, queued)["status"] == "stopped" and jobs().queued() == []
    jobs().stop(training)
    jobs().wait(60)
    assert queries.get_run(db, training)["status"] == "stopped"


@pytest.mark.slow
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


@pytest.mark.slow
def test_deleting_a_run_removes_it_from_the_database_and_the_page(db):
    keep, gone = recorded_run(db), recorded_run(db)
    page = app("runs.py", run=gone).run()
    next(b for b in page.button if b.label == "Delete for good").click().run()
    assert not page.exception
    assert [r["id"] for r in queries.list_runs(db)] == [keep]
    assert "run" not in page.query_params
    assert [s.value for s in page.success] == ["Deleted run sample run."]
    assert page.dataframe[0].value["id"].tolist() == [keep]  # back on the list


def blocks(node, kind: str) -> list:
    """The blocks of a kind (popover, expander, ...) under a node of the page, in page order."""
    return [block for child in getattr(node, "children", {}).values()
            for block in [child] * (child.type == kind) + blocks(child, kind)]


def test_deleting_a_run_asks_first(db):
    run_id = recorded_run(db)
    page = app("runs.py", run=run_id).run()
    # The button shows after a click on "Delete run", under a warning.
    popover = next(b for b in blocks(page.main, "popover") if b.proto.popover.label == "Delete run")
    assert [b.label for b in popover.button] == ["Delete for good"]
    assert "This cannot be undone." in popover.markdown[0].value
    assert queries.get_run(db, run_id) is not None  # opening the page deleted nothing


def test_comparing_runs_shows_the_settings_that_differ_under_the_runs_names():
    from ui.runs_table import config_diff, run_labels

    runs = [{"id": "a", "name": "slow", "config": '{"lr": 0.001, "seed": 1, "model": "m"}'},
            {"id": "b", "name": "fast", "config": '{"lr": 0.01, "seed": 1, "model": "m"}'}]
    diff = config_diff(runs, run_labels(runs))
    assert list(diff.columns) == ["slow", "fast"]
    assert list(diff.index) == ["lr"] and list(diff.loc["lr"]) == [0.001, 0.01]


def test_runs_sharing_a_name_are_told_apart_by_the_end_of_their_ids():
    from ui.runs_table import run_labels

    runs = [{"id": "20250101-000000-aaaaaa", "name": "same"},
            {"id": "20250101-000001-bbbbbb", "name": "same"},
            {"id": "20250101-000002-cccccc", "name": "other"}]
    assert list(run_labels(runs).values()) == ["same · aaaaaa", "same · bbbbbb", "other"]


def select_rows(page: AppTest, rows: list[int]) -> AppTest:
    """Select rows of the page's first table, as a click in a browser does (AppTest has no
    way to, so the selection is sent as the browser sends it)."""
    states = page._tree.get_widget_states()
    state = states.widgets.add()
    state.id = page.dataframe[0].proto.id
    state.string_value = json.dumps({"selection": {"rows": rows, "columns": []}})
    return page._run(states)


def test_compared_runs_have_their_own_colour_and_name_in_every_chart(db):
    first, second = recorded_run(db), recorded_run(db)  # both named "sample run"
    page = select_rows(app("runs.py").run(), [0, 1])
    assert not page.exception
    charts = [json.loads(chart.proto.spec)["data"] for chart in page.get("plotly_chart")]
    assert len(charts) == 4  # loss, validation loss and accuracy, learning rate
    for lines in charts:
        # Named by their names, told apart by their ids' ends; the whole id on hover.
        assert {line["customdata"][0]: line["name"] for line in lines} == {
            first: f"sample run · {first[-6:]}", second: f"sample run · {second[-6:]}"}
        assert lines[0]["line"]["color"] != lines[1]["line"]["color"]
    assert len({tuple(line["line"]["color"] for line in lines) for lines in charts}) == 1
    assert "All settings are equal." in [m.value for m in page.markdown]
    assert len(page.dataframe) == 1  # the runs table only: no empty table of differences


def test_exports_hold_every_metric_and_prediction_row(db):
    from ui.runs_table import metrics_csv, predictions_csv

    run_id = recorded_run(db)
    evaluation_id = queries.run_evaluations(db, run_id)[0]["id"]
    db["predictions"].insert_all([{"evaluation_id": evaluation_id, "idx": i, "input": f"t{i}"}
                                  for i in range(3)])
    assert metrics_csv(db, run_id).count("\n") == 1 + 4
    assert predictions_csv(db, run_id).count("\n") == 1 + 3


@pytest.mark.slow
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


@pytest.mark.slow
def test_a_causal_preset_shows_the_method_defaults_it_leaves_unset(db):
    page = app("train.py").run()
    page.selectbox[0].set_value("quick-sft").run()  # the preset: it sets no warm-up
    assert not page.exception and not page.error, [e.value for e in page.error]
    # The form shows sft's own default, not a zero the run would then be given.
    assert page.number_input(key="warmup-quick-sft").value == 10
    assert page.number_input(key="lr-quick-sft").value == 2e-4


def test_typed_settings_survive_a_change_of_method_and_adapter(db):
    """A user who typed 3 steps, batch 8 and seed 7 keeps them through another adapter and a
    method without those settings (the page names the ones it does not use), and back."""
    page = app("train.py").run()
    key = lambda name: f"{name}-quick-cpu"  # noqa: E731
    typed = {"steps": 3, "batch": 8, "seed": 7, "logging": 2, "epochs": 1.0}
    for name, value in typed.items():
        page.number_input(key=key(name)).set_value(value)
    page.run()
    page.radio(key=key("adapter")).set_value("lora").run()
    assert {name: page.number_input(key=key(name)).value for name in typed} == typed
    page.selectbox(key=key("method")).set_value("probe").run()
    assert not page.exception
    assert "Not used by" in page.caption.values[-1] or any(
        "Max steps (0 = by epochs)" in c.value and "switch back" in c.value for c in page.caption)
    assert page.number_input(key=key("batch")).value == 8
    page.selectbox(key=key("method")).set_value("trainer").run()
    assert {name: page.number_input(key=key(name)).value for name in typed} == typed


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


def test_splits_that_do_not_fit_an_upload_are_flagged_before_launch_and_defaults_fix_them(db):
    from tests.conftest import sentiment_frame
    from ui.train_form import UPLOAD

    page = app("train.py").run()
    key = lambda name: f"{name}-quick-cpu"  # noqa: E731 - the preset's 1,000 / 200 / 500
    page.selectbox(key=key("dataset-trainer")).set_value(UPLOAD).run()
    upload = sentiment_frame(200).to_csv(index=False).encode()
    page.file_uploader(key=key("upload")).set_value(("reviews.csv", upload, "text/csv")).run()
    assert not page.exception
    assert any("= 1700 examples, but the data has 200" in e.value for e in page.error)
    assert not any(b.label == "Launch" for b in page.button)

    next(b for b in page.button if b.label.startswith("Use default fractions")).click().run()
    assert [page.number_input(key=key(n)).value for n in ("train_size", "eval_size", "test_size")] \
        == [140, 20, 40]
    assert not page.exception and not page.error, [e.value for e in page.error]
    assert any(b.label == "Launch" for b in page.button)


@pytest.mark.slow
def test_hub_entries_are_marked_offline_and_a_hub_data_set_says_why_in_one_line(db):
    page = app("train.py").run()
    key = lambda name: f"{name}-quick-cpu"  # noqa: E731
    models = page.selectbox(key=key("model")).options
    assert any(m.startswith("distilbert-base-uncased") and m.endswith("(needs a network)")
               for m in models)
    assert not any(m.startswith("minilm-l6") and "needs a network" in m for m in models)
    page.selectbox(key=key("dataset-trainer")).set_value("imdb").run()
    assert not page.exception
    assert [e.value.replace("\\", "").replace("\u2060", "") for e in page.error] == [
        "data set 'imdb' could not be downloaded from the Hugging Face hub (HF_HUB_OFFLINE is set, so "
        "this machine is offline); pick a bundled data set (rt-reviews, aclsum), or upload a file"]
    assert not any(b.label == "Launch" for b in page.button)


@pytest.mark.slow
def test_the_prompting_pages_mark_hub_models_offline(db):
    for page_file, label in [("compare.py", "Models to prompt"), ("playground.py", "Models (2 to 4)")]:
        page = app(page_file).run()
        assert not page.exception
        options = next(m for m in page.multiselect if m.label == label).options
        assert any(o.startswith("pythia-70m") and o.endswith("(needs a network)") for o in options)
        assert not any(o.startswith("smollm2-135m") and "network" in o for o in options)


def test_the_form_estimates_the_time_phase_by_phase_from_the_last_run_like_it(db):
    page = app("train.py").run()
    assert any(c.value.startswith("Time: no run like this one") for c in page.caption)
    run_id = queries.create_run(db, {"model": "minilm-l6", "method": "trainer", "adapter": "none",
                                     "dataset": "rt-reviews", "name": "last time"})
    queries.mark_running(db, run_id, "/out", 63)
    queries.finish_run(db, run_id, "completed", summary=json.dumps({"phase_seconds": {
        "loading the model": 4.0, "training": 30.0, "judging the test split": 8.0}}))
    page.run()
    said = next(c.value for c in page.caption if c.value.startswith("Time"))
    # quick-cpu trains 126 steps: twice the 63 measured, so training takes twice as long.
    assert said.replace("\u2060", "") == (
        "Time: about 1 min 12 s: loading the model 4 s, training 1 min 00 s, judging the test "
        "split 8 s (measured on run “last time”, 63 steps, its training scaled to this run's "
        "126).")


def test_a_cloned_run_fills_the_form_with_its_settings_shown_or_not(db, tiny_encoder,
                                                                    sentiment_csv):
    """?clone=RUN (the run page's button): the run's model folder, file and columns, typed
    settings and the ones the form does not show (max grad norm) start the form; its name
    does not (the clone is a new run)."""
    config = {"model": tiny_encoder, "method": "trainer", "adapter": "none",
              "dataset": str(sentiment_csv), "text_column": "review",
              "label_column": "sentiment", "train_size": 120, "eval_size": 40,
              "test_size": 40, "max_steps": 7, "seed": 11, "max_grad_norm": 0.3,
              "max_length": 16, "name": "original"}
    run_id = queries.create_run(db, config)
    page = app("train.py", clone=run_id).run()
    assert not page.exception and not page.error, [e.value for e in page.error]
    key = lambda name: f"{name}-run-{run_id}"  # noqa: E731
    assert page.selectbox[0].value == "clone"
    assert page.text_input(key=key("model-id")).value == tiny_encoder
    assert page.number_input(key=key("steps")).value == 7
    assert page.number_input(key=key("seed")).value == 11
    assert page.text_input(key="run-name").value == ""
    run_yaml = page.code[0].value
    assert "max_grad_norm: 0.3" in run_yaml and "text_column: review" in run_yaml
    assert f"dataset: {sentiment_csv}" in run_yaml
