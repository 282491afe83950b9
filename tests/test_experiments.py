"""Experiments: k-fold cross-validation and sweeps, planned as a whole, queued as one,
cancelled as one, summarised as mean ± std; bad input refused before anything is written."""

import collections
import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from conftest import assert_nothing_written
from test_cli import cli
from test_jobs import long_config, wait_for

from core import experiments, paths, pooling
from core.cli import main
from core.config import settle
from core.data import Table, fold_assignment, split_table
from core.errors import WorkbenchError
from core.jobs import CANCELLED, JobManager
from storage import queries


def labelled_table(sizes: dict[str, int]) -> Table:
    labels = [name for name, count in sizes.items() for _ in range(count)]
    frame = pd.DataFrame({"text": [f"text {i}" for i in range(len(labels))], "label": labels})
    return Table(frame, "classification", sorted(sizes))


# ---- folds ------------------------------------------------------------------------------


@pytest.mark.parametrize("sizes,folds", [({"a": 50, "b": 50}, 5), ({"a": 37, "b": 11, "c": 5}, 5),
                                         ({"a": 9, "b": 4}, 3), ({"a": 3, "b": 3}, 3)])
def test_folds_are_disjoint_covering_even_and_stratified(sizes, folds):
    table = labelled_table(sizes)
    assignment = fold_assignment(table.labels, folds, seed=7)
    assert set(assignment) == set(range(folds))  # every row in exactly one fold, none empty
    per_fold = np.bincount(assignment, minlength=folds)
    assert per_fold.max() - per_fold.min() <= 1
    for label in range(len(sizes)):
        in_class = np.bincount(assignment[table.labels == label], minlength=folds)
        assert in_class.max() - in_class.min() <= 1, (label, in_class)
    assert (fold_assignment(table.labels, folds, seed=7) == assignment).all()  # seeded
    assert (fold_assignment(table.labels, folds, seed=8) != assignment).any()


def test_the_folds_test_splits_partition_the_data_and_never_meet_their_training():
    table = labelled_table({"a": 40, "b": 23})
    tests = []
    for fold in range(1, 6):
        splits = split_table(table, 3, eval=5, folds=5, fold=fold)
        test, train = set(splits["test"]["text"]), set(splits["train"]["text"])
        assert not test & train and not test & set(splits["eval"]["text"])
        assert len(splits["eval"]) == 5 and len(test) + len(train) + 5 == 63
        tests += list(splits["test"]["text"])
    assert sorted(tests) == sorted(table.frame["text"])  # each example tested exactly once


def test_a_split_without_folds_is_drawn_as_before():
    """Runs recorded before folds existed share their test split with new ones."""
    table = labelled_table({"a": 60, "b": 40})
    splits = split_table(table, 42, 50, 10, 20)
    # (drawn by the split code before folds came)
    assert list(splits["test"]["text"][:5]) == ["text 46", "text 54", "text 38", "text 86",
                                                "text 11"]
    assert list(splits["train"]["text"][:3]) == ["text 10", "text 84", "text 12"]


@pytest.mark.parametrize("given,message", [
    ({"folds": 1}, "folds must be at least 2"),
    ({"folds": 0}, "folds must be at least 2"),
    ({"fold": 2}, "give folds as well"),
    ({"folds": 3, "fold": 4}, "fold must be between 1 and 3"),
    ({"folds": 3, "test_size": 0.2}, "drop the test size"),
])
def test_impossible_fold_settings_are_refused(given, message):
    with pytest.raises(WorkbenchError, match=message):
        settle(given)


def test_a_presets_test_size_gives_way_to_folds_but_a_given_one_does_not():
    assert settle({"folds": 5}, "quick-cpu").test_size is None
    assert settle({}, "quick-cpu").test_size == 500
    with pytest.raises(WorkbenchError, match="drop the test size"):
        settle({"folds": 5, "test_size": 100}, "quick-cpu")


def test_more_folds_than_the_smallest_class_is_refused():
    table = labelled_table({"a": 40, "b": 4})
    with pytest.raises(WorkbenchError, match="5 folds need at least 5 examples of every class.*"
                                             "class 'b' has 4"):
        split_table(table, 0, folds=5, fold=1)


