"""One short run on the real bundled model and data: what a new user's first run does."""

import pytest

from core import engine
from core.config import TrainConfig
from storage import queries

pytestmark = pytest.mark.slow  # trains the bundled models


def test_minilm_trainer_run_on_rt_reviews(db):
    config = TrainConfig(model="minilm-l6", method="trainer", dataset="rt-reviews", max_steps=20,
                         lr=5e-5, train_size=320, eval_size=64, test_size=128, max_length=64,
                         logging_steps=5)
    run_id = engine.train(config, db)
    run = queries.get_run(db, run_id)

    assert run["status"] == "completed", run["error"]
    metrics = queries.run_metrics(db, run_id)
    assert [m["step"] for m in metrics if m["loss"] is not None] == [1, 5, 10, 15, 20]
    assert all(m["learning_rate"] > 0 for m in metrics if m["loss"] is not None)
    [evaluation] = queries.run_evaluations(db, run_id)
    assert evaluation["n"] == 128 and evaluation["labels"] == '["rotten", "fresh"]'
    assert 0.0 <= run["test_accuracy"] <= 1.0
    assert len(queries.run_layer_changes(db, run_id)) == 9  # embeddings, 6 blocks, pooler, head


def test_smollm2_lora_sft_on_rt_reviews(db):
    """A few LoRA steps on the bundled causal model: loss falls, both models are judged."""
    from core import paths
    from core.models import load_tokenizer, resolve_model

    config = TrainConfig(model="smollm2-135m", method="sft", adapter="lora", dataset="rt-reviews",
                         max_steps=6, batch_size=4, lr=2e-4, warmup_steps=0, train_size=48,
                         eval_size=8, test_size=16, max_length=96, logging_steps=1)
    run_id = engine.train(config, db)
    run = queries.get_run(db, run_id)

    assert run["status"] == "completed", run["error"]
    losses = [m["loss"] for m in queries.run_metrics(db, run_id) if m["loss"] is not None]
    assert len(losses) == 6 and min(losses[-2:]) < losses[0]
    tuned, original = queries.run_evaluations(db, run_id)
    assert (tuned["mode"], original["mode"], tuned["n"]) == ("fine-tuned", "zero-shot", 16)
    assert '"rotten"' in tuned["per_class"] and '"fresh"' in original["per_class"]
    # The saved tokenizer pads with its spare token, never with the end-of-turn token.
    saved = load_tokenizer(resolve_model(run_id))
    assert saved.pad_token == "<|endoftext|>" != saved.eos_token
    assert (paths.run_dir(run_id) / "model" / "adapter_config.json").is_file()
