"""The database schema, as an ordered list of migrations.

Never edit a migration that has shipped: add a new one, so that old
workbench.db files keep opening (sqlite-utils records what was applied).
"""

from sqlite_utils import Migrations

migrations = Migrations("workbench")

RUN_STATUSES = ("queued", "running", "completed", "failed", "stopped", "interrupted")
EVALUATION_MODES = ("zero-shot", "one-shot", "few-shot", "fine-tuned")


@migrations()
def create_core_tables(db):
    db["runs"].create(
        {
            "id": str,
            "name": str,
            "model": str,
            "method": str,
            "adapter": str,
            "dataset": str,
            "status": str,
            "config": str,  # JSON of the resolved TrainConfig
            "error": str,  # one line a user can act on
            "traceback": str,  # the full story, for a bug report
            "created_at": str,
            "started_at": str,
            "finished_at": str,
            "output_dir": str,
            "train_loss": float,
            "eval_loss": float,
            "test_accuracy": float,
            "test_f1": float,
            "summary": str,  # JSON: anything else a method reports
        },
        pk="id",
        not_null={"model", "method", "dataset", "status", "created_at"},
    )
    db["runs"].create_index(["status"])
    db["metrics"].create(
        {
            "id": int,
            "run_id": str,
            "step": int,
            "epoch": float,
            "loss": float,
            "learning_rate": float,
            "grad_norm": float,
            "eval_loss": float,
            "eval_accuracy": float,
            "eval_f1": float,
            "throughput": float,  # training samples per second
            "time": float,  # seconds since the run started
        },
        pk="id",
        foreign_keys=[("run_id", "runs", "id")],
    )
    db["metrics"].create_index(["run_id", "step"])
    db["evaluations"].create(
        {
            "id": int,
            "run_id": str,  # null for a base model
            "model": str,
            "dataset": str,
            "mode": str,
            "shots": int,
            "seed": int,
            "template": str,
            "split": str,
            "n": int,
            "accuracy": float,
            "precision": float,
            "recall": float,
            "f1": float,
            "labels": str,  # JSON list of label names, in index order
            "per_class": str,  # JSON {label: {accuracy, precision, recall, f1, support}}
            "confusion": str,  # JSON matrix, rows = reference, columns = prediction
            "created_at": str,
        },
        pk="id",
        foreign_keys=[("run_id", "runs", "id")],
    )
    db["evaluations"].create_index(["run_id"])
    db["predictions"].create(
        {
            "id": int,
            "evaluation_id": int,
            "idx": int,  # the example's index in the split
            "input": str,
            "reference": str,
            "prediction": str,
            "score": float,  # probability of the predicted label, or a metric
            "output": str,  # raw generated text where there is one
        },
        pk="id",
        foreign_keys=[("evaluation_id", "evaluations", "id")],
    )
    db["predictions"].create_index(["evaluation_id", "idx"])
    db["reviews"].create(
        {
            "id": int,
            "prediction_id": int,
            "reviewer": str,
            "scores": str,  # JSON {criterion: score}
            "comment": str,
            "created_at": str,
        },
        pk="id",
        foreign_keys=[("prediction_id", "predictions", "id")],
    )
    db["layer_changes"].create(
        {"run_id": str, "layer": str, "position": int, "relative_change": float, "params": int},
        pk=("run_id", "layer"),
        foreign_keys=[("run_id", "runs", "id")],
    )


@migrations()
def add_planned_steps(db):
    # How many steps the run will take, so pages can draw progress and an ETA.
    db["runs"].add_column("total_steps", int)


@migrations()
def add_run_owner(db):
    # "pid:start time" of the process that trains the run, so that a server starting
    # up interrupts only runs whose process is gone (not a CLI run training beside it).
    db["runs"].add_column("owner", str)


@migrations()
def add_unparseable_answers(db):
    # Generated answers that named no label (counted wrong, and shown).
    db["evaluations"].add_column("unparseable", int)


@migrations()
def add_generation_scores(db):
    # Summaries and responses (S6) are judged by ROUGE and the references' perplexity.
    for column in ("rouge1", "rouge2", "rougeL", "perplexity"):
        db["evaluations"].add_column(column, float)
