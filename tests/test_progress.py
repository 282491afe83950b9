"""Honest progress: a run says what it does now, logs its first step, and estimates the time
left only from the speed it measured."""

import dataclasses
import threading

import pytest

from core import engine, progress, resources
from storage import queries
from ui.live import progress_line, seconds_per_step


def test_nothing_is_said_where_no_one_listens():
    progress.say("loading")  # the CLI's listings, the playground: no listener, no error
    with progress.counting("judging", 10):
        progress.advance(5)


def test_a_counted_phase_is_said_at_its_start_at_most_once_a_second_and_at_its_end():
    heard = []
    with progress.listening(heard.append), progress.counting("judging the test split", 200):
        for _ in range(25):
            progress.advance(8)
    assert heard == ["judging the test split: 0 / 200", "judging the test split: 200 / 200"]


def test_each_thread_hears_only_its_own_run():
    heard, other = [], []

    def elsewhere():
        with progress.listening(other.append):
            progress.say("training")

    with progress.listening(heard.append):
        thread = threading.Thread(target=elsewhere)
        thread.start()
        thread.join()
        progress.say("loading the model")
    assert heard == ["loading the model"] and other == ["training"]


def phases_of_a_run(db, config, monkeypatch) -> list[str]:
    said = []
    monkeypatch.setattr(queries, "set_phase", lambda db, run_id, phase: said.append(phase))
    assert queries.get_run(db, engine.train(config, db))["status"] == "completed"
    return said


@pytest.mark.parametrize("method", ["loop", "trainer"])
@pytest.mark.slow
def test_an_encoder_run_says_each_phase_in_order_and_logs_its_first_step(db, tiny_config,
                                                                          monkeypatch, method):
    config = dataclasses.replace(tiny_config, method=method, epochs=1)
    said = phases_of_a_run(db, config, monkeypatch)
    assert said[:3] == ["loading the model", "tokenising 200 examples", "training"]
    assert said[-1] == "judging the test split: 40 / 40"
    run_id = queries.list_runs(db)[0]["id"]
    steps = [m["step"] for m in queries.run_metrics(db, run_id) if m["loss"] is not None]
    assert steps[0] == 1 and steps[1] == 5  # step 1, then every `logging_steps`


@pytest.mark.slow
def test_a_causal_run_says_it_judges_the_tuned_then_the_original_model(db, causal_config,
                                                                        monkeypatch):
    said = phases_of_a_run(db, dataclasses.replace(causal_config, epochs=1), monkeypatch)
    assert said[:3] == ["loading the model", "tokenising 160 examples", "training"]
    judged = [p for p in said if p.startswith("judging")]
    assert judged[0] == "judging the tuned model on the test split: 0 / 40"
    assert "judging the tuned model on the test split: 40 / 40" in judged
    assert judged[-1] == "judging the original model on the test split: 40 / 40"


def run_row(phase, total_steps=100):
    return {"phase": phase, "total_steps": total_steps}


def metrics_row(step, time):
    return {"step": step, "time": time, "loss": 0.5, "epoch": step / 50, "throughput": 16.0}


def test_the_status_line_says_the_phase_until_training_then_the_step_of_the_total():
    assert progress_line(run_row(None), []) == (0.0, "starting…")
    assert progress_line(run_row("loading the model"), [])[1] == "loading the model"
    assert progress_line(run_row("training"), [])[1] == "training: step 1 of 100 under way…"
    done, line = progress_line(run_row("training"), [metrics_row(1, 9.0), metrics_row(11, 14.0)])
    assert done == 0.11 and line.startswith("training step 11 of 100 · epoch 0.22")
    assert "about 44 s left" in line  # 0.5 s a step measured, the 9 s of loading left out
    after = progress_line(run_row("judging the test split: 16 / 40"), [metrics_row(100, 60.0)])
    assert after[0] == 1.0 and after[1].replace("\u2060", "") == "judging the test split: 16 / 40"


def test_time_left_is_shown_only_once_a_speed_is_measured():
    assert seconds_per_step([metrics_row(1, 9.0)]) is None
    assert "left" not in progress_line(run_row("training"), [metrics_row(1, 9.0)])[1]
    assert seconds_per_step([metrics_row(1, 9.0), metrics_row(5, 11.0)]) == 0.5


