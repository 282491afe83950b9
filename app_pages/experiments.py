"""Experiments: runs launched together (k-fold, a sweep, seeds), and whether a difference
between settings is larger than their spread."""

import streamlit as st

from core import experiments
from storage import queries
from ui.common import from_url, open_db
from ui.experiment_view import render_experiment

st.title("Experiments")
db = open_db()
listed = queries.list_experiments(db)
if not listed:
    st.info("No experiments yet. On the Train page, set cross-validation folds, a sweep or "
            "several seeds; or from a terminal: `python -m core train --model minilm-l6 "
            "--method probe --dataset rt-reviews --folds 5`.")
    st.stop()

asked = from_url("experiment", lambda number: queries.get_experiment(db, number), "experiment",
                 number=True)
by_id = {e["id"]: e for e in listed}


def describe(experiment_id: int) -> str:
    experiment = by_id[experiment_id]
    status = experiments.status_of(experiment["statuses"])
    runs = sum(experiment["statuses"].values())
    return f"{experiment['name']} · {runs} run{'s' * (runs != 1)} · {status}"


ids = list(by_id)
chosen = st.selectbox("Experiment", ids, index=ids.index(asked["id"]) if asked else 0,
                      format_func=describe)
st.query_params["experiment"] = str(chosen)
render_experiment(db, chosen)
