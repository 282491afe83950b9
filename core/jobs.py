"""The job manager: one queue of training runs and comparisons, worked one at a time in a
background thread, so the two never compete for the CPU unannounced.

One instance per server process (the UI reaches it through an
`st.cache_resource` getter). Its API (start / resume / compare / stop / active /
queued) is the same whether a run trains in the worker thread or, when it asks
for several processes, in `accelerate launch` subprocesses (core.launch).
A launch while another job works is checked at once (bad input is refused with
nothing written), stored `queued`, and starts by itself when its turn comes;
a queued job can be cancelled. The worker never touches the UI: it writes to
SQLite through its own connection.

A job's key is its run's id, or `comparison_key(N)` for comparison N (the
`evaluation_jobs` row).
"""

import shutil
import threading
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from core import engine, evaluation_jobs, experiments, launch, paths
from core.config import TrainConfig
from core.errors import WorkbenchError
from core.evaluation_jobs import Comparison
from storage import queries
from storage.db import connect

CANCELLED = "Cancelled while waiting in the queue; resume it to train it."
COMPARISON_CANCELLED = "Cancelled while waiting in the queue; nothing was scored."
COMPARISON_PREFIX = "comparison "


def comparison_key(job_id: int) -> str:
    return f"{COMPARISON_PREFIX}{job_id}"


def comparison_of(key: str | None) -> int | None:
    """The comparison a job key names; None for a run's id (or no key)."""
    return int(key.removeprefix(COMPARISON_PREFIX)) if key and key.startswith(
        COMPARISON_PREFIX) else None


@dataclass
class Job:
    run_id: str
    prepared: engine.Prepared
    resume: bool = False

    @property
    def key(self) -> str:
        return self.run_id


@dataclass
class ComparisonJob:
    job_id: int
    comparison: Comparison

    @property
    def key(self) -> str:
        return comparison_key(self.job_id)


