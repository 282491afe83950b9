"""k-fold cross-validation's pooled evaluation: every example predicted once.

When the last fold of a setting of an experiment completes (`core.engine` calls
`pool_folds` for every completed run), the folds' test predictions become one
evaluation on the split "<data> | K folds pooled, seed S | all N": each example
was predicted by the one run that did not train on it, so the figures and the
per-class table cover the whole data set, and the Compare page can set the
pooled systems of several experiments side by side.
"""

import json
import logging

from core.data import split_name
from core.metrics import classification_metrics
from storage import queries
from storage.run_names import SEPARATOR


def pool_folds(db, run_id: str) -> int | None:
    """Once every fold of this run's setting (its swept values and seed) has completed: one
    evaluation of all the folds' test predictions, in which every example is predicted once,
    by the run that did not train on it; its id (None while folds are missing, for a run of no
    k-fold experiment, or for data without labels, whose figures do not pool). Made once."""
    run = queries.get_run(db, run_id)
    config = json.loads(run["config"])
    if not run.get("experiment_id") or not config.get("folds"):
        return None
    experiment_id, folds = run["experiment_id"], config["folds"]
    sweep = json.loads(queries.get_experiment(db, experiment_id)["settings"])["sweep"]
    same = [r for r in queries.experiment_runs(db, experiment_id)
            if setting_of(json.loads(r["config"]), sweep) == setting_of(config, sweep)]
    if len(same) != folds or any(r["status"] != "completed" for r in same):
        return None
    sources = [fold_evaluation(db, r["id"]) for r in sorted(
        same, key=lambda r: json.loads(r["config"])["fold"])]
    if any(s is None or s["accuracy"] is None for s in sources):
        return None
    label = pooled_label(run["name"], config, sweep)
    n = sum(s["n"] for s in sources)
    split = split_name(config["dataset"], config["seed"], n, n, folds)
    if any(e["split"] == split and e["model"] == label
           for e in queries.experiment_evaluations(db, experiment_id)):
        return None
    return store_pooled(db, experiment_id, label, config, split, sources)


def setting_of(config: dict, sweep: dict) -> tuple:
    """What a run shares with the other folds of its setting."""
    return tuple(config.get(name) for name in sweep) + (config["seed"],)


def pooled_label(run_name: str, config: dict, sweep: dict) -> str:
    """The run's name without its fold: 'minilm-l6 · probe · rt-reviews · 1 · 5 folds pooled'."""
    fold_part = f"{SEPARATOR}fold {config['fold']}/{config['folds']}"
    return run_name.removesuffix(fold_part) + f"{SEPARATOR}{config['folds']} folds pooled"


def fold_evaluation(db, run_id: str) -> dict | None:
    """A completed run's own test evaluation (the tuned model's, stored first)."""
    tuned = [e for e in queries.run_evaluations(db, run_id) if e["mode"] == "fine-tuned"]
    return tuned[0] if tuned else None


def store_pooled(db, experiment_id: int, label: str, config: dict, split: str,
                 sources: list[dict]) -> int:
    names = json.loads(sources[0]["labels"])
    index = {name: i for i, name in enumerate(names)}
    rows = [p for s in sources for p in queries.evaluation_predictions(db, s["id"])]
    truth = [index[p["reference"]] for p in rows]
    predicted = [index.get(p["prediction"], -1) for p in rows]  # no label named: wrong
    report = classification_metrics(truth, predicted, names)
    evaluation = {"run_id": None, "experiment_id": experiment_id, "model": label,
                  "dataset": config["dataset"], "mode": "fine-tuned", "shots": 0,
                  "seed": config["seed"], "template": sources[0]["template"], "split": split,
                  "unparseable": predicted.count(-1), **report}
    predictions = [{**{k: p[k] for k in ("input", "reference", "prediction", "score", "output")},
                    "idx": i} for i, p in enumerate(rows)]
    return queries.add_evaluation(db, evaluation, predictions)


def pool_completed_folds(db, run_id: str) -> None:
    """The last fold of a k-fold setting pools its folds (`pool_folds`). The run completed
    whatever happens here: a failure to pool is logged, never turned into a failed run."""
    try:
        pool_folds(db, run_id)
    except Exception:  # noqa: BLE001 (the run's own result stands)
        logging.getLogger(__name__).exception("pooling the folds of run %s failed", run_id)
