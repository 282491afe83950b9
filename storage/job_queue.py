"""The queue of one home, shared by every process that opens its database.

A job (a run's id, or 'comparison N') waits as a row and works as a row; rows are taken in
the order of their ids (never by a clock). A launcher claims the next one atomically
(`claim`: one write transaction, so two servers and a command line never take the same
job or one slot twice). A working row is alive while a process holds the job's lock
(storage.locks); a row whose lock is free belongs to a process that is gone and is
dropped (its run then reads `interrupted`, see queries.mark_interrupted).

Rows a command line queued for itself (`starter` 'self') are started by that command
only: it holds the job's lock while it waits, so its waiting row vanishes with it too.
Ray jobs wait for no slot (the cluster schedules them) and are watched, not locked.
"""

import contextlib

from sqlite_utils import Database

from storage import locks

LOCAL, RAY = "local", "ray"
COMPARISON_PREFIX = "comparison "


def comparison_key(job_id: int) -> str:
    """The queue's key of comparison N (an `comparisons` row); a run's key is its id."""
    return f"{COMPARISON_PREFIX}{job_id}"


def comparison_of(key: str | None) -> int | None:
    """The comparison a job key names; None for a run's id (or no key)."""
    return int(key.removeprefix(COMPARISON_PREFIX)) if key and key.startswith(
        COMPARISON_PREFIX) else None


def enqueue(db: Database, key: str, backend: str = LOCAL, starter: str | None = None,
            working: bool = False) -> None:
    """Add a job at the end of the queue (`working`: beside the queue, at once). Call it in
    the transaction that makes the job `queued`: a queued job with no row is a lost one."""
    db.execute("insert into job_queue (key, state, starter, backend, stop_requested) "
               "values (?, ?, ?, ?, 0)",
               [key, "working" if working else "waiting", starter, backend])


def entries(db: Database) -> list[dict]:
    """Every job waiting or working, in queue order, once the dead are dropped."""
    drop_dead(db)
    return list(db.query("select * from job_queue order by id"))


def entry(db: Database, key: str) -> dict | None:
    rows = list(db.query("select * from job_queue where key = ?", [key]))
    return rows[0] if rows else None


def waiting(db: Database) -> list[str]:
    """Keys of the jobs waiting, next first."""
    return [e["key"] for e in entries(db) if e["state"] == "waiting"]


def working(db: Database) -> list[str]:
    """Keys of the jobs working now, the longest-working first."""
    return [e["key"] for e in entries(db) if e["state"] == "working"]


def position(db: Database, key: str) -> int | None:
    """1 for the next job to start; None when the job is not waiting."""
    keys = waiting(db)
    return keys.index(key) + 1 if key in keys else None


def cancel(db: Database, key: str) -> bool:
    """Take a waiting job out of the queue; False when it is not waiting (any more)."""
    with db.conn:
        cursor = db.conn.execute("delete from job_queue where key = ? and state = 'waiting'",
                                 [key])
    return cursor.rowcount == 1


def request_stop(db: Database, key: str) -> bool:
    """Ask a working job to stop (its worker polls `stop_requested`); False if not working."""
    with db.conn:
        cursor = db.conn.execute("update job_queue set stop_requested = 1 where key = ? and "
                                 "state = 'working'", [key])
    return cursor.rowcount == 1


def stop_requested(db: Database, key: str) -> bool:
    found = db.execute("select stop_requested from job_queue where key = ?", [key]).fetchone()
    return bool(found and found[0])


def remove(db: Database, key: str) -> None:
    with db.conn:
        db.conn.execute("delete from job_queue where key = ?", [key])


def claim(db: Database, slots: int, own: frozenset[str] = frozenset()
          ) -> tuple[dict, locks.Held | None] | None:
    """Start the next job that may start: the job, working, with its lock taken for this
    process (a job in `own` is this process's, whose lock it holds already: None); else None.

    Local jobs start in queue order, one per free slot of the machine, the first always
    first: one that waits for its own command line holds back those behind it until that
    command takes it. A Ray job waits for no slot (the cluster schedules it)."""
    folder = locks.folder_of(db)
    with immediate(db):
        drop_dead(db)
        rows = list(db.query("select * from job_queue order by id"))
        job, slot = next_startable(rows, slots, own)
        if job is None:
            return None
        mine = job["key"] in own
        held = None if mine else locks.take(folder, job["key"])
        if not mine and held is None:
            return None  # (a process is still letting go of it)
        db.execute("update job_queue set state = 'working', slot = ? where key = ?",
                   [slot, job["key"]])
    return dict(job, state="working", slot=slot), held


def next_startable(rows: list[dict], slots: int, own: frozenset[str]
                   ) -> tuple[dict | None, int | None]:
    """The waiting job to start now, and its slot (None for a Ray job), from the queue's rows."""
    waiting = [r for r in rows if r["state"] == "waiting"]
    ray = next((r for r in waiting if r["backend"] == RAY and (r["starter"] != "self" or
                                                                r["key"] in own)), None)
    if ray is not None:
        return ray, None
    local = next((r for r in waiting if r["backend"] == LOCAL), None)
    taken = {r["slot"] for r in rows if r["state"] == "working" and r["backend"] == LOCAL}
    free = [slot for slot in range(slots) if slot not in taken]
    if local is None or not free or (local["starter"] == "self" and local["key"] not in own):
        return None, None
    return local, free[0]


def unwatched(db: Database) -> list[tuple[dict, locks.Held]]:
    """Ray jobs working with no process watching them (their watcher's lock free), each now
    this process's to watch, its lock taken."""
    folder, found = locks.folder_of(db), []
    for row in db.query("select * from job_queue where backend = ? and state = 'working'", [RAY]):
        held = None if locks.held_here(folder, row["key"]) else locks.take(folder, row["key"])
        if held is not None:
            found.append((row, held))
    return found


def drop_dead(db: Database) -> list[str]:
    """Drop the rows whose process is gone: working locally, or waiting for a command line
    that queued it, with the job's lock free. Their keys."""
    folder = locks.folder_of(db)
    rows = db.query("select key from job_queue where backend = ? and (state = 'working' or "
                    "starter = 'self')", [LOCAL])
    dead = [r["key"] for r in rows if not locks.is_held(folder, r["key"])]
    if dead:
        marks = ", ".join("?" * len(dead))
        with contextlib.nullcontext() if db.conn.in_transaction else db.conn:
            db.execute(f"delete from job_queue where key in ({marks})", dead)
    return dead


@contextlib.contextmanager
def immediate(db: Database):
    """A write transaction taken at once (waits for the busy timeout): what is read in it
    cannot change before it commits, and its first write cannot fail "database is locked"
    as a deferred one's does when another process wrote since its first read. (Inside a
    transaction already: a savepoint of it.)"""
    if db.conn.in_transaction:
        with db.atomic():
            yield
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.conn.rollback()
        raise
    db.conn.commit()
