"""Config in, a recorded run out.

`prepare` checks everything a user can get wrong (settings, model id, data
file, split sizes) before anything is written, so bad input leaves no run
behind. `execute` trains and evaluates one prepared run, writing its metrics
as they come and ending it `completed`, `stopped` or `failed`, never `running`.
"""

import json
import shutil
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from core import paths
from core.config import TrainConfig, planned_steps, resolve
from core.data import Table, load_table, split_name, split_table
from core.errors import WorkbenchError
from core.hooks import Hooks, never
from core.metrics import classification_metrics, layer_changes
from core.models import ModelSource, resolve_model
from storage import queries


@dataclass
class Prepared:
    config: TrainConfig  # resolved: no hyper-parameter left unset
    source: ModelSource
    table: Table
    splits: dict[str, pd.DataFrame]


@dataclass
class Outcome:
    finished: bool  # False when a stop was requested
    test_probs: np.ndarray | None = None
    layer_changes: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)


def prepare(config: TrainConfig) -> Prepared:
    config = resolve(config)
    source = resolve_model(config.model, config.trust_remote_code)
    columns = {k: v for k, v in {"text": config.text_column, "label": config.label_column}.items() if v}
    table = load_table(config.dataset, columns)
    if table.task != "classification":
        raise WorkbenchError(f"method '{config.method}' trains classifiers, but '{config.dataset}' "
                             f"is a {table.task} data set")
    splits = split_table(table, config.seed, config.train_size, config.eval_size, config.test_size)
    return Prepared(config, source, table, splits)


def train(config: TrainConfig, db, should_stop: Callable[[], bool] = never,
          on_metrics: Callable[[dict], None] | None = None) -> str:
    """Prepare, record and run one training run; returns its id (raises WorkbenchError on bad input)."""
    prepared = prepare(config)
    run_id = queries.create_run(db, prepared.config.to_dict())
    execute(db, run_id, prepared, should_stop, on_metrics)
    return run_id


class _RunLog:
    """Writes each metrics row to the database and remembers the latest losses."""

    def __init__(self, db, run_id: str, on_metrics: Callable[[dict], None] | None):
        self.db, self.run_id, self.on_metrics = db, run_id, on_metrics
        self.latest = {}

    def __call__(self, row: dict) -> None:
        row = {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in row.items()}
        queries.log_metrics(self.db, self.run_id, row)
        self.latest.update({k: v for k, v in row.items() if v is not None})
        if self.on_metrics:
            self.on_metrics(row)


def execute(db, run_id: str, prepared: Prepared, should_stop: Callable[[], bool] = never,
            on_metrics: Callable[[dict], None] | None = None) -> str:
    """Train and evaluate; returns the final status, which is also stored."""
    out_dir = paths.run_dir(run_id)
    planned = planned_steps(prepared.config, len(prepared.splits["train"]))
    queries.mark_running(db, run_id, str(out_dir), planned)
    log = _RunLog(db, run_id, on_metrics)
    try:
        outcome = fit_and_evaluate(prepared, Hooks(log=log, should_stop=should_stop), out_dir)
        return record_outcome(db, run_id, prepared, outcome, log.latest)
    except WorkbenchError as error:
        queries.finish_run(db, run_id, "failed", error=str(error))
    except Exception as error:  # a crash: keep the story, keep the metrics, keep serving
        queries.finish_run(db, run_id, "failed", error=f"{type(error).__name__}: {error}",
                           traceback=traceback.format_exc())
    return "failed"


def record_outcome(db, run_id: str, prepared: Prepared, outcome: Outcome, latest: dict) -> str:
    """Store results and the final status: `completed`, or `stopped` (no test evaluation)."""
    summary = {"train_loss": latest.get("loss"), "eval_loss": latest.get("eval_loss"),
               "summary": json.dumps(outcome.summary)}
    if not outcome.finished:
        queries.finish_run(db, run_id, "stopped", **summary)
        return "stopped"
    report = store_test_evaluation(db, run_id, prepared, outcome.test_probs)
    queries.save_layer_changes(db, run_id, outcome.layer_changes)
    queries.finish_run(db, run_id, "completed", test_accuracy=report["accuracy"],
                       test_f1=report["f1"], **summary)
    return "completed"


