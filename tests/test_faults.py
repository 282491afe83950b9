"""Faults injected part-way through a run: out of memory (GPU and RAM), a full disk while
saving, a data set that fails mid-way. Each must end `failed` with a message that says what to
change, keep every metrics row written before it, leave no half-written model, and leave the
workbench serving (the page shows it, the next run trains, the run resumes). A killed server
is in test_jobs."""

import dataclasses
import errno

import pytest
import torch
from streamlit.testing.v1 import AppTest

from core import checkpoints, engine, paths
from core.cli import main
from core.encoder import EncodedTexts
from core.failures import failure_reason
from storage import queries
from test_pages import PAGES

OOM_ERRORS = {
    "GPU": torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB"),
    "RAM": MemoryError(),
    "RAM, as torch says it": RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. "
                                          "DefaultCPUAllocator: can't allocate memory: you "
                                          "tried to allocate 21474836480 bytes"),
}


def raise_at(step: int, error: BaseException):
    """The hook every metrics row passes through, raising once the run logs `step`."""
    def log(row: dict) -> None:
        if row.get("step") == step and row.get("loss") is not None:
            raise error
    return log


def loss_steps(db, run_id: str) -> list[int]:
    return [m["step"] for m in queries.run_metrics(db, run_id) if m["loss"] is not None]


@pytest.fixture
def config(tiny_config):
    return dataclasses.replace(tiny_config, method="loop", logging_steps=1, checkpoint_steps=5)


@pytest.mark.parametrize("kind", OOM_ERRORS)
@pytest.mark.slow
def test_out_of_memory_fails_with_the_settings_to_change(db, config, kind):
    run_id = engine.train(config, db, on_metrics=raise_at(7, OOM_ERRORS[kind]))

    run = queries.get_run(db, run_id)
    device = "GPU memory" if kind == "GPU" else "the machine's memory (RAM)"
    assert run["status"] == "failed"
    assert run["error"].startswith(f"out of {device} after step 7: lower the batch size (now 8); "
                                   "lower the max length (now 16 tokens)")
    assert "train LoRA adapters" in run["error"]
    assert loss_steps(db, run_id) == list(range(1, 8))  # no row lost
    next_run = engine.train(config, db)  # the workbench goes on
    assert queries.get_run(db, next_run)["status"] == "completed"


@pytest.mark.slow
def test_the_page_and_the_cli_tell_an_out_of_memory_run_in_one_line(db, config, capsys,
                                                                  monkeypatch):
    real = engine.fit_and_evaluate

    def out_of_memory(prepared, hooks, out_dir, resume_from):
        hooks.log({"step": 1, "loss": 0.7})
        raise OOM_ERRORS["GPU"]

    monkeypatch.setattr(engine, "fit_and_evaluate", out_of_memory)
    assert main(["train", "--model", config.model, "--method", "loop", "--dataset",
                 config.dataset, "--text-column", "review", "--label-column", "sentiment"]) == 1
    last = capsys.readouterr().err.splitlines()[-1]  # after the progress lines
    assert last.startswith("error: run ") and "failed: out of GPU memory after step 1: lower" in last

    [run] = queries.list_runs(db)
    page = AppTest.from_file(str(PAGES / "runs.py"), default_timeout=60)
    page.query_params["run"] = run["id"]
    page.run()
    assert not page.exception
    assert page.error[0].value.startswith("out of GPU memory after step 1")
    assert any(b.label.startswith("Resume") for b in page.button)
    monkeypatch.setattr(engine, "fit_and_evaluate", real)


def disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.slow
def test_a_full_disk_while_saving_the_model_leaves_no_half_of_it(db, config, monkeypatch):
    from transformers import PreTrainedModel

    real = PreTrainedModel.save_pretrained

    def save_half(self, folder, *args, **kwargs):
        (paths.Path(folder) / "config.json").parent.mkdir(parents=True, exist_ok=True)
        (paths.Path(folder) / "config.json").write_text("{}")  # one file made it to disk
        disk_full()

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", save_half)
    run_id = engine.train(config, db)

    run = queries.get_run(db, run_id)
    assert run["status"] == "failed"
    assert run["error"].startswith("the disk is full (")
    assert "free some space, delete old runs, or set WORKBENCH_HOME" in run["error"]
    out = paths.run_dir(run_id)
    assert not (out / "model").exists() and not (out / "model.partial").exists()
    assert loss_steps(db, run_id) == list(range(1, 46))  # trained to the end before saving

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", real)  # space freed
    assert engine.resume(db, run_id) == "completed"
    assert (out / "model" / "model.safetensors").exists()


@pytest.mark.slow
def test_a_full_disk_while_checkpointing_keeps_the_last_complete_checkpoint(db, config,
                                                                          monkeypatch):
    real, saves = checkpoints.torch.save, []

    def fill_the_disk_on_the_third(state, path):
        saves.append(path)
        if len(saves) == 3:
            disk_full()
        real(state, path)

    monkeypatch.setattr(checkpoints.torch, "save", fill_the_disk_on_the_third)
    run_id = engine.train(config, db)

    run = queries.get_run(db, run_id)
    assert run["status"] == "failed" and run["error"].startswith("the disk is full")
    assert "after step 15" in run["error"]
    assert loss_steps(db, run_id) == list(range(1, 16))
    left = sorted(c.name for c in checkpoints.folder(paths.run_dir(run_id)).iterdir())
    assert left == ["checkpoint-10", "checkpoint-5"]  # the one cut short is gone


@pytest.mark.slow
def test_a_data_set_that_fails_mid_way(db, config, monkeypatch):
    real, reads = EncodedTexts.__getitem__, []

    def fail_after_a_while(self, i):
        reads.append(i)
        if len(reads) == 100:
            raise ValueError(f"row {i} could not be decoded")
        return real(self, i)

    monkeypatch.setattr(EncodedTexts, "__getitem__", fail_after_a_while)
    run_id = engine.train(config, db)

    run = queries.get_run(db, run_id)
    written = loss_steps(db, run_id)
    assert run["status"] == "failed"
    assert run["error"] == f"ValueError after step {written[-1]}: row {reads[-1]} could not be decoded"
    assert written == list(range(1, 13))  # batch 13 held the 100th read: 12 steps were done
    assert "fail_after_a_while" in run["traceback"]

    monkeypatch.setattr(EncodedTexts, "__getitem__", real)  # the data mended
    assert engine.resume(db, run_id) == "completed"
    assert loss_steps(db, run_id) == list(range(1, 46))


def test_a_crash_before_any_logged_step_says_so_not_a_step_it_never_reached(tiny_config):
    error = RuntimeError("no such kernel")
    assert failure_reason(error, tiny_config, None) == ("RuntimeError before its first logged "
                                                        "step: no such kernel")
    assert failure_reason(error, tiny_config, 20) == "RuntimeError after step 20: no such kernel"
