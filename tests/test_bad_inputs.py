"""Every bad input a user can give, as one table, through the CLI and through the engine (as the
Train page's job manager calls it): each ends in its own one-line message, and none leaves a
run behind, `running` or otherwise, nor a folder under $WORKBENCH_HOME/runs."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import assert_nothing_written
import torch
from safetensors.torch import load_file

from core import paths
from core.cli import main
from core.config import TrainConfig
from core.errors import WorkbenchError
from core.jobs import JobManager

GOOD_ROWS = "text,label\n" + "".join(f"good film {i},pos\nbad film {i},neg\n" for i in range(20))

FILES = {
    "good.csv": GOOD_ROWS.encode(),
    "empty.csv": b"",
    "header.csv": b"text,label\n",
    "latin.csv": "text,label\ncaf\xe9,a\nth\xe9,b\n".encode("latin-1"),
    "broken.jsonl": b'{"text": "fine", "label": "a"}\n{"text": "cut short", "lab\n',
    "one-class.csv": b"text,label\ngood,pos\nfine,pos\ngreat,pos\n",
    "blank.csv": b"text,label\n ,pos\n\t,neg\n",
    "summaries.csv": b"prompt,response\nlong text,short\nmore text,brief\n",
    "twice.jsonl": b'{"text": "fine", "label": "a"}\n{"text": "good", "text": "bad", "label": "b"}\n',
    "twice-in-a-turn.csv": b'messages\n"[{""role"": ""user"", ""content"": ""hi"", ""content"": '
                           b'""bye""}, {""role"": ""assistant"", ""content"": ""x""}]"\n',
}

# (name, settings, what the message says). "{tmp}" is a folder holding FILES; "{causal}" the
# tiny Llama; "{encoder}" the tiny BERT. Settings not named come from `base` below.
CASES = [
    # files
    ("missing file", {"dataset": "{tmp}/nope.csv"}, "file not found"),
    ("a folder as the data set", {"dataset": "{tmp}"},
     "is not a regular file (a folder, a pipe or a device)"),
    ("a key twice in a JSON row", {"dataset": "{tmp}/twice.jsonl"},
     "twice.jsonl could not be read: line 2: a JSON object gives 'text' twice"),
    ("a key twice in a turn", {"dataset": "{tmp}/twice-in-a-turn.csv"},
     "row 1: a JSON object gives 'content' twice; which one is meant cannot be told"),
    ("empty file", {"dataset": "{tmp}/empty.csv"}, "empty.csv is empty"),
    ("header but no rows", {"dataset": "{tmp}/header.csv"}, "has a header but no rows"),
    ("not UTF-8", {"dataset": "{tmp}/latin.csv"}, "is not UTF-8 text"),
    ("JSONL cut short", {"dataset": "{tmp}/broken.jsonl"}, "broken.jsonl could not be parsed"),
    ("file over the size limit", {"dataset": "{tmp}/huge.csv"}, "the limit is 200 MiB"),
    ("hub data set offline", {"dataset": "nobody/no-such-data"},
     "data set 'nobody/no-such-data' could not be downloaded from the Hugging Face hub"),
    # columns
    ("text column missing", {"text_column": "body"}, "column 'body' not found"),
    ("label column missing", {"label_column": "stars"}, "column 'stars' not found"),
    ("every text blank", {"dataset": "{tmp}/blank.csv"}, "no row has every one of text, label"),
    # labels and tasks
    ("one class", {"dataset": "{tmp}/one-class.csv"}, "the label column has only one class"),
    ("summaries for a classifier", {"dataset": "{tmp}/summaries.csv"},
     "method 'trainer' learns from classification data"),
    # hyper-parameters
    ("learning rate 0", {"lr": 0.0}, "learning rate must be above 0"),
    ("batch size 0", {"batch_size": 0}, "batch size must be at least 1"),
    ("epochs 0", {"epochs": 0.0}, "epochs must be above 0"),
    ("max length 4", {"max_length": 4}, "max length must be at least 8 tokens"),
    ("negative warm-up", {"warmup_steps": -1}, "warm-up steps cannot be negative"),
    ("LoRA dropout 1", {"adapter": "lora", "lora_dropout": 1.0}, "LoRA dropout must be at most 0.9"),
    ("negative checkpoint interval", {"checkpoint_steps": -5}, "checkpoint steps cannot be negative"),
    ("negative patience", {"early_stopping_patience": -1}, "patience cannot be negative"),
    # sizes
    ("test size 1.5", {"test_size": 1.5}, "test size must be a whole count or a fraction below 1"),
    ("splits beyond the data", {"train_size": 1000}, "the splits ask for train 1000"),
    ("empty test split", {"test_size": 0}, "the test split is empty"),
    ("early stopping without validation", {"eval_size": 0, "early_stopping_patience": 2},
     "early stopping watches the validation loss"),
    # model ids and methods
    ("unknown model offline", {"model": "nobody/no-such-model"}, "not in the catalog nor a local "
                                                                 "folder, and could not be downloaded"),
    ("folder that is no model", {"model": "{tmp}"}, "is a folder without a transformers config.json"),
    ("pickled weights only", {"model": "{tmp}/pickled"}, "has no safetensors weights"),
    ("remote code not ticked", {"model": "{tmp}/remote-code"}, "runs its own code; tick 'trust "
                                                               "remote code'"),
    ("sft on an encoder", {"method": "sft"}, "is an encoder; method 'sft' trains causal"),
    ("trainer on a causal model", {"model": "{causal}"}, "is a causal language model; method "
                                                         "'trainer' trains encoders"),
    ("qlora on an encoder", {"adapter": "qlora"}, "qlora is for causal language models"),
    ("qlora without CUDA", {"model": "{causal}", "method": "sft", "adapter": "qlora"},
     "qlora needs a CUDA GPU"),
    ("probe with adapters", {"method": "probe", "adapter": "lora"}, "takes no adapter"),
    # launches and trackers
    ("no processes", {"processes": 0}, "processes must be at least 1"),
    ("the custom loop on two processes", {"method": "loop", "processes": 2},
     "method 'loop' trains in one process"),
    ("accelerate config missing", {"accelerate_config": "{tmp}/nope.yaml"},
     "accelerate config file not found"),
    ("unknown tracker", {"report_to": "neptune"}, "unknown tracker 'neptune'"),
    ("tracker not installed", {"report_to": "wandb"}, "report_to wandb needs its package"),
    # settings typed and ranged at the one door (config.resolve), for every source
    ("infinite epochs", {"epochs": float("inf")}, "epochs must be a finite number"),
    ("negative seed", {"seed": -1}, "seed cannot be negative (got -1)"),
    ("seed beyond 32 bits", {"seed": 2**32}, "(got 4294967296)"),
    ("unknown LoRA target", {"adapter": "lora", "lora_targets": "query,nope"},
     "LoRA target(s) nope not in"),
    ("max length beyond the positions", {"max_length": 4096}, "max length 4096 is beyond what"),
    ("text column is the label column", {"text_column": "label", "label_column": "label"},
     "the text and the label column are both 'label'"),
    ("LoRA alpha 0", {"adapter": "lora", "lora_alpha": 0}, "LoRA alpha must be at least 1"),
    ("columns for a catalog data set", {"dataset": "rt-reviews", "text_column": "review"},
     "column names are for uploaded files"),
    ("run name over 100 characters", {"name": "x" * 101}, "a run's name is at most 100 characters"),
    # settings the run does not read: refused, never stored as if they had applied
    ("LoRA rank without an adapter", {"lora_r": 64},
     "does not read lora_r (read by adapter lora or qlora only)"),
    ("beta for the trainer", {"beta": 5.0}, "beta (read by dpo, orpo, kto only)"),
    ("chat template for an encoder", {"chat_template": "llama-3", "system_prompt": "Be brief."},
     "chat_template (read by causal language models only); system_prompt"),
    ("max steps for the probe", {"method": "probe"},
     "max_steps (read by methods that train weights only)"),
    ("a cluster address for a local run", {"ray_address": "http://127.0.0.1:8265"},
     "ray_address (read by backend ray only)"),
    # text that would control the terminal
    ("a run name with an escape sequence", {"name": "good\x1b[2J\x1b[31mrun"},
     "a run's name cannot hold control characters (got \\x1b at position 5)"),
    ("a run name with a line break", {"name": "mine\n20261204-000000-abcdef  completed"},
     "cannot hold control characters (got \\n at position 5)"),
    ("a run name with a bidirectional override", {"name": "run \u202egnp.exe"},
     "(got \\u202e at position 5)"),
    ("accelerate config that is no mapping", {"processes": 1, "method": "trainer",
                                              "accelerate_config": "{tmp}/good.csv"},
     "is not a mapping of settings"),
]


@pytest.fixture
def place(tmp_path, tiny_encoder, tiny_causal):
    """Fills the placeholders of a case's settings, after writing the files they name."""
    for name, content in FILES.items():
        (tmp_path / name).write_bytes(content)
    with open(tmp_path / "huge.csv", "wb") as huge:  # sparse: 201 MiB that take no disk
        huge.truncate(201 * 2**20)
    pickled = tmp_path / "pickled"  # the tiny BERT with its weights as a pickle
    shutil.copytree(tiny_encoder, pickled)
    torch.save(load_file(pickled / "model.safetensors"), pickled / "pytorch_model.bin")
    (pickled / "model.safetensors").unlink()
    remote = tmp_path / "remote-code"  # a model whose config is its own Python class
    remote.mkdir()
    (remote / "config.json").write_text(json.dumps({
        "model_type": "my-own", "auto_map": {"AutoConfig": "configuration_mine.MineConfig"}}))

    def fill(settings: dict) -> dict:
        return {k: v.format(tmp=tmp_path, causal=tiny_causal, encoder=tiny_encoder)
                if isinstance(v, str) else v for k, v in settings.items()}
    return fill


