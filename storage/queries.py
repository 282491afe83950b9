"""Plain functions over the workbench tables: every read and write lives here."""

import datetime
import json
import uuid

from sqlite_utils import Database

from core.errors import WorkbenchError
from storage import job_queue, locks
from storage.events import recorded
from storage.run_names import checked_name, default_name

FINISHED_STATUSES = ("completed", "failed", "stopped", "interrupted")


def now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def new_run_id() -> str:
    # Sortable by creation time, short enough for a URL, unique enough for one user.
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{uuid.uuid4().hex[:6]}"


def create_run(db: Database, config: dict, data_hash: str | None = None,
               experiment_id: int | None = None, queue: dict | None = None,
               run_id: str | None = None) -> str:
    """A new run, `queued`: with its row in the queue (`queue`: job_queue.enqueue's options)
    in the same transaction, or (no `queue`) by a process that holds its lock, beside the
    queue (engine.train); else it reads `interrupted` at the next look."""
    run_id = run_id or new_run_id()
    with job_queue.immediate(db):
        db["runs"].insert({
            "id": run_id,
            "name": run_name(db, config),
            "model": config["model"],
            "method": config["method"],
            "adapter": config.get("adapter", "none"),
            "dataset": config["dataset"],
            "status": "queued",
            "config": json.dumps(config),
            "created_at": now(),
            "data_hash": data_hash,
            "experiment_id": experiment_id,
            "backend": (queue or {}).get("backend", job_queue.LOCAL),
        })
        if queue is not None:
            job_queue.enqueue(db, run_id, **queue)
    return run_id


def run_name(db: Database, config: dict) -> str:
    """The name the config gives (spaces around it dropped; its length was checked with the
    other settings, by core.config), else the readable default."""
    given = (config.get("name") or "").strip()
    if given:
        return given
    taken = [row["name"] for row in db.query("select name from runs")]
    return default_name(config["model"], config["method"], config["dataset"], taken)


def rename_run(db: Database, run_id: str, name: str) -> str:
    """Give a run (in any status) a new name; the name kept, without its outer spaces."""
    name = checked_name(name)
    with db.conn:
        cursor = db.conn.execute("update runs set name = ? where id = ?", [name, run_id])
    if cursor.rowcount == 0:
        raise WorkbenchError(f"no run {run_id} to rename (it may have been deleted)")
    return name


@recorded
def mark_running(db: Database, run_id: str, output_dir: str, total_steps: int | None = None) -> None:
    """Running (by the process holding its lock); a resumed run keeps its first start and
    sheds its last ending."""
    run = get_run(db, run_id)
    db["runs"].update(run_id, {"status": "running", "started_at": run["started_at"] or now(),
                               "finished_at": None, "error": None, "traceback": None,
                               "output_dir": output_dir, "total_steps": total_steps,
                               "phase": None})


@recorded
def set_phase(db: Database, run_id: str, phase: str) -> None:
    """What the run does now (core.progress): shown by the pages while it runs."""
    db["runs"].update(run_id, {"phase": phase})


def claim(db: Database, run_id: str, statuses: tuple[str, ...], queue: dict | None = None
          ) -> bool:
    """Queue a run in one of `statuses` again (`queue`: job_queue.enqueue's options), in one
    transaction: of two processes resuming the same run at once, exactly one gets True."""
    marks = ", ".join("?" for _ in statuses)
    with job_queue.immediate(db):
        cursor = db.conn.execute(f"update runs set status = 'queued', backend = ?, "
                                 f"ray_job = null where id = ? and status in ({marks})",
                                 [(queue or {}).get("backend", job_queue.LOCAL), run_id, *statuses])
        if cursor.rowcount == 1:
            job_queue.enqueue(db, run_id, **(queue or {}))
    return cursor.rowcount == 1


@recorded
def rewind_metrics(db: Database, run_id: str, step: int) -> list[dict]:
    """Drop the rows logged after `step` (a resumed run trains those steps again); the rest."""
    db.execute("delete from metrics where run_id = ? and step > ?", [run_id, step])
    return run_metrics(db, run_id)


