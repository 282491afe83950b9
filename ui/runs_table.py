"""Shaping runs for the Runs page: the table, config differences, CSV exports."""

import json

import pandas as pd

from storage import queries

COLUMNS = ["id", "name", "status", "model", "method", "adapter", "dataset", "test_accuracy",
           "test_f1", "duration", "created_at"]


def runs_frame(runs: list[dict], now: pd.Timestamp | None = None) -> pd.DataFrame:
    """One row per run, with its duration (up to now for a run still going)."""
    frame = pd.DataFrame(runs)
    now = now or pd.Timestamp.now(tz="UTC")
    started = pd.to_datetime(frame["started_at"], utc=True)
    finished = pd.to_datetime(frame["finished_at"], utc=True).fillna(now)
    frame["duration"] = (finished - started).dt.total_seconds().round()
    return frame[COLUMNS]


def config_diff(runs: list[dict]) -> pd.DataFrame:
    """Settings (rows) by run (columns), only those on which the runs differ."""
    configs = pd.DataFrame({r["id"]: json.loads(r["config"]) for r in runs})
    differs = configs.astype(str).nunique(axis=1) > 1
    return configs[differs]


def metrics_csv(db, run_id: str) -> str:
    return pd.DataFrame(queries.run_metrics(db, run_id)).to_csv(index=False)


def predictions_csv(db, run_id: str) -> str:
    rows = [
        {"mode": e["mode"], "split": e["split"], **p}
        for e in queries.run_evaluations(db, run_id)
        for p in queries.evaluation_predictions(db, e["id"])
    ]
    return pd.DataFrame(rows).to_csv(index=False)
