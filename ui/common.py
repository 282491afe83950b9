"""What every page needs: a database connection for this script run."""

from core import paths
from storage.db import connect


def open_db():
    # Streamlit may run each rerun in a different thread, and sqlite3 connections
    # must not cross threads: open one per run (cheap; WAL makes reads concurrent).
    return connect(paths.db_path())
