"""The job manager: launches the jobs of the home's one queue, each in a worker process of its
own, and supervises each from a background thread.

The queue is rows in SQLite (storage.job_queue), shared by every server and command line
on the home: a job launched here may be started by another process, and this one starts
the jobs another left waiting. A worker is the same engine the CLI runs
(`python -m core train --run-id ID`, `python -m core eval --job N`, or `accelerate launch`
of the former for several processes); it writes its metrics and status to SQLite itself,
holds the job's lock (handed over by the launcher, storage.locks) for as long as it lives,
and polls the queue for a stop request. The supervising thread waits for it; a worker
that dies without saying how its job ended (a native crash, an out-of-memory kill,
SIGKILL) ends it `failed` or `interrupted` here, with the reason and its log's tail, and
the next job starts. A server that restarts finds its workers still working.

On a Ray cluster (`backend: ray`), core.ray_backend submits the job and records the events
its worker streams back; no local slot is taken.

A job's key is its run's id, or `comparison_key(N)` for comparison N (the
`comparisons` row).
"""

import logging
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

from typing import TYPE_CHECKING

from core import launch, paths
from core.config import TrainConfig
from core.errors import WorkbenchError
from storage import job_queue, locks, queries
from storage.db import connect
from storage.job_queue import comparison_key, comparison_of  # noqa: F401 (the pages' names)

# The engine, comparisons and experiments import torch (5 s cold): every page opens the job
# manager, so they are imported where a job is checked, not here (a blank Home for 6 s).
if TYPE_CHECKING:
    from core.comparisons import Comparison
    from core.experiments import Plan

CANCELLED = "Cancelled while waiting in the queue; resume it to train it."
COMPARISON_CANCELLED = "Cancelled while waiting in the queue; nothing was scored."
STOPPED_EARLY = "Stopped while its worker was starting, before any step; start it again to run it."
POLL_SECONDS = 1.0  # how often an idle launcher looks for work another process queued
STOP_POLL_SECONDS = 0.25  # how often a worker looks for a stop another process asked for
LOCK_FD = "WORKBENCH_LOCK_FD"  # the worker's inherited lock, by file number
SLOTS = "WORKBENCH_JOBS"  # how many local jobs run at once


def job_slots() -> int:
    """How many local jobs run at once: WORKBENCH_JOBS, else one per GPU, else one (a CPU's
    cores are shared by every process, and two runs on them only slow each other)."""
    if os.environ.get(SLOTS, "").isdigit() and int(os.environ[SLOTS]) > 0:
        return int(os.environ[SLOTS])
    return max(1, gpu_count())


def gpu_count() -> int:
    torch = sys.modules.get("torch")  # not imported for this alone: it takes seconds
    return torch.cuda.device_count() if torch is not None and torch.cuda.is_available() else 0


