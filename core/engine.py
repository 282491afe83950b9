"""Config in, a recorded run out.

`prepare` checks everything a user can get wrong (settings, model id, data
file, split sizes, a method that does not suit the model or the data) before
anything is written, so bad input leaves no run behind. `execute` trains and
evaluates one prepared run, writing its metrics as they come and ending it
`completed`, `stopped` or `failed`, never `running`; resumed, it continues
from the run's last checkpoint. `record_outcome` stores what the run found.
Encoders train in `core.encoder_run`, causal models in `core.causal_run`; the
method's spec (`core.methods`) says which, and everything else a method differs by.
"""

import dataclasses
import functools
import json
import traceback
from pathlib import Path
from typing import Callable

import numpy as np

from core import chat_data, checkpoints, methods, paths, pooling, progress, resources
from core.config import TrainConfig, column_mapping, from_stored, resolve
from core.data import (DEFAULT_FRACTIONS, Table, check_fold_data, fingerprint, fold_size, load_table, split_counts,
                       split_table)
from core.distributed import rank
from core.errors import WorkbenchError
from core.failures import Diverged, failure_reason
from core.hooks import Hooks, StopRequested, never
from core.launch import check_launch
from core.model_limits import check_settings_suit_model
from core.models import ModelSource, resolve_model
from core.results import Outcome, Prepared
from storage import locks, queries


def prepare(config: TrainConfig, read_table: Callable = load_table) -> Prepared:
    """A run checked and its data split, before anything is written. `read_table` reads
    the data (an experiment's plan passes one that reads it once for all its runs)."""
    config = resolve(config)
    check_launch(config)
    check_one_fold(config)
    if config.backend == "ray":  # an unreachable cluster is one line, before anything is read
        from core.ray_backend import check_cluster

        check_cluster(config.ray_address)
    # The data before the model: a wrong column is said at once, not after a bundled model's
    # first conversion (20 s).
    table = read_table(config.dataset, column_mapping(config), config.dataset_info,
                       config.text_only)
    check_method_suits_data(config, table)
    if config.folds:  # before the model: a bundled one's first conversion takes 20 s
        check_fold_data(table, config.folds)
    source = resolve_model(config.model, config.trust_remote_code)
    check_method_suits_model(config, source)
    check_settings_suit_model(source, config)
    check_causal_prompts(config, source, table)
    if config.clean_text:
        from core.causal_data import clean_table

        table = clean_table(table)
    config = with_eval_default(config, len(table.frame))
    check_splits_fit(config, len(table.frame))
    splits = split_table(table, config.seed, config.train_size, config.eval_size, config.test_size,
                         config.folds, config.fold)
    return Prepared(config, source, table, splits, fingerprint(table.frame))


CAUSAL_EVAL_CAP = 200


def causal_eval_size(rows: int) -> int:
    """The usual tenth of the data for validation, but at most 200 examples for a causal model:
    each evaluation runs every example through the model (twice for DPO's reference), and
    on a CPU 1,280 rt-reviews pairs took DPO over ten minutes per evaluation."""
    return min(round(0.1 * rows), CAUSAL_EVAL_CAP)


def with_eval_default(config: TrainConfig, rows: int) -> TrainConfig:
    """A causal model's validation size, where none is given, as `causal_eval_size` caps it."""
    if config.eval_size is None and methods.get(config.method).causal:
        return dataclasses.replace(config, eval_size=causal_eval_size(rows))
    return config


def check_splits_fit(config: TrainConfig, rows: int) -> dict[str, int]:
    """The examples each split takes from `rows`; a WorkbenchError saying the sizes and the
    rows when they cannot fit. `prepare` checks it after Launch, the Train form before."""
    config = with_eval_default(config, rows)
    test = fold_size(rows, config.folds, config.fold or 1) if config.folds else config.test_size
    counts = split_counts(rows, config.train_size, config.eval_size, test)
    if config.early_stopping_patience and counts["eval"] == 0:
        raise WorkbenchError("early stopping watches the validation loss: give the validation "
                             "split at least one example, or set patience to 0")
    return counts


