"""Hardening (issue 15), classes 4 and 5: nothing dropped in silence, and every failure a user
can cause read as one line (data files, uploads, the database file, exports, prompt templates)."""

import errno
import os
import sqlite3
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from conftest import assert_nothing_written
from streamlit.testing.v1 import AppTest

from conftest import sentiment_frame
from core import paths, prompting
from core.cli import main
from core.config import TrainConfig
from core.data import Table, load_table, store_upload
from core.errors import WorkbenchError
from core.jobs import JobManager
from storage import queries
from storage.db import connect

PAGES = Path(__file__).resolve().parents[1] / "app_pages"


def write(folder: Path, name: str, content: str) -> str:
    path = folder / name
    path.write_text(content, encoding="utf-8")
    return str(path)


def csv_rows(rows: list[tuple[str, str]], header: str = "text,label") -> str:
    return header + "\n" + "".join(f"{text},{label}\n" for text, label in rows)


def one_line(error: pytest.ExceptionInfo) -> str:
    message = str(error.value)
    assert "\n" not in message and "Traceback" not in message
    return message


# ---- class 4: words that look missing are data; every row left out is counted ------------

MISSING_WORDS = ["None", "NA", "N/A", "null", "nan"]


def test_a_label_spelled_like_a_missing_value_is_a_class(tmp_path):
    rows = [(f"review {i}", MISSING_WORDS[i % 5]) for i in range(20)]
    table = load_table(write(tmp_path, "words.csv", csv_rows(rows)))

    assert sorted(table.label_names) == sorted(MISSING_WORDS)
    assert len(table.frame) == 20 and table.notes == []
    assert table.frame["label"].value_counts().to_dict() == {w: 4 for w in MISSING_WORDS}


def test_a_text_spelled_like_a_missing_value_is_kept_in_csv_and_jsonl(tmp_path):
    rows = [(word, "pos" if i % 2 else "neg") for i, word in enumerate(MISSING_WORDS * 2)]
    from_csv = load_table(write(tmp_path, "t.csv", csv_rows(rows)))
    lines = "".join(f'{{"text": "{t}", "label": "{label}"}}\n' for t, label in rows)
    from_jsonl = load_table(write(tmp_path, "t.jsonl", lines))

    for table in (from_csv, from_jsonl):
        assert list(table.frame["text"]) == MISSING_WORDS * 2 and table.notes == []


def test_ten_empty_texts_of_forty_are_counted_in_the_notes(tmp_path):
    rows = [("" if i < 10 else f"review {i}", "pos" if i % 2 else "neg") for i in range(40)]
    table = load_table(write(tmp_path, "gaps.csv", csv_rows(rows)))

    assert table.notes == ["10 of 40 rows have an empty text and were left out"]
    assert len(table.frame) == 30 and table.frame["text"].str.strip().ne("").all()


def test_empty_cells_are_counted_per_column_by_the_files_own_names(tmp_path):
    rows = [(" " if i == 0 else f"review {i}", "" if i in (0, 1, 2) else ["a", "b"][i % 2])
            for i in range(12)]
    path = write(tmp_path, "named.csv", csv_rows(rows, "review,sentiment"))
    table = load_table(path, {"text": "review", "label": "sentiment"})

    assert table.notes == ["1 of 12 rows has an empty review and was left out",
                           "3 of 12 rows have an empty sentiment and were left out"]
    assert len(table.frame) == 9


def test_json_nulls_and_absent_keys_are_counted_and_numbers_stay_classes(tmp_path):
    lines = ['{"text": null, "label": 1}', '{"label": 0}',
             *[f'{{"text": "t{i}", "label": {i % 2}}}' for i in range(8)]]
    table = load_table(write(tmp_path, "n.jsonl", "\n".join(lines)))

    assert table.notes == ["2 of 10 rows have an empty text and were left out"]
    assert table.label_names == ["0", "1"] and len(table.frame) == 8


def test_a_number_label_column_with_an_empty_cell_keeps_its_number_classes(tmp_path):
    rows = [(f"t{i}", "" if i == 0 else str(i % 2)) for i in range(9)]
    table = load_table(write(tmp_path, "num.csv", csv_rows(rows)))

    assert table.label_names == ["0", "1"]
    assert table.notes == ["1 of 9 rows has an empty label and was left out"]


