"""What every page needs: the process's job manager, and a database connection per script run."""

import traceback
from pathlib import Path

import streamlit as st

from core import paths
from core.jobs import JobManager
from storage.db import connect


@st.cache_resource
def job_manager(db_path: str) -> JobManager:
    """The one job manager of this server process (per database file)."""
    return JobManager(Path(db_path))


def jobs() -> JobManager:
    return job_manager(str(paths.db_path()))


def open_db():
    # The first page anyone opens after a restart creates the job manager, which marks
    # runs of the dead server `interrupted` before anything is shown.
    jobs()
    # Streamlit may run each rerun in a different thread, and sqlite3 connections
    # must not cross threads: open one per run (cheap; WAL makes reads concurrent).
    return connect(paths.db_path())


def query_number(name: str) -> int | None:
    """A whole number from the URL; None when absent or not a number (a hand-edited link)."""
    value = st.query_params.get(name, "")
    return int(value) if value.isdigit() else None


def show_crash(action: str, error: Exception) -> None:
    """An unexpected error as one line, with the traceback a click away (never a wall)."""
    st.error(f"{action} failed: {type(error).__name__}: {error}")
    with st.expander("Traceback"):
        st.code(traceback.format_exc())