def base(tiny_encoder: str, tmp: Path) -> dict:
    return {"model": tiny_encoder, "method": "trainer", "dataset": str(tmp / "good.csv"),
            "max_steps": 2, "max_length": 16}


def as_flags(settings: dict) -> list[str]:
    return [part for name, value in settings.items()
            for part in ("--" + name.replace("_", "-"), str(value))]


def test_the_table_names_at_least_twenty_distinct_bad_inputs():
    assert len(CASES) >= 20
    assert len({name for name, _, _ in CASES}) == len({message for _, _, message in CASES}) \
        == len(CASES)


@pytest.mark.parametrize("name, settings, message", CASES, ids=[c[0] for c in CASES])
def test_the_cli_answers_one_line_and_writes_nothing(name, settings, message, home, place,
                                                     tiny_encoder, tmp_path, capsys):
    flags = as_flags({**base(tiny_encoder, tmp_path), **place(settings)})

    code = main(["train", *flags])

    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: ") and err.count("\n") == 1
    assert message in err
    assert_nothing_written()


@pytest.mark.parametrize("name, settings, message", CASES, ids=[c[0] for c in CASES])
def test_the_engine_refuses_before_writing_anything(name, settings, message, home, place,
                                                    tiny_encoder, tmp_path):
    config = TrainConfig(**{**base(tiny_encoder, tmp_path), **place(settings)})
    manager = JobManager(paths.db_path())

    with pytest.raises(WorkbenchError) as refused:
        manager.start(config)

    assert message in str(refused.value) and "\n" not in str(refused.value)
    assert manager.active() is None and manager.queued() == []
    assert_nothing_written()


