"""Shaping runs for the Runs page: the table, config differences, CSV exports."""

import json
from collections import Counter

import pandas as pd

from core.spreadsheet import csv_text
from storage import queries

COLUMNS = ["name", "id", "status", "model", "method", "adapter", "dataset", "test_accuracy",
           "test_f1", "duration", "created_at", "experiment"]


def runs_frame(runs: list[dict], now: pd.Timestamp | None = None) -> pd.DataFrame:
    """One row per run, with its duration (up to now for a run still going)."""
    frame = pd.DataFrame(runs)
    now = now or pd.Timestamp.now(tz="UTC")
    started = pd.to_datetime(frame["started_at"], utc=True)
    finished = pd.to_datetime(frame["finished_at"], utc=True).fillna(now)
    frame["duration"] = (finished - started).dt.total_seconds().round()
    for column in ("test_accuracy", "test_f1"):  # blank, not "None", where a run has none
        frame[column] = pd.to_numeric(frame[column])
    return frame[COLUMNS]


def run_labels(runs: list[dict]) -> dict[str, str]:
    """Each run's id -> its name, with the end of its id added where runs share a name (a
    legend or a column must still tell them apart)."""
    names = {r["id"]: r["name"] or r["id"] for r in runs}
    counts = Counter(names.values())
    return {run_id: f"{name} · {run_id[-6:]}" if counts[name] > 1 else name
            for run_id, name in names.items()}


def run_names(db) -> dict[str, str]:
    """Every run's id -> the name pages show for it (`run_labels`)."""
    return run_labels(queries.list_runs(db))


def config_diff(runs: list[dict], labels: dict[str, str]) -> pd.DataFrame:
    """Settings (rows) by run (columns, headed by `labels`), only those on which the runs differ."""
    configs = pd.DataFrame({labels[r["id"]]: json.loads(r["config"]) for r in runs})
    differs = configs.astype(str).nunique(axis=1) > 1
    return configs[differs]


def metrics_csv(db, run_id: str) -> str:
    return csv_text(pd.DataFrame(queries.run_metrics(db, run_id)))


def predictions_csv(db, run_id: str) -> str:
    rows = [
        {"mode": e["mode"], "split": e["split"], **p}
        for e in queries.run_evaluations(db, run_id)
        for p in queries.evaluation_predictions(db, e["id"])
    ]
    return csv_text(pd.DataFrame(rows))
