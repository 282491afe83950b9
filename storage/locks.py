"""Liveness without clocks: a job is alive while a process holds its lock.

A job's owner takes an exclusive `flock` on the job's lock file in `locks/` beside the
database ($WORKBENCH_HOME/locks) and keeps the file open for as long as it works. The kernel
drops the lock when the last process holding it ends, however it ends (SIGKILL, an
out-of-memory kill, a native crash), so "is the lock free?" answers "is the owner
gone?" at once, and no clock step, paused machine or reused pid can fool it.

A launcher takes the lock before it starts a worker and hands the open file to it
(`inheritable`): the lock is held from the moment a job is claimed to the moment
its last holder exits, with no gap for another process to see it free.
"""

import contextlib
import fcntl
import os
import re
import threading
import time
from pathlib import Path

from core.errors import WorkbenchError

# A looker's probe (`is_held`) holds a free lock for an instant: a few short tries see past it.
TAKE_TRIES = 10


def folder_of(db) -> Path:
    """The locks folder beside a database's file."""
    file = next(row[2] for row in db.execute("PRAGMA database_list").fetchall() if row[1] == "main")
    return Path(file).parent / "locks"


def lock_path(folder: Path, key: str) -> Path:
    """The lock file of a job key (a run id, or 'comparison N'), a plain file name."""
    return folder / (re.sub(r"[^A-Za-z0-9_-]+", "_", key) + ".lock")


_HELD: dict[Path, "Held"] = {}  # the locks this process holds, by file: taking one again is a no-op
_REGISTRY = threading.Lock()


class Held:
    """An exclusive lock this process holds on a job until `release` (or its exit)."""

    def __init__(self, path: Path, fd: int):
        self.path, self.fd = path, fd
        with _REGISTRY:
            _HELD[path] = self

    def inheritable(self) -> int:
        """The open file's number, passed to a worker (subprocess pass_fds) so the worker
        holds the same lock: it stays held while either lives."""
        os.set_inheritable(self.fd, True)
        return self.fd

    def release(self) -> None:
        with _REGISTRY:
            if _HELD.get(self.path) is self:
                del _HELD[self.path]
        if self.fd >= 0:
            os.close(self.fd)  # the lock goes with the last open copy of this file
            self.fd = -1


def take(folder: Path, key: str) -> Held | None:
    """The job's lock for this process, or None when another process holds it."""
    path = lock_path(folder, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    for _ in range(TAKE_TRIES):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return Held(path, fd)
        except BlockingIOError:
            time.sleep(0.01)
    os.close(fd)
    return None


def adopt(folder: Path, key: str, fd: int) -> Held:
    """A lock a launcher handed to this worker: checked to be the job's and held."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the same open file: succeeds at once
    except OSError as error:
        raise RuntimeError(f"file {fd} handed to this worker holds no lock of job {key}: "
                           f"{error}") from None
    path = lock_path(folder, key)
    if os.fstat(fd).st_ino != path.stat().st_ino:
        raise RuntimeError(f"file {fd} handed to this worker is not the lock of job {key}")
    return Held(path, fd)


def vouch(folder: Path, key: str) -> None:
    """Count the job's lock as held here: the process that started this one holds it."""
    Held(lock_path(folder, key), -1)


def held_here(folder: Path, key: str) -> bool:
    """Whether this process holds the job's lock."""
    return lock_path(folder, key) in _HELD


@contextlib.contextmanager
def holding(folder: Path, key: str, what: str = "job"):
    """The job's lock for the block, unless this process holds it already (a launcher's, a
    command line's); a WorkbenchError when another process holds it."""
    if held_here(folder, key):
        yield
        return
    held = take(folder, key)
    if held is None:
        raise WorkbenchError(f"{what} {key} is being worked on by another process; stop it "
                             "there first")
    try:
        yield
    finally:
        held.release()


def is_held(folder: Path, key: str) -> bool:
    """Whether a live process holds the job's lock (this one included)."""
    path = lock_path(folder, key)
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # (also drops the probe's lock, if it got it)
    return False


def remove(folder: Path, key: str) -> None:
    """Forget a deleted job's lock file (held by no one: its job has ended)."""
    lock_path(folder, key).unlink(missing_ok=True)
