"""Checkpoints and resume: a run stopped, crashed or killed part-way continues from its last
checkpoint, its curves go on where they ended, and it ends with the weights of a run that was
never interrupted (same seed)."""

import dataclasses

import pytest
from safetensors.torch import load_file

from core import checkpoints, engine, paths
from core.cli import main
from core.errors import WorkbenchError
from storage import queries

pytestmark = pytest.mark.slow  # runs trained, stopped and resumed


class StopAt:
    """A Stop button pressed once the run has logged `step` (the hook a page's Stop sets)."""

    def __init__(self, step: int):
        self.step, self.seen = step, 0

    def log(self, row: dict) -> None:
        self.seen = max(self.seen, row.get("step") or 0)

    def should_stop(self) -> bool:
        return self.seen >= self.step


def crash_at(step: int):
    def log(row: dict) -> None:
        if row.get("step") == step and row.get("loss") is not None:
            raise RuntimeError("injected failure")
    return log


def weights(run_id: str) -> dict:
    folder = paths.run_dir(run_id) / "model"
    name = "adapter_model.safetensors" if (folder / "adapter_model.safetensors").exists() \
        else "model.safetensors"
    return load_file(folder / name)


def loss_curve(db, run_id: str) -> list[tuple[int, float]]:
    return [(m["step"], m["loss"]) for m in queries.run_metrics(db, run_id) if m["loss"] is not None]


def assert_same_run(db, resumed: str, unbroken: str) -> None:
    assert queries.get_run(db, resumed)["status"] == "completed"
    first, second = weights(resumed), weights(unbroken)
    assert first.keys() == second.keys()
    for name in first:
        assert (first[name] - second[name]).abs().max() < 1e-5, name
    resumed_curve, unbroken_curve = loss_curve(db, resumed), loss_curve(db, unbroken)
    assert [s for s, _ in resumed_curve] == [s for s, _ in unbroken_curve]  # no gap, no repeat
    assert [loss for _, loss in resumed_curve] == \
        pytest.approx([loss for _, loss in unbroken_curve], rel=1e-4)
    assert queries.get_run(db, resumed)["test_accuracy"] == \
        queries.get_run(db, unbroken)["test_accuracy"]
    assert not checkpoints.folder(paths.run_dir(resumed)).exists()  # completed: none kept


def every_step(config, method: str):
    return dataclasses.replace(config, method=method, logging_steps=1, checkpoint_steps=10)


@pytest.mark.parametrize("method", ["loop", "trainer"])
def test_a_stopped_run_resumes_and_ends_as_an_unbroken_run(db, tiny_config, method):
    config = every_step(tiny_config, method)
    unbroken = engine.train(config, db)
    stop = StopAt(17)
    stopped = engine.train(config, db, stop.should_stop, on_metrics=stop.log)
    run = queries.get_run(db, stopped)
    assert run["status"] == "stopped"
    at_stop = checkpoints.step_of(checkpoints.latest(paths.run_dir(stopped)))
    assert at_stop == max(s for s, _ in loss_curve(db, stopped))  # saved at the stop itself

    assert engine.resume(db, stopped) == "completed"

    assert_same_run(db, stopped, unbroken)
    assert f'"resumed_from_step": {at_stop}' in queries.get_run(db, stopped)["summary"]


def test_a_crashed_run_resumes_from_its_last_checkpoint(db, tiny_config):
    config = every_step(tiny_config, "loop")
    unbroken = engine.train(config, db)
    crashed = engine.train(config, db, on_metrics=crash_at(23))
    run = queries.get_run(db, crashed)
    assert run["status"] == "failed" and run["error"] == "RuntimeError after step 23: injected failure"
    assert max(s for s, _ in loss_curve(db, crashed)) == 23  # every row written is kept
    assert checkpoints.step_of(checkpoints.latest(paths.run_dir(crashed))) == 20

    engine.resume(db, crashed)  # steps 21 to 23 are trained again, their rows replaced

    assert_same_run(db, crashed, unbroken)
    assert queries.get_run(db, crashed)["error"] is None


def test_a_causal_lora_run_resumes_through_the_trainer(db, causal_config):
    config = dataclasses.replace(every_step(causal_config, "sft"), adapter="lora", epochs=2)
    unbroken = engine.train(config, db)
    stop = StopAt(12)
    stopped = engine.train(config, db, stop.should_stop, on_metrics=stop.log)

    engine.resume(db, stopped)

    assert_same_run(db, stopped, unbroken)


def test_a_run_without_a_checkpoint_starts_again(db, tiny_config):
    config = every_step(tiny_config, "loop")
    crashed = engine.train(config, db, on_metrics=crash_at(4))  # before the first checkpoint
    assert checkpoints.latest(paths.run_dir(crashed)) is None

    engine.resume(db, crashed)

    steps = [s for s, _ in loss_curve(db, crashed)]
    assert steps == list(range(1, steps[-1] + 1))


def test_only_finished_runs_that_did_not_complete_resume(db, tiny_config):
    completed = engine.train(tiny_config, db)
    with pytest.raises(WorkbenchError, match="is completed; only a stopped, failed or interrupted"):
        engine.resume(db, completed)
    with pytest.raises(WorkbenchError, match="no run with id 'nope'"):
        engine.resume(db, "nope")


def test_the_cli_resumes_a_run_and_refuses_other_settings(home, db, tiny_config, capsys):
    stop = StopAt(9)
    stopped = engine.train(every_step(tiny_config, "trainer"), db, stop.should_stop,
                           on_metrics=stop.log)

    assert main(["train", "--resume", stopped, "--lr", "0.1"]) == 2
    assert "drop --lr" in capsys.readouterr().err
    assert main(["train", "--resume", stopped]) == 0

    assert capsys.readouterr().out.strip() == stopped
    assert queries.get_run(db, stopped)["status"] == "completed"
    assert len(queries.list_runs(db)) == 1


def test_a_checkpoint_cut_short_is_never_resumed_from(tmp_path):
    out = tmp_path / "run"
    (checkpoints.folder(out) / "checkpoint-10").mkdir(parents=True)
    (checkpoints.folder(out) / "checkpoint-10" / checkpoints.LOOP_STATE).write_bytes(b"x")
    (checkpoints.folder(out) / "checkpoint-20").mkdir()  # weights written, state not yet
    (checkpoints.folder(out) / "checkpoint-20" / checkpoints.LOOP_WEIGHTS).write_bytes(b"x")

    assert checkpoints.latest(out).name == "checkpoint-10"
    checkpoints.remove_incomplete(out)
    assert sorted(c.name for c in checkpoints.folder(out).iterdir()) == ["checkpoint-10"]
