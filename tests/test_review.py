"""Blind rubric review: scores, intervals and agreement against hand-computed figures, and
the review queue over saved lineups and evaluation predictions."""

import math

import pytest

from core import review
from core.errors import WorkbenchError
from core.review import Criterion
from storage import queries

RUBRIC = list(review.DEFAULT_CRITERIA)

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C:
# 4 observers, 12 units, missing values left out.
OBSERVERS = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
]


@pytest.mark.parametrize("metric, published", [("nominal", 0.743), ("ordinal", 0.815),
                                               ("interval", 0.849)])
def test_alpha_reproduces_krippendorffs_worked_example(metric, published):
    units = [[v for v in unit if v is not None] for unit in zip(*OBSERVERS)]
    assert review.krippendorff_alpha(units, metric) == pytest.approx(published, abs=5e-4)


def test_alpha_by_hand():
    # Perfect agreement is 1. Two coders who swap 1 and 2 on two units: coincidences
    # o12 = o21 = 2, n = 4, D_o = 4/4 = 1, D_e = 2*2*2/(4*3) = 2/3, alpha = 1 - 3/2.
    assert review.krippendorff_alpha([[1, 1], [2, 2], [3, 3]]) == pytest.approx(1.0)
    assert review.krippendorff_alpha([[1, 2], [2, 1]]) == pytest.approx(-0.5)


def test_alpha_needs_pairable_values_that_vary():
    assert review.krippendorff_alpha([[3], [4], [5]]) is None  # one reviewer per unit
    assert review.krippendorff_alpha([[4, 4], [4, 4]]) is None  # nothing varies


def test_weighted_score_is_the_weighted_mean():
    scores = {"accuracy": 5, "coherence": 3, "safety": 1}
    assert review.weighted_score(scores, RUBRIC) == pytest.approx(0.5 * 5 + 0.3 * 3 + 0.2 * 1)
    doubled = [Criterion(c.name, c.description, c.weight * 2) for c in RUBRIC]
    assert review.weighted_score(scores, doubled) == pytest.approx(3.6)


def test_interval_is_students_t():
    mean, low, high = review.mean_interval([3, 4, 5])
    # sd 1, se 1/sqrt(3), t(0.975, 2 df) = 4.302653
    assert (mean, high - mean) == pytest.approx((4.0, 4.302653 / math.sqrt(3)))
    assert low == pytest.approx(8 - high)
    assert all(math.isnan(x) for x in review.mean_interval([4])[1:])


@pytest.mark.parametrize("rows, message", [
    ([], "at least one criterion"),
    ([{"name": "a", "weight": 1}, {"name": "a", "weight": 2}], "different names"),
    ([{"name": "a", "weight": 0}], "above 0"),
    ([{"name": "a", "weight": "heavy"}], "must be a number"),
])
def test_a_bad_rubric_is_refused(rows, message):
    with pytest.raises(WorkbenchError, match=message):
        review.criteria_from(rows)


def test_blind_order_is_stable_per_reviewer_and_differs_between_reviewers():
    items = [f"lineup {i}" for i in range(20)]
    ann = [review.blind_order(3, "ann", item) for item in items]
    assert ann == [review.blind_order(3, "ann", item) for item in items]
    assert all(sorted(order) == [0, 1, 2] for order in ann)
    assert ann != [review.blind_order(3, "bob", item) for item in items]
    assert len({tuple(order) for order in ann}) > 1  # not always the same order


def saved_lineup(db, models=("model-a", "model-b"), text="What is LoRA?"):
    lineup_id = queries.save_lineup(
        db, {"input": text, "task": "chat", "settings": {"temperature": 0}},
        [{"model": m, "output": f"{m} says {i}", "latency": 0.1} for i, m in enumerate(models)])
    queries.keep_lineup(db, lineup_id, "lora question")
    return lineup_id


def test_only_saved_lineups_join_the_review_queue(db):
    unsaved = queries.save_lineup(db, {"input": "x", "task": "chat"}, [{"model": "m", "output": "y"}])
    saved = saved_lineup(db)
    targets = queries.review_targets(db, "playground")
    assert {t["item"] for t in targets} == {f"lineup {saved}"}
    items = review.group_items(targets)
    assert [o.model for o in items[0].outputs] == ["model-a", "model-b"]
    assert queries.get_lineup(db, unsaved)[0]["saved"] == 0


