"""Loading data sets and splitting them: bundled data, uploads, sizes, stratification."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from core.data import Table, load_table, split_counts, split_table, stratified_take
from core.errors import WorkbenchError


def test_bundled_reviews_drop_plot_synopses_and_keep_label_names():
    table = load_table("rt-reviews")
    assert len(table.frame) == 12_808
    assert table.label_names == ["rotten", "fresh"]
    assert table.frame["label"].value_counts().to_dict() == {"fresh": 7403, "rotten": 5405}


def test_bundled_aclsum_pairs_abstracts_with_summaries():
    table = load_table("aclsum")
    assert table.task == "summarisation"
    assert len(table.frame) == 250
    assert table.frame["prompt"].str.len().min() > 100


def test_default_split_is_70_10_20():
    assert split_counts(1000) == {"test": 200, "eval": 100, "train": 700}


def test_absolute_sizes_and_fractions_mix():
    assert split_counts(12_808, train=300, eval=100, test=2500) == {
        "test": 2500, "eval": 100, "train": 300}
    assert split_counts(1000, train=0.5, eval=50, test=0.25) == {
        "test": 250, "eval": 50, "train": 500}


def test_sizes_larger_than_the_data_are_refused_with_the_arithmetic():
    with pytest.raises(WorkbenchError, match=r"300 \+ validation 100 \+ test 2500 = 2900 .* has 1000"):
        split_counts(1000, train=300, eval=100, test=2500)


def test_a_presets_sizes_that_do_not_fit_a_small_file_are_refused_and_defaults_that_do_pass():
    from core.config import settle
    from core.engine import check_splits_fit, fitting_split_sizes

    config = settle(preset="quick-cpu")  # 1,000 / 200 / 500
    with pytest.raises(WorkbenchError, match=r"= 1700 examples, but the data has 200"):
        check_splits_fit(config, 200)
    sizes = fitting_split_sizes(config, 200)
    assert sizes == {"test": 40, "eval": 20, "train": 140}
    fitted = dataclasses.replace(config, train_size=sizes["train"], eval_size=sizes["eval"],
                                 test_size=sizes["test"])
    assert check_splits_fit(fitted, 200) == sizes


def test_default_sizes_cap_a_causal_validation_and_keep_one_example_where_early_stopping_needs_it():
    from core.config import settle
    from core.engine import CAUSAL_EVAL_CAP, check_splits_fit, fitting_split_sizes

    causal = settle(preset="quick-sft")
    assert fitting_split_sizes(causal, 5000) == {"test": 1000, "eval": CAUSAL_EVAL_CAP,
                                                 "train": 3800}
    watching = dataclasses.replace(settle(preset="quick-cpu"), early_stopping_patience=2,
                                   train_size=None, eval_size=0, test_size=None)
    with pytest.raises(WorkbenchError, match="early stopping watches the validation loss"):
        check_splits_fit(watching, 4)
    assert fitting_split_sizes(watching, 4) == {"test": 1, "eval": 1, "train": 2}
    with pytest.raises(WorkbenchError):  # two rows hold no training, validation and test split
        fitting_split_sizes(watching, 2)


def test_stratified_take_keeps_class_shares():
    labels = np.array([0] * 70 + [1] * 20 + [2] * 10)
    chosen = stratified_take(labels, np.arange(100), 30, np.random.default_rng(0))
    assert len(chosen) == len(set(chosen)) == 30
    assert np.bincount(labels[chosen]).tolist() == [21, 6, 3]


def three_class_table(n=300):
    names = ["neg", "neu", "pos"]
    frame = pd.DataFrame({"text": [f"text {i}" for i in range(n)],
                          "label": [names[i % 3] if i % 10 else "pos" for i in range(n)]})
    return Table(frame, "classification", names)


def test_splits_are_disjoint_stratified_and_seeded():
    table = three_class_table()
    splits = split_table(table, seed=1, train=150, eval=30, test=60)
    texts = [set(s["text"]) for s in splits.values()]
    assert sum(map(len, texts)) == len(set.union(*texts)) == 240
    share = table.frame["label"].value_counts(normalize=True)
    for split in splits.values():
        got = split["label"].value_counts(normalize=True)
        assert (got - share).abs().max() < 0.05
    again = split_table(table, seed=1, train=150, eval=30, test=60)
    assert all(splits[k].equals(again[k]) for k in splits)
    other = split_table(table, seed=2, train=150, eval=30, test=60)
    assert not splits["test"].equals(other["test"])


def test_test_split_does_not_depend_on_the_train_size():
    table = three_class_table()
    small = split_table(table, seed=3, train=50, eval=20, test=60)
    large = split_table(table, seed=3, train=200, eval=20, test=60)
    assert small["test"].equals(large["test"])


def write(tmp_path, name, content: bytes):
    path = tmp_path / name
    path.write_bytes(content)
    return str(path)


def test_upload_with_column_mapping_and_any_number_of_classes(tmp_path):
    rows = "\n".join(f"t{i},{['a', 'b', 'c', 'd'][i % 4]}" for i in range(40))
    path = write(tmp_path, "data.csv", ("body,tag\n" + rows).encode())
    table = load_table(path, {"text": "body", "label": "tag"})
    assert table.label_names == ["a", "b", "c", "d"]
    assert len(table.frame) == 40


def test_jsonl_upload_with_integer_labels(tmp_path):
    lines = "\n".join(f'{{"text": "t{i}", "label": {i % 3}}}' for i in range(12))
    table = load_table(write(tmp_path, "d.jsonl", lines.encode()))
    assert table.label_names == ["0", "1", "2"]


def test_upload_rows_with_missing_text_or_label_are_dropped(tmp_path):
    path = write(tmp_path, "d.csv", b"text,label\nfine,a\n,b\nalso fine,\nok,b\n")
    assert load_table(path).frame.to_dict("records") == [
        {"text": "fine", "label": "a"}, {"text": "ok", "label": "b"}]


def test_preference_file_is_recognised(tmp_path):
    path = write(tmp_path, "p.jsonl", b'{"prompt": "q", "chosen": "good", "rejected": "bad"}\n')
    assert load_table(path).task == "preference"


@pytest.mark.parametrize("name, content, columns, message", [
    ("d.csv", b"text,sentiment\nhi,pos\nyo,neg\n", None, "column 'label' not found; the columns are text, sentiment"),
    ("d.csv", b"text,label\nhi,pos\nyo,pos\n", None, "only one class"),
    ("d.csv", b"", None, "is empty"),
    ("d.csv", b"   \n\n", None, "is empty"),
    ("d.csv", b"text,label\n", None, "header but no rows"),
    ("d.csv", "text,label\ncaf\xe9,a\n".encode("latin-1"), None, "not UTF-8"),
    ("d.jsonl", b'{"text": "a", "label": 1}\n{broken\n', None, "could not be parsed"),
    ("d.csv", b"body,label\nhi,a\nyo,b\n", {"text": "content"}, "column 'content' not found"),
])
def test_bad_files_get_one_clear_line(tmp_path, name, content, columns, message):
    with pytest.raises(WorkbenchError, match=message) as error:
        load_table(write(tmp_path, name, content), columns)
    assert "\n" not in str(error.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(WorkbenchError, match="file not found"):
        load_table(str(tmp_path / "nope.csv"))


def test_unknown_hub_data_set_offline_is_a_clear_error():
    with pytest.raises(WorkbenchError, match="could not be downloaded from the Hugging Face hub "
                                             ".HF_HUB_OFFLINE is set"):
        load_table("someone/no-such-data-set")