def test_user_text_reaches_the_terminal_escaped(db, capsys, tmp_path):
    # A row written before names were checked (or forged into the file): `runs` shows it
    # as text, one row, the terminal not recoloured; an error quoting a file name likewise.
    from storage.queries import create_run

    create_run(db, {"model": "m", "method": "trainer", "dataset": "d",
                    "name": "ok\x1b[2K\r20990101-000000-forged  completed\n"})

    assert main(["runs"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\r" not in out and len(out.splitlines()) == 2
    assert "ok\\x1b[2K\\r20990101-000000-forged  completed  " in out

    assert main(["train", "--dataset", str(tmp_path / "x\x1b[31m.csv")]) == 2
    err = capsys.readouterr().err
    assert "\x1b" not in err and "x\\x1b[31m.csv" in err and err.count("\n") == 1


def held_elsewhere(db, key: str) -> subprocess.Popen:
    """Another process holding a job's lock, as a worker of a CLI sweep or another server."""
    from storage import locks

    path = locks.lock_path(locks.folder_of(db), key)
    path.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"fd = os.open({str(path)!r}, os.O_RDWR | os.O_CREAT)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\nprint('held', flush=True)\ntime.sleep(120)")],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "held"
    return holder


@pytest.mark.parametrize("status", ["running", "stopped", "completed"])
def test_a_run_another_process_works_on_is_not_deleted(db, home, status):
    from storage.queries import create_run, finish_run, get_run

    run_id = create_run(db, {"model": "m", "method": "trainer", "dataset": "d"})
    if status != "running":
        finish_run(db, run_id, status)
    else:
        db["runs"].update(run_id, {"status": "running"})
    folder = paths.run_dir(run_id)
    folder.mkdir(parents=True)
    holder = held_elsewhere(db, run_id)  # e.g. a resume claimed in another process
    try:
        with pytest.raises(WorkbenchError, match="training or queued|by another process"):
            JobManager(paths.db_path(), launch=False).delete(run_id)
        assert get_run(db, run_id)["status"] == status and folder.is_dir()
    finally:
        holder.kill()
        holder.wait()
    JobManager(paths.db_path(), launch=False).delete(run_id)  # its process gone: deletable
    assert get_run(db, run_id) is None and not folder.exists()


