"""Plain functions over the workbench tables: every read and write lives here."""

import datetime
import json
import os
import uuid

import psutil
from sqlite_utils import Database

FINISHED_STATUSES = ("completed", "failed", "stopped", "interrupted")


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def new_run_id() -> str:
    # Sortable by creation time, short enough for a URL, unique enough for one user.
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{uuid.uuid4().hex[:6]}"


def this_process() -> str:
    """Who owns a run: pid and start time (a pid alone may be reused by a later process)."""
    return f"{os.getpid()}:{psutil.Process().create_time()}"


def owner_alive(owner: str | None) -> bool:
    if not owner:
        return False
    pid, started = owner.split(":", 1)
    try:
        return str(psutil.Process(int(pid)).create_time()) == started
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False


def create_run(db: Database, config: dict, status: str = "queued") -> str:
    run_id = new_run_id()
    db["runs"].insert(
        {
            "id": run_id,
            "name": config.get("name") or run_id,
            "model": config["model"],
            "method": config["method"],
            "adapter": config.get("adapter", "none"),
            "dataset": config["dataset"],
            "status": status,
            "config": json.dumps(config),
            "created_at": now(),
            "owner": this_process(),
        }
    )
    return run_id


def mark_running(db: Database, run_id: str, output_dir: str, total_steps: int | None = None) -> None:
    db["runs"].update(run_id, {"status": "running", "started_at": now(), "output_dir": output_dir,
                               "total_steps": total_steps})


def finish_run(db: Database, run_id: str, status: str, error: str | None = None,
               traceback: str | None = None, **summary) -> None:
    """Set a final status; `summary` holds columns of `runs` (test_accuracy, ...)."""
    if status not in FINISHED_STATUSES:
        raise ValueError(f"not a final status: {status}")
    db["runs"].update(
        run_id,
        {"status": status, "finished_at": now(), "error": error, "traceback": traceback, **summary},
    )


def mark_interrupted(db: Database) -> list[str]:
    """Runs still `running` or `queued` whose process has died: say so."""
    rows = db.query("select id, owner from runs where status in ('running', 'queued')")
    ids = [r["id"] for r in rows if not owner_alive(r["owner"])]
    for run_id in ids:
        finish_run(db, run_id, "interrupted", error="The server stopped while this run was in progress.")
    return ids


def get_run(db: Database, run_id: str) -> dict | None:
    rows = list(db.query("select * from runs where id = ?", [run_id]))
    return rows[0] if rows else None


def list_runs(db: Database) -> list[dict]:
    return list(db.query("select * from runs order by created_at desc, id desc"))


def log_metrics(db: Database, run_id: str, row: dict) -> None:
    db["metrics"].insert({"run_id": run_id, **row})


def run_metrics(db: Database, run_id: str) -> list[dict]:
    return list(db.query("select * from metrics where run_id = ? order by step, id", [run_id]))


def add_evaluation(db: Database, evaluation: dict, predictions: list[dict]) -> int:
    """Store an evaluation and its predictions in one transaction."""
    row = dict(evaluation, created_at=now())
    for key in ("labels", "per_class", "confusion"):
        if key in row and not isinstance(row[key], str):
            row[key] = json.dumps(row[key])
    with db.atomic():
        evaluation_id = db["evaluations"].insert(row).last_pk
        db["predictions"].insert_all({"evaluation_id": evaluation_id, **p} for p in predictions)
    return evaluation_id


def run_evaluations(db: Database, run_id: str) -> list[dict]:
    return list(db.query("select * from evaluations where run_id = ? order by id", [run_id]))


def evaluation_predictions(db: Database, evaluation_id: int) -> list[dict]:
    return list(
        db.query("select * from predictions where evaluation_id = ? order by idx", [evaluation_id])
    )


def save_layer_changes(db: Database, run_id: str, changes: list[dict]) -> None:
    db["layer_changes"].insert_all(
        {"run_id": run_id, "position": i, **change} for i, change in enumerate(changes)
    )


def run_layer_changes(db: Database, run_id: str) -> list[dict]:
    return list(db.query("select * from layer_changes where run_id = ? order by position", [run_id]))


def delete_run(db: Database, run_id: str) -> None:
    """Remove a run and every row that hangs off it (files are the caller's)."""
    with db.atomic():
        evaluation_ids = [e["id"] for e in run_evaluations(db, run_id)]
        for evaluation_id in evaluation_ids:
            db.execute(
                "delete from reviews where prediction_id in "
                "(select id from predictions where evaluation_id = ?)", [evaluation_id]
            )
            db.execute("delete from predictions where evaluation_id = ?", [evaluation_id])
        for table in ("evaluations", "metrics", "layer_changes"):
            db.execute(f"delete from {table} where run_id = ?", [run_id])
        db.execute("delete from runs where id = ?", [run_id])


def list_splits(db: Database) -> list[dict]:
    """Each set of evaluations scored on the same examples, newest first."""
    return list(db.query(
        "select split, dataset, count(*) as evaluations, max(created_at) as latest "
        "from evaluations where split is not null group by split, dataset order by latest desc"))


def split_evaluations(db: Database, split: str) -> list[dict]:
    return list(db.query("select * from evaluations where split = ? order by id", [split]))