@recorded
def finish_run(db: Database, run_id: str, status: str, error: str | None = None,
               traceback: str | None = None, **summary) -> None:
    """Set a final status; `summary` holds columns of `runs` (test_accuracy, ...)."""
    if status not in FINISHED_STATUSES:
        raise ValueError(f"not a final status: {status}")
    db["runs"].update(
        run_id,
        {"status": status, "finished_at": now(), "error": error, "traceback": traceback, **summary},
    )


INTERRUPTED = ("The process training this run ended before the run did (killed, crashed, or "
               "the machine restarted); resume it to continue from its last checkpoint.")
COMPARISON_INTERRUPTED = ("The process running this comparison ended before it did (killed, "
                          "crashed, or the machine restarted); the executions it finished are "
                          "kept: start it again for the rest.")


def mark_interrupted(db: Database, run_id: str | None = None) -> list[str]:
    """Runs (all, or the one named) whose process has gone: `running` here with their lock
    free, or `queued` with no place in the queue: say so. Every read of a run's status comes
    through here first, so a killed process's run reads `interrupted` at once, wherever it
    is looked at. (A run on a Ray cluster is the cluster's to judge: core.ray_backend.)"""
    ids = _lost(db, "runs", run_id)
    for dead in ids:
        finish_run(db, dead, "interrupted", error=INTERRUPTED)
    return ids


def _lost(db: Database, table: str, row_id=None) -> list:
    """Ids of the rows of `table` whose process has gone (see `mark_interrupted`)."""
    where = "status in ('running', 'queued') and coalesce(backend, 'local') = 'local'" + (
        " and id = ?" if row_id is not None else "")
    rows = list(db.query(f"select id, status from {table} where {where}",
                         [row_id] if row_id is not None else []))
    if not rows:
        return []
    job_queue.drop_dead(db)
    queued = {r["key"] for r in db.query("select key from job_queue")}
    folder = locks.folder_of(db)
    key = (lambda i: i) if table == "runs" else job_queue.comparison_key
    return [r["id"] for r in rows if not locks.is_held(folder, key(r["id"])) and
            (r["status"] == "running" or key(r["id"]) not in queued)]


def get_run(db: Database, run_id: str) -> dict | None:
    mark_interrupted(db, run_id)
    rows = list(db.query("select * from runs where id = ?", [run_id]))
    return rows[0] if rows else None


def list_runs(db: Database) -> list[dict]:
    """Every run, newest first, with its experiment's name (`experiment`; None for none)."""
    mark_interrupted(db)
    return list(db.query("select runs.*, experiments.name as experiment from runs left join "
                         "experiments on experiments.id = runs.experiment_id "
                         "order by runs.created_at desc, runs.rowid desc"))


def last_timed_run(db: Database, model: str, method: str, adapter: str,
                   dataset: str) -> dict | None:
    """The latest completed run of this model, method, adapter and data whose phases were
    timed (core.progress.PhaseClock), with `phase_seconds`: what the next one is estimated
    from. Latest by insertion order, not by a clock."""
    rows = list(db.query(
        "select * from runs where status = 'completed' and model = ? and method = ? and "
        "adapter = ? and dataset = ? and summary like '%phase_seconds%' order by rowid desc "
        "limit 1", [model, method, adapter, dataset]))
    if not rows:
        return None
    return {**rows[0], "phase_seconds": json.loads(rows[0]["summary"])["phase_seconds"]}


@recorded
def add_metric_columns(db: Database, columns: list[str]) -> None:
    """The `metrics` columns a method logs, added (REAL) where an older file lacks them: a new
    metric is one line in its method's spec, and needs no migration of its own."""
    missing = [c for c in columns if c not in db["metrics"].columns_dict]
    for column in missing:
        db["metrics"].add_column(column, float)


@recorded
def log_metrics(db: Database, run_id: str, row: dict) -> None:
    db["metrics"].insert({"run_id": run_id, **row})


def run_metrics(db: Database, run_id: str) -> list[dict]:
    return list(db.query("select * from metrics where run_id = ? order by step, id", [run_id]))


def metrics_after(db: Database, run_id: str, after_id: int) -> tuple[list[dict], int]:
    """The run's metrics rows stored after row `after_id`, and how many rows it has in all
    (a watching page reads only what is new; the count tells it rows were rewound)."""
    rows = list(db.query("select * from metrics where run_id = ? and id > ? order by id",
                         [run_id, after_id]))
    count = db.execute("select count(*) from metrics where run_id = ?", [run_id]).fetchone()[0]
    return rows, count