class JobManager:
    def __init__(self, db_path: Path, own: frozenset[str] = frozenset(), launch: bool = True):
        """`own`: keys of jobs this process queued to run itself (a command line's): the
        launcher never starts those, it only tells `turn(key)` when their turn comes.
        `launch` False: a manager that only looks and stops (it starts nothing)."""
        self.db_path = db_path
        self.own = set(own)
        self._turns: dict[str, threading.Event] = {}
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = not launch
        self._local = threading.local()
        self.ensure_dispatching()

    def _db(self):
        """This thread's connection (sqlite3 connections do not cross threads, and a page
        may run in a new thread each time)."""
        if not hasattr(self._local, "db"):
            self._local.db = connect(self.db_path)
        return self._local.db

    # ---- queueing ------------------------------------------------------------------------

    def start(self, config: TrainConfig) -> str:
        """Check the config (raises WorkbenchError, nothing written), then queue it to train."""
        from core import engine

        prepared = engine.prepare(config)
        run_id = queries.create_run(self._db(), prepared.config.to_dict(),
                                    data_hash=prepared.data_hash, queue=self._queue_options(
                                        prepared.config))
        self._woken()
        return run_id

    def start_experiment(self, plan: "Plan") -> int:
        """Queue every run of a checked experiment (`experiments.plan`), in order; its id."""
        from core import experiments

        experiment_id, _ = experiments.record(self._db(), plan,
                                              queue=self._queue_options(plan.runs[0].config))
        self._woken()
        return experiment_id

    def stop_experiment(self, experiment_id: int) -> int:
        """Cancel an experiment's queued runs, then stop its running ones (cancelled first, the
        queue cannot start the next meanwhile). How many runs were cancelled or stopped."""
        from core import experiments

        runs = queries.experiment_runs(self._db(), experiment_id)
        return sum(self.stop(run_id) for run_id in experiments.cancel_order(runs))

    def resume(self, run_id: str) -> None:
        """Queue a stopped, failed or interrupted run to continue from its last checkpoint."""
        from core import engine

        db = self._db()
        prepared = engine.prepare_resume(db, run_id)
        engine.claim_for_resume(db, run_id, self._queue_options(prepared.config))
        self._woken()

    def compare(self, comparison: "Comparison") -> int:
        """Check a comparison (raises WorkbenchError, nothing written), then queue it; its id."""
        from core import comparisons

        db = self._db()
        comparisons.check_comparison(db, comparison)
        job_id = comparisons.create(db, comparison, queue={"backend": comparison.backend})
        self._woken()
        return job_id

    def _queue_options(self, config: TrainConfig) -> dict:
        return {"backend": config.backend}

    # ---- acting on jobs, whoever launched them ---------------------------------------------

    def stop(self, key: str) -> bool:
        """Stop a working job (a run after its current step, a comparison before its next
        batch), or cancel a waiting one, whichever process launched it. False if the job is
        neither working nor waiting."""
        db = self._db()
        if job_queue.cancel(db, key):
            cancelled(db, key)
            return True
        if not job_queue.request_stop(db, key):
            return False
        worker = WORKERS.get(key)
        if worker is not None:  # launched by this process: told at once, not at its next look
            interrupt(worker)
        return True

    def delete(self, run_id: str) -> None:
        """Remove a finished run: its rows and its folder under $WORKBENCH_HOME. Done holding
        the run's lock, so that no process (a CLI sweep, another server, a resume) works on
        it meanwhile; one that does makes it refused.

        An id naming no run removes nothing: its folder is never looked for by a name close
        to it (`run_dir` refuses one that is not a run id's shape)."""
        db = self._db()
        folder = paths.run_dir(run_id)
        queries.mark_interrupted(db, run_id)  # a run whose process has gone is no one's
        with locks.holding(locks.folder_of(db), run_id, "run"):
            run = queries.get_run(db, run_id)
            if run and (run["status"] in ("running", "queued") or job_queue.entry(db, run_id)):
                raise WorkbenchError(f"run {run_id} is training or queued; stop or cancel it "
                                     "before deleting it")
            if not queries.delete_run(db, run_id):
                raise WorkbenchError(f"no run {run_id}: nothing deleted")
            shutil.rmtree(folder, ignore_errors=True)
        locks.remove(locks.folder_of(db), run_id)

    # ---- what the queue holds ------------------------------------------------------------

    def active(self) -> str | None:
        """The key of a job working now (the longest-working), if any."""
        working = self.working()
        return working[0] if working else None

    def working(self) -> list[str]:
        return job_queue.working(self._db())

    def queued(self) -> list[str]:
        """Keys of the jobs waiting, next first."""
        return job_queue.waiting(self._db())

    def position(self, key: str) -> int | None:
        """1 for the next job to start; None if the job is not waiting."""
        return job_queue.position(self._db(), key)

    def wait(self, timeout: float | None = None) -> None:
        """Block until the queue is empty (tests, shutdown), or `timeout` seconds pass."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while job_queue.entries(self._db()):
            if deadline is not None and time.monotonic() > deadline:
                return
            time.sleep(0.2)

    def close(self) -> None:
        """Launch nothing more (the workers already started go on)."""
        self._closed = True
        self._wake.set()

    # ---- launching -----------------------------------------------------------------------

    def turn(self, key: str) -> threading.Event:
        """Set when this process's own job `key` is claimed for it: its turn to work."""
        with self._lock:
            self.own.add(key)
            event = self._turns.setdefault(key, threading.Event())
        self._woken()
        return event

    def ensure_dispatching(self) -> None:
        """Run the launcher thread if the queue holds anything (a page calls this each time:
        jobs another process left waiting start even if nothing is queued here)."""
        with self._lock:
            if self._closed or (self._thread is not None and self._thread.is_alive()):
                return
            self._thread = threading.Thread(target=self._dispatch, name="job-launcher",
                                            daemon=True)
            self._thread.start()

    def _woken(self) -> None:
        self._wake.set()
        self.ensure_dispatching()

    def _dispatch(self) -> None:
        """Claim and start jobs while slots are free; exit once the queue is empty, or when the
        database cannot be read (the pages say why in one line; the next visit tries again)."""
        try:
            self._claim_until_empty()
        except (WorkbenchError, sqlite3.DatabaseError) as error:
            logging.getLogger(__name__).warning("the job launcher stopped: %s", error)
            with self._lock:
                self._thread = None

    def _claim_until_empty(self) -> None:
        db = connect(self.db_path)
        while not self._closed:
            for entry, held in job_queue.unwatched(db):  # a watcher of a Ray job has gone
                self._launch(entry, held)
            claimed = job_queue.claim(db, job_slots(), frozenset(self.own))
            if claimed is not None:
                self._launch(*claimed)
                continue
            if not job_queue.entries(db):
                with self._lock:  # (a job queued meanwhile finds no thread, and starts one)
                    if not self._wake.is_set():
                        self._thread = None
                        return
            self._wake.wait(POLL_SECONDS)
            self._wake.clear()

    def _launch(self, entry: dict, held: locks.Held | None) -> None:
        key = entry["key"]
        if key in self.own:
            self._turns[key].set()
            return
        if entry["backend"] == job_queue.RAY:
            from core import ray_backend

            target, args = ray_backend.supervise, (self.db_path, key, held)
        else:
            target, args = supervise, (self.db_path, entry, held)
        threading.Thread(target=target, args=args, name=f"job {key}", daemon=True).start()


