"""The Playground and Review pages through Streamlit's AppTest, over a real database:
two models side by side, the lineup saved, reviewed blind by two reviewers, and
the results with per-model scores and the agreement between the reviewers."""

import pytest

from storage import queries
from tests.test_pages import app


def page_text(test) -> str:
    """Everything the page shows (labels, values, options), to check what it hides."""
    def walk(node):
        proto = getattr(node, "proto", None)
        yield str(proto) if proto is not None else ""
        for child in getattr(node, "children", {}).values():
            yield from walk(child)
    return "\n".join(walk(test._tree))


def by_label(elements, label):
    return next(e for e in elements if e.label == label)


def run_playground(models: list[str], text: str, **widgets):
    page = app("playground.py").run()
    by_label(page.multiselect, "Models (2 to 4)").set_value([])
    by_label(page.text_input, "Other models: hub ids or local folders, separated by commas").set_value(
        ", ".join(models))
    by_label(page.text_area, "Input").set_value(text)
    for label, value in widgets.items():
        by_label(page.number_input, label).set_value(value)
    return by_label(page.button, "Run side by side").click().run()


@pytest.mark.slow
def test_two_models_side_by_side_are_stored_then_saved_for_review(db, tiny_causal, tiny_classifier):
    page = run_playground([tiny_causal, tiny_classifier], "great superb film", **{"Max new tokens": 5})
    assert not page.exception and not page.error
    lineup_id = int(page.query_params["lineup"])
    lineup, outputs = queries.get_lineup(db, lineup_id)
    assert [o["model"] for o in outputs] == [tiny_causal, tiny_classifier]
    assert outputs[0]["new_tokens"] <= 5 and outputs[0]["tokens_per_second"] > 0
    assert set(outputs[1]["probabilities"]) == {"neg", "pos"}  # the classifier's labels
    shown = [t.value for t in page.text]
    assert outputs[0]["output"] in shown and outputs[1]["output"] in shown
    assert lineup["saved"] == 0 and queries.review_sources(db) == []

    page = by_label(page.button, "Save for review").click().run()
    assert queries.get_lineup(db, lineup_id)[0]["saved"] == 1
    assert [s["source"] for s in queries.review_sources(db)] == ["playground"]
    assert "Saved lineups (1)" in [h.value for h in page.subheader]


def test_a_model_that_cannot_load_is_reported_and_the_others_still_answer(db, tiny_causal):
    page = run_playground([tiny_causal, "no/such-model-anywhere"], "great film", **{"Max new tokens": 3})
    assert not page.exception
    assert any("no/such-model-anywhere" in e.value and "could not be downloaded" in e.value
               for e in page.error)
    _, outputs = queries.get_lineup(db, int(page.query_params["lineup"]))
    assert [o["model"] for o in outputs] == [tiny_causal]


def test_impossible_settings_are_refused_on_the_page(db, tiny_causal):
    page = run_playground([tiny_causal], "   ")
    assert "type an input" in page.error[0].value
    assert queries.list_lineups(db) == [] and "lineup" not in page.query_params


def saved(db, models=("alpha-model", "beta-model")):
    lineup_id = queries.save_lineup(
        db, {"input": "What is LoRA?", "task": "chat", "settings": {}},
        [{"model": m, "output": f"answer number {i}", "latency": 0.1} for i, m in enumerate(models)])
    queries.keep_lineup(db, lineup_id, "lora")
    return lineup_id


def score(page, values):
    """Tick a score for every criterion of every output, in the order shown, and save."""
    for radio, value in zip(page.radio, values):
        radio.set_value(value)
    return by_label(page.button, "Save scores").click().run()


def test_review_is_blind_until_scored_then_reveals_the_models(db):
    saved(db)
    page = app("review.py", reviewer="ann").run()
    assert not page.exception
    assert "answer number 0" in page_text(page) and "answer number 1" in page_text(page)
    assert "alpha-model" not in page_text(page) and "beta-model" not in page_text(page)
    assert page.progress[0].proto.text == "0 of 1 reviewed"

    page = score(page, [5, 4, 5, 2, 3, 5])
    assert not page.exception
    assert "alpha-model" in page.success[0].value and "beta-model" in page.success[0].value
    assert page.progress[0].proto.text == "1 of 1 reviewed"
    assert len(queries.reviews_with_targets(db)) == 2


