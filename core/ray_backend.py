"""Runs and comparisons on a Ray cluster (`backend: ray`), through Ray's Jobs API.

A job on the ray backend waits in the home's queue like any other, but takes no local slot:
the launcher that claims it submits it to the cluster as a Ray job (its CPUs and GPUs
asked for; the workbench's code shipped as the job's working folder) and watches it from
a thread that holds the job's lock. The Ray job runs the same worker a local job runs
(`python -m core train --run-id ID`, `python -m core eval --job N`), with a database of
its own on its node seeded with the job's rows; every write that records the job streams
back as an event line in its log (storage.events), which the watcher replays on the
home's database: the same metrics rows, phases, statuses and evaluations, so the pages,
their live charts and Stop work as for a local job.

The run's folder (model, checkpoints) is written under `ray_storage`, a folder every node
mounts at the same path (unset: this home, for a cluster on this machine); the playground
and exports read it there. A watcher that dies (a server restart) leaves the job's lock
free: the next launcher re-attaches, reads the log from the start and replays only the
events not yet recorded (counted in `events_applied`). Stop asks Ray to stop the job with
SIGINT, which the worker turns into a stop at its next step, as a local one does.
"""

import json
import os
import time
import uuid
from pathlib import Path

import fsspec

from core import paths, pooling
from core.config import from_stored
from core.errors import WorkbenchError
from storage import events, job_queue, locks, queries
from storage.db import connect

SEED = "WORKBENCH_RAY_SEED"  # set on a Ray worker: its job's rows, to seed its own database
STORAGE = "WORKBENCH_RAY_STORAGE"  # and where its run's folder goes: a shared path, or a URI
ROOT = Path(__file__).resolve().parents[1]  # the code shipped to the cluster
# Never shipped: environments, data, caches (Ray refuses a working folder over its limit).
EXCLUDES = [".venv", ".git", "workbench_data", "tests", "bench", "docs", ".mypy_cache",
            ".ruff_cache", ".pytest_cache", "**/__pycache__", "*.gguf", "*.safetensors"]
WATCH_SECONDS = 1.0
STOP_WAIT_SECONDS = 300  # how long Ray waits for a stopping worker's checkpoint before SIGKILL
UNREACHABLE_LOOKS = 30  # a cluster silent this many looks in a row: its jobs are lost
LOST = ("The Ray job ended without a result (its node or the cluster may have been lost); "
        "resume it to continue from its last checkpoint.")
STOPPED = "Stopped on the Ray cluster before it could record its own ending."


# ---- the cluster ---------------------------------------------------------------------------

def address_of(address: str | None) -> str:
    """The cluster's Jobs API address: the one given, else RAY_ADDRESS; http:// assumed."""
    found = address or os.environ.get("RAY_ADDRESS")
    if not found:
        raise WorkbenchError("the ray backend needs a cluster: give its dashboard address "
                             "(--ray-address http://HOST:8265) or set RAY_ADDRESS")
    return found if "://" in found else f"http://{found}"


def client(address: str | None):
    """A Jobs API client of the cluster; a WorkbenchError in one line when it cannot be
    reached (nothing is written before this is asked)."""
    address = address_of(address)
    try:
        import logging

        from ray.job_submission import JobSubmissionClient

        logging.getLogger("ray").setLevel(logging.WARNING)  # (a line per file it packs)
    except ImportError:
        raise WorkbenchError("the ray backend needs Ray on this machine: "
                             "pip install 'ray[default]'") from None
    try:
        return JobSubmissionClient(address)
    except Exception as error:  # noqa: BLE001 - whatever it raises, the cluster is not there
        said = " ".join(str(error).split())[:160]
        raise WorkbenchError(f"the Ray cluster at {address} cannot be reached ({said}); start "
                             "one with `ray start --head`, or check the address") from None


def check_cluster(address: str | None) -> None:
    if not inside_worker():  # (a worker on the cluster checks nothing of the kind)
        client(address)


def inside_worker() -> bool:
    return bool(os.environ.get(SEED))


def dashboard_url(row: dict) -> str | None:
    """The Ray dashboard's page of a job's row (run or comparison), if it ran on Ray."""
    if not row.get("ray_job") or not row.get("ray_address"):
        return None
    return f"{row['ray_address'].rstrip('/')}/#/jobs/{row['ray_job']}"


def job_log(row: dict) -> str | None:
    """The Ray job's output (events left out), or None when it cannot be had."""
    try:
        text = client(row["ray_address"]).get_job_logs(row["ray_job"])
    except Exception:  # noqa: BLE001 - a log is a convenience, never an error page
        return None
    return "\n".join(line for line in text.splitlines() if not line.startswith(events.MARK))


# ---- submitting and watching (the home's side) -----------------------------------------------