# ---- sweeps -----------------------------------------------------------------------------


def test_a_sweep_is_read_typed_and_crossed_with_seeds_and_folds():
    sweep = experiments.checked_sweep(experiments.parse_sweep(["lr=1e-5,5e-5", "lora-r=8,16"]))
    assert sweep == {"lr": [1e-5, 5e-5], "lora_r": [8, 16]}
    points = experiments.grid(settle({"seed": 10}), sweep, seeds=3)
    assert len(points) == 12
    assert points[0] == {"lr": 1e-5, "lora_r": 8, "seed": 10, "fold": None}
    assert points[-1] == {"lr": 5e-5, "lora_r": 16, "seed": 12, "fold": None}
    folded = experiments.grid(settle({"folds": 4}), {"lr": [1e-5, 5e-5]}, seeds=1)
    assert [(p["lr"], p["fold"]) for p in folded[:5]] == [
        (1e-5, 1), (1e-5, 2), (1e-5, 3), (1e-5, 4), (5e-5, 1)]


@pytest.mark.parametrize("items,message", [
    (["learning_rate=1e-5,2e-5"], "cannot sweep 'learning_rate': no such setting"),
    (["lr=fast,slow"], "sweep of lr: learning rate must be a number"),
    (["lora_r=8,8.5"], "sweep of lora_r: LoRA rank must be a whole number"),
    (["packing=true,maybe"], "sweep of packing: packing must be true or false"),
    (["lr=1e-5,1e-5"], "lists a value twice"),
    (["lr"], "is not SETTING=VALUE"),
    (["lr=1e-5", "lr=2e-5"], "names lr twice"),
    (["fold=1,2"], "cannot sweep fold"),
    (["name=a,b"], "cannot sweep name"),
    (["seed=1,2"], "cannot sweep seed: each seed draws its own test split; give seeds N"),
    (["test_size=100,200"], "cannot sweep test_size: it decides the test split"),
    (["dataset=rt-reviews,sst2"], "cannot sweep dataset: it decides the test split"),
    (["clean_text=true,false"], "cannot sweep clean_text: it decides the test split"),
])
def test_a_bad_sweep_is_refused_in_one_line(items, message):
    with pytest.raises(WorkbenchError, match=message):
        experiments.checked_sweep(experiments.parse_sweep(items))


def test_an_experiment_is_planned_whole_before_anything_is_written(home, tiny_config):
    given = {**tiny_config.to_dict(), "train_size": None, "test_size": None, "folds": 2}
    with pytest.raises(WorkbenchError, match="sweep of lr: learning rate must be above 0"):
        experiments.plan(given, sweep={"lr": [1e-3, -1.0]})  # a value alone, at once
    with pytest.raises(WorkbenchError, match="adapter=qlora · fold 1/2: qlora is for causal"):
        experiments.plan(given, sweep={"adapter": ["none", "qlora"]})  # with the others
    with pytest.raises(WorkbenchError, match="30 runs; more than 24 need a confirmation"):
        experiments.plan(given, sweep={"lr": [1e-3, 2e-3, 3e-3]}, seeds=5)
    with pytest.raises(WorkbenchError, match="101 folds need at least 101 examples"):
        experiments.plan({**given, "folds": 101})
    assert_nothing_written()
    assert len(experiments.plan(given, sweep={"lr": [1e-3, 2e-3, 3e-3]}, seeds=5,
                                allow_many=True).runs) == 30


# ---- running them -----------------------------------------------------------------------


def tiny_flags(tiny_config) -> list[str]:
    return ["--model", tiny_config.model, "--method", "loop", "--dataset", tiny_config.dataset,
            "--text-column", "review", "--label-column", "sentiment", "--max-steps", "6",
            "--lr", "5e-3", "--batch-size", "8", "--max-length", "16", "--eval-size", "10"]