def test_an_unfinished_score_is_refused_and_nothing_is_written(db):
    saved(db)
    page = score(app("review.py", reviewer="ann").run(), [5, 4])  # only output A's first two
    assert "Score every criterion first" in page.error[0].value
    assert queries.reviews_with_targets(db) == []


def test_going_back_to_a_review_shows_its_scores_and_saves_changes(db):
    saved(db)
    page = score(app("review.py", reviewer="ann").run(), [1, 1, 1, 1, 1, 1])
    page = app("review.py", reviewer="ann", item="0").run()
    assert [r.value for r in page.radio] == [1] * 6  # the stored scores, ready to change
    page.radio[0].set_value(5)
    by_label(page.button, "Save changes").click().run()
    assert sorted(r["scores"]["accuracy"] for r in queries.reviews_with_targets(db)) == [1, 5]
    assert len(queries.reviews_with_targets(db)) == 2


def test_results_show_per_model_scores_and_the_agreement_of_two_reviewers(db):
    saved(db)
    score(app("review.py", reviewer="ann").run(), [5, 4, 5, 2, 3, 5])
    page = score(app("review.py", reviewer="bob").run(), [4, 4, 5, 1, 2, 5])
    assert not page.metric  # results name the models: shown only when asked for
    page = by_label(page.toggle, "Show the results").set_value(True).run()
    table = page.dataframe[-1].value.set_index("model")  # [0] is the rubric editor
    assert len(table) == 2 and table["reviewers"].tolist() == [2, 2]
    alpha = page.metric[0]
    assert alpha.label.startswith("Agreement between reviewers") and alpha.value not in ("—", None)
    assert -1 <= float(alpha.value) <= 1
    download = by_label(page.get("download_button"), "Download all 4 reviews (CSV)")
    assert download is not None


def test_an_empty_queue_says_where_outputs_come_from(db):
    page = app("review.py").run()
    assert "Nothing to review yet" in page.info[0].value


def test_saving_stays_on_the_item_to_reveal_it_and_next_moves_on_blind(db):
    saved(db)
    saved(db, models=("gamma-model", "delta-model"))
    page = score(app("review.py", reviewer="ann").run(), [3] * 6)
    assert "alpha-model" in page.success[0].value and page.query_params["item"] == "0"
    page = by_label(page.button, "Next ▶").click().run()
    assert page.query_params["item"] == "1" and not page.success
    assert "gamma-model" not in page_text(page) and "delta-model" not in page_text(page)
    assert page.progress[0].proto.text == "1 of 2 reviewed"


def test_another_reviewer_starts_at_their_own_first_unreviewed_item(db):
    saved(db)
    saved(db, models=("gamma-model", "delta-model"))
    score(app("review.py", reviewer="ann").run(), [3] * 6)
    page = app("review.py", reviewer="ann", item="0").run()
    by_label(page.text_input, "Your name").set_value("bob").run()
    assert page.query_params["item"] == "0" and page.progress[0].proto.text == "0 of 2 reviewed"
    assert "alpha-model" not in page_text(page)


def test_generated_predictions_of_a_run_are_reviewed_with_their_reference(db):
    from tests.test_review import generated_predictions

    generated_predictions(db, split="aclsum-s42-test2")
    page = app("review.py", reviewer="ann").run()
    assert "Predictions on aclsum-s42-test2 (2 items, 4 outputs)" in page_text(page)
    assert "paper 0" in [t.value for t in page.text]
    assert "summary 0" in [t.value for t in page.expander[-1].text]  # the reference, folded
    assert "smollm2-135m" not in page_text(page)
    page = score(page, [4, 4, 5, 2, 2, 5])
    assert "smollm2-135m (fine-tuned)" in page.success[0].value


@pytest.mark.slow
def test_an_input_drawn_from_a_data_set_brings_its_labels_and_reference(db):
    from core.playground import draw_example

    page = app("playground.py").run()
    by_label(page.radio, "Input from").set_value("Draw from a data set's test split").run()
    drawn = draw_example("rt-reviews", 0)
    assert by_label(page.text_area, "Input").value == drawn["text"]
    assert f"Reference: {drawn['reference']}" in [c.value for c in page.caption]
    assert by_label(page.selectbox, "Prompt").value == "classify"
    assert not [t for t in page.text_input if t.label == "Labels"]  # the data set's own labels
    by_label(page.button, "Draw another").click().run()
    assert by_label(page.text_area, "Input").value == draw_example("rt-reviews", 1)["text"]


