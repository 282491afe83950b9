"""python -m core: listings, a real training run, and every bad input ending in one line."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core import paths
from core.cli import main
from storage import queries
from storage.db import connect

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, home):
    env = {**os.environ, "WORKBENCH_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def test_models_and_datasets_are_listed(home):
    models = cli("models", home=home)
    assert models.returncode == 0
    assert "minilm-l6" in models.stdout and "encoder" in models.stdout
    datasets = cli("datasets", home=home)
    assert "rt-reviews" in datasets.stdout and "summarisation" in datasets.stdout


def test_train_prints_the_run_id_and_records_a_completed_run(home, tiny_config):
    result = cli("train", "--model", tiny_config.model, "--method", "loop",
                 "--dataset", tiny_config.dataset, "--text-column", "review",
                 "--label-column", "sentiment", "--max-steps", "20", "--lr", "5e-3",
                 "--train-size", "120", "--eval-size", "40", "--test-size", "40", home=home)
    assert result.returncode == 0, result.stderr
    run_id = result.stdout.strip()
    run = queries.get_run(connect(paths.db_path()), run_id)
    assert run["status"] == "completed" and run["test_accuracy"] is not None
    assert "test accuracy" in result.stderr


def test_bad_input_exits_non_zero_with_one_line_in_a_real_process(home):
    result = cli("train", "--model", "nobody/no-such-model", "--dataset", "rt-reviews", home=home)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("error: model 'nobody/no-such-model'")


def write(path: Path, content: bytes) -> str:
    path.write_bytes(content)
    return str(path)


BAD_INPUTS = [
    ("unknown model offline", ["--model", "nobody/no-such-model"], "not in the catalog"),
    ("missing column", ["--dataset", "{tmp}/a.csv", "--label-column", "stars"],
     "column 'stars' not found"),
    ("one class", ["--dataset", "{tmp}/one.csv"], "only one class"),
    ("empty file", ["--dataset", "{tmp}/empty.csv"], "is empty"),
    ("not UTF-8", ["--dataset", "{tmp}/latin.csv"], "not UTF-8"),
    ("learning rate 0", ["--lr", "0"], "learning rate must be above 0"),
    ("batch size 0", ["--batch-size", "0"], "batch size must be at least 1"),
    ("sizes beyond the data", ["--train-size", "20000"], "the data has 12808"),
    ("missing file", ["--dataset", "{tmp}/nope.csv"], "file not found"),
    ("qlora on an encoder", ["--adapter", "qlora"], "qlora is for causal"),
    ("qlora without CUDA", ["--model", "smollm2-135m", "--method", "sft", "--adapter", "qlora"],
     "qlora needs a CUDA GPU"),
    ("sft on an encoder", ["--method", "sft"], "is an encoder"),
    ("summaries for a classifier", ["--dataset", "aclsum"], "learns from classification data"),
    ("negative patience", ["--early-stopping-patience", "-1"], "patience cannot be negative"),
]


@pytest.mark.parametrize("name, args, message", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_gets_one_clear_line_and_writes_no_run(name, args, message, home, tmp_path,
                                                         capsys):
    write(tmp_path / "a.csv", b"text,label\ngood,pos\nbad,neg\n")
    write(tmp_path / "one.csv", b"text,label\ngood,pos\nfine,pos\n")
    write(tmp_path / "empty.csv", b"")
    write(tmp_path / "latin.csv", "text,label\ncaf\xe9,a\nthé,b\n".encode("latin-1"))
    args = [a.format(tmp=tmp_path) for a in args]

    code = main(["train", "--method", "trainer", "--dataset", "rt-reviews", *args])

    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not paths.db_path().exists() or queries.list_runs(connect(paths.db_path())) == []


def test_eval_prints_evaluation_ids_and_refuses_an_encoder(home, capsys, tmp_path):
    code = main(["eval", "--model", "minilm-l6", "--dataset", "rt-reviews", "--limit", "5"])
    assert code == 2
    assert "prompting needs a causal model" in capsys.readouterr().err


def test_an_evaluation_that_crashes_ends_in_one_line(home, capsys, monkeypatch):
    import core.evaluate

    def crash(*args, **kwargs):
        raise RuntimeError("tokenizer exploded")

    monkeypatch.setattr(core.evaluate, "evaluate_prompting", crash)
    code = main(["eval", "--model", "smollm2-135m", "--limit", "5"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip() == "error: the evaluation failed: RuntimeError: tokenizer exploded"


def test_a_summarisation_run_reports_rouge_for_both_models(home, tiny_causal, tmp_path, capsys):
    rows = "".join(f"the film was great {i},very good\n" for i in range(40))
    data = write(tmp_path / "summaries.csv", ("prompt,response\n" + rows).encode())
    code = main(["train", "--model", tiny_causal, "--method", "sft", "--dataset", data,
                 "--max-steps", "2", "--train-size", "20", "--eval-size", "5", "--test-size", "5",
                 "--max-new-tokens", "3", "--max-length", "64"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "test: ROUGE-1" in captured.err and "original model, test: ROUGE-1" in captured.err
