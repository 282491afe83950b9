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
    # Summaries and responses are judged by ROUGE and the references' perplexity.
    for column in ("rouge1", "rouge2", "rougeL", "perplexity"):
        db["evaluations"].add_column(column, float)


@migrations()
def add_playground_and_review(db):
    # Playground comparisons: one input, the outputs of 2 to 4 models, and how fast each came.
    db["comparisons"].create(
        {"id": int, "name": str, "input": str, "reference": str, "task": str,
         "settings": str,  # JSON of the generation settings
         "saved": int,  # 1 once the user keeps it (saved ones go to the review queue)
         "created_at": str},
        pk="id",
    )
    db["comparison_outputs"].create(
        {"id": int, "comparison_id": int, "position": int, "model": str, "output": str,
         "probabilities": str,  # JSON {label: probability} for classifiers
         "load_seconds": float, "latency": float, "first_token": float, "new_tokens": int,
         "tokens_per_second": float},
        pk="id",
        foreign_keys=[("comparison_id", "comparisons", "id")],
    )
    db["rubrics"].create(
        {"id": int, "name": str,
         "criteria": str,  # JSON [{name, description, weight}], each scored 1 to 5
         "created_at": str},
        pk="id",
    )
    # A review scores either an evaluation's prediction or a playground output.
    db["reviews"].add_column("output_id", int, fk="comparison_outputs", fk_col="id")
    db["reviews"].add_column("rubric_id", int, fk="rubrics", fk_col="id")
    db["reviews"].add_column("updated_at", str)
    # Everything that can be reviewed, in one shape: grouped into items (one input, the
    # outputs of several models), from saved comparisons and from generated predictions.
    db.create_view("review_targets", """
        select 'output' as kind, o.id as target_id, 'playground' as source,
               'comparison ' || c.id as item, c.id as ordinal, c.input, c.reference, o.model, o.output as text
        from comparison_outputs o join comparisons c on c.id = o.comparison_id
        where c.saved = 1
        union all
        select 'prediction', p.id, e.split, e.split || ' #' || p.idx, p.idx, p.input, p.reference,
               e.model || ' (' || e.mode || coalesce(', run ' || e.run_id, '') || ')', p.output
        from predictions p join evaluations e on e.id = p.evaluation_id
        where p.output is not null and e.split is not null
    """)


@migrations()
def add_data_fingerprint(db):
    # A digest of the rows a run trained on: a resume refuses data that changed since.
    db["runs"].add_column("data_hash", str)


@migrations()
def add_evaluation_jobs(db):
    # A comparison is a job in the queue training uses: its state, live progress and the
    # evaluations it stored, so that leaving the page loses nothing and a stop keeps the
    # executions already finished.
    db["evaluation_jobs"].create(
        {"id": int, "name": str, "status": str,
         "settings": str,  # JSON: {"configs": [EvalConfig...], "runs": [...], "limit": N}
         "progress": float, "progress_text": str,
         "evaluation_ids": str,  # JSON list, in the order they were stored
         "split": str, "error": str, "traceback": str, "owner": str,
         "created_at": str, "started_at": str, "finished_at": str},
        pk="id", not_null={"status", "settings", "created_at"})


@migrations()
def add_non_finite_metrics(db):
    # SQLite stores NaN as NULL: a diverged step's values are named here ({"loss": "nan"}),
    # so the charts can show where a curve went non-finite instead of a silent gap.
    db["metrics"].add_column("non_finite", str)


@migrations()
def add_prompt_key(db):
    # A digest of everything that decides a prompting execution's verdicts (model, prompt
    # setting, the examples shown, the test split, answer length): asked again, it is reused.
    db["evaluations"].add_column("prompt_key", str)
    db["evaluations"].create_index(["prompt_key"])


@migrations()
def add_run_phase(db):
    # What a running run does now ("loading the model", "judging the test split: 48 / 200"),
    # so the page says it instead of guessing from the metrics.
    db["runs"].add_column("phase", str)