class JobManager:
    def __init__(self, db_path: Path):
        self.db_path = db_path
        self._lock = threading.Lock()
        self._queue: deque[Job | ComparisonJob] = deque()
        self._key: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # A new manager means a new server process: whatever the last one was running or
        # had queued died with it, and must not look alive (such runs can be resumed).
        queries.mark_interrupted(connect(db_path))
        queries.mark_evaluations_interrupted(connect(db_path))

    def start(self, config: TrainConfig) -> str:
        """Check the config (raises WorkbenchError, nothing written), then queue it to train."""
        prepared = engine.prepare(config)
        with self._lock:
            run_id = queries.create_run(connect(self.db_path), prepared.config.to_dict(),
                                        data_hash=prepared.data_hash)
            self._enqueue(Job(run_id, prepared))
        return run_id

    def start_experiment(self, plan: experiments.Plan) -> int:
        """Queue every run of a checked experiment (`experiments.plan`), in order; its id."""
        with self._lock:
            experiment_id, run_ids = experiments.record(connect(self.db_path), plan)
            for run_id, prepared in zip(run_ids, plan.runs):
                self._enqueue(Job(run_id, prepared))
        return experiment_id

    def stop_experiment(self, experiment_id: int) -> int:
        """Cancel an experiment's queued runs, then stop its running one (cancelled first, the
        queue cannot start the next meanwhile). How many runs were cancelled or stopped here."""
        runs = queries.experiment_runs(connect(self.db_path), experiment_id)
        return sum(self.stop(run_id) for run_id in experiments.cancel_order(runs))

    def resume(self, run_id: str) -> None:
        """Queue a stopped, failed or interrupted run to continue from its last checkpoint."""
        db = connect(self.db_path)
        prepared = engine.prepare_resume(db, run_id)
        with self._lock:
            engine.claim_for_resume(db, run_id)
            self._enqueue(Job(run_id, prepared, resume=True))

    def compare(self, comparison: Comparison) -> int:
        """Check a comparison (raises WorkbenchError, nothing written), then queue it; its id."""
        db = connect(self.db_path)
        evaluation_jobs.check_comparison(db, comparison)
        with self._lock:
            job_id = evaluation_jobs.create(db, comparison)
            self._enqueue(ComparisonJob(job_id, comparison))
        return job_id

    def stop(self, key: str) -> bool:
        """Stop the job working now (a run after its current step, a comparison before its
        next batch), or cancel a queued one. False if it is neither working nor queued here."""
        with self._lock:
            if key == self._key:
                self._stop.set()
                return True
            job = next((j for j in self._queue if j.key == key), None)
            if job is None:
                return False
            self._queue.remove(job)
        db = connect(self.db_path)
        if isinstance(job, ComparisonJob):
            queries.finish_evaluation_job(db, job.job_id, "stopped", error=COMPARISON_CANCELLED)
        else:
            queries.finish_run(db, key, "stopped", error=CANCELLED)
        return True

    def delete(self, run_id: str) -> None:
        """Remove a finished run: its rows and its folder under $WORKBENCH_HOME.

        An id naming no run removes nothing: its folder is never looked for by a name close
        to it (`run_dir` refuses one that is not a run id's shape).
        """
        with self._lock:
            if run_id == self._key or run_id in self.queued():
                raise WorkbenchError(f"run {run_id} is training or queued; stop or cancel it "
                                     "before deleting it")
            folder = paths.run_dir(run_id)
            if not queries.delete_run(connect(self.db_path), run_id):
                raise WorkbenchError(f"no run {run_id}: nothing deleted")
            shutil.rmtree(folder, ignore_errors=True)

    def active(self) -> str | None:
        """The key of the job working now (a run's id, or a comparison's key), if any."""
        return self._key

    def queued(self) -> list[str]:
        """Keys of the jobs waiting, next first."""
        return [job.key for job in list(self._queue)]

    def position(self, key: str) -> int | None:
        """1 for the next job to start; None if the job is not waiting."""
        waiting = self.queued()
        return waiting.index(key) + 1 if key in waiting else None

    def wait(self, timeout: float | None = None) -> None:
        """Block until the queue is empty and the last run has ended (tests, shutdown)."""
        while (thread := self._thread) is not None:
            thread.join(timeout)
            if thread.is_alive():
                return  # timed out

    def _enqueue(self, job: Job) -> None:
        """Add a job; start the worker if none is running (call with the lock held)."""
        self._queue.append(job)
        if self._thread is None:
            self._thread = threading.Thread(target=self._work_through_queue, name="job-worker",
                                            daemon=True)
            self._thread.start()

    def _work_through_queue(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._key = self._thread = None
                    return
                job = self._queue.popleft()
                self._key = job.key
                self._stop.clear()
            if isinstance(job, ComparisonJob):
                self._compare(job)
            else:
                self._train(job)

    def _compare(self, job: ComparisonJob) -> None:
        try:
            evaluation_jobs.execute(connect(self.db_path), job.job_id, job.comparison,
                                    self._stop.is_set)
        except Exception as error:  # execute stores its own failures; this is the database failing
            queries.finish_evaluation_job(connect(self.db_path), job.job_id, "failed",
                                          error=f"{type(error).__name__}: {error}")

    def _train(self, job: Job) -> None:
        try:
            if launch.in_subprocess(job.prepared.config):
                self._train_launched(job)
            else:
                engine.execute(connect(self.db_path), job.run_id, job.prepared, self._stop.is_set,
                               resume=job.resume)
        except Exception as error:  # execute stores its own failures; this is the database failing
            queries.finish_run(connect(self.db_path), job.run_id, "failed",
                               error=f"{type(error).__name__}: {error}")

    def _train_launched(self, job: Job) -> None:
        """Through `accelerate launch`: the launched main process records the run as a thread
        would; if the launch dies before it could say how the run ended, say it here."""
        log = paths.run_dir(job.run_id) / launch.LOG_FILE
        code = launch.run_launched(launch.launch_argv_for(job.prepared.config, job.run_id), log,
                                   self._stop)
        db = connect(self.db_path)
        if queries.get_run(db, job.run_id)["status"] not in ("queued", "running"):
            return
        if self._stop.is_set():  # stopped before its processes could take the request
            queries.finish_run(db, job.run_id, "stopped")
        else:
            queries.finish_run(db, job.run_id, "failed", error="the launched processes ended "
                               f"(exit code {code}) before the run did; its log says why",
                               traceback=launch.log_tail(log))
