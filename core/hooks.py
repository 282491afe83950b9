"""How a training method talks to whoever runs it, without knowing who that is.

`log` receives one metrics row at a time (the engine writes it to SQLite);
`should_stop` is polled every optimiser step (the Stop button sets it), and before
every forward pass of the test evaluation (`stop_on_request`).
"""

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable


def _ignore(row: dict) -> None:
    pass


def never() -> bool:
    return False


@dataclass
class Hooks:
    log: Callable[[dict], None] = field(default=_ignore)
    should_stop: Callable[[], bool] = field(default=never)


class StopRequested(Exception):
    """A stop asked for while the model was being judged, after training."""


@contextmanager
def stop_on_request(model, should_stop: Callable[[], bool]):
    """Judging runs batch after batch (token after token when generating) with no step to
    poll at: a hook before each forward pass of `model` turns a stop into StopRequested.
    Never around training, whose loops stop at a step boundary, checkpoint first.
    The hook sits on the input embeddings, which every pass goes through (a peft wrapper's
    `generate` skips the wrapper's own forward)."""
    def check(*_):
        if should_stop():
            raise StopRequested

    handle = model.get_input_embeddings().register_forward_pre_hook(check)
    try:
        yield
    finally:
        handle.remove()


class Throughput:
    """Samples per second since the last reading, and seconds since the start."""

    def __init__(self):
        self.start = self.last = time.perf_counter()
        self.samples = 0

    def add(self, samples: int) -> None:
        self.samples += samples

    def read(self) -> dict:
        now = time.perf_counter()
        rate = self.samples / (now - self.last) if now > self.last else None
        self.last, self.samples = now, 0
        return {"throughput": rate, "time": now - self.start}