def test_the_data_preview_shows_the_notes(tmp_path):
    rows = [("" if i < 10 else f"review {i}", "pos" if i % 2 else "neg") for i in range(40)]
    path = write(tmp_path, "gaps.csv", csv_rows(rows))

    def page(dataset):
        from ui.train_form import preview

        preview(dataset, {})

    shown = AppTest.from_function(page, args=(path,), default_timeout=60).run()

    assert not shown.exception and not shown.error
    assert [w.value for w in shown.warning] == ["10 of 40 rows have an empty text and were left out"]


def test_rows_a_clean_leaves_empty_are_left_out_and_counted():
    from core.causal_data import clean_table

    frame = pd.DataFrame({"text": ["!!!", "good film", "?", "bad film"],
                          "label": ["pos", "pos", "neg", "neg"]})
    table = clean_table(Table(frame, "classification", ["neg", "pos"], ["an earlier note"]))

    assert list(table.frame["text"]) == ["good film", "bad film"]
    assert table.notes == ["an earlier note", "2 of 4 rows have an empty text once cleaned to "
                           "letters, digits and spaces and were left out"]


# ---- class 4: a label column that cannot be classes is refused -------------------------------


def test_a_regression_target_as_label_is_refused_in_one_line(tmp_path):
    rows = [(f"review {i}", f"{i / 10:.1f}") for i in range(30)]
    with pytest.raises(WorkbenchError) as refused:
        load_table(write(tmp_path, "scores.csv", csv_rows(rows, "text,score")),
                   {"label": "score"})

    assert "the label column 'score' has 30 different values in 30 rows" in one_line(refused)


def test_a_text_column_taken_for_the_label_is_refused_before_anything_is_written(
        home, tiny_encoder, tmp_path):
    frame = sentiment_frame(40)
    frame.to_csv(tmp_path / "reviews.csv", index=False)
    config = TrainConfig(model=tiny_encoder, dataset=str(tmp_path / "reviews.csv"),
                         text_column="sentiment", label_column="review", max_steps=2,
                         max_length=16)
    manager = JobManager(paths.db_path())

    with pytest.raises(WorkbenchError) as refused:
        manager.start(config)

    assert "the label column 'review' has" in one_line(refused)
    assert_nothing_written()


def test_many_classes_with_many_rows_each_are_still_classification(tmp_path):
    rows = [(f"review {i}", f"class{i % 8}") for i in range(40)]
    assert len(load_table(write(tmp_path, "eight.csv", csv_rows(rows))).label_names) == 8


# ---- class 4: an upload keeps its extension whatever its name ------------------------------

JSONL = "".join(f'{{"text": "a, b and c {i}", "label": "{"pos" if i % 2 else "neg"}"}}\n'
                for i in range(10))


@pytest.mark.parametrize("name", ["отзывы.jsonl", "映画のレビュー.JSONL", "r" * 114 + ".jsonl",
                                  "длинное имя " * 10 + ".jsonl"])
def test_an_upload_with_a_foreign_or_long_name_is_stored_and_read_as_jsonl(home, name):
    path = store_upload(JSONL.encode(), name)

    assert path.parent == paths.home() / "uploads" and path.read_text() == JSONL
    assert path.suffix == ".jsonl" and len(path.name) <= 113  # digest, dash, at most 100
    table = load_table(str(path))
    assert list(table.frame.columns) == ["text", "label"] and len(table.frame) == 10
    assert table.frame["text"].iloc[0] == "a, b and c 0"


def test_a_long_csv_upload_keeps_its_extension_and_a_safe_name(home):
    path = store_upload(b"text,label\na,pos\nb,neg\n", "../" + "отчёт " * 30 + "final.csv")

    assert path.parent == paths.home() / "uploads" and path.name.endswith("-final.csv")
    assert len(path.name) <= 113
    assert load_table(str(path)).label_names == ["neg", "pos"]


# ---- class 5: a database file that cannot be used is refused in one line ---------------------


def database_with_runs(count: int = 300) -> Path:
    db = connect(paths.db_path())
    for i in range(count):
        queries.create_run(db, {"model": "m", "method": "trainer", "adapter": "none",
                                "dataset": "d", "name": f"run {i} " + "x" * 200})
    db.conn.close()  # checkpoints the write-ahead log into the file and removes it
    assert not paths.db_path().with_name("workbench.db-wal").exists()
    return paths.db_path()


