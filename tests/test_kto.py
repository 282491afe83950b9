"""KTO, added through the method registry: unpaired desirable / undesirable feedback."""

import dataclasses
import json

import pandas as pd
import pytest

from core import causal_data, engine
from core.data import load_table
from core.errors import WorkbenchError
from core.models import load_tokenizer, resolve_model
from storage import queries


@pytest.fixture
def kto_config(causal_config):
    return dataclasses.replace(causal_config, method="kto", batch_size=4, beta=0.1)


def test_kto_from_labels_answers_half_right_and_half_wrong(tiny_causal, sentiment_csv, kto_config):
    table = load_table(str(sentiment_csv), {"text": "review", "label": "sentiment"})
    tokenizer = load_tokenizer(resolve_model(tiny_causal))
    rows = causal_data.unpaired_rows(tokenizer, table.frame, table, kto_config, None)
    assert len(rows) == len(table.frame)  # one completion per example: unpaired
    right = [r["completion"].strip() == label for r, label in zip(rows, table.frame["label"])]
    assert right == [r["label"] for r in rows]  # desirable exactly when it is the right label
    assert 0.35 < sum(right) / len(rows) < 0.65
    again = causal_data.unpaired_rows(tokenizer, table.frame, table, kto_config, None)
    assert again == rows  # seeded


@pytest.mark.slow
def test_kto_trains_on_labelled_data_and_stores_original_vs_tuned(db, kto_config):
    run_id = engine.train(dataclasses.replace(kto_config, epochs=2), db)
    run = queries.get_run(db, run_id)
    assert run["status"] == "completed", run["error"]
    metrics = queries.run_metrics(db, run_id)
    assert [m["loss"] for m in metrics if m["loss"] is not None]
    assert any(m["eval_kl"] is not None for m in metrics)  # the spec's own metric, logged
    tuned, original = queries.run_evaluations(db, run_id)
    assert (tuned["mode"], original["mode"], tuned["n"]) == ("fine-tuned", "zero-shot", 40)
    assert set(json.loads(tuned["per_class"])) == {"neg", "pos"}
    assert run["test_accuracy"] == tuned["accuracy"]


@pytest.mark.slow
def test_kto_with_lora_on_an_uploaded_unpaired_file(db, kto_config, tmp_path):
    rows = [{"prompt": f"the film was {word}", "completion": "good" if word in ("fun", "great")
             else "bad", "label": i % 3 != 0} for i, word in
            enumerate(["fun", "dull", "great", "awful", "bland", "boring"] * 10)]
    path = tmp_path / "feedback.jsonl"
    pd.DataFrame(rows).to_json(path, orient="records", lines=True)
    config = dataclasses.replace(kto_config, dataset=str(path), text_column=None,
                                 label_column=None, adapter="lora", train_size=40, eval_size=8,
                                 test_size=12, epochs=1, max_new_tokens=4)
    run_id = engine.train(config, db)
    run = queries.get_run(db, run_id)
    assert run["status"] == "completed", run["error"]
    tuned, original = queries.run_evaluations(db, run_id)
    assert tuned["rougeL"] is not None and original["rougeL"] is not None
    desirable = [r for r in rows if r["label"]]
    assert 0 < tuned["n"] <= 12 and tuned["n"] <= len(desirable)


@pytest.mark.parametrize("change, message", [
    ({"batch_size": 1}, "kto estimates its KL term .* at least 2"),
    ({"adapter": "magic"}, "unknown adapter"),
])
def test_impossible_kto_settings_are_refused_before_anything_is_written(db, kto_config, change,
                                                                       message):
    with pytest.raises(WorkbenchError, match=message):
        engine.train(dataclasses.replace(kto_config, **change), db)
    assert queries.list_runs(db) == []


def test_a_feedback_file_with_a_label_that_is_not_true_or_false_names_the_row(tmp_path):
    path = tmp_path / "feedback.csv"
    path.write_text("prompt,completion,label\nhi,hello,true\nhey,go away,maybe\n")
    with pytest.raises(WorkbenchError, match="label 'maybe' in row 2 is not true or false"):
        load_table(str(path))


def test_kto_does_not_learn_from_summaries(db, kto_config, tmp_path):
    path = tmp_path / "summaries.csv"
    pd.DataFrame({"prompt": ["a long text"] * 20, "response": ["short"] * 20}).to_csv(path)
    config = dataclasses.replace(kto_config, dataset=str(path), text_column=None,
                                 label_column=None)
    with pytest.raises(WorkbenchError, match="method 'kto' learns from classification or "
                                             "unpaired data"):
        engine.train(config, db)
    assert queries.list_runs(db) == []


@pytest.mark.slow
def test_the_train_page_offers_kto_with_its_defaults(db, tiny_causal):
    from test_pages import app
    from ui.train_form import OTHER_MODEL

    page = app("train.py").run()
    page.selectbox[0].set_value("s3-probe").run()  # a preset that sets no learning rate
    key = lambda name: f"{name}-s3-probe"  # noqa: E731
    page.selectbox(key=key("model")).set_value(OTHER_MODEL).run()
    page.text_input(key=key("model-id")).input(tiny_causal).run()
    assert "kto" in page.selectbox(key=key("method")).options[-1]
    page.selectbox(key=key("method")).set_value("kto").run()
    assert not page.exception and not page.error, [e.value for e in page.error]
    assert page.number_input(key="lr-s3-probe").value == 5e-6  # full fine-tune rate
    page.number_input(key="batch-s3-probe").set_value(2)
    page.radio(key=key("adapter")).set_value("lora").run()
    # The untouched rate follows the adapter's default, and the page says so; what was typed stays.
    assert page.number_input(key="lr-s3-probe").value == 5e-5
    assert "Learning rate 5e-06 → 5e-05" in page.info[0].value
    assert page.number_input(key="batch-s3-probe").value == 2
    assert page.number_input(key="warmup-s3-probe").value == 10
    assert any(n.label == "Beta" for n in page.number_input)
    assert any("Launch" == b.label for b in page.button)
