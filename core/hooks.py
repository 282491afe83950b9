"""How a training method talks to whoever runs it, without knowing who that is.

`log` receives one metrics row at a time (the engine writes it to SQLite);
`should_stop` is polled every optimiser step (the Stop button sets it).
"""

import time
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
