"""Prompted classification: templates, example choice, label scoring, parsing, evaluations."""

import copy
import dataclasses

import numpy as np
import pandas as pd
import pytest

from conftest import sentiment_frame
from core import engine, prompting
from core.errors import WorkbenchError
from core.evaluate import EvalConfig, evaluate, system_summary
from storage import queries


@pytest.fixture(scope="session")
def loaded(tiny_causal):
    from core.models import load_causal, load_tokenizer, resolve_model

    source = resolve_model(tiny_causal)
    assert source.kind == "causal"
    return load_tokenizer(source), load_causal(source)


def examples():
    return pd.DataFrame({"text": ["great fun", "dull plot"], "label": ["pos", "neg"]})


def style(template: dict, names: list[str], words=None, chat=False) -> prompting.Style:
    return prompting.Style(template, tuple(names), tuple(words or names), chat)


def test_plain_template_renders_instruction_examples_and_query():
    prompt = prompting.build_prompt(style(prompting.PROMPT_TEMPLATES["plain"], ["neg", "pos"]),
                                    examples(), ["a film"])
    assert prompt.prefix == ("Classify each text as one of: neg or pos.\n\n"
                             "Text: great fun\nLabel: pos\n\nText: dull plot\nLabel: neg\n\n")
    assert prompt.queries == ["Text: a film\nLabel:"]
    assert prompt.labels == [" neg", " pos"]


def test_custom_template_places_examples_and_text():
    template = prompting.custom_template("Reviews:\n{examples}Now: {text}\nSo it is")
    full = prompting.preview(style(template, ["neg", "pos"]), examples(), "a film")
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


@pytest.mark.slow
def test_cached_batched_scoring_equals_one_forward_per_example(loaded):
    tokenizer, model = loaded
    names = ["bad", "very good", "good"]  # "very good" is two tokens: both must count
    assert len(prompting.piece_ids(tokenizer, " very good")) == 2
    texts = ["great fun film", "dull", "the plot was boring and the actor bland", "moving story"]
    shown = examples().replace({"label": {"pos": "very good", "neg": "bad"}})
    prompt = prompting.build_prompt(style(prompting.PROMPT_TEMPLATES["plain"], names), shown, texts)

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


@pytest.mark.slow
def test_prompting_executions_are_stored_with_predictions(tiny_causal, db, tmp_path):
    config = EvalConfig(model=tiny_causal, dataset=sentiment_file(tmp_path), shots=(0, 2),
                        seeds=2, limit=10, batch_size=4, calibrate=False)
    ids = evaluate(config, db)
    rows = [dict(db["evaluations"].get(i)) for i in ids]
    # zero-shot has nothing a seed could vary: one execution, not copies of it
    assert [(r["mode"], r["shots"], r["seed"]) for r in rows] == [
        ("zero-shot", 0, 0), ("few-shot", 2, 0), ("few-shot", 2, 1)]
    assert len({r["split"] for r in rows}) == 1
    for row in rows:
        predictions = queries.evaluation_predictions(db, row["id"])
        assert len(predictions) == row["n"] == 10
        right = sum(p["prediction"] == p["reference"] for p in predictions)
        assert right / 10 == pytest.approx(row["accuracy"])
    summary = system_summary(rows)
    assert list(summary["executions"]) == [1, 2]


def test_calibration_is_reported_beside_each_scored_system(tiny_causal, db, tmp_path):
    config = EvalConfig(model=tiny_causal, dataset=sentiment_file(tmp_path), shots=(0, 1),
                        seeds=1, limit=10, verbalizer="neg=bad,pos=good")
    rows = [dict(db["evaluations"].get(i)) for i in evaluate(config, db)]

    assert [(r["shots"], r["template"]) for r in rows] == [
        (0, "plain, plain text, words bad/good (score)"),
        (0, "plain, plain text, words bad/good (score, calibrated)"),
        (1, "plain, plain text, words bad/good (score)"),
        (1, "plain, plain text, words bad/good (score, calibrated)")]
    predictions = queries.evaluation_predictions(db, rows[1]["id"])
    assert {p["prediction"] for p in predictions} <= {"neg", "pos"}  # stored as the data's labels