def test_a_corrupt_database_is_named_in_one_line_and_left_unchanged(home):
    home.mkdir()
    garbage = os.urandom(8192)
    paths.db_path().write_bytes(garbage)

    with pytest.raises(WorkbenchError) as refused:
        connect(paths.db_path())

    message = one_line(refused)
    assert str(paths.db_path()) in message and "is not a SQLite database" in message
    assert "move it away" in message
    assert paths.db_path().read_bytes() == garbage and sorted(os.listdir(home)) == ["workbench.db"]


@pytest.mark.parametrize("keep, said", [
    (lambda n: n // 2, "is damaged or truncated"), (lambda n: n * 9 // 10, "is damaged or truncated"),
    (lambda n: 60, "is truncated (60 bytes, less than a SQLite header)")])
def test_a_truncated_database_is_refused_in_one_line(home, keep, said):
    path = database_with_runs()
    raw = path.read_bytes()
    path.write_bytes(raw[:keep(len(raw))])

    with pytest.raises(WorkbenchError) as refused:
        connect(path)

    assert f"{path} {said}" in one_line(refused)
    assert path.read_bytes() == raw[:keep(len(raw))]


def test_sqlites_own_damage_report_is_one_line_too(home):
    path = database_with_runs()
    raw = bytearray(path.read_bytes())
    raw[100:4096] = os.urandom(3996)  # the schema page, behind an intact header
    path.write_bytes(raw)

    with pytest.raises(WorkbenchError) as refused:
        connect(path)

    assert f"{path} is damaged or truncated (database disk image is malformed)" in one_line(refused)
    assert path.read_bytes() == raw


def test_the_cli_lists_runs_of_a_corrupt_database_as_one_line_and_fails(home, capsys):
    home.mkdir()
    paths.db_path().write_bytes(os.urandom(4096))

    code = main(["runs"])

    err = capsys.readouterr().err
    assert code != 0 and err.count("\n") == 1
    assert err.startswith("error: ") and str(paths.db_path()) in err


def test_a_page_over_a_corrupt_database_shows_one_error_and_no_stack(home):
    home.mkdir()
    paths.db_path().write_bytes(os.urandom(4096))

    page = AppTest.from_file(str(PAGES / "runs.py"), default_timeout=60).run()

    assert not page.exception
    # As typed: the page escapes Markdown (backslashes, invisible joiners) in what it shows.
    assert [e.value.replace("\\", "").replace("\u2060", "") for e in page.error] == [
        f"{paths.db_path()} is not a SQLite database (damaged, or another kind of file); "
        "restore it from a backup, or move it away to start a new one"]


def damaged_after_open() -> tuple[Path, bytes]:
    """A database whose header and schema are whole, so it opens, with rows of runs damaged
    behind them (a disk fault, a backup copied over the live file): met only on reading."""
    path = database_with_runs()
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2:len(raw) // 2 + 8192] = os.urandom(8192)
    path.write_bytes(raw)
    connect(path)  # opens: the damage is behind
    return path, bytes(raw)


DAMAGED = "is damaged or truncated (database disk image is malformed); restore it from a backup"


@pytest.mark.parametrize("command", [["runs"], ["experiments"]])
def test_damage_met_after_the_database_opens_is_one_line_in_the_cli(home, capsys, command):
    path, raw = damaged_after_open()

    code = main(command)

    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and f"{path} {DAMAGED}" in err
    assert "DatabaseError" not in err and path.read_bytes() == raw


@pytest.mark.parametrize("page", ["app_pages/runs.py", "app_pages/home.py"])
def test_damage_met_after_the_database_opens_is_one_line_on_the_pages(home, page):
    path, _ = damaged_after_open()
    app = AppTest.from_file(str(PAGES.parent / "app.py"), default_timeout=60).run()
    app.switch_page(page).run()

    assert not app.exception
    errors = [e.value.replace("\\", "").replace("\u2060", "") for e in app.error]
    assert errors == [f"{path} {DAMAGED}, or move it away to start a new one"]


def test_an_empty_database_beside_run_folders_is_refused_and_left_alone(home):
    (home / "runs" / "20250101-000000-abcd").mkdir(parents=True)
    paths.db_path().touch()

    with pytest.raises(WorkbenchError) as refused:
        connect(paths.db_path())

    assert f"{paths.db_path()} is empty (0 bytes) but {home / 'runs'} holds 1 run" \
        in one_line(refused)
    assert paths.db_path().stat().st_size == 0
    assert sorted(os.listdir(home)) == ["runs", "workbench.db"]
    assert os.listdir(home / "runs") == ["20250101-000000-abcd"]


def test_an_empty_database_with_no_runs_is_started_afresh(home):
    (home / "runs").mkdir(parents=True)  # a folder, but no run in it
    paths.db_path().touch()

    db = connect(paths.db_path())

    assert "runs" in db.table_names() and queries.list_runs(db) == []
    assert paths.db_path().stat().st_size > 0


@pytest.fixture
def read_only_database(home):
    """The database made read-only: by its mode, and for root (whom modes do not stop) by the
    immutable attribute."""
    path = database_with_runs(3)
    path.chmod(0o444)
    immutable = os.geteuid() == 0 and subprocess.run(
        ["chattr", "+i", str(path)], capture_output=True).returncode == 0
    if os.access(path, os.W_OK) and not immutable:
        pytest.skip("cannot make a file read-only here (root, without chattr)")
    yield path
    if immutable:
        subprocess.run(["chattr", "-i", str(path)], check=True)
    path.chmod(0o644)


def test_a_read_only_database_is_refused_in_one_line_and_unchanged(read_only_database):
    before = read_only_database.read_bytes()

    with pytest.raises(WorkbenchError) as refused:
        connect(read_only_database)

    message = one_line(refused)
    assert f"{read_only_database} is read-only" in message and "writable" in message
    assert read_only_database.read_bytes() == before
    with sqlite3.connect(f"file:{read_only_database}?mode=ro", uri=True) as still:
        assert still.execute("select count(*) from runs").fetchone() == (3,)


# ---- class 5: exports ------------------------------------------------------------------------


@pytest.fixture
def saved_runs(home, tiny_classifier):
    """Two finished runs' model folders, as training leaves them (no training needed)."""
    from core.models import load_tokenizer, resolve_model, save_model
    from transformers import AutoModelForSequenceClassification

    source = resolve_model(tiny_classifier)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_classifier)
    db = connect(paths.db_path())
    for run_id in ("run-a", "run-b"):
        save_model(model, load_tokenizer(source), paths.run_dir(run_id) / "model", source, "none",
                   ["neg", "pos"])
        db["runs"].insert({"id": run_id, "name": run_id, "model": tiny_classifier,
                           "method": "trainer", "dataset": "d", "status": "completed",
                           "config": "{}", "created_at": "2026-01-01"})
    return source


