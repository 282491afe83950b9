"""Finetune Workbench: page config and navigation, and one line for a database found damaged
after it opened (as at open), nothing else."""

import sqlite3

import streamlit as st

from core import paths
from storage.db import file_error
from ui.common import plain

# An emoji, drawn by the browser: a :material/ icon here is fetched from fonts.gstatic.com
# on every page load (the only request the app would make outside its own origin).
st.set_page_config(page_title="Finetune Workbench", page_icon="🛠️", layout="wide")
navigation = st.navigation([
    st.Page("app_pages/home.py", title="Home", icon=":material/home:", default=True),
    st.Page("app_pages/train.py", title="Train", icon=":material/rocket_launch:"),
    st.Page("app_pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page("app_pages/playground.py", title="Playground", icon=":material/view_column:"),
    st.Page("app_pages/review.py", title="Review", icon=":material/rate_review:"),
    st.Page("app_pages/runs.py", title="Runs", icon=":material/table_view:"),
    st.Page("app_pages/experiments.py", title="Experiments", icon=":material/science:"),
])
try:
    navigation.run()
except sqlite3.DatabaseError as error:  # damage met after the database opened: one line, as at open
    said = file_error(paths.db_path(), error)
    if said is None:  # not about the file: a bug, with its traceback
        raise
    st.error(plain(said))
