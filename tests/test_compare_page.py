"""The comparison page (AppTest): stored comparisons reopen, and a new one runs from the form."""

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.evaluate import system_of
from storage import queries

PAGE = str(Path(__file__).resolve().parents[1] / "app_pages" / "compare.py")
SPLIT = "rt-reviews | test split of 2562, seed 42 | first 4"


def evaluation(db, model, mode, shots, seed, predictions):
    right = sum(p == r for p, r in zip(predictions, "abab"))
    return queries.add_evaluation(
        db, {"model": model, "dataset": "rt-reviews", "mode": mode, "shots": shots, "seed": seed,
             "template": "plain (score)", "split": SPLIT, "n": 4, "accuracy": right / 4,
             "precision": 0.5, "recall": 0.5, "f1": 0.5, "labels": ["a", "b"],
             "confusion": [[1, 1], [1, 1]], "per_class": {}},
        [{"idx": i, "input": f"text {i}", "reference": r, "prediction": p}
         for i, (p, r) in enumerate(zip(predictions, "abab"))])


@pytest.mark.slow
def test_compare_page_without_evaluations_says_how_to_start(db):
    page = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not page.exception
    assert "No evaluations yet" in page.info[0].value


@pytest.mark.slow  # the Compare page's first render converts the bundled model
def test_a_stored_comparison_shows_mean_std_and_disagreements(db):
    evaluation(db, "smollm2-135m", "few-shot", 3, 0, "abab")
    evaluation(db, "smollm2-135m", "few-shot", 3, 1, "abaa")
    evaluation(db, "smollm2-135m", "zero-shot", 0, 0, "bbbb")
    page = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not page.exception and not page.dataframe  # nothing compared until picked
    page.query_params["split"] = SPLIT  # as a link to this comparison
    page.run()
    chooser = next(m for m in page.multiselect if m.label == "Systems to compare")
    chooser.set_value([system_of(e)["system"] for e in queries.split_evaluations(db, SPLIT)][1:])
    page.run()
    assert not page.exception
    table = page.dataframe[0].value
    few = table[table["system"].str.contains("3-shot")].iloc[0]
    assert few["executions"] == 2 and few["accuracy"] == 0.875 and few["accuracy_std"] == 0.125
    assert "2 of 4 examples differ" in page.caption[-1].value  # abab vs bbbb


def fill_form(tiny_causal) -> AppTest:
    page = AppTest.from_file(PAGE, default_timeout=300).run()
    page.multiselect[0].set_value([])  # no bundled model: only the tiny one
    page.text_input[0].input(tiny_causal)
    page.multiselect[2].set_value([0, 1])
    page.number_input[0].set_value(1)
    page.number_input[1].set_value(10)
    return page.run()


def job_in_url(page) -> int:
    number = page.query_params["job"]
    return int(number[0] if isinstance(number, list) else number)


