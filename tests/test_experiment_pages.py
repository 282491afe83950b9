"""The Experiments page and the Train form's folds, sweep and seeds, through AppTest."""

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_jobs import wait_for
from test_pages import app

from core import experiments
from core.config import settle
from storage import queries

ROOT = Path(__file__).resolve().parents[1]


def text(element) -> str:
    """An element's text without the joiners `plain` puts by colons."""
    return element.value.replace("\u2060", "")


def tiny_train_page(tiny_encoder) -> AppTest:
    """The whole app, on the Train page, with the tiny model and short runs."""
    from ui.train_form import OTHER_MODEL

    page = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    page.button(key="go-app_pages/train.py").click().run()
    key = lambda name: f"{name}-quick-cpu"  # noqa: E731
    page.selectbox(key=key("model")).set_value(OTHER_MODEL).run()
    page.text_input(key=key("model-id")).input(tiny_encoder).run()
    for name, value in [("train_size", 64), ("eval_size", 16)]:
        page.number_input(key=key(name)).set_value(value)
    page.number_input(key=key("steps")).set_value(100_000)
    page.number_input(key=key("length")).set_value(16)
    return page.run()


@pytest.mark.slow
def test_the_train_form_launches_folds_times_a_sweep_as_one_experiment_and_cancels_it(
        db, tiny_encoder):
    from ui.common import jobs

    page = tiny_train_page(tiny_encoder)
    page.number_input(key="folds-quick-cpu").set_value(3).run()
    assert not page.exception and not page.error, [e.value for e in page.error]
    assert page.text_input(key="test-fold-quick-cpu").disabled  # the fold is the test split
    page.text_area(key="sweep").input("lr = 1e-3, nonsense").run()
    assert any("sweep of lr: learning rate must be a number" in text(e) for e in page.error)
    assert not any(b.label.startswith("Launch") for b in page.button)
    page.text_area(key="sweep").input("lr = 1e-3, 2e-3").run()
    assert any("6 runs, queued as one experiment" in i.value for i in page.info)
    assert page.code[0].value.endswith("sweep:\n  lr:\n  - 0.001\n  - 0.002")  # in the run.yaml
    next(b for b in page.button if b.label == "Launch 6 runs").click().run()
    assert not page.exception
    assert page.title[0].value == "Experiments"
    [experiment] = queries.list_experiments(db)
    runs = queries.experiment_runs(db, experiment["id"])
    assert [(json.loads(r["config"])["lr"], json.loads(r["config"])["fold"]) for r in runs] == [
        (1e-3, 1), (1e-3, 2), (1e-3, 3), (2e-3, 1), (2e-3, 2), (2e-3, 3)]
    assert jobs().queued() == [r["id"] for r in runs[1:]]
    wait_for(lambda: queries.get_run(db, runs[0]["id"])["status"] == "running")
    page.run()
    next(b for b in page.button if b.label == "Cancel every run of it").click().run()
    jobs().wait(60)
    assert {r["status"] for r in queries.experiment_runs(db, experiment["id"])} == {"stopped"}
    page.run()
    assert not page.exception
    assert not any(b.label == "Cancel every run of it" for b in page.button)


def test_too_many_runs_need_a_tick_before_launch(db, tiny_encoder):
    page = tiny_train_page(tiny_encoder)
    page.text_area(key="sweep").input("lr = 1e-3, 2e-3, 3e-3, 4e-3, 5e-3").run()
    page.number_input(key="seeds").set_value(5).run()
    launch = next(b for b in page.button if b.label == "Launch 25 runs")
    assert launch.disabled
    page.checkbox(key="allow-many").check().run()
    assert not next(b for b in page.button if b.label == "Launch 25 runs").disabled


