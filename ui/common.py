"""What every page needs: the process's job manager, and a database connection per script run."""

import re
import traceback
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from core import paths
from core.errors import WorkbenchError
from core.jobs import JobManager
from storage.db import connect


@st.cache_resource
def job_manager(db_path: str) -> JobManager:
    """The one job manager of this server process (per database file): it launches the
    home's jobs in worker processes and watches them (core.jobs)."""
    return JobManager(Path(db_path))


def jobs() -> JobManager:
    """The server's job manager, its launcher awake: jobs queued by a process that has gone
    (another server, a command line) start as soon as any page is opened."""
    manager = or_stop(job_manager, str(paths.db_path()))
    manager.ensure_dispatching()
    return manager


def open_db():
    # The first page anyone opens after a restart creates the job manager, whose launcher
    # starts what waits in the home's queue.
    jobs()
    # Streamlit may run each rerun in a different thread, and sqlite3 connections
    # must not cross threads: open one per run (cheap; WAL makes reads concurrent).
    return or_stop(connect, paths.db_path())


def or_stop(open_it, *args):
    """`open_it(*args)`; a database that cannot be opened (damaged, read-only, emptied) stops
    the page with its one line, never a stack (the job manager opens it too, on the Train page
    before any other)."""
    try:
        return open_it(*args)
    except WorkbenchError as error:
        st.error(plain(error))
        st.stop()


def from_url(name: str, find: Callable, what: str, number: bool = False):
    """What the URL's `name` names, looked up once: `find(text)` (of its whole number if
    `number`); None when absent or naming nothing, which is said ("No such run").

    Pages act only on what this returns (a run's row["id"]), never on the URL's text: `<id>.`
    once reached the folder of run <id> while naming no run.
    """
    text = st.query_params.get(name)
    if text is None:
        return None
    # Whole numbers SQLite can hold (a longer one overflowed its INTEGER, a traceback).
    whole = text.isascii() and text.isdigit() and len(text) <= 18
    key = (int(text) if whole else None) if number else text
    found = None if key is None else find(key)
    if found is None:
        # Quoted: an id's own last character (a trailing dot) must not read as punctuation.
        st.warning(f"No such {what}: “{plain(text[:100])}”")
    return found


WORD_JOINER = "\u2060"  # invisible; it breaks the patterns Streamlit matches after parsing


def plain(text) -> str:
    """User text (names, labels, rows, URL parameters, outputs) for a Markdown element, shown
    as typed: no links or images (fetched by the browser), HTML, emphasis, lists, headings,
    $math$, :colour[...] or :material/icons: (matched on the parsed text, so a backslash
    cannot stop them: an invisible joiner beside each colon does)."""
    text = str(text).replace(":", f"{WORD_JOINER}:{WORD_JOINER}")
    text = re.sub(r"(?<=[-<>~=])(?=[-<>=])", WORD_JOINER, text)  # else ->, <=, -- turn to →, ≤, —
    text = re.sub(r"([\\`*_\[\]<>|~$&@])", r"\\\1", text)
    text = re.sub(r"^(\s*)([-+=#])", r"\1\\\2", text, flags=re.MULTILINE)  # lists, headings
    text = re.sub(r"^(\s*\d+)([.)])", r"\1\\\2", text, flags=re.MULTILINE)  # numbered lists
    return re.sub(r"\b([wW]{3})\.", r"\1\\.", text)  # www. links


def show_crash(action: str, error: Exception) -> None:
    """An unexpected error as one line, with the traceback a click away (never a wall)."""
    st.error(f"{plain(action)} failed: {type(error).__name__}: {plain(error)}")
    with st.expander("Traceback"):
        st.code(traceback.format_exc())
