"""TrainConfig: method defaults, named presets, precedence, validation, config files."""

import dataclasses

import pytest

from core import methods
from core.config import PRESETS, TrainConfig, read_config_file, resolve, settle, to_yaml
from core.errors import WorkbenchError


def test_loop_defaults_reproduce_s1():
    config = resolve(TrainConfig(method="loop"))
    assert (config.lr, config.weight_decay, config.warmup_steps) == (5e-5, 0.01, 500)


def test_s2_preset_reproduces_s2():
    config = settle(preset="s2-trainer")
    assert config.method == "trainer"
    assert (config.lr, config.batch_size, config.epochs, config.weight_decay) == (2e-5, 16, 2, 0.01)


def test_trainer_defaults_keep_s2_recipe_at_the_trainer_default_rate():
    config = resolve(TrainConfig(method="trainer"))
    assert (config.lr, config.batch_size, config.epochs, config.weight_decay) == (5e-5, 16, 2, 0.01)


def test_values_given_win_over_the_method_preset():
    assert resolve(TrainConfig(method="loop", lr=1e-3)).lr == 1e-3


def test_named_preset_keeps_what_the_user_changed():
    config = settle({"seed": 7, "model": "bert-base-uncased"}, "quick-cpu")
    assert (config.seed, config.model, config.train_size) == (7, "bert-base-uncased", 1000)
    assert config.method == PRESETS["quick-cpu"]["method"]


def test_a_given_value_equal_to_the_default_still_wins_over_the_preset():
    # s4-sft sets adapter lora and model smollm2-135m; the user asked for the defaults back.
    config = settle({"adapter": "none", "model": "minilm-l6", "method": "trainer"}, "s4-sft")
    assert (config.adapter, config.model, config.method) == ("none", "minilm-l6", "trainer")
    assert config.train_size == 300  # what the user did not give still comes from the preset


def test_precedence_is_defaults_then_preset_then_file_then_given(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("lr: 0.001\nbatch_size: 4\n")
    config = settle({"batch_size": 2}, "s2-trainer", path)
    assert config.epochs == 2  # the preset's (the method's own default is 2 as well)
    assert config.lr == 0.001  # the file beats the preset's 2e-5
    assert config.batch_size == 2  # the flag beats the file
    assert config.warmup_steps == 0 and config.weight_decay == 0.01  # the preset's
    assert settle({"method": "loop"}).warmup_steps == 500  # nothing else: the method's default


def test_settling_twice_changes_nothing():
    config = settle({"method": "sft", "adapter": "none", "model": "smollm2-135m"})
    assert resolve(config) == config
    assert config.lr == methods.get("sft").full_finetune_lr


@pytest.mark.parametrize("change, message", [
    ({"lr": 0.0}, "learning rate must be above 0"),
    ({"lr": -1e-5}, "learning rate must be above 0"),
    ({"batch_size": 0}, "batch size must be at least 1"),
    ({"epochs": 0}, "epochs must be above 0"),
    ({"max_steps": 0}, "max steps must be at least 1"),
    ({"max_length": 2}, "max length must be at least 8"),
    ({"train_size": -5}, "train size cannot be negative"),
    ({"test_size": 2.5}, "whole count or a fraction"),
    ({"method": "magic"}, "unknown method 'magic'"),
    ({"adapter": "qlora"}, "qlora is for causal language models"),
    ({"method": "probe", "adapter": "lora"}, "method 'probe' trains no network weights"),
    ({"lora_dropout": 1.0}, "LoRA dropout must be at most 0.9"),
])
def test_impossible_settings_are_refused(change, message):
    with pytest.raises(WorkbenchError, match=message):
        resolve(dataclasses.replace(TrainConfig(), **change))


def test_config_file_round_trip(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("method: loop\nlr: 0.001\ntrain_size: 300\n")
    config = settle(file=path)
    assert (config.method, config.lr, config.train_size) == ("loop", 0.001, 300)


def test_config_file_with_an_unknown_setting_is_refused(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("method: loop\nlearning_rate: 0.001\n")
    with pytest.raises(WorkbenchError, match="unknown setting.*learning_rate"):
        read_config_file(path)


def test_a_run_name_is_kept_without_outer_spaces_a_blank_one_is_none_a_long_one_refused():
    assert resolve(TrainConfig(name="  my run ")).name == "my run"
    assert resolve(TrainConfig(name="   ")).name is None  # the run gets the default name
    with pytest.raises(WorkbenchError, match="at most 100 characters"):
        resolve(TrainConfig(name="x" * 101))


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_every_preset_survives_the_yaml_round_trip(tmp_path, preset):
    config = settle({"name": "ünïcode run"}, preset)
    path = tmp_path / "run.yaml"
    path.write_text(to_yaml(config), encoding="utf-8")
    assert settle(file=path) == config


def test_planned_steps_count_the_batches_every_launched_process_takes():
    config = TrainConfig(method="trainer", batch_size=8, epochs=2.0)
    steps = methods.get("trainer").steps
    assert steps(config, 120) == 30
    assert steps(dataclasses.replace(config, processes=2), 120) == 16


def test_a_starting_points_settings_the_run_does_not_read_are_dropped_and_given_ones_refused():
    # A preset (or a cloned run) is a starting point: its LoRA rank goes with the adapter.
    assert settle({"adapter": "none"}, preset="s8-orpo").lora_r == 8
    assert settle({"method": "probe"}, preset="quick-cpu").lr is None
    cloned = settle({}, preset="s8-orpo").to_dict()
    assert settle({"adapter": "none"}, start=cloned).lora_targets == "all-linear"
    # A run.yaml holds every setting at its usual value: it is read back as it was written.
    probe = settle({"method": "probe"})
    assert settle(probe.to_dict()) == probe
    with pytest.raises(WorkbenchError, match="does not read lora_r"):
        settle({"adapter": "none", "lora_r": 16}, preset="s8-orpo")