@pytest.mark.slow
def test_the_train_page_follows_a_running_run_reading_only_new_rows(db, monkeypatch, hold):
    from test_pages import app

    run_id = queries.create_run(db, {"model": "minilm-l6", "method": "trainer", "adapter": "none",
                                     "dataset": "rt-reviews"})
    hold(run_id)
    queries.mark_running(db, run_id, "/out", total_steps=100)
    queries.set_phase(db, run_id, "training")
    for step in (1, 10, 20):
        queries.log_metrics(db, run_id, {"step": step, "loss": 1.0, "time": step / 2})
    reads = []
    real = queries.metrics_after
    monkeypatch.setattr(queries, "metrics_after",
                        lambda db, run, after: reads.append(after) or real(db, run, after))
    page = app("train.py", run=run_id).run()
    assert page.progress[0].text.startswith("training step 20 of 100")
    queries.log_metrics(db, run_id, {"step": 30, "loss": 0.9, "time": 15.0})
    page.run()
    assert page.progress[0].text.startswith("training step 30 of 100")
    assert reads[0] == 0 and reads[-1] > 0  # a rerun reads past the rows it already has
    queries.rewind_metrics(db, run_id, 10)  # a resume trains steps 11 on again
    page.run()
    assert page.progress[0].text.startswith("training step 10 of 100")
    queries.set_phase(db, run_id, "judging the test split: 8 / 40")
    page.run()
    assert page.progress[0].text.replace("\u2060", "") == "judging the test split: 8 / 40"


def test_a_run_that_ended_early_says_at_which_step():
    from ui.run_view import where_it_ended

    stopped = {"status": "stopped", "total_steps": 126}
    assert where_it_ended(stopped, [metrics_row(1, 1.0), metrics_row(18, 9.0),
                                    {"step": 18, "loss": None}]) == \
        "Stopped at training step 18 of 126."
    assert where_it_ended({"status": "failed", "total_steps": None}, []) == \
        "Failed before its first training step."


def test_the_phase_clock_adds_up_each_phase_by_the_monotonic_clock(monkeypatch):
    ticks = iter([0.0, 2.0, 3.0, 13.0, 14.0, 15.0, 18.0])
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(ticks))
    said = []
    clock = progress.PhaseClock(said.append)  # 0
    for text in ["loading the model", "tokenising 200 examples", "training",  # 2, 3, 13
                 "judging the test split: 0 / 40", "judging the test split: 40 / 40"]:  # 14, 15
        clock(text)
    assert clock.totals() == {"loading the model": 1.0, "tokenising examples": 10.0,  # 18
                              "training": 1.0, "judging the test split": 4.0}
    assert said[-1] == "judging the test split: 40 / 40"


def test_a_run_keeps_where_its_time_went_and_the_next_is_estimated_from_it(db, tiny_config):
    run_id = engine.train(dataclasses.replace(tiny_config, epochs=1), db)
    like = queries.last_timed_run(db, tiny_config.model, "trainer", "none", tiny_config.dataset)
    assert like["id"] == run_id and like["total_steps"] == 15
    phases = like["phase_seconds"]
    assert list(phases)[:3] == ["loading the model", "tokenising examples", "training"]
    assert "judging the test split" in phases and all(s >= 0 for s in phases.values())
    doubled = progress.estimated_phases(phases, 15, 30)
    assert doubled["training"] == pytest.approx(2 * phases["training"])
    assert doubled["loading the model"] == phases["loading the model"]
    assert queries.last_timed_run(db, tiny_config.model, "loop", "none", tiny_config.dataset) \
        is None
    # Each metrics row carries what the process used then: the live panel's resource line.
    last = queries.run_metrics(db, run_id)[-1]
    assert last["memory_gib"] > 0.05 and last["cpu_percent"] >= 0
    assert resources.line(last).startswith("CPU ") and " · memory " in resources.line(last)


def test_time_left_adds_the_phases_after_training_as_a_run_like_it_took_them():
    rows = [metrics_row(1, 9.0), metrics_row(11, 14.0)]
    line = progress_line(run_row("training"), rows, {"judging the test split": 16.0})[1]
    assert "about 1 min 00 s left (training 44 s, then 16 s to test and save" in line