@recorded
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


@recorded
def save_layer_changes(db: Database, run_id: str, changes: list[dict]) -> None:
    db["layer_changes"].insert_all(
        {"run_id": run_id, "position": i, **change} for i, change in enumerate(changes)
    )


def run_layer_changes(db: Database, run_id: str) -> list[dict]:
    return list(db.query("select * from layer_changes where run_id = ? order by position", [run_id]))


def delete_run(db: Database, run_id: str) -> bool:
    """Remove a run and every row that hangs off it (files are the caller's); False, and
    nothing removed, when no run has this id."""
    with db.atomic():
        if get_run(db, run_id) is None:
            return False
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
    return True


def list_splits(db: Database) -> list[dict]:
    """Each set of evaluations scored on the same examples, newest first."""
    return list(db.query(
        "select split, dataset, count(*) as evaluations, max(created_at) as latest "
        "from evaluations where split is not null group by split, dataset order by latest desc"))


# An evaluation with its run's name, which labels a fine-tuned system (core.evaluate.system_of).
WITH_RUN_NAME = ("select evaluations.*, runs.name as run_name from evaluations "
                 "left join runs on runs.id = evaluations.run_id ")


def split_evaluations(db: Database, split: str) -> list[dict]:
    return list(db.query(WITH_RUN_NAME + "where split = ? order by evaluations.id", [split]))


def find_by_prompt_keys(db: Database, keys: list[str]) -> list[int]:
    """Ids of the prompting executions already stored under these keys, one per key found
    (the first of each), in the order of `keys`."""
    found = []
    for key in keys:
        rows = list(db.query("select id from evaluations where prompt_key = ? order by id "
                             "limit 1", [key]))
        found += [rows[0]["id"]] if rows else []
    return found


def get_evaluations(db: Database, ids: list[int]) -> list[dict]:
    """The given evaluations, in id order, each with its run's name."""
    marks = ", ".join("?" * len(ids))
    return list(db.query(WITH_RUN_NAME + f"where evaluations.id in ({marks}) "
                         "order by evaluations.id", list(ids)))


def save_lineup(db: Database, lineup: dict, outputs: list[dict]) -> int:
    """A playground lineup (one input, the outputs of several models), in one transaction;
    not yet saved for review."""
    row = dict(lineup, saved=0, created_at=now())
    if not isinstance(row.get("settings"), str):
        row["settings"] = json.dumps(row.get("settings"))
    with db.atomic():
        lineup_id = db["lineups"].insert(row).last_pk
        db["lineup_outputs"].insert_all(
            {"lineup_id": lineup_id, "position": i, **output,
             "probabilities": json.dumps(output.get("probabilities"))}
            for i, output in enumerate(outputs))
    return lineup_id


def keep_lineup(db: Database, lineup_id: int, name: str) -> None:
    """Save a lineup under a name: it is listed, and its outputs join the review queue."""
    db["lineups"].update(lineup_id, {"saved": 1, "name": name})


def get_lineup(db: Database, lineup_id: int) -> tuple[dict, list[dict]] | None:
    rows = list(db.query("select * from lineups where id = ?", [lineup_id]))
    if not rows:
        return None
    outputs = db.query("select * from lineup_outputs where lineup_id = ? order by position",
                       [lineup_id])
    return rows[0], [dict(o, probabilities=json.loads(o["probabilities"] or "null")) for o in outputs]


def list_lineups(db: Database) -> list[dict]:
    """Saved lineups, newest first, with their models and how many reviews they have."""
    return list(db.query(
        "select c.id, c.name, c.created_at, c.input, group_concat(o.model, ', ') as models, "
        "(select count(*) from reviews r join lineup_outputs x on x.id = r.output_id "
        " where x.lineup_id = c.id) as reviews "
        "from lineups c join lineup_outputs o on o.lineup_id = c.id "
        "where c.saved = 1 group by c.id order by c.id desc"))


def delete_lineup(db: Database, lineup_id: int) -> None:
    with db.atomic():
        db.execute("delete from reviews where output_id in "
                   "(select id from lineup_outputs where lineup_id = ?)", [lineup_id])
        db.execute("delete from lineup_outputs where lineup_id = ?", [lineup_id])
        db.execute("delete from lineups where id = ?", [lineup_id])