def test_a_model_folder_without_its_run_is_not_a_run(saved_runs):
    from core.export import export_model

    db = connect(paths.db_path())
    db.execute("delete from runs where id = 'run-b'")
    db.conn.commit()

    with pytest.raises(WorkbenchError, match="run run-b has no saved model"):
        export_model("run-b")
    assert not (paths.home() / "exports").exists()


def test_an_export_is_not_overwritten_unless_asked(saved_runs):
    from core.export import export_model

    first = export_model("run-a", "shared")
    marker = first / "config.json"
    written = marker.read_text()

    with pytest.raises(WorkbenchError) as refused:
        export_model("run-b", "shared")
    assert f"{first} already exists" in one_line(refused) and "--overwrite" in str(refused.value)
    with pytest.raises(WorkbenchError, match="already exists"):
        export_model("run-a", "shared")  # the same run twice, too
    assert marker.read_text() == written

    again = export_model("run-b", "shared", overwrite=True)
    assert again == first and (again / "model.safetensors").is_file()
    assert sorted(os.listdir(paths.home() / "exports")) == ["shared"]


def test_a_full_disk_midway_leaves_no_export_folder(saved_runs, monkeypatch):
    from transformers import PreTrainedModel

    from core.export import export_model

    def save_then_fill_the_disk(self, folder, **_):
        (Path(folder) / "model.safetensors").write_bytes(b"half a model")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", save_then_fill_the_disk)

    with pytest.raises(WorkbenchError) as refused:
        export_model("run-a")

    assert "the disk is full; free some space" in one_line(refused)
    assert os.listdir(paths.home() / "exports") == []


@pytest.mark.parametrize("error, said, not_said", [
    # safetensors wraps a full disk in an error of its own
    (RuntimeError('Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: '
                  '"No space left on device" })'), "the disk is full; free some space", "make"),
    (OSError(errno.EROFS, os.strerror(errno.EROFS)), "(Read-only file system): make the folder "
                                                     "writable", "free some space"),
    (PermissionError(errno.EACCES, os.strerror(errno.EACCES)), "(Permission denied): make the "
                                                               "folder writable", "free some"),
])
def test_a_failed_export_says_what_the_user_can_do(saved_runs, monkeypatch, error, said,
                                                   not_said):
    from transformers import PreTrainedModel

    from core.export import export_model

    def fail(*_args, **_kwargs):
        raise error

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", fail)

    with pytest.raises(WorkbenchError) as refused:
        export_model("run-a")

    assert said in one_line(refused) and not_said not in str(refused.value)
    assert os.listdir(paths.home() / "exports") == []


