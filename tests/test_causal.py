"""Causal models: SFT, DPO and ORPO through TRL on a tiny in-process Llama, and the helpers
that decide precision, attention, pad token and adapter targets."""

import dataclasses
import json
import math

import pandas as pd
import pytest
import torch

from core import causal_data, causal_models, paths
from core.adapters import lora_targets
from core.engine import prepare, train
from core.errors import WorkbenchError
from core.models import load_causal, load_tokenizer, resolve_model
from storage import queries


def run(db, config):
    run_id = train(config, db)
    return queries.get_run(db, run_id), queries.run_evaluations(db, run_id)


@pytest.mark.parametrize("cuda, capability, dtype", [
    (False, None, "float32"), (True, (7, 5), "float16"), (True, (8, 0), "bfloat16"),
    (True, (9, 0), "bfloat16"),
])
def test_precision_follows_the_device(cuda, capability, dtype):
    assert causal_models.compute_dtype_name(cuda, capability) == dtype


def test_flash_attention_only_where_installed_and_supported():
    assert causal_models.attention_name(True, (8, 0), True) == "flash_attention_2"
    assert causal_models.attention_name(True, (7, 5), True) == "sdpa"
    assert causal_models.attention_name(True, (9, 0), False) == "sdpa"
    assert causal_models.attention_name(False, None, True) == "sdpa"


