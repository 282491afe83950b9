"""The method registry: one spec per method, read by config, CLI, engine, charts and database."""

import dataclasses
import typing

import pytest

from core import cli, methods
from core.config import ADAPTERS, TrainConfig, settle, to_yaml
from core.data import TASK_COLUMNS
from core.errors import WorkbenchError
from core.methods.spec import Metric
from storage import queries

SUITABLE_MODEL = {"encoder": "minilm-l6", "causal": "smollm2-135m"}
FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}


@pytest.mark.parametrize("name", list(methods.REGISTRY))
def test_every_spec_is_complete(name):
    spec = methods.get(name)
    assert spec.name == name and spec.title and spec.summary
    assert spec.model_kind in ("encoder", "causal")
    assert set(spec.tasks) <= set(TASK_COLUMNS)
    assert set(spec.defaults) <= FIELDS and set(spec.settings) <= FIELDS
    assert set(spec.adapters) <= set(ADAPTERS) and "none" in spec.adapters
    assert spec.metrics and all(isinstance(m, Metric) for m in spec.metrics)
    if spec.causal:  # trains through its TRL trainer, on rows its builder makes
        assert spec.trainer_classes is not None and spec.build_rows is not None
        assert spec.hf_trainer
    else:
        assert spec.fit is not None


@pytest.mark.parametrize("name", list(methods.REGISTRY))
def test_every_method_round_trips_through_run_yaml_and_the_cli(name, tmp_path):
    spec = methods.get(name)
    argv = ["train", "--method", name, "--model", SUITABLE_MODEL[spec.model_kind],
            "--adapter", spec.adapters[-1], "--seed", "7"]
    config = cli.config_from_args(cli.build_parser().parse_args(argv))
    assert (config.method, config.adapter, config.seed) == (name, spec.adapters[-1], 7)
    assert config.lr == spec.default_lr(config.adapter)  # the method's own defaults filled in

    path = tmp_path / "run.yaml"
    path.write_text(to_yaml(config), encoding="utf-8")
    assert settle(file=path) == config
    from_file = cli.config_from_args(cli.build_parser().parse_args(["train", "--config", str(path)]))
    assert from_file == config


def test_an_unknown_method_is_refused_with_the_known_ones(tmp_path, capsys):
    known = ", ".join(methods.REGISTRY)
    with pytest.raises(WorkbenchError, match=f"unknown method 'magic'; choose from {known}"):
        methods.get("magic")
    with pytest.raises(WorkbenchError, match="unknown method 'magic'"):
        settle({"method": "magic"})
    path = tmp_path / "run.yaml"
    path.write_text("method: magic\n")
    assert cli.main(["train", "--config", str(path)]) == cli.EXIT_BAD_INPUT
    assert f"unknown method 'magic'; choose from {known}" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", "--method", "magic"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert all(f"'{name}'" in err for name in methods.REGISTRY)


def a_value_other_than_the_default(f: dataclasses.Field):
    kinds = [k for k in typing.get_args(f.type) if k is not type(None)] or [f.type]
    if "choices" in f.metadata:
        return next(c for c in f.metadata["choices"] if c != f.default)
    return {bool: not f.default, int: 3, float: 0.25, str: "x"}[kinds[0]]


def flag(name: str, value) -> list[str]:
    option = "--" + name.replace("_", "-")
    if isinstance(value, bool):
        return [option if value else "--no-" + option[2:]]
    return [option, str(value)]


def test_every_config_field_can_be_set_from_the_cli():
    expected = {f.name: a_value_other_than_the_default(f) for f in dataclasses.fields(TrainConfig)}
    argv = ["train"] + [part for name, value in expected.items() for part in flag(name, value)]
    args = cli.build_parser().parse_args(argv)
    assert {name: getattr(args, name) for name in expected} == expected


def test_a_boolean_flag_can_turn_off_what_a_file_turned_on(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("method: sft\nmodel: smollm2-135m\npacking: true\n")
    parse = lambda *more: cli.config_from_args(cli.build_parser().parse_args(  # noqa: E731
        ["train", "--config", str(path), *more]))
    assert parse().packing is True
    assert parse("--no-packing").packing is False


def test_the_cli_keeps_a_flag_equal_to_the_default_over_the_preset():
    args = cli.build_parser().parse_args(["train", "--preset", "s4-sft", "--adapter", "none",
                                          "--model", "minilm-l6", "--method", "trainer"])
    config = cli.config_from_args(args)
    assert (config.adapter, config.model, config.method) == ("none", "minilm-l6", "trainer")


def test_every_logged_metric_gets_a_real_column(db):
    columns = list(methods.stored_metrics())
    queries.add_metric_columns(db, columns)
    table = db["metrics"].columns_dict
    assert all(table[c] is float for c in columns)
    queries.add_metric_columns(db, columns)  # again: nothing to add, nothing breaks


@pytest.mark.slow
def test_a_new_metric_is_one_line_in_a_spec(db, monkeypatch):
    """Added to a spec, a metric is logged under its column by the Trainer callback, gets
    its column in the database, and is charted."""
    from core.hf_trainer import HooksCallback
    from core.hooks import Hooks
    from ui.run_view import charted_metrics

    new = Metric("eval_custom", "validation custom", "Custom", source="eval_custom/score")
    spec = dataclasses.replace(methods.get("dpo"), metrics=(*methods.get("dpo").metrics, new))
    monkeypatch.setitem(methods.REGISTRY, "dpo", spec)

    rows = []
    callback = HooksCallback(Hooks(log=rows.append), 4, 0, spec.metrics)
    state = type("State", (), {"global_step": 3, "epoch": 0.5})()
    callback.on_log(None, state, None, logs={"eval_custom/score": 0.75, "eval_loss": 0.5,
                                             "eval_logps/chosen": -3.0})
    assert rows == [{"step": 3, "epoch": 0.5, "eval_custom": 0.75, "eval_loss": 0.5}]

    queries.add_metric_columns(db, [m.column for m in spec.stored_metrics()])
    run_id = queries.create_run(db, {"model": "m", "method": "dpo", "dataset": "d"})
    queries.log_metrics(db, run_id, rows[0])
    assert queries.run_metrics(db, run_id)[0]["eval_custom"] == 0.75
    assert new in charted_metrics("dpo")