def cancelled(db, key: str) -> None:
    """A waiting job taken out of the queue: its row says so."""
    number = comparison_of(key)
    if number is not None:
        queries.finish_comparison(db, number, "stopped", error=COMPARISON_CANCELLED)
    else:
        queries.finish_run(db, key, "stopped", error=CANCELLED)


# ---- one local worker ------------------------------------------------------------------------

def supervise(db_path: Path, entry: dict, held: locks.Held) -> None:
    """Start the job's worker with its lock, wait for it, and say how it ended if it could not."""
    key = entry["key"]
    db = connect(db_path)
    log = log_path(key)
    try:
        argv = worker_argv(db, key)
        code = run_worker(key, argv, log, held, entry.get("slot"))
        record_unfinished(connect(db_path), key, code, log)
    except Exception as error:  # noqa: BLE001 - a launch that cannot start ends its job, says why
        record_unfinished(db, key, None, log, f"the worker could not start: "
                                              f"{type(error).__name__}: {error}")
    finally:
        job_queue.remove(db, key)
        held.release()


def worker_argv(db, key: str) -> list[str]:
    """The command line of a job's worker: the CLI's own commands."""
    number = comparison_of(key)
    if number is not None:
        return [sys.executable, "-m", "core", "eval", "--job", str(number)]
    from core.engine import stored_config

    config = stored_config(db, key)
    if launch.in_subprocess(config):
        return launch.launch_argv_for(config, key)
    return [sys.executable, "-m", "core", "train", "--run-id", key]


def log_path(key: str) -> Path:
    """Where a worker's output goes: its run's folder, or logs/ for a comparison."""
    number = comparison_of(key)
    path = paths.inside_home("logs", f"comparison-{number}.txt") if number is not None else \
        paths.run_dir(key) / launch.LOG_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def run_worker(key: str, argv: list[str], log: Path, held: locks.Held, slot: int | None) -> int:
    """Run a worker to its end, its output appended to `log`, holding the lock `held` too."""
    fd = held.inheritable()
    env = {**os.environ, "WORKBENCH_HOME": str(paths.home()), LOCK_FD: str(fd),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(launch.ROOT),
                                                       os.environ.get("PYTHONPATH")]))}
    if slot is not None and gpu_count():
        env["CUDA_VISIBLE_DEVICES"] = str(slot)  # one GPU per worker
    with open(log, "ab") as out:
        # Its own session: a Ctrl-C in the server's terminal is not a stop of every run.
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=launch.ROOT,
                                   env=env, pass_fds=(fd,), start_new_session=True)
        WORKERS[key] = process
        try:
            return process.wait()
        finally:
            WORKERS.pop(key, None)


WORKERS: dict[str, subprocess.Popen] = {}  # the workers this process launched, by job key


def interrupt(process: subprocess.Popen) -> None:
    """SIGINT to a worker's every process: each turns it into a stop at the same step."""
    try:
        os.killpg(process.pid, signal.SIGINT)
    except ProcessLookupError:
        pass  # it ended meanwhile


