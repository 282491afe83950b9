"""What a run is doing now (loading, converting, tokenising, training, judging), said from
wherever it happens.

The engine listens for the thread a run trains in (`listening`); the helpers deep inside
it (the one-off GGUF conversion, the judging loops) call `say` and `advance` without a
hook passed down through every signature. Nobody listens elsewhere (the CLI's
listings, the playground, tests), and then both do nothing. Thread-local, because each
job trains in its own thread and two must never read each other's phase.
"""

import re
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


class PhaseClock:
    """Seconds spent in each phase said, by the monotonic clock (never the wall clock, which
    steps): the run page shows where a run's time went, and the Train form and the live
    panel estimate the next run's time from the last one like it, phase by phase."""

    def __init__(self, write: Callable[[str], None]):
        self.write = write
        self.seconds: dict[str, float] = {}
        self.current: str | None = None
        self.since = time.monotonic()

    def __call__(self, text: str) -> None:
        self._close()
        self.current = phase_of(text)
        self.write(text)

    def _close(self) -> None:
        now = time.monotonic()
        if self.current is not None:
            self.seconds[self.current] = self.seconds.get(self.current, 0.0) + now - self.since
        self.since = now

    def totals(self) -> dict[str, float]:
        """{phase: seconds} so far, in the order the phases came."""
        self._close()
        return {phase: round(seconds, 1) for phase, seconds in self.seconds.items()}


def phase_of(text: str) -> str:
    """A phase without its count: "judging the test split: 48 / 200" → "judging the test
    split", "tokenising 1,200 examples" → "tokenising examples"."""
    text = re.sub(r": [\d,]+ / [\d,]+$", "", text)  # a counted phase's count (`_said`)
    return re.sub(r"\s+", " ", re.sub(r"(?<!\S)[\d,]+(?!\S)", "", text)).strip()


def estimated_phases(before: dict[str, float], steps_before: int | None,
                     steps: int | None) -> dict[str, float]:
    """A run's phases estimated from the last run like it (`before`, core.engine stores them
    in its summary): training scaled by the steps, the others as long as they took; a
    one-off conversion left out (later loads skip it)."""
    scale = steps / steps_before if steps and steps_before else 1.0
    return {phase: seconds * (scale if phase == "training" else 1.0)
            for phase, seconds in before.items() if not phase.startswith("converting")}


def duration_text(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"
