"""Settings are typed at the one door (`config.resolve`), whatever their source: a run.yaml
(where YAML's own typing surprises), flags, the form or a stored run. A wrong type or range
is one line, exit 2, and nothing written; flags the user gave always count."""

import dataclasses

import pytest
from conftest import assert_nothing_written

from core import paths
from core.cli import build_parser, config_from_args, main
from core.config import TrainConfig, settle
from core.errors import WorkbenchError
from core.settings import checked, field_type
from storage import queries
from storage.db import connect

BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{b}: &{b} [*{a}, *{a}, *{a}, *{a}, *{a}, *{a}, *{a}, *{a}, *{a}]\n"
    for a, b in zip("abcdefgh", "bcdefghi")) + "name: *i\n"

# (run.yaml text, what the one line says)
YAML_CASES = [
    ('trust_remote_code: "false"\n', "trust remote code must be true or false (got the text 'false')"),
    ("packing: yes please\n", "packing must be true or false"),
    ('lr: "abc"\n', "learning rate must be a number (got the text 'abc')"),
    ('max_steps: "3"\n', "max steps must be a whole number (got the text '3')"),
    ("batch_size: 8.5\n", "batch size must be a whole number (got 8.5)"),
    ("model: [x]\n", "model must be text (got a list)"),
    ("name: {a: 1}\n", "name must be text (got a mapping)"),
    ("epochs: .inf\n", "epochs must be a finite number (got inf)"),
    ("lr: .nan\n", "learning rate must be a finite number (got nan)"),
    ("max_steps: 99999999999999999999\n", "max steps 99999999999999999999 is out of range"),
    (BILLION_LAUGHS, "aliases (*name) are not allowed"),
    ("trust_remote_code: yes\n", "trust remote code must be true or false (got the text 'yes')"),
    ("packing: on\n", "packing must be true or false (got the text 'on')"),
    ("max_steps: 3\nmax_steps: 5\n", "max_steps given twice"),
    ("1: 2\nfoo: 1\n", "unknown setting(s) 1, foo"),
    ("lr: [unclosed\n", "cannot read config file"),
]


@pytest.mark.parametrize("text, message", YAML_CASES, ids=[m for _, m in YAML_CASES])
def test_a_mistyped_run_yaml_is_one_line_exit_2_and_nothing_written(text, message, home,
                                                                    tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text(text)

    code = main(["train", "--config", str(config)])

    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1
    assert message in err
    assert_nothing_written()


def test_yaml_reading_an_exponent_as_text_is_taken_as_the_number_written(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("lr: 2e-5\nweight_decay: '0.5'\n")  # PyYAML reads 2e-5 (no dot) as a string

    settled = settle(file=config)

    assert settled.lr == 2e-5 and settled.weight_decay == 0.5


def test_quoted_false_never_turns_remote_code_on(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text('trust_remote_code: "false"\n')

    with pytest.raises(WorkbenchError, match="must be true or false"):
        settle(file=config)


def test_a_stored_run_with_a_mistyped_setting_is_refused_on_resume():
    """A resume re-checks the stored settings through the same door."""
    stored = TrainConfig(batch_size="16")  # as a hand-edited database might hold it
    with pytest.raises(WorkbenchError, match="batch size must be a whole number"):
        checked(stored)


def test_bad_flag_values_are_one_line_exit_2(home, capsys):
    for flags in (["--epochs", "many"], ["--method", "magic"], ["--packing", "1"]):
        with pytest.raises(SystemExit) as exit_:
            main(["train", *flags])
        err = capsys.readouterr().err
        assert exit_.value.code == 2
        assert err.startswith("error: ") and err.count("\n") == 1, err
    assert_nothing_written()


SAMPLES = {str: "x", int: 3, float: 0.25, bool: True}


def test_every_setting_can_be_given_as_a_flag():
    """The CLI's flags come from the dataclass: walk it, and every field is settable."""
    parser = build_parser()
    for f in dataclasses.fields(TrainConfig):
        kind = field_type(f)
        value = f.metadata.get("choices", (SAMPLES[kind],))[-1]
        flag = "--" + f.name.replace("_", "-")
        argv = ["train", flag] if kind is bool else ["train", flag, str(value)]
        args = parser.parse_args(argv)
        assert getattr(args, f.name) == value, f.name
    assert {"max_grad_norm", "probe_max_iter"} <= {f.name for f in dataclasses.fields(TrainConfig)}


def test_flags_given_win_over_the_preset_even_when_they_equal_a_default():
    args = build_parser().parse_args(["train", "--preset", "s4-sft", "--adapter", "none",
                                      "--model", "minilm-l6", "--seed", "42"])
    settled = config_from_args(args)

    assert (settled.adapter, settled.model, settled.seed) == ("none", "minilm-l6", 42)
    assert settled.method == "sft" and settled.train_size == 300  # the rest from the preset


def test_a_flag_left_out_is_not_given(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text("lr: 0.001\nadapter: lora\n")
    args = build_parser().parse_args(["train", "--config", str(config), "--seed", "7"])

    settled = config_from_args(args)

    assert (settled.lr, settled.adapter, settled.seed) == (0.001, "lora", 7)


@pytest.mark.parametrize("name", ["/dev/zero", "folder", "fifo"])
def test_a_config_that_is_not_a_regular_file_is_refused_without_reading_it(name, home, tmp_path,
                                                                          capsys):
    import os

    (tmp_path / "folder").mkdir()
    os.mkfifo(tmp_path / "fifo")  # reading it would wait for a writer forever
    path = name if name.startswith("/") else str(tmp_path / name)

    assert main(["train", "--config", path]) == 2

    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a regular file" in err
    assert_nothing_written()


@pytest.mark.parametrize("flag", ["--resume", "--run-id"])
def test_an_empty_run_id_names_no_run_and_starts_nothing(flag, home, capsys):
    assert main(["train", flag, ""]) == 2
    assert "no run with id ''" in capsys.readouterr().err
    assert_nothing_written()


@pytest.mark.parametrize("flags, message", [
    (["--model", "smollm2-135m", "--seed", "-1"], "seed cannot be negative"),
    (["--model", "smollm2-135m", "--seed", "4294967296"], "seed must be at most 4294967295"),
    (["--model", "smollm2-135m", "--batch-size", "0"], "batch size must be at least 1"),
    (["--model", "smollm2-135m", "--test-size", "inf"], "test size must be a finite number"),
    (["--run", ""], "no run with id"),
])
def test_bad_evaluation_flags_are_one_line_exit_2(flags, message, home, capsys):
    assert main(["eval", *flags]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and message in err, err


@pytest.mark.parametrize("stored, message", [
    ("not json", "stored settings are damaged"), (None, "stored settings are damaged"),
    ('{"method": "trainer", "dataset": "rt-reviews"}', "stored settings are damaged (no model)")])
def test_damaged_stored_settings_refuse_a_resume(stored, message, home, capsys):
    db = connect(paths.db_path())
    run_id = queries.create_run(db, {"model": "m", "method": "trainer", "dataset": "d"})
    db["runs"].update(run_id, {"status": "stopped", "config": stored})

    assert main(["train", "--resume", run_id]) == 2
    assert message in capsys.readouterr().err
    assert queries.get_run(db, run_id)["status"] == "stopped"