def store_test_evaluation(db, run_id: str, prepared: Prepared, probs: np.ndarray) -> dict:
    test, names = prepared.splits["test"], prepared.table.label_names
    truth = test["label"].map({name: i for i, name in enumerate(names)}).to_numpy()
    predicted = probs.argmax(axis=1)
    report = classification_metrics(truth, predicted, names)
    config = prepared.config
    split = split_name(config.dataset, config.seed, len(test), len(test))
    evaluation = {"run_id": run_id, "model": config.model, "dataset": config.dataset,
                  "mode": "fine-tuned", "shots": 0, "seed": config.seed, "split": split,
                  **{k: report[k] for k in ("n", "accuracy", "precision", "recall", "f1",
                                            "labels", "per_class", "confusion")}}
    predictions = [
        {"idx": i, "input": text, "reference": names[truth[i]], "prediction": names[predicted[i]],
         "score": float(probs[i, predicted[i]])}
        for i, text in enumerate(test["text"])
    ]
    queries.add_evaluation(db, evaluation, predictions)
    return report


def fit_and_evaluate(prepared: Prepared, hooks: Hooks, out_dir: Path) -> Outcome:
    # Imported here: torch and transformers take seconds to import, and the CLI's
    # `models` / `datasets` listings and bad-input checks should not wait for them.
    from transformers import set_seed

    from core import encoder
    from core.models import count_parameters, load_classifier, load_tokenizer

    config, names = prepared.config, prepared.table.label_names
    set_seed(config.seed)
    tokenizer = load_tokenizer(prepared.source, config.trust_remote_code)
    model = load_classifier(prepared.source, names, config.trust_remote_code)
    before = encoder.snapshot(model) if config.method != "probe" else None
    if config.adapter == "lora":
        model = encoder.add_lora(model, config)
    trainable, total = count_parameters(model)
    sets = {name: encoder.encode_split(tokenizer, frame, names, config.max_length)
            for name, frame in prepared.splits.items()}
    summary = {"trainable_params": trainable if config.method != "probe" else 0,
               "total_params": total, **{f"{k}_examples": len(v) for k, v in sets.items()}}
    out_dir.mkdir(parents=True, exist_ok=True)
    finished, test_probs, extra = _fit(model, tokenizer, sets, names, config, hooks, out_dir)
    summary.update(extra)
    if not finished:
        return Outcome(False, summary=summary)
    if test_probs is None:
        test_loader = encoder.make_loader(sets["test"], tokenizer, config.batch_size)
        test_probs = encoder.predict(model, test_loader)[1]
    changes = layer_changes(before, encoder.effective_weights(model)) if before else []
    return Outcome(True, test_probs, changes, summary)


def _fit(model, tokenizer, sets, names, config, hooks, out_dir: Path):
    """Run the chosen method and save what it trained; (finished, test probs or None, summary)."""
    if config.method == "probe":
        from core.methods.probe import Probe

        probe = Probe(model, tokenizer, config)
        finished = probe.fit(sets["train"], sets["eval"], hooks)
        if finished:
            probe.save(out_dir / "probe.npz")
        return finished, probe.predict_proba(sets["test"]) if finished else None, {}
    if config.method == "loop":
        from core.methods.loop import train_loop

        finished, extra = train_loop(model, tokenizer, sets["train"], sets["eval"], names, config,
                                     hooks), {}
    else:
        from core.methods.trainer import train_with_trainer

        checkpoints = out_dir / "checkpoints"
        finished, extra = train_with_trainer(model, tokenizer, sets["train"], sets["eval"], names,
                                             config, hooks, str(checkpoints))
        # The best model is loaded and saved below; optimiser states would cost ~3x its size.
        shutil.rmtree(checkpoints, ignore_errors=True)
    model.save_pretrained(out_dir / "model")
    tokenizer.save_pretrained(out_dir / "model")
    return finished, None, extra
