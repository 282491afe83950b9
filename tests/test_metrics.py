"""Metrics against scikit-learn and against hand-computed values."""

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score

from core.metrics import classification_metrics, layer_changes, layer_of


def test_classification_metrics_match_scikit_learn():
    rng = np.random.default_rng(0)
    truth, predicted = rng.integers(0, 3, 200), rng.integers(0, 3, 200)
    report = classification_metrics(truth, predicted, ["a", "b", "c"])
    assert report["accuracy"] == pytest.approx(accuracy_score(truth, predicted))
    assert report["precision"] == pytest.approx(precision_score(truth, predicted, average="macro"))
    assert report["recall"] == pytest.approx(recall_score(truth, predicted, average="macro"))
    assert report["f1"] == pytest.approx(f1_score(truth, predicted, average="macro"))


def test_per_class_accuracy_and_confusion_by_hand():
    # reference:  neg neg neg pos pos ; predicted: neg pos neg pos pos
    report = classification_metrics([0, 0, 0, 1, 1], [0, 1, 0, 1, 1], ["neg", "pos"])
    assert report["per_class"]["neg"]["accuracy"] == pytest.approx(2 / 3)
    assert report["per_class"]["pos"]["accuracy"] == 1.0
    assert report["per_class"]["pos"]["precision"] == pytest.approx(2 / 3)
    assert report["confusion"] == [[2, 1], [0, 2]]
    assert report["n"] == 5


def test_a_class_never_predicted_scores_zero_without_warnings():
    with np.errstate(all="raise"):
        report = classification_metrics([0, 1, 1], [1, 1, 1], ["neg", "pos"])
    assert report["per_class"]["neg"]["precision"] == 0.0


@pytest.mark.parametrize("name, layer", [
    ("bert.encoder.layer.3.attention.self.query.weight", "bert.encoder.layer.3"),
    ("bert.embeddings.word_embeddings.weight", "bert.embeddings"),
    ("classifier.bias", "classifier"),
    ("model.layers.11.mlp.up_proj.weight", "model.layers.11"),
    ("transformer.h.0.attn.c_attn.weight", "transformer.h.0"),
    ("distilbert.transformer.layer.5.ffn.lin1.weight", "distilbert.transformer.layer.5"),
    ("model.graph.10.weight", "model.graph"),  # 'h.10' inside a word is no block index
])
def test_layer_of_groups_parameters_by_block(name, layer):
    assert layer_of(name) == layer


def test_layer_changes_are_relative_l2_per_layer():
    before = {"a.layer.0.w": torch.tensor([3.0, 4.0]), "a.layer.0.b": torch.tensor([0.0]),
              "head.w": torch.tensor([1.0, 0.0])}
    after = {"a.layer.0.w": torch.tensor([3.0, 4.0]), "a.layer.0.b": torch.tensor([5.0]),
             "head.w": torch.tensor([1.0, 0.0])}
    changes = layer_changes(before, after)
    assert [c["layer"] for c in changes] == ["a.layer.0", "head"]
    assert changes[0]["relative_change"] == pytest.approx(5 / 5)  # ||(0,0,5)|| / ||(3,4,0)||
    assert changes[0]["params"] == 3
    assert changes[1]["relative_change"] == 0.0
