"""python -m core: listings, a real training run, and bad input ending in one line (the whole
table of bad inputs is in test_bad_inputs)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from core import paths
from core.cli import main
from storage import locks, queries
from storage.db import connect

ROOT = Path(__file__).resolve().parents[1]


def cli(*args, home):
    env = {**os.environ, "WORKBENCH_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, "-m", "core", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_models_and_datasets_are_listed(home):
    models = cli("models", home=home)
    assert models.returncode == 0
    assert "minilm-l6" in models.stdout and "encoder" in models.stdout
    datasets = cli("datasets", home=home)
    assert "rt-reviews" in datasets.stdout and "summarisation" in datasets.stdout


@pytest.mark.slow
def test_train_prints_the_run_id_and_records_a_completed_run(home, tiny_config):
    result = cli("train", "--model", tiny_config.model, "--method", "loop",
                 "--dataset", tiny_config.dataset, "--text-column", "review",
                 "--label-column", "sentiment", "--max-steps", "20", "--lr", "5e-3",
                 "--train-size", "120", "--eval-size", "40", "--test-size", "40",
                 "--name", " tiny loop ", home=home)
    assert result.returncode == 0, result.stderr
    run_id = result.stdout.strip()
    run = queries.get_run(connect(paths.db_path()), run_id)
    assert run["status"] == "completed" and run["test_accuracy"] is not None
    assert run["name"] == "tiny loop"
    assert "test accuracy" in result.stderr


def test_runs_are_listed_by_name_beside_their_id_in_aligned_columns(home, capsys):
    assert main(["runs"]) == 0  # none yet: the header alone
    assert capsys.readouterr().out.split()[:3] == ["id", "name", "status"]
    run_id = queries.create_run(connect(paths.db_path()), {"model": "minilm-l6",
                                                           "method": "trainer",
                                                           "dataset": "rt-reviews"},
                                queue={"starter": "self"})
    held = locks.take(locks.folder_of(connect(paths.db_path())), run_id)  # as its command does
    assert main(["runs"]) == 0
    header, row = capsys.readouterr().out.splitlines()
    assert row.startswith(run_id) and "minilm-l6 · trainer · rt-reviews · 1" in row
    assert row.index("queued") == header.index("status")
    held.release()


@pytest.mark.slow
def test_bad_input_exits_non_zero_with_one_line_in_a_real_process(home):
    result = cli("train", "--model", "nobody/no-such-model", "--dataset", "rt-reviews", home=home)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("error: model 'nobody/no-such-model' is not in the catalog")


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
    assert err.strip() == "error: comparison 1 failed: RuntimeError: tokenizer exploded"
    job = queries.get_comparison(connect(paths.db_path()), 1)  # recorded like a comparison from the page
    assert job["status"] == "failed" and "tokenizer exploded" in job["traceback"]


@pytest.mark.slow
def test_a_summarisation_run_reports_rouge_for_both_models(home, tiny_causal, tmp_path, capsys):
    rows = "".join(f"the film was great {i},very good\n" for i in range(40))
    data = tmp_path / "summaries.csv"
    data.write_text("prompt,response\n" + rows)
    code = main(["train", "--model", tiny_causal, "--method", "sft", "--dataset", str(data),
                 "--max-steps", "2", "--train-size", "20", "--eval-size", "5", "--test-size", "5",
                 "--max-new-tokens", "3", "--max-length", "64"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "test: ROUGE-1" in captured.err and "original model, test: ROUGE-1" in captured.err
