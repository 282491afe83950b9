"""Opening the workbench database.

One `Database` per thread (sqlite3 connections must not cross threads); WAL
lets a training thread write while pages read, and the busy timeout makes a
writer wait for a moment rather than fail with "database is locked". The
schema version (`PRAGMA user_version`) is the number of migrations applied.
"""

from pathlib import Path

from sqlite_utils import Database

from core.errors import WorkbenchError
from storage.schema import migrations

BUSY_TIMEOUT_MS = 10_000


def connect(path: str | Path) -> Database:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    db = Database(path)
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    db.enable_wal()
    db.execute("PRAGMA foreign_keys = ON")
    check_not_newer(db, path)
    migrations.apply(db)
    db.execute(f"PRAGMA user_version = {len(migrations.applied(db))}")
    return db


def schema_version(db: Database) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def check_not_newer(db: Database, path: Path) -> None:
    """A file a newer workbench migrated may hold what this one cannot read: say so, change nothing."""
    known = {m.name for m in migrations.pending(Database(memory=True))}  # every one there is
    unknown = [m.name for m in migrations.applied(db) if m.name not in known]
    if unknown:
        raise WorkbenchError(f"{path} was written by a newer version of the workbench (schema "
                             f"changes {', '.join(unknown)}); upgrade the workbench to open it")