def test_calibration_divides_out_the_content_free_bias():
    # The prompt gives label 1 a probability of 0.8 for "N/A": that bias is divided out.
    scores = np.log(np.array([[0.6, 0.4], [0.3, 0.7], [0.1, 0.9]]))
    free = np.log(np.array([[0.2, 0.8], [0.2, 0.8], [0.2, 0.8]]))

    calibrated = prompting.calibrate(scores, free)

    assert list(scores.argmax(1)) == [0, 1, 1]
    assert list(calibrated.argmax(1)) == [0, 0, 1]  # 0.3 / 0.2 > 0.7 / 0.8
    np.testing.assert_allclose(np.exp(calibrated[0]), [0.6 / 0.2, 0.4 / 0.8])


@pytest.mark.parametrize("setting, message", [
    ("nope=bad", "'nope' is not a label"), ("neg=", "give a word for 'neg'"),
    ("neg=good,pos=good", "two labels share a word")])
def test_a_bad_verbaliser_is_one_line(setting, message):
    with pytest.raises(WorkbenchError, match=message):
        prompting.verbaliser(setting, ["neg", "pos"])


def test_the_verbaliser_changes_what_is_shown_and_scored():
    words = prompting.verbaliser("neg=negative, pos=positive", ["neg", "pos"])
    prompt = prompting.build_prompt(style(prompting.PROMPT_TEMPLATES["plain"], ["neg", "pos"], words),
                                    examples(), ["a film"])
    assert "one of: negative or positive" in prompt.prefix and "Label: positive" in prompt.prefix
    assert prompt.labels == [" negative", " positive"]


CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
          "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def test_a_chat_model_is_asked_through_its_template(loaded):
    tokenizer = copy.deepcopy(loaded[0])
    tokenizer.chat_template = CHATML
    chat = style(prompting.PROMPT_TEMPLATES["plain"], ["neg", "pos"], chat=prompting.uses_chat(
        "auto", tokenizer))

    prompt = prompting.build_prompt(chat, examples(), ["a film", "dull"], tokenizer)

    assert prompt.prefix == ("<|im_start|>system\nClassify each text as one of: neg or pos."
                             "<|im_end|>\n<|im_start|>user\nText: great fun\nLabel:<|im_end|>\n"
                             "<|im_start|>assistant\npos<|im_end|>\n<|im_start|>user\nText: "
                             "dull plot\nLabel:<|im_end|>\n<|im_start|>assistant\nneg<|im_end|>\n"
                             "<|im_start|>user\nText: ")
    assert prompt.queries == ["a film\nLabel:<|im_end|>\n<|im_start|>assistant\n",
                              "dull\nLabel:<|im_end|>\n<|im_start|>assistant\n"]
    assert prompt.labels == ["neg", "pos"]  # the assistant's first word: no leading space
    assert not prompting.uses_chat("off", tokenizer)
    with pytest.raises(WorkbenchError, match="no chat template"):
        prompting.uses_chat("on", loaded[0])


def test_generation_counts_unparseable_answers(tiny_causal, db, tmp_path):
    config = EvalConfig(model=tiny_causal, dataset=sentiment_file(tmp_path), shots=(1,), seeds=1,
                        limit=6, decide="generate", max_new_tokens=3)
    [evaluation_id] = evaluate(config, db)
    row = db["evaluations"].get(evaluation_id)
    predictions = queries.evaluation_predictions(db, evaluation_id)
    assert all(p["output"] is not None for p in predictions)
    assert row["unparseable"] == sum(p["prediction"] is None for p in predictions)


@pytest.mark.slow
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


def test_a_chosen_chat_template_and_system_prompt_are_a_system_of_their_own(tiny_causal, db,
                                                                           tmp_path):
    data = sentiment_file(tmp_path)
    plain = EvalConfig(model=tiny_causal, dataset=data, shots=(0,), seeds=1, limit=6,
                       calibrate=False)  # the tiny model has no template: plain text
    chosen = dataclasses.replace(plain, chat="on", chat_template="chatml",
                                 system_prompt="Be brief.")
    [first] = [dict(db["evaluations"].get(i)) for i in evaluate(plain, db)]
    [second] = [dict(db["evaluations"].get(i)) for i in evaluate(chosen, db)]
    assert first["template"] == "plain, plain text (score)"
    assert second["template"] == "plain, chat, template chatml, system prompt 'Be brief.' (score)"
    assert second["prompt_key"] != first["prompt_key"]  # never reused for the other
    assert evaluate(chosen, db) == [second["id"]]  # asked again: reused
    with pytest.raises(WorkbenchError, match="neither one of model, chatml"):
        evaluate(dataclasses.replace(plain, chat_template="vicuna"), db)
