"""What a run is doing now (loading, converting, tokenising, training, judging), said from
wherever it happens.

The engine listens for the thread a run trains in (`listening`); the helpers deep inside
it (the one-off GGUF conversion, the judging loops) call `say` and `advance` without a
hook passed down through every signature. Nobody listens elsewhere (the CLI's
listings, the playground, tests), and then both do nothing. Thread-local, because each
job trains in its own thread and two must never read each other's phase.
"""

import threading
import time
from collections.abc import Callable
from contextlib import contextmanager

EVERY_SECONDS = 1.0  # a counted phase is written at most this often: the page polls no faster

_local = threading.local()


@contextmanager
def _held(name: str, value):
    """This thread's `name` is `value` until the block ends."""
    setattr(_local, name, value)
    try:
        yield
    finally:
        setattr(_local, name, None)


def listening(write: Callable[[str], None]):
    """Send what is said in this thread to `write` until the block ends."""
    return _held("write", write)


def say(text: str) -> None:
    write = getattr(_local, "write", None)
    if write is not None:
        write(text)


@contextmanager
def counting(what: str, total: int):
    """A phase with a count ("judging the test split: 48 / 200"), moved on by `advance`."""
    count = [what, 0, total, 0.0]
    with _held("count", count):
        _said(count)
        yield


def advance(done: int) -> None:
    """`done` more items of the counted phase (a batch's examples); said once a second."""
    count = getattr(_local, "count", None)
    if count is None:
        return
    count[1] = min(count[1] + done, count[2])
    if count[1] == count[2] or time.monotonic() - count[3] >= EVERY_SECONDS:
        _said(count)


def _said(count: list) -> None:
    what, done, total, _ = count
    count[3] = time.monotonic()
    say(f"{what}: {done:,} / {total:,}")