@pytest.mark.slow
def test_k_fold_from_the_cli_predicts_every_example_once_and_reports_mean_and_std(
        home, tiny_config, db):
    result = cli("train", *tiny_flags(tiny_config), "--folds", "3", home=home)
    assert result.returncode == 0, result.stderr
    experiment_id = int(result.stdout.strip())
    runs = queries.experiment_runs(db, experiment_id)
    assert [r["status"] for r in runs] == ["completed"] * 3
    assert [json.loads(r["config"])["fold"] for r in runs] == [1, 2, 3]
    assert runs[0]["name"].endswith("fold 1/3")
    [pooled] = queries.experiment_evaluations(db, experiment_id)
    predicted = [p["input"] for p in queries.evaluation_predictions(db, pooled["id"])]
    reviews = pd.read_csv(tiny_config.dataset)["review"]
    assert collections.Counter(predicted) == collections.Counter(reviews)  # each exactly once
    assert pooled["split"] == f"{tiny_config.dataset} | 3 folds pooled, seed 42 | all 200"
    assert sum(json.loads(pooled["per_class"])[c]["support"] for c in ("neg", "pos")) == 200
    accuracies = [r["test_accuracy"] for r in runs]
    line = f"{np.mean(accuracies):.4f} ± {np.std(accuracies, ddof=1):.4f}"
    assert line in result.stderr and "3 of 3" in result.stderr
    assert "3 folds pooled" in result.stderr
    listing = cli("experiments", home=home)
    assert listing.returncode == 0 and "completed" in listing.stdout
    shown = cli("experiments", str(experiment_id), home=home).stdout
    assert line in shown and "3 folds pooled" in shown and "3 of 3" in shown


@pytest.mark.slow
def test_pooling_waits_for_every_fold_and_happens_once(home, tiny_config, db):
    plan = experiments.plan({**tiny_config.to_dict(), "train_size": None, "test_size": None,
                             "folds": 2, "method": "loop", "max_steps": 3})
    experiment_id, run_ids = experiments.record(db, plan)
    from core import engine

    engine.train_prepared(db, run_ids[0], plan.runs[0])
    assert queries.experiment_evaluations(db, experiment_id) == []  # one fold is not the data
    engine.train_prepared(db, run_ids[1], plan.runs[1])
    assert len(queries.experiment_evaluations(db, experiment_id)) == 1
    assert pooling.pool_folds(db, run_ids[1]) is None  # made once
    assert len(queries.experiment_evaluations(db, experiment_id)) == 1


@pytest.mark.slow
def test_a_sweep_queues_as_one_and_is_cancelled_as_one(home, tiny_config, db):
    manager = JobManager(paths.db_path())
    config = long_config(tiny_config)
    given = {k: v for k, v in config.to_dict().items() if v is not None}
    experiment_id = manager.start_experiment(experiments.plan(given, sweep={"lr": [1e-3, 2e-3]},
                                                              seeds=2))
    runs = queries.experiment_runs(db, experiment_id)
    wait_for(lambda: manager.active() == runs[0]["id"])
    assert len(runs) == 4 and manager.queued() == [r["id"] for r in runs[1:]]
    wait_for(lambda: len(queries.run_metrics(db, runs[0]["id"])) >= 2)
    assert manager.stop_experiment(experiment_id) == 4
    manager.wait(60)
    ended = queries.experiment_runs(db, experiment_id)
    assert [r["status"] for r in ended] == ["stopped"] * 4
    assert [r["error"] for r in ended[1:]] == [CANCELLED] * 3
    assert experiments.summary(db, experiment_id).status == "stopped"
    manager.resume(ended[2]["id"])  # each run resumes on its own
    wait_for(lambda: queries.get_run(db, ended[2]["id"])["status"] == "running")
    manager.stop(ended[2]["id"])
    manager.wait(60)