@migrations()
def add_review_prompts(db):
    # The review page shows the prompt each output answered and names runs by their names:
    # a comparison keeps what its prompt offered besides the input (classify's labels, as a
    # JSON list; summarise's instruction), and review_targets gives each output's prompt and
    # run (a prediction's task is left to the engine: it follows from its labels and data set).
    db["comparisons"].add_column("labels", str)
    db["comparisons"].add_column("instruction", str)
    db.create_view("review_targets", review_targets("comparison"), replace=True)


def review_targets(playground: str) -> str:
    """The view of everything that can be reviewed, the playground's rows in tables named
    `<playground>s` and `<playground>_outputs` ("comparison" until `one_word_per_thing`,
    "lineup" since): each output with its prompt and run, grouped into items."""
    return f"""
        select 'output' as kind, o.id as target_id, 'playground' as source,
               '{playground} ' || c.id as item, c.id as ordinal, c.input, c.reference, o.model,
               o.output as text, c.task, c.labels, c.instruction, null as dataset, r.id as run_id
        from {playground}_outputs o join {playground}s c on c.id = o.{playground}_id
        left join runs r on r.id = o.model
        where c.saved = 1
        union all
        select 'prediction', p.id, e.split, e.split || ' #' || p.idx, p.idx, p.input, p.reference,
               e.model || ' (' || e.mode || coalesce(', run ' || e.run_id, '') || ')', p.output,
               null, e.labels, null, e.dataset, e.run_id
        from predictions p join evaluations e on e.id = p.evaluation_id
        where p.output is not null and e.split is not null
    """


@migrations()
def add_experiments(db):
    # Runs launched together as one experiment (core.experiments): a base config and what
    # varies (folds, a sweep, seeds). Each run knows its experiment; an experiment's pooled
    # k-fold evaluation (every example predicted once, by the run that held it out) knows it too.
    db["experiments"].create(
        {"id": int, "name": str,
         "settings": str,  # JSON: {"base": TrainConfig, "sweep": {field: [values]}, "seeds": N}
         "created_at": str},
        pk="id", not_null={"name", "settings", "created_at"})
    db["runs"].add_column("experiment_id", int, fk="experiments", fk_col="id")
    db["evaluations"].add_column("experiment_id", int, fk="experiments", fk_col="id")
    db["runs"].create_index(["experiment_id"])


@migrations()
def add_job_queue(db):
    # One queue per home for every process (storage.job_queue): a job waiting or working is
    # a row, in the order of its id; a working row is alive while a process holds its lock
    # (storage.locks), so servers and command lines share one queue and see each other's jobs.
    db["job_queue"].create(
        {"id": int, "key": str,  # a run's id, or 'comparison N'
         "state": str,  # waiting | working
         "starter": str,  # null: any launcher starts it; 'self': the process that queued it
         "backend": str,  # local | ray
         "slot": int,  # which of the machine's job slots (its GPU) a working local job has
         "stop_requested": int},
        pk="id", not_null={"key", "state", "backend"})
    db["job_queue"].create_index(["key"], unique=True)
    # Where a run or a comparison ran: 'local', or 'ray' with the cluster's address and the
    # Ray job's id (the run page links its dashboard and log); how many of the Ray worker's
    # events were recorded, so one re-attached after a restart records none twice.
    for table in ("runs", "evaluation_jobs"):
        db[table].add_column("backend", str)
        db[table].add_column("ray_address", str)
        db[table].add_column("ray_job", str)
        db[table].add_column("events_applied", int)


@migrations()
def one_word_per_thing(db):
    # A word means one thing: a "comparison" is the Compare page's job (was `evaluation_jobs`),
    # and the playground's one input answered by several models side by side is a "lineup"
    # (was `comparisons`, its outputs `comparison_outputs`). SQLite's rename carries the
    # reviews' foreign key along; the view that reads them is drawn again.
    db.execute("drop view if exists review_targets")
    db.rename_table("comparisons", "lineups")
    db.rename_table("comparison_outputs", "lineup_outputs")
    db.execute("alter table lineup_outputs rename column comparison_id to lineup_id")
    db.rename_table("evaluation_jobs", "comparisons")
    db.create_view("review_targets", review_targets("lineup"))
