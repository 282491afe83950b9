"""Run names: the readable default, its counter, and the checks a typed name passes."""

import pytest

from core.errors import WorkbenchError
from storage.run_names import MAX_NAME, checked_name, default_name


def test_the_default_counts_on_from_the_highest_counter_of_the_same_three():
    taken = ["minilm-l6 · trainer · rt-reviews · 1", "minilm-l6 · trainer · rt-reviews · 3",
             "minilm-l6 · loop · rt-reviews · 7", "minilm-l6 · trainer · rt-reviews · best"]
    assert default_name("minilm-l6", "trainer", "rt-reviews", taken) == \
        "minilm-l6 · trainer · rt-reviews · 4"  # 2 was deleted: 4, never 3 again
    assert default_name("minilm-l6", "probe", "rt-reviews", taken) == \
        "minilm-l6 · probe · rt-reviews · 1"


def test_files_and_folders_go_by_their_last_part_and_hub_ids_stay_whole():
    name = default_name("/models/tuned/tiny-bert", "sft", "uploads/ab12-reviews.csv", [])
    assert name == "tiny-bert · sft · ab12-reviews.csv · 1"
    assert default_name("Qwen/Qwen2.5-0.5B", "sft", "stanfordnlp/imdb", []) == \
        "Qwen/Qwen2.5-0.5B · sft · stanfordnlp/imdb · 1"


def test_a_default_name_fits_however_long_the_model_and_data_set():
    name = default_name("org/" + "m" * 300, "trainer", "/data/" + "d" * 200 + ".csv", [])
    assert len(name) <= MAX_NAME and name.endswith(" · 1")


def test_a_typed_name_loses_its_outer_spaces_and_must_be_short_and_not_blank():
    assert checked_name("  my run  ") == "my run"
    with pytest.raises(WorkbenchError, match="cannot be empty"):
        checked_name("   ")
    with pytest.raises(WorkbenchError, match=f"at most {MAX_NAME} characters"):
        checked_name("x" * (MAX_NAME + 1))
    assert checked_name("x" * MAX_NAME) == "x" * MAX_NAME


def test_an_upload_is_named_as_it_was_uploaded_not_by_its_stored_name():
    stored = "/home/me/workbench_data/uploads/d40e6801be5d-small.csv"
    assert default_name("minilm-l6", "trainer", stored, []) == "minilm-l6 · trainer · small.csv · 1"
    assert default_name("minilm-l6", "trainer", "/data/d40e6801be5d-small.csv", []) == \
        "minilm-l6 · trainer · d40e6801be5d-small.csv · 1"  # only the uploads folder's prefix