def fitting_split_sizes(config: TrainConfig, rows: int) -> dict[str, int]:
    """Split counts that pass `check_splits_fit` for `rows`: 70 / 10 / 20 % for train /
    validation / test, at least one validation and one test example (early stopping needs
    the first), a causal model's validation capped as by default. With folds, the test split
    is a fold (the largest, the first)."""
    test = fold_size(rows, config.folds, 1) if config.folds else \
        max(1, round(DEFAULT_FRACTIONS["test"] * rows))
    validation = causal_eval_size(rows) if methods.get(config.method).causal else \
        round(DEFAULT_FRACTIONS["eval"] * rows)
    validation = max(1, validation)
    fitted = dataclasses.replace(config, train_size=rows - validation - test,
                                 eval_size=validation, test_size=None if config.folds else test)
    return check_splits_fit(fitted, rows)


def check_one_fold(config: TrainConfig) -> None:
    """One run tests on one fold; all of them are an experiment (core.experiments)."""
    if config.folds and config.fold is None:
        raise WorkbenchError(f"{config.folds} folds are {config.folds} runs: launch them as one "
                             "experiment, or give the fold this run tests on")


def check_method_suits_data(config: TrainConfig, table: Table) -> None:
    """The method and the data's shape agree, said with the methods the data fits, before
    the model is loaded (or converted)."""
    spec = methods.get(config.method)
    if table.task in spec.tasks:
        return
    fits = [name for name, other in methods.REGISTRY.items() if table.task in other.tasks]
    article = "an" if table.task[0] in "aeiou" else "a"
    shape = f"{article} {table.task} data set" + (f" ({chat_data.FORMATS[table.format].name})"
                                                  if table.format else "")
    raise WorkbenchError(f"method '{config.method}' learns from {' or '.join(spec.tasks)} "
                         f"data, but '{config.dataset}' is {shape}; it fits "
                         f"{', '.join(fits) or 'no method'}")


def check_causal_prompts(config: TrainConfig, source: ModelSource, table: Table) -> None:
    """A causal run's prompts, read through its template as training will, checked before
    anything is written (`causal_data.check_prompts`); an error names the template."""
    if not methods.get(config.method).causal:
        return
    from core.causal_data import INSTRUCTIONS, check_prompts

    tokenizer = prompt_tokenizer(source, config.trust_remote_code, config.chat_template,
                                 config.system_prompt, table.task == "conversation")
    try:
        check_prompts(tokenizer, table, config.max_length, INSTRUCTIONS.get(config.dataset))
    except WorkbenchError as error:
        named = "the model's own" if config.chat_template == "model" else "the chosen one"
        raise WorkbenchError(f"{error} (the template: {named}, chat_template "
                             f"'{config.chat_template[:40]}')") from None


@functools.lru_cache(maxsize=4)  # an experiment's runs share one (0.15 s a load)
def prompt_tokenizer(source: ModelSource, trust_remote_code: bool, chat_template: str,
                     system_prompt: str | None, conversations: bool):
    """The run's tokenizer with its template set, as the run will read prompts (not to be
    changed: it is shared)."""
    from core.chat_templates import apply
    from core.models import load_tokenizer

    tokenizer = load_tokenizer(source, trust_remote_code)
    apply(tokenizer, chat_template, system_prompt, conversations=conversations)
    return tokenizer


def check_method_suits_model(config: TrainConfig, source: ModelSource) -> None:
    spec = methods.get(config.method)
    if spec.model_kind != source.kind:
        model_kind = "a causal language model" if source.kind == "causal" else "an encoder"
        trains = "causal language models" if spec.causal else "encoders"
        raise WorkbenchError(f"'{config.model}' is {model_kind}; method '{config.method}' trains "
                             f"{trains} (use {', '.join(methods.names(source.kind))})")
    if spec.causal:
        from core.causal_models import check_adapter_fits_device

        check_adapter_fits_device(config.adapter)


def train(config: TrainConfig, db, should_stop: Callable[[], bool] = never,
          on_metrics: Callable[[dict], None] | None = None) -> str:
    """Prepare, record and run one training run; returns its id (raises WorkbenchError on bad input)."""
    prepared = prepare(config)
    run_id = queries.new_run_id()
    with locks.holding(locks.folder_of(db), run_id, "run"):  # beside the queue, in this process
        queries.create_run(db, prepared.config.to_dict(), data_hash=prepared.data_hash,
                           run_id=run_id)
        train_prepared(db, run_id, prepared, should_stop, on_metrics)
    return run_id


RESUMABLE = ("stopped", "failed", "interrupted")


