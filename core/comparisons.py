"""A comparison as a job: its evaluations run one after another, each stored as it finishes.

The job manager queues a comparison beside training runs (one queue, so the two
never share the CPU unannounced); the CLI's `eval` runs one in its own process.
Either way its row in `comparisons` says where it stands (queued, running
with progress, completed, stopped, failed, interrupted) and which evaluations
it stored, so a page left and come back to finds it, and a stop keeps the
executions that finished.
"""

import dataclasses
import time
import traceback
from dataclasses import dataclass, field

from core.errors import WorkbenchError
from core.evaluate import EvalConfig, check, evaluate
from core.hooks import StopRequested
from storage import job_queue, locks, queries

PROGRESS_SECONDS = 1.0  # how often progress is written: a page polls it, no faster is useful


@dataclass
class Comparison:
    """What to score on one test split: prompting settings and fine-tuned runs."""
    configs: list[EvalConfig] = field(default_factory=list)
    runs: list[str] = field(default_factory=list)
    limit: int | None = 200
    backend: str = "local"  # or "ray": scored on the Ray cluster (core.ray_backend)
    ray_address: str | None = None

    def parts(self) -> list[EvalConfig]:
        """One EvalConfig per thing to score, in the order they run."""
        return [*self.configs, *(EvalConfig(run=run, limit=self.limit) for run in self.runs)]

    def to_dict(self) -> dict:
        return {"configs": [dataclasses.asdict(c) for c in self.configs], "runs": self.runs,
                "limit": self.limit, "backend": self.backend, "ray_address": self.ray_address}

    @classmethod
    def from_dict(cls, settings: dict) -> "Comparison":
        configs = [EvalConfig(**{**c, "shots": tuple(c["shots"])}) for c in settings["configs"]]
        return cls(configs, list(settings["runs"]), settings["limit"],
                   settings.get("backend", "local"), settings.get("ray_address"))

    def name(self) -> str:
        """What it compares, in a line: '<models> prompted on <data set> · N runs'."""
        parts = []
        if self.configs:
            shots = "/".join(str(k) for k in self.configs[0].shots)
            parts.append(f"{', '.join(c.model for c in self.configs)} {shots}-shot on "
                         f"{self.configs[0].dataset}")
        if self.runs:
            parts.append(f"{len(self.runs)} fine-tuned run{'s' * (len(self.runs) > 1)}")
        return " · ".join(parts)


def check_comparison(db, comparison: Comparison) -> None:
    """Refuse (WorkbenchError) what cannot run, before anything is queued or written."""
    if not comparison.parts():
        raise WorkbenchError("choose at least one model to prompt or one fine-tuned run")
    if comparison.backend == "ray":  # an unreachable cluster: one line, nothing written
        from core.ray_backend import check_cluster

        check_cluster(comparison.ray_address)
    for config in comparison.parts():
        check(config, db)


def create(db, comparison: Comparison, queue: dict | None = None, hold=None) -> int:
    """The comparison's row, `queued` (with its queue row: `queue`, job_queue.enqueue's
    options; without, the caller holds its lock and runs it beside the queue). `hold(id)`:
    queries.create_comparison's."""
    return queries.create_comparison(db, comparison.name(), comparison.to_dict(), queue,
                                         hold)


def stored(db, job_id: int) -> Comparison:
    return Comparison.from_dict(queries.get_comparison(db, job_id)["settings"])


def score(db, job_id: int, comparison: Comparison, should_stop, echo=None) -> None:
    """Run the comparison, storing its progress and how it ended; never raises for what the
    comparison does (a failure is stored with its one line and its traceback). `echo` gets
    every progress report (overall fraction, text), as a terminal shows them. Alive while
    its lock is held (by this process, or the launcher that started it)."""
    with locks.holding(locks.folder_of(db), job_queue.comparison_key(job_id), "comparison"):
        _score(db, job_id, comparison, should_stop, echo)


