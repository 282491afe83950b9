"""Each encoder method, end to end on a tiny in-process BERT: it learns, records and stops."""

import dataclasses
import json

import pytest

from core import engine
from storage import queries


def run(config, db, **kwargs):
    run_id = engine.train(config, db, **kwargs)
    return queries.get_run(db, run_id)


def losses(db, run_id):
    """The training loss curve, each point the mean over `logging_steps` steps: without the
    row of step 1 (logged at once, for the page's progress), which is one batch's loss."""
    return [m["loss"] for m in queries.run_metrics(db, run_id)
            if m["loss"] is not None and m["step"] > 1]


@pytest.mark.parametrize("method", ["loop", "trainer"])
@pytest.mark.slow
def test_network_methods_learn_and_record_everything(method, tiny_config, db):
    result = run(dataclasses.replace(tiny_config, method=method), db)

    assert result["status"] == "completed", result["error"]
    curve = losses(db, result["id"])
    assert len(curve) >= 5
    assert min(curve[-2:]) < 0.5 * curve[0]  # the loss falls
    metrics = queries.run_metrics(db, result["id"])
    assert all(m["learning_rate"] > 0 for m in metrics if m["loss"] is not None)
    assert any(m["grad_norm"] is not None for m in metrics)
    assert sum(m["eval_loss"] is not None for m in metrics) == 3  # once per epoch
    assert result["test_accuracy"] >= 0.9

    [evaluation] = queries.run_evaluations(db, result["id"])
    assert evaluation["mode"] == "fine-tuned" and evaluation["n"] == 40
    assert set(json.loads(evaluation["per_class"])) == {"neg", "pos"}
    predictions = queries.evaluation_predictions(db, evaluation["id"])
    assert len(predictions) == 40
    right = sum(p["prediction"] == p["reference"] for p in predictions)
    assert right / 40 == pytest.approx(evaluation["accuracy"])

    changes = queries.run_layer_changes(db, result["id"])
    layers = [c["layer"] for c in changes]
    assert layers[:3] == ["bert.embeddings", "bert.encoder.layer.0", "bert.encoder.layer.1"]
    assert all(c["relative_change"] > 0 for c in changes)


@pytest.mark.slow
def test_loop_follows_warmup_then_linear_decay(tiny_config, db):
    config = dataclasses.replace(tiny_config, method="loop", warmup_steps=10, logging_steps=1,
                                 max_steps=30, eval_size=0)
    result = run(config, db)
    rates = [m["learning_rate"] for m in queries.run_metrics(db, result["id"])]
    peak = rates.index(max(rates))
    assert peak == 10  # step 11 is the first taken at the full rate
    assert rates[:peak] == sorted(rates[:peak])  # warming up
    assert rates[peak:] == sorted(rates[peak:], reverse=True)  # then decaying
    assert max(rates) == pytest.approx(tiny_config.lr)


@pytest.mark.parametrize("method", ["loop", "trainer"])
@pytest.mark.slow
def test_lora_trains_only_adapters_and_head(method, tiny_config, db):
    config = dataclasses.replace(tiny_config, method=method, adapter="lora", lora_r=4, lr=1e-2)
    result = run(config, db)

    assert result["status"] == "completed", result["error"]
    summary = json.loads(result["summary"])
    assert 0 < summary["trainable_params"] < summary["total_params"] / 2
    model_dir = f"{result['output_dir']}/model"
    import os

    assert "adapter_model.safetensors" in os.listdir(model_dir)
    curve = losses(db, result["id"])
    assert min(curve[-2:]) < curve[0]


def test_probe_fits_frozen_features(tiny_config, db):
    result = run(dataclasses.replace(tiny_config, method="probe", batch_size=None, lr=None,
                                     epochs=None, warmup_steps=None), db)

    assert result["status"] == "completed", result["error"]
    assert result["test_accuracy"] >= 0.8
    assert json.loads(result["summary"])["trainable_params"] == 0
    curve = losses(db, result["id"])
    assert curve and curve[-1] <= curve[0]
    assert queries.run_layer_changes(db, result["id"]) == []  # frozen: nothing moved


@pytest.mark.parametrize("method", ["loop", "trainer"])
def test_stop_request_stops_within_a_step(method, tiny_config, db):
    steps = []

    def stop_after_four():
        steps.append(1)
        return len(steps) >= 4

    config = dataclasses.replace(tiny_config, method=method, logging_steps=1)
    result = run(config, db, should_stop=stop_after_four)

    assert result["status"] == "stopped"
    metrics = queries.run_metrics(db, result["id"])
    assert max(m["step"] for m in metrics) <= 5
    assert all(m["eval_loss"] is None for m in metrics)  # no evaluation pass after a stop
    assert queries.run_evaluations(db, result["id"]) == []


@pytest.mark.slow
def test_crash_mid_run_is_failed_with_traceback_and_metrics_kept(tiny_config, db):
    def explode(row):
        if row.get("step") == 10:
            raise RuntimeError("disk on fire")

    config = dataclasses.replace(tiny_config, method="loop", logging_steps=1)
    run_id = engine.train(config, db, on_metrics=explode)
    result = queries.get_run(db, run_id)

    assert result["status"] == "failed"
    assert result["error"] == "RuntimeError after step 10: disk on fire"
    assert "Traceback" in result["traceback"]
    assert len(queries.run_metrics(db, run_id)) >= 9  # rows written before the crash stay
    assert result["finished_at"] is not None