def test_hand_edited_links_are_ignored_not_a_traceback(db):
    saved(db)
    assert not app("playground.py", lineup="abc").run().exception
    page = app("review.py", reviewer="ann", source="playground", rubric="x", item="-1").run()
    assert not page.exception and not page.progress and not page.radio  # nothing to score
    assert [w.value for w in page.warning] == ["No such rubric: “x”", "No such item: “\\-1”"]  # escaped


def tuned_run(db, name="tuned on reviews", labels=("rotten", "fresh"), dataset="rt-reviews"):
    """A finished run of smollm2-135m with a model folder (never loaded here) and, where
    `labels`, an evaluation that scored them."""
    import json

    from core import paths

    run_id = queries.create_run(db, {"model": "smollm2-135m", "method": "sft", "adapter": "lora",
                                     "dataset": dataset, "name": name})
    if labels:
        queries.add_evaluation(db, {"run_id": run_id, "mode": "fine-tuned", "n": 2,
                                    "labels": list(labels)}, [])
    queries.finish_run(db, run_id, "completed")
    folder = paths.run_dir(run_id) / "model"
    folder.mkdir(parents=True)
    (folder / "workbench.json").write_text(json.dumps({"kind": "causal", "base": "smollm2-135m"}))
    return run_id


def test_two_models_are_preselected_the_newest_run_beside_its_base_model(db):
    db["runs"].update(tuned_run(db, name="older"), {"created_at": "2025-01-01T00:00:00"})
    newest = tuned_run(db)
    models = by_label(app("playground.py").run().multiselect, "Models (2 to 4)")
    assert models.value == [newest, "smollm2-135m"]
    assert models.format_func(newest).startswith("run tuned on reviews (sft")


def test_a_completed_run_is_preselected_before_a_newer_stopped_one(db):
    completed = tuned_run(db, name="done")
    db["runs"].update(completed, {"created_at": "2025-01-01T00:00:00"})
    db["runs"].update(tuned_run(db, name="half-trained"), {"status": "stopped"})
    models = by_label(app("playground.py").run().multiselect, "Models (2 to 4)")
    assert models.value == [completed, "smollm2-135m"]


def test_without_runs_the_first_two_catalog_models_are_preselected(db):
    from core.catalog import MODELS

    causal = [m for m, spec in MODELS.items() if spec.kind == "causal"]
    assert by_label(app("playground.py").run().multiselect, "Models (2 to 4)").value == causal[:2]


def classify_labels(page) -> str:
    by_label(page.selectbox, "Prompt").set_value("classify").run()
    return by_label(page.text_input, "Labels").value


def test_classify_offers_the_chosen_runs_labels_at_first(db):
    assert classify_labels(app("playground.py").run()) == "negative, positive"  # no run
    tuned_run(db, labels=("bad", "good"))  # what its evaluation scored, over the catalog's
    assert classify_labels(app("playground.py").run()) == "bad, good"


def test_a_run_without_evaluations_offers_its_catalog_data_sets_labels(db):
    tuned_run(db, labels=())
    assert classify_labels(app("playground.py").run()) == "rotten, fresh"



def test_a_request_cut_off_by_a_click_is_taken_up_again_from_where_it_stopped(db, tiny_causal,
                                                                            tiny_classifier):
    """A click reruns the page, which stops the script mid-answer: the request is kept in the
    session, and the next run answers the models that had not answered yet."""
    from core.playground import GenerationSettings, Request
    from ui.playground import ASKED, Asked

    done = {"model": tiny_causal, "output": "answered before the click", "probabilities": None,
            "load_seconds": 0.1, "latency": 0.2, "first_token": 0.1, "new_tokens": 3,
            "tokens_per_second": 15.0}
    page = app("playground.py")
    page.session_state[ASKED] = Asked([tiny_causal, tiny_classifier], Request("great superb film"),
                                      None, GenerationSettings(max_new_tokens=3),
                                      outputs={tiny_causal: done})
    page.run()
    assert not page.exception and ASKED not in page.session_state
    _, outputs = queries.get_lineup(db, int(page.query_params["lineup"]))
    assert [o["output"] for o in outputs][0] == "answered before the click"  # not asked again
    assert outputs[1]["model"] == tiny_classifier and set(outputs[1]["probabilities"]) == {"neg", "pos"}
    assert not by_label(page.button, "Run side by side").disabled  # back once answered


