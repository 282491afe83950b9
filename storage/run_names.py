"""Run names: the readable default a run gets, and the checks a typed one passes."""

import re
from pathlib import PurePath

from core.errors import WorkbenchError
from core.terminal import CONTROLS, escaped

SEPARATOR = " · "
MAX_NAME = 100  # characters: a name labels table rows and chart legends
MAX_PART = 40  # characters of a model or data set in a default name, which must fit MAX_NAME
DATA_FILES = (".csv", ".jsonl", ".json")


def default_name(model: str, method: str, dataset: str, taken: list[str]) -> str:
    """'<model> · <method> · <dataset> · N', N one above the highest N that `taken` already
    uses for these three: not a count, which after a delete could repeat a name still held."""
    prefix = name_prefix(model, method, dataset)
    used = [int(name[len(prefix):]) for name in taken
            if name.startswith(prefix) and name[len(prefix):].isdigit()]
    return f"{prefix}{max(used, default=0) + 1}"


def name_prefix(model: str, method: str, dataset: str) -> str:
    """A default name but its counter: '<model> · <method> · <dataset> · '."""
    return SEPARATOR.join([short(model), method, short(dataset)]) + SEPARATOR


def short(value: str) -> str:
    """A file or folder by its last part (a hub id such as org/model stays whole), an upload by
    the name it was uploaded under (stored as '<12 hex digits of its content>-<name>'), cut
    short."""
    path = PurePath(value)
    if value.startswith(("/", ".", "~")) or value.count("/") > 1 or path.suffix in DATA_FILES:
        value = file_name(path)
    return value if len(value) <= MAX_PART else value[:MAX_PART - 1] + "…"


def file_name(path: PurePath) -> str:
    """A file's name; an upload's as it was uploaded (stored as '<12 hex digits>-<name>')."""
    return re.sub(r"^[0-9a-f]{12}-", "", path.name) if path.parent.name == "uploads" \
        else path.name


def checked_name(name: str) -> str:
    """A typed name without the spaces around it; refused when empty or too long."""
    name = name.strip()
    if not name:
        raise WorkbenchError("a run's name cannot be empty")
    if len(name) > MAX_NAME:
        raise WorkbenchError(f"a run's name is at most {MAX_NAME} characters (got {len(name)})")
    control = CONTROLS.search(name)
    if control:
        raise WorkbenchError(f"a run's name cannot hold control characters (got "
                             f"{escaped(control.group())} at position {control.start() + 1})")
    return name
