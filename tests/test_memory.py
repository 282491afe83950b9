"""The pre-launch estimate: exact parameter counts without loading weights, and the fit check."""

import dataclasses

import pytest

from core import memory
from core.adapters import add_lora
from core.config import resolve
from core.models import count_parameters, load_classifier, resolve_model


@pytest.mark.parametrize("adapter", ["none", "lora"])
def test_counts_equal_those_of_the_loaded_model(tiny_config, adapter):
    config = resolve(dataclasses.replace(tiny_config, method="loop", adapter=adapter))
    source = resolve_model(config.model)
    found = memory.estimate(source, config, num_labels=3)

    model = load_classifier(source, ["a", "b", "c"])
    if adapter == "lora":
        model = add_lora(model, config)
    assert (found.trainable_params, found.total_params) == count_parameters(model)
    assert found.optimizer_bytes == 2 * found.gradients_bytes == 8 * found.trainable_params


def test_the_probe_trains_nothing_and_keeps_no_activations(tiny_config):
    config = resolve(dataclasses.replace(tiny_config, method="probe", lr=None, epochs=None,
                                         warmup_steps=None, batch_size=None))
    found = memory.estimate(resolve_model(config.model), config, num_labels=2)
    assert found.trainable_params == 0 and found.activations_bytes == 0
    assert found.total_bytes == found.weights_bytes


def test_activations_grow_with_batch_and_length(tiny_config):
    source = resolve_model(tiny_config.model)
    small = memory.estimate(source, resolve(dataclasses.replace(tiny_config, method="loop")), 2)
    large = memory.estimate(source, resolve(dataclasses.replace(
        tiny_config, method="loop", batch_size=tiny_config.batch_size * 4)), 2)
    assert large.activations_bytes == 4 * small.activations_bytes


def test_a_run_larger_than_free_memory_does_not_fit(tiny_config, monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda: (1024, "a small device"))
    config = resolve(dataclasses.replace(tiny_config, method="loop"))
    found = memory.estimate(resolve_model(config.model), config, 2)
    assert found.total_bytes > 1024 and not found.fits


@pytest.mark.parametrize("adapter", ["none", "lora"])
def test_causal_counts_equal_those_of_the_loaded_model(tiny_causal, adapter):
    from core.config import TrainConfig
    from core.models import load_causal

    config = resolve(TrainConfig(model=tiny_causal, method="sft", adapter=adapter, batch_size=4))
    found = memory.estimate(resolve_model(tiny_causal), config, num_labels=2)
    model = load_causal(resolve_model(tiny_causal))
    if adapter == "lora":
        model = add_lora(model, config, "CAUSAL_LM")
    assert (found.trainable_params, found.total_params) == count_parameters(model)


def test_4_bit_weights_and_checkpointing_shrink_the_estimate(tiny_causal):
    from core.config import TrainConfig

    config = resolve(TrainConfig(model=tiny_causal, method="sft", adapter="lora", batch_size=4))
    model, model_config = memory.meta_model(resolve_model(tiny_causal), config, 2)
    lora = memory.weight_bytes(model, "lora", cuda=True)
    qlora = memory.weight_bytes(model, "qlora", cuda=True)
    assert memory.weight_bytes(model, "lora", cuda=False) > lora > qlora
    checkpointed = dataclasses.replace(config, gradient_checkpointing=True)
    assert memory.activation_bytes(model_config, checkpointed, True) < \
        memory.activation_bytes(model_config, config, True)
    pairs = dataclasses.replace(config, method="dpo")  # chosen and rejected both run
    assert memory.activation_bytes(model_config, pairs, True) == \
        2 * memory.activation_bytes(model_config, config, True)