def test_a_run_queued_by_another_process_is_not_deleted(db, home):
    from storage import job_queue
    from storage.queries import create_run, get_run

    run_id = create_run(db, {"model": "m", "method": "trainer", "dataset": "d"},
                        queue={"backend": job_queue.LOCAL})
    code = main(["runs"])  # another process's queue: the row stays queued, not interrupted
    assert code == 0 and get_run(db, run_id)["status"] == "queued"
    with pytest.raises(WorkbenchError, match="training or queued; stop or cancel it"):
        JobManager(paths.db_path(), launch=False).delete(run_id)
    assert get_run(db, run_id)["status"] == "queued" and job_queue.entry(db, run_id)


# ---- experiments: what cannot be compared or pooled is refused before anything is written ----

DATA = Path(__file__).parent / "data"


@pytest.mark.parametrize("flags, message", [
    (["--model", "{causal}", "--method", "dpo", "--dataset", str(DATA / "preference.jsonl"),
      "--folds", "2"], "k-fold cross-validation pools each example's predicted class: it needs "
                       "labelled data, and this is preference data"),
    # The model cannot be had offline: the folds are refused before it is looked for.
    (["--model", "nobody/no-such-model", "--dataset", "{tmp}/good.csv", "--folds", "25"],
     "25 folds need at least 25 examples of every class"),
    (["--dataset", "{tmp}/good.csv", "--sweep", "test_size=10,20"],
     "cannot sweep test_size: it decides the test split"),
    (["--dataset", "{tmp}/good.csv", "--sweep", "dataset={tmp}/good.csv,rt-reviews"],
     "cannot sweep dataset: it decides the test split"),
    (["--dataset", "{tmp}/good.csv", "--sweep", "seed=1,2"], "cannot sweep seed"),
    (["--dataset", "{tmp}/good.csv", "--sweep", "lr=1e-5,2e-5,3e-5", "--seeds", "200", "--yes"],
     "this experiment is 600 runs; an experiment is at most 500"),
])
def test_an_experiment_that_cannot_compare_or_pool_is_refused_in_one_line(
        flags, message, home, place, tiny_encoder, tmp_path, capsys):
    filled = list(place({str(i): f for i, f in enumerate(flags)}).values())
    model = [] if "--model" in flags else ["--model", tiny_encoder]

    code = main(["train", *model, "--max-steps", "2", *filled])

    err = capsys.readouterr().err
    assert code == 2 and message in err
    assert err.splitlines()[-1].startswith("error: ")
    assert_nothing_written()


# ---- checked before any row, folder or cache is written ------------------------------------

NO_SYSTEM = ("{% for m in messages %}{% if m['role'] == 'system' %}"
             "{{ raise_exception('this template has no system role') }}{% endif %}{% endfor %}")
ALTERNATING = ("{% for m in messages %}{% if (m['role'] == 'user') != (loop.index0 % 2 == 0) %}"
               "{{ raise_exception('roles must alternate user/assistant') }}{% endif %}"
               "{% endfor %}")


def conversations(tmp: Path, odd_one: list[dict]) -> str:
    """Four conversations of one shape, and `odd_one` third."""
    usual = [{"role": "user", "content": "good film ?"}, {"role": "assistant", "content": "pos"}]
    rows = [usual, usual, odd_one, usual]
    path = tmp / "chats.jsonl"
    path.write_text("".join(json.dumps({"messages": m}) + "\n" for m in rows))
    return str(path)


