"""Opening the workbench database.

One `Database` per thread (sqlite3 connections must not cross threads); WAL
lets a training thread write while pages read, and the busy timeout makes a
writer wait for a moment rather than fail with "database is locked". The
schema version (`PRAGMA user_version`) is the number of migrations applied.

A file that cannot be the workbench's database (damaged, truncated, read-only, or emptied
while runs exist) is refused with one line naming it and saying what to do; nothing in it
is changed. A read-only file is refused rather than opened read-only: the job manager
writes as soon as a page opens, and a page that lists runs but fails on every button is
worse than one line saying "make it writable".
"""

import os
import sqlite3
import time
from pathlib import Path

from sqlite_utils import Database

from core.errors import WorkbenchError
from storage.schema import migrations

BUSY_TIMEOUT_MS = 10_000
SQLITE_HEADER_BYTES = 100
RESTORE = "restore it from a backup, or move it away to start a new one"
# What sqlite says about a file, and what the user can do about it.
FILE_ERRORS = {
    "file is not a database": f"is not a SQLite database (damaged, or another kind of file); "
                              f"{RESTORE}",
    "malformed": f"is damaged or truncated (database disk image is malformed); {RESTORE}",
    "readonly": "is read-only; the workbench writes to it even to show its pages: make the file "
                "and its folder writable, or point WORKBENCH_HOME to a writable copy",
    "unable to open": "cannot be opened; check that its folder exists and is writable",
    "disk is full": "cannot be written: the disk is full; free some space and try again",
    "disk I/O error": "cannot be read or written (disk I/O error); check the disk it is on",
}


def connect(path: str | Path) -> Database:
    path = Path(path)
    check_file(path)
    try:
        return _open(path)
    except sqlite3.DatabaseError as error:  # OperationalError included
        said = file_error(path, error)
        if said is None:  # not about the file: a bug, with its traceback
            raise
        raise said from None


def file_error(path: str | Path, error: sqlite3.DatabaseError) -> WorkbenchError | None:
    """What sqlite's error says of the file, in one line naming it and what to do; None for
    an error that is not about the file. At open, and for damage met later (a damaged
    table read by a page, a backup copied over the live file)."""
    reason = next((why for said, why in FILE_ERRORS.items() if said in str(error)), None)
    return WorkbenchError(f"{path} {reason}") if reason else None


def _open(path: Path) -> Database:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise WorkbenchError(f"cannot create {path.parent} ({error.strerror}); set "
                             "WORKBENCH_HOME to a folder you can write to") from None
    db = Database(path)
    db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    retried_when_locked(db.enable_wal)  # (switching a new file's journal takes its lock)
    db.execute("PRAGMA foreign_keys = ON")
    check_not_newer(db, path)
    retried_when_locked(lambda: migrate(db))
    return db


def empty() -> Database:
    """An empty database in memory, with the schema: what a command reads while it checks its
    input in a home that has no file yet, so that one it refuses leaves nothing behind."""
    db = Database(memory=True)
    migrate(db)
    return db


MIGRATION_TRIES = 5


def retried_when_locked(step) -> None:
    """`step()`, tried again a few times while SQLite answers "database is locked" at once:
    processes opening a new file together race for its first writes, and SQLite cannot wait
    for a write lock a reader of an older snapshot already holds."""
    for attempt in range(MIGRATION_TRIES):
        try:
            return step()
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or attempt == MIGRATION_TRIES - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


def migrate(db: Database) -> None:
    """Apply the pending migrations (two processes opening a new file at once, a CLI run and
    a page, both get here: `apply_alone` lets one apply them, the other finds none left)."""
    if migrations.pending(db):
        apply_alone(db)
    applied = len(migrations.applied(db))
    # Only when it changes: setting it is a write, and every page rerun opens a connection;
    # a write there made a worker's transaction fail "database is locked" at once (a stale
    # read snapshot cannot wait for the lock).
    if schema_version(db) != applied:
        db.execute(f"PRAGMA user_version = {applied}")


def apply_alone(db: Database) -> None:
    """The pending migrations, read and applied under the write lock, taken first: two
    processes that both read the same pending list would both run its first migration, and
    the second would create a table the first had just made."""
    db.execute("BEGIN IMMEDIATE")  # waits (busy_timeout) for another migrating process
    try:
        migrations.apply(db)  # each migration in a savepoint of this transaction
    except BaseException:
        db.conn.rollback()
        raise
    db.conn.commit()


def check_file(path: Path) -> None:
    """Refuse, before sqlite touches it, a file it would misread: an empty file beside run
    folders (sqlite would start a new database and lose every run), one shorter than a
    header. By its size only: opening the file from Python to read its header would, on
    closing, drop every POSIX lock SQLite holds on it in this process (the training
    thread's, say), and let another connection read a half-written state."""
    if not path.is_file():
        return
    if not (os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)):
        # Said here, not by a write: opening a connection writes nothing (see `migrate`).
        raise WorkbenchError(f"{path} {FILE_ERRORS['readonly']}")
    size = path.stat().st_size
    if size == 0:
        check_no_runs(path)
    elif size < SQLITE_HEADER_BYTES:
        raise WorkbenchError(f"{path} is truncated ({size} bytes, less than a SQLite header); "
                             f"{RESTORE}")


def check_no_runs(path: Path) -> None:
    """An empty file is a new database, unless runs exist: then it is a lost one."""
    runs = path.parent / "runs"
    count = sum(1 for _ in runs.iterdir()) if runs.is_dir() else 0
    if count:
        raise WorkbenchError(f"{path} is empty (0 bytes) but {runs} holds {count} run "
                             f"folder(s): the database was lost; restore it from a backup, "
                             "or move the runs folder away to start afresh")


def schema_version(db: Database) -> int:
    return db.execute("PRAGMA user_version").fetchone()[0]


def check_not_newer(db: Database, path: Path) -> None:
    """A file a newer workbench migrated may hold what this one cannot read: say so, change nothing."""
    known = {m.name for m in migrations.pending(Database(memory=True))}  # every one there is
    unknown = [m.name for m in migrations.applied(db) if m.name not in known]
    if unknown:
        raise WorkbenchError(f"{path} was written by a newer version of the workbench (schema "
                             f"changes {', '.join(unknown)}); upgrade the workbench to open it")