def _score(db, job_id: int, comparison: Comparison, should_stop, echo) -> None:
    queries.update_comparison(db, job_id, status="running")
    parts = comparison.parts()
    progress = _ProgressWriter(db, job_id, len(parts), should_stop, echo)
    try:
        for number, config in enumerate(parts):
            progress.part = number, config.model or f"run {config.run}"
            evaluate(config, db, progress, progress.keep)
            if should_stop() and number + 1 < len(parts):
                raise StopRequested
    except StopRequested:
        queries.finish_comparison(db, job_id, "stopped",
                                      error=stopped_line(len(progress.stored)))
        return
    except Exception as error:  # noqa: BLE001 - whatever it is, the job says it and ends
        line = str(error) if isinstance(error, WorkbenchError) else \
            f"{type(error).__name__}: {error}"
        queries.finish_comparison(db, job_id, "failed", error=line,
                                      traceback=traceback.format_exc())
        return
    queries.update_comparison(db, job_id, progress=1.0, progress_text="done")
    queries.finish_comparison(db, job_id, "completed")


def left_out(db, job: dict) -> list[str]:
    """Each system the comparison was asked for that its result (the evaluations on the job's
    split) does not show, and why: scored on other examples, or not scored at all."""
    comparison = Comparison.from_dict(job["settings"])
    kept = queries.get_evaluations(db, job["evaluation_ids"]) if job["evaluation_ids"] else []
    # Each system asked for: its name, and what its evaluations hold.
    asked = [(f"{config.model} {shots}-shot", {"run_id": None, "model": config.model,
                                               "shots": shots})
             for config in comparison.configs for shots in config.shots]
    for run in comparison.runs:
        found = queries.get_run(db, run)
        asked.append((f"run {found['name'] if found else run}", {"run_id": run}))
    lines = []
    for name, holds in asked:
        splits = {e["split"] for e in kept if all(e[k] == v for k, v in holds.items())}
        if job["split"] in splits:
            continue
        if splits:
            lines.append(f"{name}: scored on other examples ({'; '.join(sorted(splits))}); "
                         "choose those examples below to see it")
        else:
            lines.append(f"{name}: not scored ({unscored_reason(job)})")
    return lines


def unscored_reason(job: dict) -> str:
    return {"completed": "its evaluations were deleted since, with their run",
            "stopped": "the comparison was stopped before it",
            "failed": "the comparison failed before it"}.get(
        job["status"], f"the comparison ended {job['status']} before it")


def stopped_line(kept: int) -> str:
    if not kept:
        return "Stopped before any execution finished; nothing was stored."
    return (f"Stopped; the {kept} execution{'s' * (kept != 1)} finished before the stop "
            f"{'are' if kept != 1 else 'is'} kept.")


class _ProgressWriter:
    """The `on_progress` of each evaluation: writes the job's overall progress at most every
    PROGRESS_SECONDS, and turns a stop request into StopRequested (checked every batch)."""

    def __init__(self, db, job_id: int, parts: int, should_stop, echo=None):
        self.db, self.job_id, self.parts, self.should_stop = db, job_id, parts, should_stop
        self.echo = echo or (lambda done, text: None)
        self.part = (0, "")
        self.written = 0.0
        self.stored: list[int] = []

    def __call__(self, done: float, text: str) -> None:
        if self.should_stop():
            raise StopRequested
        number, name = self.part
        overall, line = (number + done) / self.parts, f"{name}: {text}"
        self.echo(overall, line)
        if time.monotonic() - self.written >= PROGRESS_SECONDS:
            queries.update_comparison(self.db, self.job_id, progress=overall,
                                          progress_text=line)
            self.written = time.monotonic()

    def keep(self, evaluation_id: int) -> None:
        """An execution stored: the job lists it at once, so a stop or a crash keeps it."""
        self.stored.append(evaluation_id)
        queries.update_comparison(self.db, self.job_id, evaluation_ids=self.stored,
                                      split=_split_of(self.db, self.stored))


def _split_of(db, ids: list[int]) -> str | None:
    rows = queries.get_evaluations(db, ids[:1]) if ids else []
    return rows[0]["split"] if rows else None