def finished_sweep(db) -> int:
    """An experiment of two settings × two seeds, recorded as if trained."""
    plan = experiments.Plan(None, settle({}), {"lr": [1e-5, 5e-5]}, 2, [], [])
    experiment_id = queries.create_experiment(db, "lr sweep", plan.settings())
    for lr, seed, accuracy in [(1e-5, 42, 0.70), (1e-5, 43, 0.74), (5e-5, 42, 0.80),
                               (5e-5, 43, 0.82)]:
        run_id = queries.create_run(db, {"model": "minilm-l6", "method": "trainer",
                                         "dataset": "rt-reviews", "lr": lr, "seed": seed,
                                         "name": f"lr={lr} · seed {seed}"},
                                    experiment_id=experiment_id)
        queries.finish_run(db, run_id, "completed", test_accuracy=accuracy, test_f1=accuracy)
    return experiment_id


def test_the_experiment_page_shows_mean_and_std_per_setting_and_marks_the_best(db):
    experiment_id = finished_sweep(db)
    page = app("experiments.py", experiment=str(experiment_id)).run()
    assert not page.exception
    assert "lr sweep" in page.subheader[0].value
    assert "Best setting: lr=5e-05" in text(page.success[0])
    assert "0.8100 ± 0.0141 over 2 runs" in text(page.success[0])
    table = page.dataframe[0].value
    assert list(table["test accuracy (mean ± std)"]) == ["0.7200 ± 0.0283", "0.8100 ± 0.0141"]
    assert list(table["best"]) == ["", "*"]
    assert len(page.get("plotly_chart")) == 1  # the figure against lr


def test_the_runs_page_filters_by_experiment(db):
    experiment_id = finished_sweep(db)
    queries.create_run(db, {"model": "minilm-l6", "method": "trainer", "dataset": "rt-reviews"})
    page = app("runs.py").run()
    page.multiselect(key="filter-experiment").select("lr sweep").run()
    assert not page.exception
    shown = page.dataframe[0].value
    assert len(shown) == 4 and set(shown["experiment"]) == {"lr sweep"}
    assert experiment_id == 1


def test_an_unknown_experiment_in_the_url_is_said(db):
    finished_sweep(db)
    page = app("experiments.py", experiment="99").run()
    assert not page.exception
    assert any("No such experiment" in w.value for w in page.warning)
    page = app("experiments.py", experiment="<b>x</b>").run()
    assert any("No such experiment" in w.value for w in page.warning)


def test_without_experiments_the_page_says_how_to_start_one(db):
    page = app("experiments.py").run()
    assert "No experiments yet" in page.info[0].value


@pytest.mark.slow
def test_pooled_k_fold_evaluations_are_systems_on_the_compare_page(db):
    from core.evaluate import system_of

    split = "rt-reviews | 5 folds pooled, seed 42 | all 4"
    experiment_id = queries.create_experiment(db, "folds", {"base": {
        "model": "minilm-l6", "method": "probe", "dataset": "rt-reviews"}, "sweep": {},
        "seeds": 1})
    for name, accuracy in (("probe · 5 folds pooled", 0.75), ("trainer · 5 folds pooled", 0.5)):
        queries.add_evaluation(db, {"run_id": None, "experiment_id": experiment_id,
                                    "model": name, "dataset": "rt-reviews", "mode": "fine-tuned",
                                    "shots": 0, "seed": 42, "split": split, "n": 4,
                                    "accuracy": accuracy, "precision": accuracy, "recall": accuracy,
                                    "f1": accuracy, "labels": ["rotten", "fresh"],
                                    "confusion": [[1, 1], [0, 2]], "per_class": {}}, [])
    page = app("compare.py", split=split).run()
    chooser = next(m for m in page.multiselect if m.label == "Systems to compare")
    chooser.set_value([system_of(e)["system"] for e in queries.split_evaluations(db, split)])
    page.run()
    assert not page.exception
    table = page.dataframe[0].value
    assert sorted(table["system"]) == ["probe · 5 folds pooled", "trainer · 5 folds pooled"]