def test_while_models_answer_the_button_is_off_and_the_page_says_why(db, tiny_causal, monkeypatch):
    import streamlit as st

    from core.playground import GenerationSettings, Request
    from ui import playground
    from ui.playground import ASKED, Asked

    monkeypatch.setattr(playground, "run_side_by_side", lambda *_: st.stop())  # still answering
    page = app("playground.py")
    page.session_state[ASKED] = Asked([tiny_causal], Request("hi"), None, GenerationSettings())
    page.run()
    assert by_label(page.button, "Run side by side").disabled
    assert any(c.value.startswith("Generating… A click meanwhile does not stop it")
               for c in page.caption)
    assert ASKED in page.session_state  # taken up again by the next run
    # The input box may hold another input by now: the page says which one is answered.
    answering = next(e for e in page.expander if e.label.startswith("Answering"))
    assert answering.label == "Answering (chat)" and answering.text[0].value == "hi"


def test_a_run_is_shown_by_its_name_with_its_id_on_hover(db):
    run_id = tuned_run(db)
    lineup_id = queries.save_lineup(
        db, {"input": "hi", "task": "chat", "settings": {}},
        [{"model": m, "output": "hello", "latency": 0.1} for m in (run_id, "smollm2-135m")])
    page = app("playground.py", lineup=str(lineup_id)).run()
    heading = next(m for m in page.markdown if m.value == "**tuned on reviews**")
    assert heading.proto.help == f"Run {run_id}"
    assert run_id not in [m.value for m in page.markdown]


def test_review_shows_the_prompt_the_outputs_answered(db):
    lineup_id = queries.save_lineup(
        db, {"input": "a charming film", "task": "classify", "labels": ["rotten", "fresh"],
             "settings": {}},
        [{"model": m, "output": "fresh", "latency": 0.1} for m in ("alpha-model", "beta-model")])
    queries.keep_lineup(db, lineup_id, "labels")
    texts = [t.value for t in app("review.py", reviewer="ann").run().text]
    assert texts[:2] == ["Classify: the training prompt of a classification run, asking for a label\n"
                         "Labels: rotten, fresh", "a charming film"]


def test_review_shows_the_instruction_a_runs_summaries_answered(db):
    from core.causal_data import INSTRUCTIONS

    queries.add_evaluation(db, {"model": "smollm2-135m", "dataset": "aclsum", "mode": "fine-tuned",
                                "split": "aclsum-s42-test1", "n": 1},
                           [{"idx": 0, "input": "paper", "reference": "summary", "output": "short"}])
    page = app("review.py", reviewer="ann").run()
    assert f"Instruction: {INSTRUCTIONS['aclsum']}" in page.text[0].value


def test_review_results_name_runs_by_their_names(db):
    run_id = tuned_run(db)
    saved(db, models=(run_id, "smollm2-135m"))
    page = score(app("review.py", reviewer="ann").run(), [3] * 6)
    assert "tuned on reviews" in page.success[0].value and run_id not in page.success[0].value
    page = by_label(page.toggle, "Show the results").set_value(True).run()
    assert sorted(page.dataframe[-1].value["model"]) == ["smollm2-135m", "tuned on reviews"]


def test_a_chat_goes_on_turn_after_turn_each_model_with_its_own_answers(db, tiny_causal):
    twin = tiny_causal + "/"  # the same files under a second name: a second model
    page = run_playground([tiny_causal, twin], "great superb film", **{"Max new tokens": 3})
    first = queries.get_lineup(db, int(page.query_params["lineup"]))[1]
    assert any("Conversation so far** (1 turn)" in m.value for m in page.markdown)
    by_label(page.text_area, "Input").set_value("and the plot")
    page = by_label(page.button, "Run side by side").click().run()
    assert not page.exception and not page.error
    lineup, second = queries.get_lineup(db, int(page.query_params["lineup"]))
    assert lineup["input"] == ("Earlier in the conversation:\nuser: great superb film\n\n"
                                   "Now:\nand the plot")
    assert any("Conversation so far** (2 turns)" in m.value for m in page.markdown)
    said = [m.children[0].value for m in page.get("chat_message") if m.children]
    assert said.count("great superb film") == 2 and said.count("and the plot") == 2
    assert first[0]["output"] in said and first[1]["output"] in said
    assert len(second) == 2
    page = by_label(page.button, "New conversation").click().run()
    assert not any("Conversation so far" in m.value for m in page.markdown)