def record_unfinished(db, key: str, code: int | None, log: Path, reason: str | None = None) -> None:
    """A worker ended: if its job is still queued or running, it died before it could say
    how it ended. A signal (SIGKILL from the out-of-memory killer, say) leaves it
    `interrupted`, resumable; any other ending `failed`. Either way with the log's tail.
    (Stopped before the worker could hear it: `stopped`.)"""
    number = comparison_of(key)
    row = queries.get_comparison(db, number) if number is not None else queries.get_run(db, key)
    if row is None or row["status"] not in ("queued", "running"):
        return
    tail = launch.log_tail(log)
    if job_queue.stop_requested(db, key):  # stopped before its worker could take the stop
        status, reason = "stopped", STOPPED_EARLY
    elif reason is None and code is not None and code < 0:
        name = signal.Signals(-code).name
        status, reason = "interrupted", (
            f"the worker was killed by {name}" + (" (the out-of-memory killer sends it when "
                                                  "memory runs out)" if name == "SIGKILL" else "")
            + "; resume it to continue from its last checkpoint")
    else:
        status = "failed"
        reason = reason or said_error(tail) or (f"the worker ended (exit code {code}) before "
                                                "the job did; its log says why")
    if number is not None:
        queries.finish_comparison(db, number, status, error=reason, traceback=tail)
    else:
        queries.finish_run(db, key, status, error=reason, traceback=tail)


# ---- a command line's own jobs, and every worker ----------------------------------------------

def wait_turn(db, key: str, stop: threading.Event, say) -> bool:
    """Block until this process's own waiting job `key` is claimed for it, saying (through
    `say`) what it waits behind whenever that changes; False, the job cancelled, if `stop`
    is set first. Meanwhile this process launches the jobs ahead that no one else starts."""
    manager = JobManager(paths.db_path(), own=frozenset([key]))
    turn, said = manager.turn(key), None
    try:
        while not turn.wait(0.5):
            if stop.is_set() and job_queue.cancel(db, key):
                cancelled(db, key)
                return False
            line = queue_line(db, key)
            if line and line != said:
                say(line)
                said = line
        if stop.is_set():  # claimed as the stop came: end it as cancelled all the same
            cancelled(db, key)
            return False
        return True
    finally:
        manager.close()


def queue_line(db, key: str) -> str | None:
    """'queued behind 2 jobs: run A (working), comparison 4' for a job that waits."""
    entries = job_queue.entries(db)
    keys = [e["key"] for e in entries]
    if key not in keys:
        return None
    ahead = entries[:keys.index(key)]
    if not ahead:
        return "queued: starting next"
    names = ", ".join(title(db, e["key"]) + (" (working)" if e["state"] == "working" else "")
                      for e in ahead[:3]) + (", …" if len(ahead) > 3 else "")
    return f"queued behind {len(ahead)} job{'s' * (len(ahead) != 1)}: {names}"


def title(db, key: str | None) -> str:
    """'run <its name>' or 'comparison N': a job as a user knows it."""
    number = comparison_of(key)
    if number is not None:
        return f"comparison {number}"
    run = queries.get_run(db, key) if key else None
    return f"run {run['name'] if run else key}"


def hold_as_worker(key: str) -> None:
    """A worker's claim on its job: the lock its launcher handed over (WORKBENCH_LOCK_FD);
    inside `accelerate launch`, the launcher's own (it does not pass files on); else, a job
    continued by hand, the lock taken here (a WorkbenchError if another process has it)."""
    from core import distributed

    folder = locks.folder_of(connect(paths.db_path()))
    if distributed.launched():  # (its environment names a file only the launcher has open)
        locks.vouch(folder, key)
    elif os.environ.get(LOCK_FD):
        locks.adopt(folder, key, int(os.environ.pop(LOCK_FD)))
    elif locks.take(folder, key) is None:
        raise WorkbenchError(f"{key if comparison_of(key) is not None else 'run ' + key} is "
                             "being worked on by another process")


def stop_watch(key: str, stop: threading.Event):
    """A job's `should_stop`: `stop` (a signal to this process), or a stop requested through
    the queue by any process, looked up at most every STOP_POLL_SECONDS from the calling thread's
    own connection."""
    local = threading.local()
    looked = [0.0]

    def should_stop() -> bool:
        if not stop.is_set() and time.monotonic() - looked[0] >= STOP_POLL_SECONDS:
            looked[0] = time.monotonic()
            if not hasattr(local, "db"):
                local.db = connect(paths.db_path())
            if job_queue.stop_requested(local.db, key):
                stop.set()
        return stop.is_set()

    return should_stop


def said_error(log_tail: str) -> str | None:
    """The one line a worker's CLI printed for a bad input it met ('error: …'), if any."""
    lines = [line for line in log_tail.splitlines() if line.startswith("error: ")]
    return lines[-1].removeprefix("error: ") if lines else None