def prepare_resume(db, run_id: str, allow_changed_data: bool = False) -> Prepared:
    """A stopped, failed or interrupted run's own settings, checked again (its data may be
    gone, or changed: a checkpoint's data position means nothing in other rows)."""
    run = run_in_status(db, run_id, RESUMABLE,
                        "only a stopped, failed or interrupted run can be resumed")
    prepared = prepare(from_stored(run["config"]))
    if run["data_hash"] and run["data_hash"] != prepared.data_hash and not allow_changed_data:
        raise WorkbenchError(f"the data of run {run_id} ('{prepared.config.dataset}') changed "
                             "since it started; start a new run, or resume it from the command "
                             "line with --allow-changed-data")
    return prepared


def stored_config(db, run_id: str) -> TrainConfig:
    """The settings a recorded run trains with."""
    return from_stored(queries.get_run(db, run_id)["config"])


def claim_for_resume(db, run_id: str, queue: dict | None = None) -> None:
    """Queue the run again (`queue`: the queue row's options), atomically: a second resume of
    it at once is refused."""
    if not queries.claim(db, run_id, RESUMABLE, queue):
        raise WorkbenchError(f"run {run_id} is already being resumed "
                             f"({queries.get_run(db, run_id)['status']})")


def check_continuable(db, run_id: str) -> None:
    """`train --run-id`: only a queued run (the job manager's), or one that can be resumed."""
    run_in_status(db, run_id, ("queued", *RESUMABLE),
                  "--run-id continues a queued, stopped, failed or interrupted run")


def run_in_status(db, run_id: str, allowed: tuple, rule: str) -> dict:
    """The run, if it exists and its status is allowed; else a WorkbenchError saying the rule."""
    run = queries.get_run(db, run_id)
    if run is None:
        raise WorkbenchError(f"no run with id '{run_id}'")
    if run["status"] not in allowed:
        raise WorkbenchError(f"run {run_id} is {run['status']}; {rule}")
    return run


def resume(db, run_id: str, should_stop: Callable[[], bool] = never,
           on_metrics: Callable[[dict], None] | None = None) -> str:
    """Continue a run from its last checkpoint; returns its final status."""
    return train_prepared(db, run_id, prepare_resume(db, run_id), should_stop, on_metrics, resume=True)


class _RunLog:
    """Writes each metrics row to the database and remembers the latest losses.

    `time` continues from `time_offset`, the seconds a resumed run had trained before."""

    def __init__(self, db, run_id: str, on_metrics: Callable[[dict], None] | None,
                 time_offset: float = 0.0):
        self.db, self.run_id, self.on_metrics = db, run_id, on_metrics
        self.time_offset = time_offset
        self.latest = {}
        self.sample = resources.Sampler()

    def __call__(self, row: dict) -> None:
        diverged = non_finite_losses(row)
        non_finite = {k: str(v) for k, v in row.items()
                      if isinstance(v, float) and not np.isfinite(v)}
        row = {k: (None if k in non_finite else v) for k, v in row.items()}
        if non_finite:  # SQLite would store NaN as NULL: name them, for the charts
            row["non_finite"] = json.dumps(non_finite)
        if row.get("time") is not None:
            row["time"] += self.time_offset
        row.update(self.sample())
        queries.log_metrics(self.db, self.run_id, row)
        self.latest.update({k: v for k, v in row.items() if v is not None})
        if self.on_metrics:
            self.on_metrics(row)
        if diverged:  # every step after this one trains on NaN: end the run, say why
            raise Diverged(row.get("step"), diverged)


def non_finite_losses(row: dict) -> dict:
    """The losses and gradient norm of a metrics row that are NaN or infinite."""
    return {k: v for k, v in row.items() if (k.endswith("loss") or k == "grad_norm")
            and isinstance(v, float) and not np.isfinite(v)}


def train_prepared(db, run_id: str, prepared: Prepared, should_stop: Callable[[], bool] = never,
            on_metrics: Callable[[dict], None] | None = None, resume: bool = False) -> str:
    """Train and evaluate (resuming: from the last checkpoint); returns the final status, also stored.

    In a process `accelerate launch` started beside the main one, only train: the main
    process alone writes rows, saves the model and judges it."""
    out_dir = paths.run_dir(run_id)
    start = checkpoints.latest(out_dir) if resume else None
    if rank() != 0:
        outcome = fit_and_evaluate(prepared, Hooks(should_stop=should_stop), out_dir, start)
        return "completed" if outcome.finished else "stopped"
    # The run is alive while its lock is held: by this process, or the launcher that
    # started it (storage.locks).
    with locks.holding(locks.folder_of(db), run_id, "run"):
        return _train_prepared(db, run_id, prepared, should_stop, on_metrics, out_dir, start)