def test_projection_targets_per_architecture():
    assert lora_targets("projections", "llama") == [
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    assert lora_targets("projections", "gpt_neox")[0] == "query_key_value"
    assert lora_targets("projections", "unknown-arch") == "all-linear"
    assert lora_targets("q_proj, v_proj", "llama") == ["q_proj", "v_proj"]


def test_a_pad_token_shared_with_end_of_text_is_replaced(tiny_causal):
    source = resolve_model(tiny_causal)
    tokenizer, model = load_tokenizer(source), load_causal(source)
    tokenizer.pad_token = tokenizer.eos_token
    causal_models.ensure_pad_token(tokenizer, model)
    assert tokenizer.pad_token == tokenizer.unk_token != tokenizer.eos_token
    assert tokenizer.padding_side == "right" and model.config.pad_token_id == tokenizer.pad_token_id


def test_a_pad_token_is_added_when_no_spare_token_exists(tiny_causal):
    source = resolve_model(tiny_causal)
    tokenizer, model = load_tokenizer(source), load_causal(source)
    size = len(tokenizer)
    tokenizer.pad_token = tokenizer.unk_token = tokenizer.eos_token
    causal_models.ensure_pad_token(tokenizer, model)
    assert tokenizer.pad_token == "<|pad|>" and len(tokenizer) == size + 1
    assert model.get_input_embeddings().num_embeddings >= size + 1


def test_loss_falls_on_the_completion_only(tiny_causal):
    tokenizer = load_tokenizer(resolve_model(tiny_causal))
    records = pd.DataFrame({"prompt": ["great film\nAnswer:"], "completion": [" pos"]})
    row = causal_data.encode_sft(tokenizer, records)[0]
    answer = [i for i, label in zip(row["input_ids"], row["labels"]) if label != -100]
    assert tokenizer.convert_ids_to_tokens(answer) == ["pos", tokenizer.eos_token]
    assert row["input_ids"][0] == tokenizer.bos_token_id


def test_long_texts_are_cut_so_the_answer_still_fits(tiny_causal):
    tokenizer = load_tokenizer(resolve_model(tiny_causal))
    prompts = causal_data.classification_prompts(tokenizer, ["great " * 200], ["neg", "pos"], 32)
    records = pd.DataFrame({"prompt": prompts, "completion": [" pos"]})
    row = causal_data.encode_sft(tokenizer, records)[0]
    assert len(row["input_ids"]) <= 32 and row["labels"][-2] != -100


def test_text_cleaning_keeps_letters_digits_and_spaces():
    assert causal_data.clean("Great -- 10/10, *loved* it!\n") == "Great  1010 loved it\n"


def test_preference_pairs_from_labels_reject_a_wrong_label(tiny_causal):
    tokenizer = load_tokenizer(resolve_model(tiny_causal))
    frame = pd.DataFrame({"text": ["great", "dull", "fun"], "label": ["pos", "neg", "pos"]})
    pairs = causal_data.preference_records(tokenizer, frame, "classification", ["neg", "pos"],
                                           64, seed=0)
    assert list(pairs["chosen"]) == [" pos", " neg", " pos"]
    assert list(pairs["rejected"]) == [" neg", " pos", " neg"]


@pytest.mark.slow
def test_sft_learns_the_labels_and_stores_original_vs_tuned(db, causal_config):
    run_row, evaluations = run(db, causal_config)
    assert run_row["status"] == "completed", run_row["error"]
    losses = [m["loss"] for m in queries.run_metrics(db, run_row["id"]) if m["loss"] is not None]
    assert losses[-1] < losses[0] / 2
    tuned, original = evaluations
    assert (tuned["mode"], original["mode"]) == ("fine-tuned", "zero-shot")
    assert tuned["split"] == original["split"] and tuned["n"] == original["n"] == 40
    assert tuned["accuracy"] >= 0.9 > original["accuracy"]
    per_class = json.loads(tuned["per_class"])
    assert set(per_class) == {"neg", "pos"} and all("accuracy" in v for v in per_class.values())
    predictions = queries.evaluation_predictions(db, tuned["id"])  # scored: every one a label
    assert tuned["unparseable"] == 0 and all(p["prediction"] in ("neg", "pos") for p in predictions)


@pytest.mark.slow
def test_a_lora_run_saves_adapters_and_loads_by_its_id(db, causal_config):
    config = dataclasses.replace(causal_config, adapter="lora", lr=2e-2, lora_r=16, epochs=4)
    run_row, evaluations = run(db, config)
    assert run_row["status"] == "completed", run_row["error"]
    summary = json.loads(run_row["summary"])
    assert 0 < summary["trainable_params"] < summary["total_params"] / 2
    folder = paths.run_dir(run_row["id"]) / "model"
    assert (folder / "adapter_config.json").is_file()
    # The run id is now a model: its adapters merged into the base give the tuned answers.
    source = resolve_model(run_row["id"])
    assert source.kind == "causal" and source.adapter_of == config.model
    from core.causal_run import judge

    merged = load_causal(source)
    again = judge(merged, load_tokenizer(source), prepare(config))[0]
    assert again["accuracy"] == pytest.approx(evaluations[0]["accuracy"])
    # Exported, it is a plain transformers folder with the same weights.
    from transformers import AutoModelForCausalLM

    from core.export import export_model

    folder = export_model(run_row["id"])
    assert folder.is_relative_to(paths.home()) and not (folder / "adapter_config.json").exists()
    exported = AutoModelForCausalLM.from_pretrained(folder)
    for (name, a), b in zip(merged.state_dict().items(), exported.state_dict().values()):
        assert torch.equal(a, b), name


@pytest.mark.parametrize("method, adapter", [("dpo", "none"), ("dpo", "lora"), ("orpo", "none"),
                                             ("orpo", "lora")])
@pytest.mark.slow
def test_preference_methods_train_on_pairs_built_from_labels(db, causal_config, method, adapter):
    config = dataclasses.replace(causal_config, method=method, adapter=adapter, lr=1e-2,
                                 max_steps=12)
    run_row, evaluations = run(db, config)
    assert run_row["status"] == "completed", run_row["error"]
    metrics = queries.run_metrics(db, run_row["id"])
    assert any(m["eval_accuracy"] is not None for m in metrics)  # chosen-beats-rejected share
    assert [e["mode"] for e in evaluations] == ["fine-tuned", "zero-shot"]


@pytest.mark.slow
def test_dpo_on_an_uploaded_preference_file(db, causal_config, tmp_path):
    pairs = pd.DataFrame({"prompt": ["the film was"] * 30, "chosen": ["great"] * 30,
                          "rejected": ["dull"] * 30})
    path = tmp_path / "pairs.jsonl"
    pairs.to_json(path, orient="records", lines=True)
    config = dataclasses.replace(causal_config, method="dpo", dataset=str(path), text_column=None,
                                 label_column=None, train_size=20, eval_size=5, test_size=5,
                                 lr=1e-2, max_steps=10)
    run_row, evaluations = run(db, config)
    assert run_row["status"] == "completed", run_row["error"]
    tuned, original = evaluations
    assert tuned["accuracy"] >= original["accuracy"] and tuned["accuracy"] == 1.0


@pytest.mark.slow
def test_sft_on_summaries_stores_rouge_perplexity_and_the_generated_texts(db, causal_config,
                                                                           tmp_path):
    from tests.conftest import sentiment_frame

    frame = sentiment_frame(60)
    data = pd.DataFrame({"prompt": frame["review"],
                         "response": ["very good" if s == "pos" else "very bad"
                                      for s in frame["sentiment"]]})
    path = tmp_path / "summaries.csv"
    data.to_csv(path, index=False)
    config = dataclasses.replace(causal_config, dataset=str(path), text_column=None,
                                 label_column=None, train_size=40, eval_size=10, test_size=10,
                                 epochs=4, max_new_tokens=4, clean_text=True)
    run_row, evaluations = run(db, config)
    assert run_row["status"] == "completed", run_row["error"]
    tuned, original = evaluations
    assert tuned["rougeL"] > original["rougeL"] and tuned["rougeL"] > 0.5
    assert math.isfinite(tuned["perplexity"]) and tuned["perplexity"] < original["perplexity"]
    predictions = queries.evaluation_predictions(db, tuned["id"])
    assert len(predictions) == 10 and all(p["output"] for p in predictions)
    assert json.loads(run_row["summary"])["rougeL"] == tuned["rougeL"]


@pytest.mark.slow
def test_packing_trains_too(db, causal_config):
    run_row, _ = run(db, dataclasses.replace(causal_config, packing=True, max_steps=6))
    assert run_row["status"] == "completed", run_row["error"]


@pytest.mark.slow
def test_early_stopping_ends_a_run_whose_validation_loss_stops_improving(db, causal_config):
    # A rate this high makes the validation loss climb at once.
    config = dataclasses.replace(causal_config, lr=3.0, eval_steps=2, early_stopping_patience=1,
                                 max_steps=40)
    run_row, _ = run(db, config)
    assert run_row["status"] == "completed", run_row["error"]
    assert json.loads(run_row["summary"])["stopped_early_at_step"] < 40


@pytest.mark.parametrize("change, message", [
    (dict(adapter="qlora"), "qlora needs a CUDA GPU"),
    (dict(method="trainer"), "is a causal language model"),
    (dict(early_stopping_patience=2, eval_size=0), "early stopping watches the validation loss"),
])
def test_bad_causal_settings_are_refused_before_anything_is_written(db, causal_config, change,
                                                                   message):
    with pytest.raises(WorkbenchError, match=message):
        train(dataclasses.replace(causal_config, **change), db)
    assert queries.list_runs(db) == []


def test_an_encoder_cannot_be_trained_with_sft(db, tiny_config):
    with pytest.raises(WorkbenchError, match="is an encoder"):
        train(dataclasses.replace(tiny_config, method="sft"), db)


def test_summaries_cannot_train_a_classifier(db, tiny_config, tmp_path):
    path = tmp_path / "s.csv"
    pd.DataFrame({"prompt": ["a b"] * 10, "response": ["a"] * 10}).to_csv(path, index=False)
    with pytest.raises(WorkbenchError, match="learns from classification data"):
        train(dataclasses.replace(tiny_config, dataset=str(path), text_column=None,
                                  label_column=None), db)


@pytest.mark.slow
def test_a_stopped_causal_run_keeps_its_metrics_and_saved_adapters(db, causal_config):
    steps = []
    config = dataclasses.replace(causal_config, adapter="lora", logging_steps=1)
    run_id = train(config, db, should_stop=lambda: len(steps) >= 3,
                   on_metrics=lambda row: steps.append(row))
    run_row = queries.get_run(db, run_id)
    assert run_row["status"] == "stopped"
    assert len(queries.run_metrics(db, run_id)) >= 3 and queries.run_evaluations(db, run_id) == []
    assert (paths.run_dir(run_id) / "model" / "adapter_config.json").is_file()
