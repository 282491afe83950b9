"""Where the workbench keeps its state: everything under $WORKBENCH_HOME."""

import os
import re
from pathlib import Path

from core.errors import WorkbenchError

DEFAULT_HOME = "workbench_data"


def home() -> Path:
    """$WORKBENCH_HOME as a shell user means it: unset or empty, the default (not the
    current folder); `~` is the user's home folder; spaces around it are refused, not taken
    as part of a folder's name."""
    return folder_from_env("WORKBENCH_HOME", DEFAULT_HOME)


def folder_from_env(variable: str, default: str) -> Path:
    value = os.environ.get(variable, "")
    if value != value.strip():
        raise WorkbenchError(f"{variable} {value!r} begins or ends with a space; set it to the "
                             "folder's path alone")
    return Path(value or default).expanduser().resolve()


def db_path() -> Path:
    """$WORKBENCH_HOME/workbench.db, unless WORKBENCH_DB names another file (a Ray worker keeps
    its own on its node, and streams what it writes back: core.ray_backend)."""
    return folder_from_env("WORKBENCH_DB", "") if os.environ.get("WORKBENCH_DB") else \
        home() / "workbench.db"


def run_dir(run_id: str) -> Path:
    """A run's folder. Refuses an id that is not already a safe name (ids from
    `queries.new_run_id` are): mapped onto one, `<id>.` named the folder of run <id>."""
    if safe_name(run_id) != run_id:
        raise ValueError(f"{run_id!r} is not a run id")
    return inside_home("runs", run_id)


MODEL_CACHE = "WORKBENCH_MODEL_CACHE"


def model_cache_dir() -> Path:
    """Where bundled GGUF models are kept once converted to safetensors: the home's `models`
    folder, or WORKBENCH_MODEL_CACHE, a folder several homes share (a conversion takes about
    20 s and 0.5 to 1 GB per model; each home would otherwise make its own)."""
    shared = os.environ.get(MODEL_CACHE, "").strip()
    return Path(shared).expanduser().resolve() if shared else inside_home("models")


def safe_name(name: str) -> str:
    """A file name made from user text: no separators, no dot-dot, never empty."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return cleaned[:100] or "unnamed"


def inside_home(*parts: str) -> Path:
    """A path below $WORKBENCH_HOME; refuses anything that would escape it."""
    base = home()
    path = base.joinpath(*parts).resolve()
    if not path.is_relative_to(base):
        raise ValueError(f"path {path} is outside {base}")
    return path


def usual_modes(folder: Path) -> None:
    """Every file and folder under `folder` given the modes the user's umask gives new files:
    transformers writes weights owner-only (0600) beside 0644 configs, so an export copied
    to a shared disk or served to others was half unreadable."""
    mask = os.umask(0)  # read it (the only portable way), then put it back at once
    os.umask(mask)
    for path in [folder, *folder.rglob("*")]:
        if not path.is_symlink():
            path.chmod((0o777 if path.is_dir() else 0o666) & ~mask)
