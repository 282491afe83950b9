"""The writes a job makes, as events another process can replay.

A worker on a Ray cluster cannot reach the home's database: it writes to a database of its
own on its node, and every write that records its job (a metrics row, a phase, a status,
an evaluation) is also printed as one event line on its output. The submitting side reads
the job's log through Ray and replays each event on the home's database with the same
function, so the rows are the ones a local worker would have written.

Only the functions marked `recorded` stream or replay; an event naming anything else is
refused. Each event has a sequence number, so a log read again (a server restarted while
the job ran) replays none twice.
"""

import functools
import json
import sys
from collections.abc import Callable

MARK = "@@workbench-event "
RECORDED: dict[str, Callable] = {}
_streaming = {"on": False, "seq": 0}


def recorded(function: Callable) -> Callable:
    """A write of a job's record: streamed as an event when this process streams them."""
    RECORDED[function.__name__] = function

    @functools.wraps(function)
    def write(db, *args, **kwargs):
        result = function(db, *args, **kwargs)
        if _streaming["on"]:
            emit(function.__name__, args, kwargs, result)
        return result

    return write


def stream() -> None:
    """From now on, print every recorded write as an event (a Ray worker)."""
    _streaming["on"] = True


def emit(name: str, args: tuple, kwargs: dict, result) -> None:
    _streaming["seq"] += 1
    event = {"seq": _streaming["seq"], "call": name, "args": list(args), "kwargs": kwargs,
             "result": result if isinstance(result, (int, str)) else None}
    print(MARK + json.dumps(event, default=plain_value), file=sys.stdout, flush=True)


def plain_value(value):
    """numpy numbers (and anything with `.item()`) as Python's; anything else as text."""
    return value.item() if hasattr(value, "item") else str(value)


def parse(log: str) -> list[dict]:
    """The events in a job's output, in order (other lines are the job's own)."""
    events = []
    for line in log.splitlines():
        if line.startswith(MARK):
            try:
                events.append(json.loads(line[len(MARK):]))
            except json.JSONDecodeError:
                break  # a line still being written: read again next time
    return events


def replay(db, event: dict):
    """Apply one event to `db`, with the function that wrote it; its result."""
    function = RECORDED.get(event["call"])
    if function is None:
        raise ValueError(f"not a recorded write: {event['call']!r}")
    return function(db, *event["args"], **event["kwargs"])
