"""The home page: what the workbench does, the path through it, what it holds, and whether
the hub can be reached."""

from pathlib import Path

from streamlit.testing.v1 import AppTest
from test_pages import app, recorded_run

from core.network import hub_reachable
from storage import locks, queries

ROOT = Path(__file__).resolve().parents[1]


def figures(page: AppTest) -> dict[str, str]:
    return {metric.label: metric.value for metric in page.metric}


def test_the_app_opens_on_the_home_page_with_the_path_through_it(db):
    page = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    assert not page.exception
    assert page.title[0].value == "Finetune Workbench"
    text = " ".join(c.value for c in page.caption)
    for step in ("launch a run", "prompting of the base model", "side by side", "rubric"):
        assert step in text
    assert "No runs yet" in page.info[0].value
    page.button(key="go-app_pages/train.py").click().run()
    assert page.title[0].value == "Train"


def test_the_home_page_counts_what_is_there_and_what_waits(db):
    recorded_run(db)
    running = queries.create_run(db, {"model": "minilm-l6", "method": "trainer",
                                      "adapter": "none", "dataset": "rt-reviews"})
    held = locks.take(locks.folder_of(db), running)  # as its worker holds it
    queries.mark_running(db, running, "/out")
    queries.create_comparison(db, "smollm2-135m on rt-reviews", {})
    page = app("home.py").run()
    held.release()
    assert not page.exception
    assert figures(page) == {"Runs": "2", "Comparisons": "1", "Saved playground lineups": "0",
                             "Outputs waiting for review": "0"}
    assert page.metric[0].proto.delta == "1 running"
    assert not page.info  # no "No runs yet"


def test_offline_the_home_page_says_so_and_names_what_works(db, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    hub_reachable.cache_clear()
    page = app("home.py").run()
    warning = page.warning[0].value.replace("\u2060", "")
    assert warning.startswith("Offline") and "minilm-l6" in warning and "rt-reviews" in warning
    assert "needs a network" in warning