def generated_predictions(db, split="aclsum-s42-test2"):
    for run_id, mode in (("run-1", "fine-tuned"), ("run-1", "zero-shot")):
        queries.add_evaluation(db, {"model": "smollm2-135m", "mode": mode, "split": split, "n": 2},
                               [{"idx": i, "input": f"paper {i}", "reference": f"summary {i}",
                                 "output": f"{mode} summary of {i}"} for i in range(2)])


def test_predictions_of_one_split_are_grouped_by_example(db):
    generated_predictions(db)
    assert [s["source"] for s in queries.review_sources(db)] == ["aclsum-s42-test2"]
    items = review.group_items(queries.review_targets(db, "aclsum-s42-test2"))
    assert [i.input for i in items] == ["paper 0", "paper 1"]
    assert [o.text for o in items[1].outputs] == ["fine-tuned summary of 1", "zero-shot summary of 1"]
    assert items[0].outputs[0].model == "smollm2-135m (fine-tuned)"


@pytest.fixture
def rubric_id(db):
    """A saved lineup of model-a and model-b, and the default rubric's id."""
    saved_lineup(db)
    return queries.add_rubric(db, review.DEFAULT_RUBRIC, review.as_rows(RUBRIC))


def review_both(db, reviewer, scores_a, scores_b, rubric_id):
    item = review.group_items(queries.review_targets(db, "playground"))[0]
    for output, scores in zip(item.outputs, (scores_a, scores_b)):
        queries.save_review(db, output.kind, output.target_id, reviewer, rubric_id,
                            dict(zip(["accuracy", "coherence", "safety"], scores)), "")


def test_results_per_model_and_agreement_between_two_reviewers(db, rubric_id):
    review_both(db, "ann", (5, 4, 5), (2, 3, 5), rubric_id)
    review_both(db, "bob", (4, 4, 5), (1, 2, 5), rubric_id)
    reviews = queries.reviews_with_targets(db, rubric_id)
    results = review.model_results(reviews, RUBRIC).set_index("model")
    # model-a: ann 0.5*5+0.3*4+0.2*5 = 4.7, bob 4.2; model-b: ann 2.9, bob 2.1
    assert results.loc["model-a", "weighted score"] == pytest.approx(4.45)
    assert results.loc["model-b", "weighted score"] == pytest.approx(2.5)
    assert results.loc["model-a", "accuracy"] == pytest.approx(4.5)
    # two scores 0.5 apart: sd 0.5/sqrt(2), se 0.25, t(0.975, 1 df) = 12.7062; the upper
    # bound (7.6) is cut to the scale's top
    assert results.loc["model-a", "95% low"] == pytest.approx(4.45 - 12.7062 * 0.25, rel=1e-4)
    assert results.loc["model-a", "95% high"] == 5
    figures = review.agreement(reviews, RUBRIC)
    assert figures["units"] == 6
    expected = review.krippendorff_alpha([[5, 4], [4, 4], [5, 5], [2, 1], [3, 2], [5, 5]])
    assert figures["alpha"] == pytest.approx(expected)
    assert figures["alpha safety"] is None  # every safety score was 5


def test_saving_again_changes_the_review_instead_of_adding_one(db, rubric_id):
    review_both(db, "ann", (1, 1, 1), (1, 1, 1), rubric_id)
    review_both(db, "ann", (5, 5, 5), (4, 4, 4), rubric_id)
    reviews = queries.reviews_with_targets(db, rubric_id)
    assert [r["scores"]["accuracy"] for r in reviews] == [5, 4]


def test_export_has_a_column_per_criterion_and_the_weighted_score(db, rubric_id):
    review_both(db, "ann", (5, 4, 5), (2, 3, 5), rubric_id)
    frame = review.export_frame(queries.reviews_with_targets(db), {rubric_id: RUBRIC})
    assert list(frame["weighted score"]) == pytest.approx([4.7, 2.9])
    assert {"reviewer", "model", "input", "output", "score accuracy", "comment"} <= set(frame.columns)
    queries.delete_lineup(db, queries.list_lineups(db)[0]["id"])
    assert queries.reviews_with_targets(db) == [] and db["reviews"].count == 0