def supervise(db_path: Path, key: str, held: locks.Held | None = None) -> None:
    """Submit the claimed job (unless it was submitted already: then re-attach), record its
    events until it ends, and say how it ended if its worker could not."""
    db = connect(db_path)
    try:
        table, row_id, row = job_row(db, key)
        if not row["ray_job"]:
            submit(db, key)
            table, row_id, row = job_row(db, key)
        ended = watch(db, key, row)
    except WorkbenchError as error:  # the cluster refused or vanished at submission
        finish(db, key, "failed", str(error))
        ended = True
    finally:
        if held is not None:
            held.release()
    if ended:
        job_queue.remove(db, key)


def job_row(db, key: str) -> tuple[str, object, dict]:
    number = job_queue.comparison_of(key)
    if number is not None:
        return "comparisons", number, queries.get_comparison(db, number)
    return "runs", key, queries.get_run(db, key)


def submit(db, key: str) -> None:
    """Submit the job to its cluster; its Ray job id is recorded first, so that a watcher
    that dies as it submits re-attaches instead of submitting twice."""
    settings = job_settings(db, key)
    ray = client(settings["address"])
    submission = f"workbench-{paths.safe_name(key)}-{uuid.uuid4().hex[:8]}"
    table, row_id, _ = job_row(db, key)
    db[table].update(row_id, {"ray_address": address_of(settings["address"]),
                              "ray_job": submission, "events_applied": 0})
    seed = write_seed(db, key, settings["storage"])
    env = {STORAGE: settings["storage"], SEED: seed,
           "RAY_JOB_STOP_SIGNAL": "SIGINT", "RAY_JOB_STOP_WAIT_TIME_S": str(STOP_WAIT_SECONDS),
           **{k: os.environ[k] for k in ("HF_HUB_OFFLINE", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER")
              if k in os.environ}}
    ray.submit_job(entrypoint=settings["entrypoint"], submission_id=submission,
                   runtime_env={"working_dir": str(ROOT), "excludes": EXCLUDES, "env_vars": env},
                   entrypoint_num_cpus=settings["cpus"], entrypoint_num_gpus=settings["gpus"],
                   metadata={"workbench_job": key})


def job_settings(db, key: str) -> dict:
    """Where and how a job runs on Ray: address, shared storage, resources, its command."""
    number = job_queue.comparison_of(key)
    if number is not None:
        settings = queries.get_comparison(db, number)["settings"]
        return {"address": settings.get("ray_address"), "storage": str(paths.home()), "cpus": 1,
                "gpus": None, "entrypoint": f"python -m core eval --job {number}"}
    config = from_stored(queries.get_run(db, key)["config"])
    return {"address": config.ray_address, "storage": config.ray_storage or str(paths.home()),
            "cpus": config.ray_cpus, "gpus": config.ray_gpus or None,
            "entrypoint": f"python -m core train --run-id {key}"}


def write_seed(db, key: str, storage: str) -> Path:
    """The rows a worker's own database starts with: its job's, and what it reads (a run's
    metrics to resume; a comparison's fine-tuned runs), in the shared storage."""
    number = job_queue.comparison_of(key)
    if number is not None:
        runs = queries.get_comparison(db, number)["settings"]["runs"]
        tables = {"comparisons": raw_rows(db, "comparisons", "id = ?", [number]),
                  "runs": raw_rows(db, "runs", f"id in ({', '.join('?' * len(runs))})", runs)}
    else:
        run = raw_rows(db, "runs", "id = ?", [key])
        tables = {"experiments": raw_rows(db, "experiments", "id = ?", [run[0]["experiment_id"]]),
                  "runs": run, "metrics": raw_rows(db, "metrics", "run_id = ?", [key])}
    location = f"{storage.rstrip('/')}/ray/{paths.safe_name(key)}.json"
    with fsspec.open(location, "w", encoding="utf-8", auto_mkdir=True) as seed:
        seed.write(json.dumps(tables))
    return location


def raw_rows(db, table: str, where: str, params: list) -> list[dict]:
    return list(db.query(f"select * from {table} where {where}", params))


def watch(db, key: str, row: dict) -> bool:
    """Record the job's events until it ends; True once it has."""
    ray, job, told, silent = client(row["ray_address"]), row["ray_job"], False, 0
    while True:
        try:
            status = str(ray.get_job_status(job))
            record_events(db, key, ray.get_job_logs(job), ended=False)
            silent = 0
        except WorkbenchError:
            raise
        except Exception as error:  # noqa: BLE001 - the cluster did not answer this time
            silent += 1
            if silent >= UNREACHABLE_LOOKS:
                finish(db, key, "interrupted", f"{LOST} ({' '.join(str(error).split())[:160]})")
                return True
            time.sleep(WATCH_SECONDS)
            continue
        if not told and job_queue.stop_requested(db, key):
            ray.stop_job(job)
            told = True
        if status in ("SUCCEEDED", "FAILED", "STOPPED"):
            record_events(db, key, ray.get_job_logs(job), ended=True)
            settle(db, key, status, ray.get_job_logs(job))
            return True
        time.sleep(WATCH_SECONDS)


def record_events(db, key: str, log: str, ended: bool) -> None:
    """Replay the events of the job's log not recorded yet, each with its count, at once.
    A run whose folder goes to a URI ends only once its job has (after the upload): its
    final status waits until then, so that no page reads its model before it is there."""
    table, row_id, row = job_row(db, key)
    applied, storage = row["events_applied"] or 0, job_settings(db, key)["storage"]
    for event in events.parse(log):
        if event["seq"] <= applied:
            continue
        if event["call"] == "finish_run" and is_uri(storage) and not ended:
            return
        with job_queue.immediate(db):
            apply(db, key, event)
            db.execute(f"update {table} set events_applied = ? where id = ?",
                       [event["seq"], row_id])
        if event["call"] == "finish_run" and event["args"][1] == "completed":
            pooling.pool_completed_folds(db, key)  # (the worker saw no other fold: this home does)


def apply(db, key: str, event: dict) -> None:
    """One event on the home's database. A comparison's evaluations get this database's ids,
    so its list of them is kept here, not taken from the worker's."""
    number = job_queue.comparison_of(key)
    storage = job_settings(db, key)["storage"]
    if event["call"] == "mark_running" and is_uri(storage):  # (the worker's folder was its own)
        event = dict(event, args=[key, remote_folder(storage, key), *event["args"][2:]])
    if number is not None and event["call"] == "update_comparison":
        event = dict(event, kwargs={k: v for k, v in event["kwargs"].items()
                                    if k != "evaluation_ids"})
        if not event["kwargs"]:
            return
    result = events.replay(db, event)
    if number is not None and event["call"] == "add_evaluation":
        kept = queries.get_comparison(db, number)["evaluation_ids"]
        queries.update_comparison(db, number, evaluation_ids=[*kept, result])


def settle(db, key: str, status: str, log: str) -> None:
    """The job ended on Ray: if its worker did not record how, say it here."""
    _, _, row = job_row(db, key)
    if row["status"] not in ("queued", "running"):
        return
    lines = [line for line in log.splitlines() if not line.startswith(events.MARK)]
    said = [line.removeprefix("error: ") for line in lines if line.startswith("error: ")]
    if not said and any(line.startswith("Traceback") for line in lines):
        said = [line for line in lines if line.strip()][-1:]  # (the exception's own line)
    if status == "STOPPED":
        finish(db, key, "stopped", STOPPED)
    elif said:
        finish(db, key, "failed", said[-1], "\n".join(lines[-200:]))
    else:
        finish(db, key, "interrupted" if status == "FAILED" else "failed", LOST,
               "\n".join(lines[-200:]))


def finish(db, key: str, status: str, error: str, traceback: str | None = None) -> None:
    number = job_queue.comparison_of(key)
    if number is not None:
        queries.finish_comparison(db, number, status, error=error, traceback=traceback)
    else:
        queries.finish_run(db, key, status, error=error, traceback=traceback)


# ---- the worker's side ------------------------------------------------------------------------

def become_worker() -> None:
    """On the cluster: a database of this worker's own, seeded with its job's rows, and every
    recorded write streamed back as an event. Its home is the shared storage, or (storage at
    a URI) a folder of its own, its run's folder fetched from the URI first."""
    import tempfile

    folder, storage = tempfile.mkdtemp(prefix="workbench-ray-"), os.environ[STORAGE]
    os.environ["WORKBENCH_DB"] = os.path.join(folder, "workbench.db")
    os.environ["WORKBENCH_HOME"] = os.path.join(folder, "home") if is_uri(storage) else storage
    with fsspec.open(os.environ[SEED], "r", encoding="utf-8") as seed:
        tables = json.load(seed)
    db = connect(paths.db_path())
    for table, rows in tables.items():
        if rows:
            db[table].insert_all(rows, alter=True)
    if is_uri(storage) and "metrics" in tables:  # a run: its checkpoints, to resume from
        run_id = tables["runs"][0]["id"]
        fetch(remote_folder(storage, run_id), paths.run_dir(run_id))
    events.stream()


def leave_worker() -> None:
    """On the cluster, once the job's command has returned: a run's folder goes up to its
    URI storage (a shared path has it already)."""
    storage = os.environ[STORAGE]
    folder = paths.home() / "runs"
    if is_uri(storage) and folder.is_dir():
        for run in folder.iterdir():
            filesystem, root = fsspec.core.url_to_fs(remote_folder(storage, run.name))
            filesystem.put(str(run), root, recursive=True)


# ---- storage at a URI (s3://, gs://, …: any fsspec file system) ----------------------------

def is_uri(storage: str | None) -> bool:
    return bool(storage) and "://" in storage


def remote_folder(storage: str, run_id: str) -> str:
    return f"{storage.rstrip('/')}/runs/{run_id}"


def fetch(location: str, folder: Path) -> Path:
    """A run's folder at a URI, copied into `folder` once (the playground, exports and a
    resumed worker read it there); `folder` as it is when the URI holds nothing."""
    filesystem, root = fsspec.core.url_to_fs(location)
    if not folder.exists() and filesystem.exists(root):
        partial = folder.with_name(folder.name + ".partial")
        filesystem.get(root.rstrip("/") + "/", str(partial), recursive=True)
        partial.rename(folder)
    return folder
