"""A diverged run is a failure: a NaN or infinite loss or gradient norm ends the run `failed`
with the step, the value and what to change; a learning rate far from the method's usual one
is said before launch."""

import dataclasses
import json

import pytest

from core import engine
from core.cli import main
from core.config import learning_rate_warning, resolve
from core.failures import Diverged, divergence_advice
from storage import queries
from ui.charts import curve_figure


@pytest.mark.parametrize("method", ["loop", "trainer"])
@pytest.mark.slow
def test_a_huge_learning_rate_ends_the_run_failed_with_the_divergence_line(db, tiny_config,
                                                                         method):
    config = dataclasses.replace(tiny_config, method=method, lr=1e9, logging_steps=1)

    run_id = engine.train(config, db)

    run = queries.get_run(db, run_id)
    assert run["status"] == "failed"
    assert run["error"].startswith("the run diverged at step ")
    assert "lower the learning rate (now 1e+09)" in run["error"]
    assert queries.run_evaluations(db, run_id) == []  # no test figures from NaN weights
    last = queries.run_metrics(db, run_id)[-1]  # stored as what it was, not a silent NULL
    named = json.loads(last["non_finite"])
    assert {"loss", "grad_norm"} & named.keys() and set(named.values()) <= {"nan", "inf", "-inf"}
    figure = curve_figure([last], {"loss": "train loss", "grad_norm": "grad norm"}, "loss")
    assert figure.layout.shapes and "at step" in figure.layout.annotations[0].text


@pytest.mark.slow
def test_the_cli_exits_non_zero_with_the_divergence_line(home, tiny_config, capsys):
    flags = ["train", "--model", tiny_config.model, "--method", "loop", "--dataset",
             tiny_config.dataset, "--text-column", "review", "--label-column", "sentiment",
             "--max-length", "16", "--lr", "1e9", "--logging-steps", "1", "--max-steps", "30"]

    assert main(flags) == 1

    err = capsys.readouterr().err
    assert "note: learning rate 1e+09 is far from the usual" in err
    assert "failed: the run diverged at step" in err


@pytest.mark.slow
def test_a_stable_run_is_not_called_diverged(db, tiny_config):
    run_id = engine.train(tiny_config, db)
    assert queries.get_run(db, run_id)["status"] == "completed"


def test_the_advice_names_the_step_the_values_and_the_settings(tiny_config):
    error = Diverged(12, {"loss": float("nan"), "grad_norm": float("inf")})

    line = divergence_advice(error, resolve(tiny_config))

    assert line.startswith("the run diverged at step 12 (loss nan, grad_norm inf)")
    assert "warm-up steps (now 0)" in line and "max grad norm, now 1" in line


@pytest.mark.parametrize("lr, warned", [(5e-5, False), (1e-3, False), (1.0, True),
                                        (1e9, True), (1e-12, True)])
def test_a_learning_rate_far_from_the_usual_is_warned_about(tiny_config, lr, warned):
    config = resolve(dataclasses.replace(tiny_config, method="trainer", adapter="none", lr=lr))
    assert (learning_rate_warning(config) is not None) == warned
