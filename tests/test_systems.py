"""Issue 16, item 2: one system per run. Two runs of one model are two systems with their own
accuracy and confusion matrix; the seeds of a prompting setting are the executions of one
system; the Compare page compares nothing until the user picks."""

import base64
import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from core.cli import main
from core.data import split_name
from core.evaluate import system_summary, system_of
from core.metrics import classification_metrics
from storage import queries
from ui.charts import accuracy_figure
from ui.compare import summary_table

PAGE = str(Path(__file__).resolve().parents[1] / "app_pages" / "compare.py")
LABELS = ["rotten", "fresh"]
REFERENCES = [LABELS[i % 2] for i in range(100)]
SPLIT = split_name("rt-reviews", 42, 100, 100)


def predicted(right: int) -> list[str]:
    """Predictions right on the first `right` of the 100 examples, wrong on the rest."""
    return [r if i < right else LABELS[1 - LABELS.index(r)] for i, r in enumerate(REFERENCES)]


def stored(db, predictions: list[str], **evaluation) -> int:
    report = classification_metrics([LABELS.index(r) for r in REFERENCES],
                                    [LABELS.index(p) for p in predictions], LABELS)
    return queries.add_evaluation(
        db, {"dataset": "rt-reviews", "split": SPLIT, "seed": 42, "unparseable": 0, **report,
             **evaluation},
        [{"idx": i, "input": f"review {i}", "reference": r, "prediction": p}
         for i, (r, p) in enumerate(zip(REFERENCES, predictions))])


def finished_run(db, name: str, right: int) -> str:
    """A completed minilm-l6 run, right on `right` of the split's 100 test examples."""
    run_id = queries.create_run(db, {"model": "minilm-l6", "method": "trainer", "adapter": "none",
                                     "dataset": "rt-reviews", "name": name, "seed": 42})
    queries.mark_running(db, run_id, "/out")
    stored(db, predicted(right), run_id=run_id, model="minilm-l6", mode="fine-tuned", shots=0)
    queries.finish_run(db, run_id, "completed", test_accuracy=right / 100, test_f1=0.5)
    return run_id


def prompted(db, seeds: int = 3) -> None:
    for seed, right in zip(range(seeds), (60, 70, 80)):
        stored(db, predicted(right), model="smollm2-135m", mode="few-shot", shots=3, seed=seed,
               template="plain (score)")


def two_runs_and_a_prompt(db) -> tuple[str, str]:
    first, second = finished_run(db, "first", 58), finished_run(db, "second", 42)
    prompted(db)
    return first, second


def test_two_runs_of_one_model_are_two_systems_and_seeds_are_executions_of_one(db):
    first, second = two_runs_and_a_prompt(db)
    summary = system_summary(queries.split_evaluations(db, SPLIT)).set_index("label")
    assert list(summary.index) == ["first · fine-tuned", "second · fine-tuned",
                                   "smollm2-135m · 3-shot · plain (score)"]
    assert list(summary["accuracy"].round(3)) == [0.58, 0.42, 0.7]
    assert list(summary["executions"]) == [1, 1, 3]
    assert list(summary["run"].iloc[:2]) == [first, second]
    assert summary["accuracy_std"].iloc[2] > 0.08  # 0.6, 0.7, 0.8: the seeds vary


def test_a_run_without_a_name_is_labelled_by_its_id_and_equal_names_are_told_apart(db):
    assert system_of({"run_id": "r1", "mode": "fine-tuned"})["label"] == "r1 · fine-tuned"
    first, second = finished_run(db, "same", 58), finished_run(db, "same", 42)
    labels = list(system_summary(queries.split_evaluations(db, SPLIT))["label"])
    assert labels == [f"same · fine-tuned ({first})", f"same · fine-tuned ({second})"]


def test_the_chart_names_each_run_on_hover(db):
    first, second = two_runs_and_a_prompt(db)
    evaluations = queries.split_evaluations(db, SPLIT)
    figure = accuracy_figure(summary_table(evaluations, [system_of(e)["system"]
                                                         for e in evaluations[:2]]))
    assert list(figure.data[0].y) == ["first · fine-tuned", "second · fine-tuned"]
    assert [f"run {first}" in figure.data[0].hovertext[0], f"run {second}" in
            figure.data[0].hovertext[1]] == [True, True]


