"""Prompted classification: templates, example choice, label scoring, parsing, evaluations."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from conftest import sentiment_frame
from core import engine, prompting
from core.errors import WorkbenchError
from core.evaluate import EvalConfig, evaluate, summarise
from storage import queries


@pytest.fixture(scope="session")
def loaded(tiny_causal):
    from core.models import load_causal, load_tokenizer, resolve_model

    source = resolve_model(tiny_causal)
    assert source.kind == "causal"
    return load_tokenizer(source), load_causal(source)


def examples():
    return pd.DataFrame({"text": ["great fun", "dull plot"], "label": ["pos", "neg"]})


def test_plain_template_renders_instruction_examples_and_query():
    prompt = prompting.build_prompt(prompting.TEMPLATES["plain"], examples(), ["a film"],
                                    ["neg", "pos"])
    assert prompt.prefix == ("Classify each text as one of: neg or pos.\n\n"
                             "Text: great fun\nLabel: pos\n\nText: dull plot\nLabel: neg\n\n")
    assert prompt.queries == ["Text: a film\nLabel:"]
    assert prompt.labels == [" neg", " pos"]


def test_custom_template_places_examples_and_text():
    template = prompting.custom_template("Reviews:\n{examples}Now: {text}\nSo it is")
    full = prompting.preview(template, examples(), "a film", ["neg", "pos"])
    assert full.startswith("Reviews:\nText: great fun\nLabel: pos\n\n")
    assert full.endswith("Now: a film\nSo it is")
    with pytest.raises(WorkbenchError, match=r"\{text\} placeholder"):
        prompting.custom_template("no placeholder")


def test_examples_are_balanced_seeded_and_vary_with_the_seed():
    train = sentiment_frame(40).rename(columns={"review": "text", "sentiment": "label"})
    chosen = prompting.choose_examples(train, 4, seed=0, label_names=["neg", "pos"])
    assert sorted(chosen["label"]) == ["neg", "neg", "pos", "pos"]
    assert chosen.equals(prompting.choose_examples(train, 4, seed=0, label_names=["neg", "pos"]))
    assert not chosen.equals(prompting.choose_examples(train, 4, seed=1, label_names=["neg", "pos"]))
    assert len(prompting.choose_examples(train, 0, seed=0, label_names=["neg", "pos"])) == 0


def test_cached_batched_scoring_equals_one_forward_per_example(loaded):
    tokenizer, model = loaded
    names = ["bad", "very good", "good"]  # "very good" is two tokens: both must count
    assert len(prompting.piece_ids(tokenizer, " very good")) == 2
    texts = ["great fun film", "dull", "the plot was boring and the actor bland", "moving story"]
    prompt = prompting.build_prompt(prompting.TEMPLATES["plain"], examples(), texts, names)

    fast = prompting.score_labels(model, tokenizer, prompt, batch_size=3)
    plain = prompting.score_labels_plainly(model, tokenizer, prompt)

    assert fast.shape == (4, 3)
    np.testing.assert_allclose(fast, plain, atol=1e-4)


@pytest.mark.parametrize("output, expected", [
    (" positive", None),
    (" Pos, clearly", "pos"),
    ("I think neg. Answer: pos", "pos"),
    ("neg or pos?", "neg"),
    ("", None),
])
def test_answers_are_parsed_back_to_labels(output, expected):
    assert prompting.parse_answer(output, ["neg", "pos"]) == expected


def sentiment_file(tmp_path):
    path = tmp_path / "reviews.csv"
    sentiment_frame(120).rename(columns={"review": "text", "sentiment": "label"}).to_csv(
        path, index=False)
    return str(path)


def test_prompting_executions_are_stored_with_predictions(tiny_causal, db, tmp_path):
    config = EvalConfig(model=tiny_causal, dataset=sentiment_file(tmp_path), shots=(0, 2),
                        seeds=2, limit=10, batch_size=4)
    ids = evaluate(config, db)
    rows = [dict(db["evaluations"].get(i)) for i in ids]
    assert [(r["mode"], r["shots"], r["seed"]) for r in rows] == [
        ("zero-shot", 0, 0), ("zero-shot", 0, 1), ("few-shot", 2, 0), ("few-shot", 2, 1)]
    assert rows[0]["accuracy"] == rows[1]["accuracy"]  # zero-shot has nothing to vary
    assert len({r["split"] for r in rows}) == 1
    for row in rows:
        predictions = queries.evaluation_predictions(db, row["id"])
        assert len(predictions) == row["n"] == 10
        right = sum(p["prediction"] == p["reference"] for p in predictions)
        assert right / 10 == pytest.approx(row["accuracy"])
    summary = summarise(rows)
    assert list(summary["executions"]) == [2, 2]
    assert summary.loc[0, "accuracy_std"] == 0.0


def test_generation_counts_unparseable_answers(tiny_causal, db, tmp_path):
    config = EvalConfig(model=tiny_causal, dataset=sentiment_file(tmp_path), shots=(1,), seeds=1,
                        limit=6, decide="generate", max_new_tokens=3)
    [evaluation_id] = evaluate(config, db)
    row = db["evaluations"].get(evaluation_id)
    predictions = queries.evaluation_predictions(db, evaluation_id)
    assert all(p["output"] is not None for p in predictions)
    assert row["unparseable"] == sum(p["prediction"] is None for p in predictions)


def test_a_fine_tuned_run_joins_on_the_same_test_examples(tiny_config, tiny_causal, db):
    run_id = engine.train(dataclasses.replace(tiny_config, method="loop"), db)
    run_eval = evaluate(EvalConfig(run=run_id, limit=20), db)[0]
    prompted = evaluate(EvalConfig(model=tiny_causal, dataset=tiny_config.dataset,
                                   text_column="review", label_column="sentiment",
                                   train_size=tiny_config.train_size,
                                   eval_size=tiny_config.eval_size,
                                   test_size=tiny_config.test_size, seed=tiny_config.seed,
                                   shots=(0,), seeds=1, limit=20), db)[0]
    tuned, base = db["evaluations"].get(run_eval), db["evaluations"].get(prompted)
    assert tuned["split"] == base["split"]
    inputs = lambda i: [p["input"] for p in queries.evaluation_predictions(db, i)]  # noqa: E731
    assert inputs(run_eval) == inputs(prompted)
    assert tuned["mode"] == "fine-tuned" and tuned["run_id"] == run_id


@pytest.mark.parametrize("config, message", [
    (EvalConfig(model="minilm-l6"), "prompting needs a causal model"),
    (EvalConfig(model=None, run=None), "either a model to prompt or a fine-tuned run"),
    (EvalConfig(run="no-such-run"), "no run with id no-such-run"),
    (EvalConfig(model="smollm2-135m", template="fancy"), "unknown template 'fancy'"),
    (EvalConfig(model="smollm2-135m", dataset="aclsum"), "not a labelled data set"),
    (EvalConfig(model="smollm2-135m", seeds=0), "executions \\(seeds\\) must be at least 1"),
    (EvalConfig(model="smollm2-135m", limit=0), "example limit must be at least 1"),
    (EvalConfig(model="smollm2-135m", shots=()), "at least one number of shots"),
])
def test_bad_evaluation_settings_get_one_clear_line(config, message, db):
    with pytest.raises(WorkbenchError, match=message):
        evaluate(config, db)