def test_a_full_disk_while_overwriting_keeps_the_old_export(saved_runs, monkeypatch):
    from transformers import PreTrainedModel

    from core.export import export_model

    old = export_model("run-a", "mine")
    files = sorted(os.listdir(old))

    def disk_full(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", disk_full)

    with pytest.raises(WorkbenchError, match="the disk is full"):
        export_model("run-b", "mine", overwrite=True)

    assert os.listdir(paths.home() / "exports") == ["mine"] and sorted(os.listdir(old)) == files


# ---- class 5: prompt templates with literal braces ---------------------------------------------


def test_a_custom_template_with_literal_braces_keeps_them():
    template = prompting.custom_template('Answer as {"label": "{labels}"}.\n{examples}'
                                         'Review: {text} -> {"label": ')
    examples = pd.DataFrame({"text": ["great {fun}"], "label": ["pos"]})

    names = ("neg", "pos")
    prompt = prompting.build_prompt(prompting.Style(template, names, names), examples,
                                    ["a {labels} film"])

    assert prompt.prefix == ('Answer as {"label": "neg or pos"}.\n'
                             'Text: great {fun}\nLabel: pos\n\nReview: ')
    assert prompt.queries == ['a {labels} film -> {"label": ']


def test_a_braces_template_evaluates_and_is_stored(tiny_causal, db, tmp_path):
    from core.evaluate import EvalConfig, evaluate

    sentiment_frame(40).rename(columns={"review": "text", "sentiment": "label"}).to_csv(
        tmp_path / "s.csv", index=False)
    template = 'Review: {text} -> {"label": "pos"} or {"label": "neg"}?'
    config = EvalConfig(model=tiny_causal, dataset=str(tmp_path / "s.csv"), shots=(0,), seeds=1,
                        limit=4, batch_size=4, template="custom", custom_template=template,
                        calibrate=False)

    [evaluation_id] = evaluate(config, db)

    row = db["evaluations"].get(evaluation_id)
    assert row["n"] == 4 and template in row["template"]
    assert len(queries.evaluation_predictions(db, evaluation_id)) == 4


def test_labels_stay_as_written_in_a_csv(tmp_path):
    from core.data import load_table

    rows = "".join(f"text {i},{label}\n" for i, label in enumerate(["1", "1.0", "01"] * 10))
    (tmp_path / "labels.csv").write_text("text,label\n" + rows)

    table = load_table(str(tmp_path / "labels.csv"))

    assert sorted(table.label_names) == ["01", "1", "1.0"]  # not one number, 1


def _open_and_list(path: str) -> None:
    connect(path).table_names()


@pytest.mark.slow
def test_processes_opening_a_new_database_at_once_all_succeed(tmp_path):
    """A CLI run and a page creating workbench.db together both migrate it: the loser of the
    race once failed with "database is locked"."""
    import multiprocessing

    for attempt in range(5):
        path = str(tmp_path / f"try{attempt}" / "workbench.db")
        processes = [multiprocessing.Process(target=_open_and_list, args=(path,)) for _ in range(4)]
        for process in processes:
            process.start()
        for process in processes:
            process.join(60)
        assert [p.exitcode for p in processes] == [0, 0, 0, 0]
        assert "runs" in connect(path).table_names()


def test_exports_and_run_models_are_readable_as_any_new_file_and_download_whole(saved_runs):
    """transformers writes weights owner-only (0600) beside 0644 configs; both the run's model
    and its export get the umask's modes. The export is listed for its run and zips whole."""
    import io
    import zipfile

    from core.export import export_model, exports_of, zipped

    folder = export_model("run-a")
    mask = os.umask(0)
    os.umask(mask)
    for root in (folder, paths.run_dir("run-a") / "model"):
        modes = {p.name: p.stat().st_mode & 0o777 for p in root.iterdir()}
        assert set(modes.values()) == {0o666 & ~mask}, modes
    assert exports_of("run-a") == [folder] and exports_of("run-b") == []
    names = zipfile.ZipFile(io.BytesIO(zipped(folder))).namelist()
    assert sorted(names) == sorted(f"run-a/{p.name}" for p in folder.iterdir())
