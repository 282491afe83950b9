"""Settings that are allowed but cannot do what a user expects are said before launch, in the
form and the CLI: a warm-up as long as the run, a learning rate far from the method's usual
one, and a "best" setting measured once or within its own spread."""

import dataclasses

import pandas as pd
import pytest

from core import experiments
from core.cli import main
from core.config import resolve, setting_warnings, settle
from core.failures import Diverged, divergence_advice


def warnings_of(tiny_config, train_examples=None, **changes):
    return setting_warnings(resolve(dataclasses.replace(tiny_config, **changes)), train_examples)


@pytest.mark.parametrize("changes, train_examples, flagged", [
    (dict(max_steps=3, warmup_steps=500), None, True),
    (dict(max_steps=3, warmup_steps=3), None, True),
    (dict(max_steps=100, warmup_steps=10), None, False),
    (dict(epochs=1, batch_size=16, warmup_steps=4), 64, True),  # 4 steps by epochs
    (dict(epochs=2, batch_size=16, warmup_steps=4), 64, False),  # 8 steps
    (dict(warmup_steps=500), None, False),  # steps unknown: nothing said
])
def test_a_warm_up_as_long_as_the_run_is_flagged(tiny_config, changes, train_examples, flagged):
    said = warnings_of(tiny_config, train_examples, **changes)
    assert any("the learning rate never reaches" in w for w in said) == flagged


def test_a_method_without_a_learning_rate_is_not_warned_about_one():
    # A preset's rate is dropped from the config of a method that trains no weights.
    config = settle({"method": "probe"}, preset="quick-cpu")
    assert config.lr is None and setting_warnings(config, 64) == []


@pytest.mark.parametrize("norm, flagged", [(1e-8, True), (1e-4, True), (0.3, False), (1.0, False)])
def test_a_vanishing_clip_norm_is_flagged(tiny_config, norm, flagged):
    said = warnings_of(tiny_config, 64, max_grad_norm=norm)
    assert any("clips every update to almost nothing" in w for w in said) == flagged


def test_a_three_step_run_in_warm_up_is_not_told_to_add_warm_up(tiny_config):
    config = resolve(dataclasses.replace(tiny_config, max_steps=3, warmup_steps=500))
    line = divergence_advice(Diverged(2, {"loss": float("nan")}), config)
    assert "add warm-up" not in line and "lower the learning rate" in line


def test_the_cli_says_the_warm_up_warning_before_training(home, tiny_config, capsys):
    code = main(["train", "--model", tiny_config.model, "--dataset", tiny_config.dataset,
                 "--text-column", "review", "--label-column", "sentiment", "--max-steps", "3",
                 "--warmup-steps", "500", "--lr", "1e9", "--max-length", "8", "--train-size",
                 "8", "--eval-size", "4", "--test-size", "4", "--batch-size", "4", "--now"])
    err = capsys.readouterr().err
    assert "note: warm-up (500 steps) is as long as the run (3 steps)" in err
    assert "note: learning rate 1e+09 is far from the usual" in err
    assert code != 0  # the huge rate diverges; the notes came first


def settings(means, stds, completed):
    frame = pd.DataFrame({"lr": [1e-5, 5e-5][:len(means)], "runs": completed,
                          "completed": completed, "test_accuracy": means,
                          "test_accuracy_std": stds})
    frame["best"] = frame["test_accuracy"] == frame["test_accuracy"].max()
    return frame


@pytest.mark.parametrize("means, stds, completed, caveat", [
    ([0.58, 0.56], [None, None], [1, 1], "one seed gives no spread"),
    ([0.70, 0.60], [0.02, 0.03], [3, 3], None),
    ([0.70, 0.68], [0.05, 0.04], [3, 3], "less than its spread"),
])
def test_a_best_setting_from_one_seed_or_within_its_spread_is_qualified(means, stds, completed,
                                                                        caveat):
    said = experiments.best_caveat(settings(means, stds, completed))
    assert (said is None) if caveat is None else (caveat in said)
