"""Opening the workbench database.

One `Database` per thread (sqlite3 connections must not cross threads); WAL
lets a training thread write while pages read, and the busy timeout makes a
writer wait for a moment rather than fail with "database is locked".
"""

from pathlib import Path

from sqlite_utils import Database

from storage.schema import migrations

BUSY_TIMEOUT_MS = 10_000


def connect(path: str | Path) -> Database:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    db = Database(path)
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    db.enable_wal()
    db.execute("PRAGMA foreign_keys = ON")
    migrations.apply(db)
    return db
