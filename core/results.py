"""What a run hands between its stages: the prepared inputs, and the outcome to record.

Shared by the engine (which prepares and records) and the encoder and causal
runs (which train and judge), so that neither run imports the engine.
"""

import json
from dataclasses import dataclass, field

import pandas as pd

from core.config import TrainConfig
from core.data import Table, split_name
from core.models import ModelSource


@dataclass
class Prepared:
    config: TrainConfig  # resolved: no hyper-parameter left unset
    source: ModelSource
    table: Table
    splits: dict[str, pd.DataFrame]
    data_hash: str | None = None  # of every row loaded (`core.data.fingerprint`)


@dataclass
class Outcome:
    finished: bool  # False when a stop was requested
    # (evaluation row, its predictions); the first is the trained model's own
    evaluations: list[tuple[dict, list[dict]]] = field(default_factory=list)
    layer_changes: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)


EVALUATION_FIGURES = ("n", "accuracy", "precision", "recall", "f1", "labels", "per_class",
                      "confusion", "unparseable", "rouge1", "rouge2", "rougeL", "perplexity")


def evaluation_row(prepared: Prepared, mode: str, model: str, report: dict,
                   template: str | None = None) -> dict:
    """An `evaluations` row on the run's whole test split (its run id is added when stored)."""
    config, n = prepared.config, len(prepared.splits["test"])
    return {"model": model, "dataset": config.dataset, "mode": mode, "shots": 0,
            "seed": config.seed, "template": template,
            "split": split_name(config.dataset, config.seed, n, n, config.folds, config.fold),
            **{k: report[k] for k in EVALUATION_FIGURES if k in report}}


# A causal run's original model is judged as its tuned one is, with no examples shown: its row
# is a zero-shot evaluation of the run's base model, told apart from a Compare-page one by
# its run_id (the database's modes are fixed: storage.schema.EVALUATION_MODES).
ORIGINAL = "zero-shot"
ORIGINAL_VS_TUNED = {"fine-tuned": "Tuned", ORIGINAL: "Original"}


def original_vs_tuned(evaluations: list[dict]) -> pd.DataFrame:
    """The Mistral recipe's table: one row per model, accuracy overall and on each class (or ROUGE)."""
    rows = []
    for e in evaluations:
        row = {"model": ORIGINAL_VS_TUNED.get(e["mode"], e["mode"]), "examples": e["n"]}
        if e["accuracy"] is not None:
            row["accuracy"] = e["accuracy"]
            for name, figures in json.loads(e["per_class"] or "{}").items():
                row[f"accuracy on {name}"] = figures["accuracy"]
            if e["unparseable"] is not None:
                row["answers naming no label"] = e["unparseable"]
            row["judged by"] = e["template"]
        row.update({k: e[k] for k in ("rouge1", "rouge2", "rougeL", "perplexity")
                    if e.get(k) is not None})
        rows.append(row)
    return pd.DataFrame(rows).set_index("model")