def list_rubrics(db: Database) -> list[dict]:
    return [dict(r, criteria=json.loads(r["criteria"]))
            for r in db.query("select * from rubrics order by id")]


def add_rubric(db: Database, name: str, criteria: list[dict]) -> int:
    return db["rubrics"].insert({"name": name, "criteria": json.dumps(criteria),
                                 "created_at": now()}).last_pk


def review_sources(db: Database) -> list[dict]:
    """Where outputs to review come from: 'playground', or an evaluation split with generations."""
    return list(db.query(
        "select source, count(distinct item) as items, count(*) as outputs from review_targets "
        "group by source order by source = 'playground' desc, max(target_id) desc"))


def review_targets(db: Database, source: str) -> list[dict]:
    """The outputs of one source, in item order (an item: one input, several models' outputs)."""
    return list(db.query("select * from review_targets where source = ? "
                         "order by ordinal, item, kind, target_id", [source]))


TARGET_COLUMNS = {"output": "output_id", "prediction": "prediction_id"}


def save_review(db: Database, kind: str, target_id: int, reviewer: str, rubric_id: int,
                scores: dict, comment: str) -> None:
    """One reviewer's scores of one output under one rubric; a second save replaces the first."""
    column = TARGET_COLUMNS[kind]
    existing = list(db.query(f"select id from reviews where {column} = ? and reviewer = ? "
                             "and rubric_id = ?", [target_id, reviewer, rubric_id]))
    row = {column: target_id, "reviewer": reviewer, "rubric_id": rubric_id,
           "scores": json.dumps(scores), "comment": comment, "updated_at": now()}
    if existing:
        db["reviews"].update(existing[0]["id"], row)
    else:
        db["reviews"].insert({**row, "created_at": row["updated_at"]})


def reviews_with_targets(db: Database, rubric_id: int | None = None,
                         source: str | None = None) -> list[dict]:
    """Every review joined to what it scored (model, input, output), optionally narrowed."""
    sql = ("select r.id, r.reviewer, r.rubric_id, r.scores, r.comment, r.created_at, "
           "r.updated_at, t.kind, t.target_id, t.source, t.item, t.model, t.run_id, t.input, "
           "t.reference, t.text as output from reviews r join review_targets t on "
           "(t.kind = 'output' and t.target_id = r.output_id) or "
           "(t.kind = 'prediction' and t.target_id = r.prediction_id)")
    narrowed = {"r.rubric_id": rubric_id, "t.source": source}
    conditions = [f"{column} = ?" for column, value in narrowed.items() if value is not None]
    params = [value for value in narrowed.values() if value is not None]
    if conditions:
        sql += " where " + " and ".join(conditions)
    return [dict(r, scores=json.loads(r["scores"])) for r in db.query(sql + " order by r.id", params)]


# Comparisons as jobs (core.comparisons): queued, running and ended like runs.

def create_comparison(db: Database, name: str, settings: dict,
                          queue: dict | None = None, hold=None) -> int:
    """A new comparison, `queued`, with its row in the queue (as `create_run`). `hold(id)` is
    called before anyone else can see it (to take its lock, for a command that queues it for
    itself: its number is known only once inserted)."""
    with job_queue.immediate(db):
        job_id = db["comparisons"].insert({
            "name": name, "status": "queued", "settings": json.dumps(settings),
            "progress": 0.0, "evaluation_ids": "[]", "created_at": now(),
            "backend": (queue or {}).get("backend", job_queue.LOCAL)}).last_pk
        if hold is not None:
            hold(job_id)
        if queue is not None:
            job_queue.enqueue(db, job_queue.comparison_key(job_id), **queue)
    return job_id


@recorded
def update_comparison(db: Database, job_id: int, **fields) -> None:
    """Progress, the evaluations stored so far, or `running` (with its start)."""
    if "evaluation_ids" in fields:
        fields["evaluation_ids"] = json.dumps(fields["evaluation_ids"])
    if fields.get("status") == "running":
        fields.update(started_at=now())
    db["comparisons"].update(job_id, fields)