def test_a_run_yaml_says_sweep_and_seeds(home, tiny_config, tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text(f"model: {tiny_config.model}\nmethod: loop\ndataset: {tiny_config.dataset}\n"
                    "text_column: review\nlabel_column: sentiment\nsweep:\n  lr: [1e-3, 2e-3]\n"
                    "seeds: 2\n")
    plan = experiments.plan({}, file=path)
    assert len(plan.runs) == 4 and plan.sweep == {"lr": [1e-3, 2e-3]} and plan.seeds == 2
    assert len(experiments.plan({}, file=path, seeds=1).runs) == 2  # a flag overrides the file
    path.write_text("sweep:\n  lr: 1e-3\n  nothing: [1]\n")
    with pytest.raises(WorkbenchError, match="cannot sweep 'nothing'"):
        experiments.plan({}, file=path)


def test_the_cli_refuses_a_bad_experiment_with_one_line_and_writes_nothing(home, tiny_config,
                                                                            capsys):
    flags = tiny_flags(tiny_config)
    for extra, message in [(["--sweep", "nope=1,2"], "cannot sweep 'nope'"),
                           (["--folds", "1"], "folds must be at least 2"),
                           (["--folds", "150"], "150 folds need at least 150 examples"),
                           (["--sweep", "lr=1e-3,2e-3,3e-3", "--seeds", "9"], "need a confirmation"),
                           (["--seeds", "0"], "seeds must be from 1 to 240")]:
        assert main(["train", *flags, *extra]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
    assert_nothing_written()


def test_settings_are_summarised_by_mean_and_std_and_the_best_is_marked():
    runs = [{"id": f"r{i}", "name": f"run {i}", "status": status, "summary": None,
             "config": json.dumps({"lr": lr, "seed": seed, "fold": None}),
             "test_accuracy": accuracy, "test_f1": accuracy}
            for i, (lr, seed, status, accuracy) in enumerate([
                (1e-5, 1, "completed", 0.70), (1e-5, 2, "completed", 0.74),
                (5e-5, 1, "completed", 0.80), (5e-5, 2, "failed", None)])]
    frame = experiments.runs_frame(runs, {"lr": [1e-5, 5e-5]})
    table = experiments.settings_frame(frame, {"lr": [1e-5, 5e-5]})
    assert list(table["completed"]) == [2, 1] and list(table["runs"]) == [2, 2]
    assert table["test_accuracy"].round(4).tolist() == [0.72, 0.8]
    assert table["test_accuracy_std"].round(4).tolist()[0] == pytest.approx(0.0283, abs=1e-4)
    assert list(table["best"]) == [False, True]
    assert experiments.status_of(frame["status"].value_counts().to_dict()) == "failed"
    assert experiments.status_of({"completed": 2, "running": 1, "failed": 1}) == "running"


def test_the_experiment_is_the_runs_own_record(home, tiny_config, db):
    plan = experiments.plan({**tiny_config.to_dict(), "train_size": None, "test_size": None,
                             "folds": 2, "name": "my k-fold"})
    experiment_id, run_ids = experiments.record(db, plan)
    assert queries.get_experiment(db, experiment_id)["name"] == "my k-fold"
    assert [queries.get_run(db, r)["name"] for r in run_ids] == ["my k-fold · fold 1/2",
                                                                 "my k-fold · fold 2/2"]
    stored = json.loads(queries.get_run(db, run_ids[1])["config"])
    assert stored["folds"] == 2 and stored["fold"] == 2  # its run.yaml trains that fold alone
    assert dataclasses.replace(plan.runs[1].config, name=None).fold == 2


def test_a_pooled_evaluation_is_a_system_of_its_own_named_by_its_setting():
    from core.evaluate import with_systems

    pooled = [{"id": i, "run_id": None, "experiment_id": 1, "mode": "fine-tuned", "shots": 0,
               "model": f"probe · lr={lr} · 5 folds pooled", "template": None}
              for i, lr in ((5, 1e-3), (6, 2e-3))]
    systems = with_systems(pooled)
    assert [s["label"] for s in systems] == ["probe · lr=0.001 · 5 folds pooled",
                                             "probe · lr=0.002 · 5 folds pooled"]
    assert len({s["system"] for s in systems}) == 2 and systems[0]["run"] is None


def test_planning_says_its_progress_and_reads_the_data_once(home, tiny_config, monkeypatch):
    given = {**tiny_config.to_dict(), "train_size": None, "test_size": None}
    reads, told = [], []
    real = experiments.load_table
    monkeypatch.setattr(experiments, "load_table", lambda *a: reads.append(a) or real(*a))
    plan = experiments.plan(given, sweep={"lr": [1e-3, 2e-3]}, seeds=3,
                            progress=lambda done, total: told.append((done, total)))
    assert len(plan.runs) == 6 and len(reads) == 1
    assert told == [(n, 6) for n in range(1, 7)]
    assert_nothing_written()


def test_an_experiment_past_the_most_runs_is_refused_even_confirmed(home, tiny_config):
    given = {**tiny_config.to_dict(), "train_size": None, "test_size": None}
    told = []
    with pytest.raises(WorkbenchError, match=f"is 600 runs; an experiment is at most "
                                             f"{experiments.MOST_RUNS}"):
        experiments.plan(given, sweep={"lr": [1e-3, 2e-3, 3e-3]}, seeds=200, allow_many=True,
                         progress=lambda done, total: told.append(done))
    assert told == [1]  # refused after the first run's check, not after preparing 600
    assert_nothing_written()


def test_run_yaml_experiment_keys_that_are_not_what_they_say_are_refused(home, tiny_config,
                                                                         tmp_path, capsys):
    for extra, message in [("seeds: true\n", "seeds must be a whole number"),
                           ("sweep: []\n", "sweep must map settings to lists of values"),
                           ("sweep:\n  lr: [null, 2.0e-5]\n", "sweep of lr lists an empty value")]:
        path = tmp_path / "run.yaml"
        path.write_text(f"model: {tiny_config.model}\ndataset: {tiny_config.dataset}\n"
                        f"text_column: review\nlabel_column: sentiment\n{extra}")
        assert main(["train", "--config", str(path)]) == 2
        assert message in capsys.readouterr().err
    assert experiments.checked_seeds(2.0) == 2
    with pytest.raises(WorkbenchError, match="seeds must be from 1 to 240"):
        experiments.checked_seeds(1000)
    with pytest.raises(WorkbenchError, match="an empty value between its commas"):
        experiments.parse_sweep(["lr=5e-5,"])
    assert_nothing_written()


def test_a_method_swept_from_a_form_takes_each_methods_own_defaults(home, tiny_config):
    form = settle({**tiny_config.to_dict(), "method": "probe", "train_size": None,
                   "test_size": None, "lr": None, "epochs": None, "batch_size": None,
                   "weight_decay": None, "warmup_steps": None}).to_dict()  # as the form settles it
    plan = experiments.plan(form, sweep={"method": ["probe", "trainer"]})
    trainer = plan.runs[1].config
    assert (trainer.batch_size, trainer.epochs, trainer.lr) == (16, 2, 5e-5)  # trainer's own
    changed = experiments.plan({**form, "batch_size": 8}, sweep={"method": ["probe", "trainer"]})
    assert changed.runs[1].config.batch_size == 8  # a setting the user changed stays


def test_ties_are_all_best_and_an_experiment_without_runs_says_so(db, capsys):
    runs = [{"id": f"r{i}", "name": f"run {i}", "status": "completed", "summary": None,
             "config": json.dumps({"probe_c": c, "seed": 42, "fold": None}),
             "test_accuracy": 1.0, "test_f1": 1.0} for i, c in enumerate([0.1, 1.0])]
    sweep = {"probe_c": [0.1, 1.0]}
    table = experiments.settings_frame(experiments.runs_frame(runs, sweep), sweep)
    assert list(table["best"]) == [True, True]
    experiment_id = queries.create_experiment(db, "gone", {"base": {
        "model": "m", "method": "probe", "dataset": "d"}, "sweep": {}, "seeds": 1})
    assert experiments.summary(db, experiment_id).status == "empty"
    assert main(["experiments", str(experiment_id)]) == 0
    assert "experiment 1: gone (empty)" in capsys.readouterr().out
    with pytest.raises(WorkbenchError, match="an experiment named 'gone' exists already"):
        queries.create_experiment(db, "gone", {"base": {
            "model": "m", "method": "probe", "dataset": "d"}, "sweep": {}, "seeds": 1})
    assert main(["experiments", "99999999999999999999"]) == 2
    assert "no experiment 99999999999999999999" in capsys.readouterr().err