@pytest.mark.parametrize("template, odd_one, message", [
    (NO_SYSTEM, [{"role": "system", "content": "be brief"}, {"role": "user", "content": "bad ?"},
                 {"role": "assistant", "content": "neg"}],
     "fails on the data's conversation 3 (turns: system, user, assistant): TemplateError: this "
     "template has no system role"),
    (ALTERNATING, [{"role": "user", "content": "bad"}, {"role": "user", "content": "film ?"},
                   {"role": "assistant", "content": "neg"}],
     "fails on the data's conversation 3 (turns: user, user, assistant): TemplateError: roles "
     "must alternate"),
])
def test_a_template_that_fails_on_the_datas_own_conversations_is_refused_before_launch(
        template, odd_one, message, home, tiny_causal, tmp_path, capsys):
    from core.chat_templates import CHATML

    code = main(["train", "--model", tiny_causal, "--method", "sft", "--max-steps", "1",
                 "--dataset", conversations(tmp_path, odd_one), "--eval-size", "1",
                 "--test-size", "1", "--chat-template", template + CHATML])

    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert_nothing_written()


@pytest.mark.parametrize("flags, message", [
    (["--max-length", "16", "--system-prompt", "be brief " * 20],
     "max length 16 leaves no room for the text: the prompt around it (chat template, system "
     "prompt, question) takes"),
    (["--max-length", "24"], "max length 24 leaves no room for the text"),
])
def test_a_prompt_that_leaves_no_room_within_max_length_is_refused_before_launch(
        flags, message, home, place, tiny_causal, tmp_path, capsys):
    code = main(["train", "--model", tiny_causal, "--method", "sft", "--max-steps", "1",
                 "--dataset", place({"d": "{tmp}/good.csv"})["d"], *flags])

    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert_nothing_written()


@pytest.mark.parametrize("shots, rows, message", [
    ("0,60", 20, "for 60 shots: the training split they are drawn from holds"),
    ("0,6", 20, "6 shots (seed 0) make a prompt of"),  # long texts: past 512 positions
])
def test_prompting_past_the_data_or_the_context_is_refused_before_anything_is_scored(
        shots, rows, message, home, tiny_causal, tmp_path, capsys):
    long = " ".join(["good film story"] * 30)
    path = tmp_path / "long.csv"
    path.write_text("text,label\n" + "".join(f"{long} {i},pos\n{long} {i},neg\n"
                                             for i in range(rows)))

    code = main(["eval", "--model", tiny_causal, "--dataset", str(path), "--shots", shots,
                 "--seeds", "1", "--limit", "4"])

    err = capsys.readouterr().err
    assert code == 2 and message in err and err.splitlines()[-1].startswith("error: ")
    assert not paths.db_path().exists()  # no evaluation, not even the database


# ---- smaller: what the environment and the export say ---------------------------------------


def test_turn_keys_the_workbench_does_not_read_are_said(home, tmp_path, capsys):
    from core.data import load_table

    turns = [{"role": "user", "content": "good film ?", "weight": 0},
             {"role": "assistant", "content": "pos", "weight": 1, "name": "critic"}]
    path = tmp_path / "weighted.jsonl"
    path.write_text("".join(json.dumps({"messages": turns}) + "\n" for _ in range(3)))

    assert "turn keys not read (their turns are read without them): name in 3 turns, weight " \
           "in 6 turns" in load_table(str(path)).notes


@pytest.mark.parametrize("value, where", [
    ("", lambda tmp: tmp / "workbench_data"),  # empty: the default, not the current folder
    ("~/home-of-mine", lambda tmp: tmp / "user" / "home-of-mine"),
])
def test_workbench_home_is_read_as_a_shell_user_means_it(value, where, tmp_path, monkeypatch):
    (tmp_path / "user").mkdir()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.setenv("WORKBENCH_HOME", value)

    assert paths.home() == where(tmp_path)
    assert main(["runs"]) == 0 and not (tmp_path / "workbench.db").exists()


@pytest.mark.parametrize("value", [" ", " /tmp/x", "/tmp/x "])
def test_a_workbench_home_with_spaces_around_it_is_refused(value, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WORKBENCH_HOME", value)

    assert main(["runs"]) == 2
    assert "begins or ends with a space" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("flags", [["--quant", "f16"], ["--format", "hf", "--quant", "q8_0"]])
def test_a_quant_for_an_export_that_has_none_is_refused(flags, home, capsys):
    assert main(["export", "20260101-000000-abcdef", *flags]) == 2
    assert "--quant is for --format gguf" in capsys.readouterr().err
    assert not (home / "exports").exists()