def _train_prepared(db, run_id: str, prepared: Prepared, should_stop, on_metrics, out_dir: Path,
             start: Path | None) -> str:
    spec = methods.get(prepared.config.method)
    planned = spec.steps(prepared.config, len(prepared.splits["train"]))
    queries.add_metric_columns(db, [m.column for m in spec.stored_metrics()] +
                               list(resources.COLUMNS))
    queries.mark_running(db, run_id, str(out_dir), planned)
    # Rows past the checkpoint are trained again; with no checkpoint the run starts over.
    kept = queries.rewind_metrics(db, run_id, checkpoints.step_of(start) if start else 0)
    log = _RunLog(db, run_id, on_metrics, time_offset=max([m["time"] or 0 for m in kept], default=0))
    clock = progress.PhaseClock(lambda phase: queries.set_phase(db, run_id, phase))
    try:
        with progress.listening(clock):
            outcome = fit_and_evaluate(prepared, Hooks(log=log, should_stop=should_stop), out_dir,
                                       start)
        outcome.summary["phase_seconds"] = clock.totals()
        if start:
            outcome.summary["resumed_from_step"] = checkpoints.step_of(start)
        if prepared.table.notes:  # rows left out of the data, with why (kept with the run)
            outcome.summary["data_notes"] = prepared.table.notes
        return record_outcome(db, run_id, prepared, outcome, log.latest)
    except StopRequested:
        queries.finish_run(db, run_id, "stopped", error=STOPPED_JUDGING, **losses(log.latest))
        return "stopped"
    except Exception as error:  # a crash: keep the story, keep the metrics, keep serving
        # What a crash cut short would only take disk space, which a full disk needs first
        # for the database to take the failure.
        checkpoints.remove_incomplete(out_dir)
        reason = str(error) if isinstance(error, WorkbenchError) else \
            failure_reason(error, prepared.config, log.latest.get("step"))
        trace = None if isinstance(error, WorkbenchError) else traceback.format_exc()
        queries.finish_run(db, run_id, "failed", error=reason, traceback=trace)
    release_accelerator_memory()
    return "failed"


def release_accelerator_memory() -> None:
    """After a failed run, give its GPU memory back, so the next run (and the pages) can use it."""
    import gc
    import sys

    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


STOPPED_JUDGING = ("Stopped while the test split was being judged; resume it to train again "
                   "from its last checkpoint and judge it.")


def losses(latest: dict) -> dict:
    return {"train_loss": latest.get("loss"), "eval_loss": latest.get("eval_loss")}


def record_outcome(db, run_id: str, prepared: Prepared, outcome: Outcome, latest: dict) -> str:
    """Store results and the final status: `completed`, or `stopped` (no test evaluation)."""
    summary = losses(latest)
    if not outcome.finished:
        queries.finish_run(db, run_id, "stopped", summary=json.dumps(outcome.summary), **summary)
        return "stopped"
    checkpoints.remove_all(paths.run_dir(run_id))
    for evaluation, predictions in outcome.evaluations:
        queries.add_evaluation(db, {**evaluation, "run_id": run_id}, predictions)
    tuned = outcome.evaluations[0][0]
    queries.save_layer_changes(db, run_id, outcome.layer_changes)
    extra = {k: tuned[k] for k in ("rougeL", "perplexity") if tuned.get(k) is not None}
    queries.finish_run(db, run_id, "completed", test_accuracy=tuned.get("accuracy"),
                       test_f1=tuned.get("f1"), summary=json.dumps({**outcome.summary, **extra}),
                       **summary)
    pooling.pool_completed_folds(db, run_id)
    return "completed"


def fit_and_evaluate(prepared: Prepared, hooks: Hooks, out_dir: Path,
                     resume_from: Path | None = None) -> Outcome:
    # Imported here: torch and transformers take seconds to import, and the CLI's
    # `models` / `datasets` listings and bad-input checks should not wait for them.
    from transformers import set_seed

    set_seed(prepared.config.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    if methods.get(prepared.config.method).causal:
        from core.causal_run import fit_and_evaluate_causal

        return fit_and_evaluate_causal(prepared, hooks, out_dir, resume_from)
    from core.encoder_run import fit_and_evaluate_encoder

    return fit_and_evaluate_encoder(prepared, hooks, out_dir, resume_from)
