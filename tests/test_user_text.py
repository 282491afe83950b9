"""Issue 15, hardening: no action on what does not exist, and user text is never markup.

A URL's id is resolved to a row once, and pages act on the row's own id: `?run=<id>.`
names no run (its folder name once mapped onto run <id>'s). Run names, labels and URL
parameters reach Markdown escaped (`ui.common.plain`) and plotly escaped (`charts.shown`).
"""

import json

import pytest

from core import paths
from core.errors import WorkbenchError
from storage import queries
from tests.test_pages import app, recorded_run
from tests.test_review_pages import saved

IMAGE = "![x](http://example.invalid/x.png)"
LINK = '<a href="http://example.invalid">x</a>'


def labelled_run(db, name: str, labels: list[str]) -> str:
    """A completed run with the given name, tested on the given labels."""
    run_id = queries.create_run(db, {"model": "minilm-l6", "method": "trainer", "adapter": "none",
                                     "dataset": "rt-reviews", "name": name})
    queries.mark_running(db, run_id, "/out")
    queries.log_metrics(db, run_id, {"step": 10, "loss": 0.5})
    queries.add_evaluation(db, {"run_id": run_id, "mode": "fine-tuned", "n": 2, "accuracy": 0.5,
                                "precision": 0.5, "recall": 0.5, "f1": 0.5, "labels": labels,
                                "confusion": [[1, 0], [1, 0]],
                                "per_class": {label: {"accuracy": 0.5} for label in labels}}, [])
    queries.finish_run(db, run_id, "completed", test_accuracy=0.5, test_f1=0.5)
    return run_id


def buttons(page) -> list[str]:
    return [b.label for b in page.button]


@pytest.mark.slow
def test_a_run_id_with_a_trailing_dot_names_no_run_and_deletes_nothing(db):
    real = recorded_run(db)
    folder = paths.run_dir(real)
    folder.mkdir(parents=True)
    (folder / "model.safetensors").write_text("weights")

    page = app("runs.py", run=f"{real}.").run()

    assert not page.exception
    assert [w.value for w in page.warning] == [f"No such run: “{real}.”"]
    assert "Delete for good" not in buttons(page) and not page.subheader
    with pytest.raises(ValueError, match="not a run id"):  # never mapped onto <id>'s folder
        paths.run_dir(f"{real}.")
    from ui.common import jobs
    with pytest.raises(ValueError, match="not a run id"):
        jobs().delete(f"{real}.")
    with pytest.raises(WorkbenchError, match="nothing deleted"):
        jobs().delete("20200101-000000-abcdef")
    assert (folder / "model.safetensors").exists()
    assert queries.get_run(db, real)["status"] == "completed"


@pytest.mark.slow
def test_an_unknown_lineup_or_item_offers_nothing_to_act_on(db):
    lineup = saved(db)
    for wrong, said in ((str(lineup + 1), str(lineup + 1)),
                        (f"{lineup}.", f"{lineup}\\."),  # escaped: no numbered list
                        ("abc", "abc")):
        page = app("playground.py", lineup=wrong).run()
        assert not page.exception
        assert [w.value for w in page.warning] == [f"No such lineup: “{said}”"]
        assert "Save for review" not in buttons(page) and "Latest lineup" not in [
            h.value for h in page.subheader]
    page = app("review.py", reviewer="ann", source="playground", item="1").run()
    assert [w.value for w in page.warning] == ["No such item: “1”"]
    assert "Save scores" not in buttons(page)


def test_deleting_a_run_shows_the_runs_list_not_the_next_run(db):
    keep, gone = recorded_run(db), recorded_run(db)
    page = app("runs.py", run=gone).run()
    assert page.subheader[0].value.endswith("sample run")
    next(b for b in page.button if b.label == "Delete for good").click().run()

    assert not page.exception and "run" not in page.query_params
    assert [s.value for s in page.success] == ["Deleted run sample run."]
    assert not page.subheader and "Delete for good" not in buttons(page)
    assert list(page.dataframe[0].value["id"]) == [keep]


def test_a_run_named_with_markdown_and_a_crafted_url_are_shown_as_text(db):
    run_id = labelled_run(db, IMAGE, ["neg", "pos"])
    page = app("runs.py", run=run_id).run()
    title = page.subheader[0].value
    assert "![x](" not in title and title.endswith("!\\[x\\](http\u2060:\u2060//example.invalid/x.png)")

    page = app("runs.py", run=IMAGE).run()
    [warning] = [w.value for w in page.warning]
    assert warning == "No such run: “!\\[x\\](http\u2060:\u2060//example.invalid/x.png)”"
    assert "Delete for good" not in buttons(page)


def test_a_label_with_html_is_escaped_in_the_confusion_matrix(db):
    run_id = labelled_run(db, "html labels", [LINK, "pos"])
    page = app("runs.py", run=run_id).run()
    [figure] = [json.loads(c.proto.spec) for c in page.get("plotly_chart")
                if "Confusion" in c.proto.spec]
    escaped = '&lt;a href="http://example.invalid"&gt;x&lt;/a&gt;'
    assert figure["data"][0]["x"] == [escaped, "pos"] and figure["data"][0]["y"] == [escaped, "pos"]
    assert "<a" not in json.dumps(figure)  # no tick, hover or title reads it as a link


def test_markdown_and_plotly_escapes_cover_what_streamlit_and_plotly_render():
    from ui.charts import confusion_figure, shown
    from ui.common import plain

    assert plain(":material/home: :red[x] $x$") == (
        "\u2060:\u2060material/home\u2060:\u2060 \u2060:\u2060red\\[x\\] \\$x\\$")
    assert plain("- a\n1. b\n# c <b>*d*</b> a -> b www.x.org") == (
        "\\- a\n1\\. b\n\\# c \\<b\\>\\*d\\*\\</b\\> a -\u2060\\> b www\\.x.org")
    assert plain("smollm2-135m (fine-tuned)") == "smollm2-135m (fine-tuned)"  # plain text as is
    assert shown("<b>&") == "&lt;b&gt;&amp;"
    figure = confusion_figure([[1, 0], [0, 1]], ["<br>", "b"], title="<i>a</i>")
    assert list(figure.data[0].x) == ["&lt;br&gt;", "b"]
    assert figure.layout.title.text == "&lt;i&gt;a&lt;/i&gt;"