def finished(db, job_id: int, timeout: float = 120) -> dict:
    """The comparison's row once it has ended (it runs in the job manager's thread)."""
    deadline = time.monotonic() + timeout
    while (job := queries.get_comparison(db, job_id))["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, f"comparison {job_id} still {job['status']}"
        time.sleep(0.2)
    return job


@pytest.mark.slow
def test_a_new_comparison_runs_as_a_job_and_opens_when_done(db, tiny_causal):
    page = fill_form(tiny_causal)
    assert "Text:" in page.code[0].value  # the prompt preview shows a real example
    next(b for b in page.button if b.label == "Compare").click().run()
    assert not page.exception and not page.error
    job = finished(db, job_in_url(page))
    assert job["status"] == "completed"
    # zero-shot and one-shot, one execution each, each also calibrated: four systems
    assert len(job["evaluation_ids"]) == db["evaluations"].count == 4
    page.run()  # the page a reload shows: the comparison named by the URL, its systems picked
    assert not page.exception
    assert any("Completed: 4 executions" in s.value for s in page.success)
    assert page.selectbox[-1].value.endswith("first 10") or any(
        sb.value and str(sb.value).endswith("first 10") for sb in page.selectbox)
    assert len(page.dataframe[0].value) == 4


@pytest.mark.slow
def test_a_crashing_evaluation_shows_a_message_not_a_traceback_wall(db, tiny_causal, monkeypatch):
    import core.evaluate
    from core import comparisons
    from core.evaluate import EvalConfig

    def crash(*args, **kwargs):
        raise RuntimeError("tokenizer exploded")

    # Scored here, as its worker would (a worker is a process of its own: no patch reaches it).
    monkeypatch.setattr(core.evaluate, "evaluate_prompting", crash)
    comparison = comparisons.Comparison([EvalConfig(model=tiny_causal, dataset="rt-reviews",
                                                        shots=(0,), seeds=1, limit=4)])
    job_id = comparisons.create(db, comparison)
    comparisons.score(db, job_id, comparison, lambda: False)
    job = queries.get_comparison(db, job_id)
    assert (job["status"], job["error"]) == ("failed", "RuntimeError: tokenizer exploded")
    page = AppTest.from_file(PAGE, default_timeout=120)
    page.query_params["job"] = str(job_id)
    page.run()
    assert not page.exception
    shown = page.error[0].value.replace("\u2060", "")  # plain() keeps colons from being markup
    assert shown == "The comparison failed: RuntimeError: tokenizer exploded"


@pytest.mark.slow  # the Compare page's first render converts the bundled model
def test_a_comparison_that_cannot_run_is_refused_at_once_with_nothing_queued(db, tiny_causal):
    page = fill_form(tiny_causal)
    page.text_input[0].input("nobody/no-such-model").run()
    next(b for b in page.button if b.label == "Compare").click().run()
    assert not page.exception
    assert "no-such-model" in page.error[0].value
    assert db["comparisons"].count == 0 and "job" not in page.query_params


@pytest.mark.slow
def test_a_url_naming_no_comparison_says_so_as_text(db):
    for value in ("99999999999999999999999", "9" * 5000, "abc", "-1", "7"):
        page = AppTest.from_file(PAGE, default_timeout=120)
        page.query_params["job"] = value
        page.run()
        assert not page.exception, value
        assert page.warning[0].value.startswith("No such comparison: “"), value


@pytest.mark.slow
def test_a_comparison_whose_run_was_deleted_says_so(db):
    from core import comparisons
    from core.comparisons import Comparison
    from tests.test_systems import finished_run

    run_id = finished_run(db, "gone", 58)
    job_id = comparisons.create(db, Comparison(runs=[run_id]))
    queries.update_comparison(db, job_id, evaluation_ids=[e["id"] for e in
                                                              queries.run_evaluations(db, run_id)])
    queries.finish_comparison(db, job_id, "completed")
    queries.delete_run(db, run_id)
    page = AppTest.from_file(PAGE, default_timeout=120)
    page.query_params["job"] = str(job_id)
    page.run()
    assert not page.exception
    assert page.warning[0].value == "1 of its 1 executions were deleted since (with their runs)."
    assert page.success[0].value == "Completed: 1 execution."


@pytest.mark.slow
def test_a_running_comparison_does_not_ask_the_user_to_press_compare(db):
    from core import comparisons
    from core.comparisons import Comparison

    from storage import job_queue, locks

    held = []
    job_id = comparisons.create(db, Comparison(runs=["20260101-000000-abcdef"]), hold=lambda n:
                                    held.append(locks.take(locks.folder_of(db),
                                                           job_queue.comparison_key(n))))
    queries.update_comparison(db, job_id, status="running")  # by this (live) process
    page = AppTest.from_file(PAGE, default_timeout=120)
    page.query_params["job"] = str(job_id)
    page.run(timeout=120)
    held[0].release()
    assert not page.exception
    assert [i.value for i in page.info] == ["Its results appear here when it ends."]


def test_a_running_comparison_is_at_the_top_of_any_visit(db):
    """Back through the sidebar (no `?job=`), the comparison still running is shown first,
    with its Stop button; one that ended is only in the list."""
    from core import comparisons
    from core.comparisons import Comparison
    from storage import job_queue, locks
    from ui.run_view import STATUS_ICONS

    held = []
    hold = lambda n: held.append(locks.take(locks.folder_of(db), job_queue.comparison_key(n)))  # noqa: E731
    ended_id = comparisons.create(db, Comparison(runs=["20260101-000000-abcdef"]), hold=hold)
    queries.finish_comparison(db, ended_id, "completed")
    live_id = comparisons.create(db, Comparison(runs=["20260101-000000-abcdef"]), hold=hold)
    queries.update_comparison(db, live_id, status="running")
    page = AppTest.from_file(PAGE, default_timeout=120).run(timeout=120)
    for lock in held:
        lock.release()
    assert not page.exception
    assert [s.value for s in page.subheader] == [f"{STATUS_ICONS['running']} Comparison {live_id}"]
    assert any(b.label == "Stop comparison" for b in page.button)


def test_a_result_names_each_system_asked_for_and_not_shown_and_why(db):
    """A run tested on other examples drops out of the result's split: the result says so by
    name, and a system never scored (the comparison stopped) is named too."""
    import dataclasses

    from core import comparisons
    from core.comparisons import Comparison
    from core.evaluate import EvalConfig
    from tests.test_systems import SPLIT as SHOWN
    from tests.test_systems import finished_run, predicted, stored
    from ui.common import WORD_JOINER

    shown, other = finished_run(db, "on the split", 58), finished_run(db, "elsewhere", 42)
    elsewhere = "rt-reviews | test split of 100, seed 7 | all 100"
    db.execute("update evaluations set split = ? where run_id = ?", [elsewhere, other])
    prompt = stored(db, predicted(70), model="smollm2-135m", mode="few-shot", shots=3, seed=0)
    config = dataclasses.replace(EvalConfig(), model="smollm2-135m", dataset="rt-reviews",
                                 shots=(3, 5))
    job_id = comparisons.create(db, Comparison(configs=[config], runs=[shown, other]),
                                hold=lambda n: None)
    ids = [prompt] + [e["id"] for run in (shown, other) for e in queries.run_evaluations(db, run)]
    queries.update_comparison(db, job_id, evaluation_ids=ids, split=SHOWN)
    queries.finish_comparison(db, job_id, "stopped", error="Stopped.")

    lines = comparisons.left_out(db, queries.get_comparison(db, job_id))
    assert lines == ["smollm2-135m 5-shot: not scored (the comparison was stopped before it)",
                     f"run elsewhere: scored on other examples ({elsewhere}); choose those "
                     "examples below to see it"]
    page = AppTest.from_file(PAGE, default_timeout=120)
    page.query_params["job"] = str(job_id)
    page.run()
    assert not page.exception
    said = " ".join(w.value for w in page.warning).replace(WORD_JOINER, "").replace("\\", "")
    assert f"of the 2 systems asked for: {'; '.join(lines)}." in said