def matrix(z: dict) -> np.ndarray:
    """A heat map's values as plotly sends them to the browser (typed, base64)."""
    shape = [int(n) for n in z["shape"].split(",")]
    return np.frombuffer(base64.b64decode(z["bdata"]), dtype=z["dtype"]).reshape(shape)


def compare_page(db) -> AppTest:
    return AppTest.from_file(PAGE, default_timeout=120).run()


def pick(page: AppTest, db) -> AppTest:
    """Choose the split, then every system scored on it."""
    next(s for s in page.selectbox if s.label.startswith("Evaluations")).set_value(SPLIT).run()
    keys = list(dict.fromkeys(system_of(e)["system"] for e in queries.split_evaluations(db, SPLIT)))
    next(m for m in page.multiselect if m.label == "Systems to compare").set_value(keys)
    return page.run()


@pytest.mark.slow
def test_the_page_compares_nothing_until_the_user_picks(db):
    two_runs_and_a_prompt(db)
    page = compare_page(db)
    assert not page.exception
    assert not page.dataframe and not page.get("plotly_chart")
    assert "Choose the examples" in page.info[0].value
    next(s for s in page.selectbox if s.label.startswith("Evaluations")).set_value(SPLIT).run()
    assert not page.dataframe and not page.get("plotly_chart")  # no system picked yet
    assert "3 were scored on these examples" in page.info[0].value


@pytest.mark.slow  # the Compare page's first render converts the bundled model
def test_two_runs_of_one_model_are_two_rows_with_their_own_matrices(db):
    first, second = two_runs_and_a_prompt(db)
    page = pick(compare_page(db), db)
    assert not page.exception
    table = page.dataframe[0].value
    assert list(table["system"]) == ["first · fine-tuned", "second · fine-tuned",
                                     "smollm2-135m · 3-shot · plain (score)"]
    assert list(table["accuracy"].round(3)) == [0.58, 0.42, 0.7]
    assert list(table["executions"]) == [1, 1, 3]
    assert list(table["run"].iloc[:2]) == [first, second]
    figures = [json.loads(c.proto.spec) for c in page.get("plotly_chart")]
    diagonals = {f["layout"]["title"]["text"]: matrix(f["data"][0]["z"]).trace()
                 for f in figures[1:]}
    assert diagonals == {"first · fine-tuned": 58, "second · fine-tuned": 42,
                         "smollm2-135m · 3-shot · plain (score)": 210}  # 60 + 70 + 80
    assert "16 of 100 examples differ" in page.caption[-1].value  # first 58 vs first 42 right


def test_cli_eval_names_each_run_as_its_own_system(db, capsys):
    first, second = finished_run(db, "first", 58), finished_run(db, "second", 42)
    for run_id in (first, second):
        assert main(["eval", "--run", run_id, "--limit", "100"]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "over" in line]
    assert lines == [f"first · fine-tuned (run {first}): accuracy 0.5800 ± 0.0000 over 1 execution",
                     f"second · fine-tuned (run {second}): accuracy 0.4200 ± 0.0000 over 1 "
                     "execution"]


@pytest.mark.slow
def test_comparing_a_run_twice_on_one_split_stores_it_once(tiny_config, db):
    from core import engine
    from core.evaluate import EvalConfig, evaluate

    run_id = engine.train(dataclasses.replace(tiny_config, method="loop"), db)
    first = evaluate(EvalConfig(run=run_id, limit=20), db)
    again = evaluate(EvalConfig(run=run_id, limit=20), db)

    assert first == again
    assert len([e for e in queries.run_evaluations(db, run_id) if e["n"] == 20]) == 1


class ChatTokenizer:
    chat_template = "{{ messages }}"


def test_the_measured_best_prompt_is_the_default_and_each_part_can_be_overridden():
    from core.evaluate import EvalConfig, prompting_style, template_for

    def style(**settings):
        config = EvalConfig(dataset="rt-reviews", **settings)
        return prompting_style(config, template_for(config), LABELS, ChatTokenizer())

    best = style(model="smollm2-135m")  # README: plain text, negative / positive, calibrated
    assert (best.chat, best.words) == (False, ("negative", "positive"))
    assert style(model="smollm2-135m", chat="on").chat is True
    assert style(model="smollm2-135m", verbalizer="").words == ("rotten", "fresh")
    assert style(model="/some/instruct-model").chat is True  # no measurement: its template
    assert EvalConfig().calibrate is True