@recorded
def finish_comparison(db: Database, job_id: int, status: str, error: str | None = None,
                          traceback: str | None = None) -> None:
    if status not in FINISHED_STATUSES:
        raise ValueError(f"not a final status: {status}")
    db["comparisons"].update(job_id, {"status": status, "finished_at": now(),
                                          "error": error, "traceback": traceback})


def mark_comparisons_interrupted(db: Database, job_id: int | None = None) -> None:
    """As `mark_interrupted`, for comparisons."""
    for dead in _lost(db, "comparisons", job_id):
        finish_comparison(db, dead, "interrupted", error=COMPARISON_INTERRUPTED)


def _comparison_row(row: dict) -> dict:
    return dict(row, settings=json.loads(row["settings"]),
                evaluation_ids=json.loads(row["evaluation_ids"] or "[]"))


def get_comparison(db: Database, job_id: int) -> dict | None:
    mark_comparisons_interrupted(db, job_id)
    rows = list(db.query("select * from comparisons where id = ?", [job_id]))
    return _comparison_row(rows[0]) if rows else None


def list_comparisons(db: Database, limit: int = 50, live: bool = False) -> list[dict]:
    """The latest comparisons, newest first; `live`: only those queued or running (all)."""
    mark_comparisons_interrupted(db)
    if live:
        return [_comparison_row(r) for r in db.query(
            "select * from comparisons where status in ('queued', 'running') order by id")]
    return [_comparison_row(r) for r in
            db.query("select * from comparisons order by id desc limit ?", [limit])]


def overview(db: Database) -> dict:
    """What the workbench holds, for the home page: runs by status, comparisons, saved
    playground lineups, and outputs no one has reviewed yet."""
    mark_interrupted(db)
    statuses = dict(db.execute("select status, count(*) from runs group by status").fetchall())
    unreviewed = db.execute(
        "select count(*) from review_targets t where not exists (select 1 from reviews r where "
        "(t.kind = 'output' and r.output_id = t.target_id) or "
        "(t.kind = 'prediction' and r.prediction_id = t.target_id))").fetchone()[0]
    return {"runs": sum(statuses.values()), "statuses": statuses,
            "comparisons": db["comparisons"].count,
            "playground": db.execute("select count(*) from lineups where saved = 1").fetchone()[0],
            "unreviewed": unreviewed, "experiments": db["experiments"].count}


def create_experiment(db: Database, name: str | None, settings: dict) -> int:
    """An experiment row, named `name` or '<model> · <method> · <data set> · N' (numbered
    apart from the runs' names, as the two are listed apart)."""
    base = settings["base"]
    taken = [row["name"] for row in db.query("select name from experiments")]
    name = checked_name(name) if name else default_name(base["model"], base["method"],
                                                         base["dataset"], taken)
    if name in taken:  # the Runs page filters runs by their experiment's name
        raise WorkbenchError(f"an experiment named '{name}' exists already; choose another name")
    return db["experiments"].insert({"name": name, "settings": json.dumps(settings),
                                     "created_at": now()}).last_pk


def get_experiment(db: Database, experiment_id: int) -> dict | None:
    if not 0 <= experiment_id < 2**63:  # (beyond SQLite's integers: no experiment)
        return None
    rows = list(db.query("select * from experiments where id = ?", [experiment_id]))
    return rows[0] if rows else None


def list_experiments(db: Database) -> list[dict]:
    """Every experiment, newest first, with how many of its runs are in each status."""
    mark_interrupted(db)
    experiments = list(db.query("select * from experiments order by id desc"))
    counts = db.execute("select experiment_id, status, count(*) from runs where experiment_id "
                        "is not null group by experiment_id, status").fetchall()
    for experiment in experiments:
        experiment["statuses"] = {status: count for owner, status, count in counts
                                  if owner == experiment["id"]}
    return experiments


def experiment_runs(db: Database, experiment_id: int) -> list[dict]:
    """The experiment's runs, in the order they were planned (and queued)."""
    mark_interrupted(db)
    return list(db.query("select * from runs where experiment_id = ? order by rowid",
                         [experiment_id]))


def experiment_evaluations(db: Database, experiment_id: int) -> list[dict]:
    """The experiment's pooled evaluations (k-fold: each example predicted once)."""
    return list(db.query("select * from evaluations where experiment_id = ? order by id",
                         [experiment_id]))
