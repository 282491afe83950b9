"""Runs: every recorded run, and one opened in full."""

import pandas as pd
import streamlit as st

from storage import queries
from ui.common import open_db
from ui.run_view import render_run

COLUMNS = ["id", "name", "status", "model", "method", "adapter", "dataset", "test_accuracy",
           "test_f1", "created_at"]

st.title("Runs")
db = open_db()
runs = queries.list_runs(db)
if not runs:
    st.info("No runs yet. Start one with `python -m core train --model minilm-l6 "
            "--method trainer --dataset rt-reviews --preset quick-cpu`.")
    st.stop()

table = pd.DataFrame(runs)[COLUMNS]
counts = table["status"].value_counts()
st.caption(f"{len(table)} runs: " + ", ".join(f"{n} {status}" for status, n in counts.items()))
picked = st.dataframe(table, hide_index=True, on_select="rerun", selection_mode="single-row",
                      key="runs_table")
rows = picked.selection.rows
run_id = table.iloc[rows[0]]["id"] if rows else st.query_params.get("run")
if run_id:
    st.query_params["run"] = run_id
    render_run(db, run_id)
