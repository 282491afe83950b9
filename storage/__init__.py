"""SQLite storage of runs, metrics, evaluations, predictions and reviews (sqlite-utils)."""
