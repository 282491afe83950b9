"""One run on a page: status, curves, test results and per-layer change (Train and Runs pages)."""

import json

import pandas as pd
import streamlit as st

from storage import queries
from ui import charts

STATUS_ICONS = {"queued": ":material/hourglass_top:", "running": ":material/directions_run:",
                "completed": ":material/check_circle:", "failed": ":material/error:",
                "stopped": ":material/stop_circle:", "interrupted": ":material/warning:"}


def render_run(db, run_id: str) -> None:
    run = queries.get_run(db, run_id)
    if run is None:
        st.warning(f"No run with id {run_id}: it may have been deleted.")
        return
    status = run["status"]
    st.subheader(f"{STATUS_ICONS.get(status, '')} {run['name']}")
    st.caption(f"{run['id']} · {run['method']} · {run['model']} · {run['dataset']} · "
               f"adapter {run['adapter']} · **{status}**")
    if status == "failed":
        st.error(run["error"] or "The run failed without a message.")
        if run["traceback"]:
            with st.expander("Traceback"):
                st.code(run["traceback"])
    elif status == "interrupted":
        st.warning(run["error"])
    render_curves(queries.run_metrics(db, run_id))
    if status == "completed":
        render_results(db, run_id)
    with st.expander("Configuration"):
        st.json(json.loads(run["config"]))


CURVES = [
    ({"loss": "training loss", "eval_loss": "validation loss"}, "Loss"),
    ({"learning_rate": "learning rate"}, "Learning rate"),
    ({"grad_norm": "grad norm"}, "Gradient norm"),
    ({"eval_accuracy": "validation accuracy", "eval_f1": "validation macro F1"}, "Validation"),
]


def render_curves(metrics: list[dict]) -> None:
    if not metrics:
        st.info("No metrics yet.")
        return
    figures = [charts.curve_figure(metrics, columns, title) for columns, title in CURVES]
    figures = [f for f in figures if f is not None]
    for i, column in enumerate(st.columns(2)):
        for figure in figures[i::2]:
            column.plotly_chart(figure)


def render_results(db, run_id: str) -> None:
    for evaluation in queries.run_evaluations(db, run_id):
        figures = ("accuracy", "precision", "recall", "f1")
        columns = st.columns(len(figures) + 1)
        for column, name in zip(columns, figures):
            column.metric(f"test {name}", f"{evaluation[name]:.3f}")
        columns[-1].metric("test examples", evaluation["n"])
        per_class = pd.DataFrame(json.loads(evaluation["per_class"])).T
        left, right = st.columns(2)
        left.dataframe(per_class.style.format(precision=3))
        right.plotly_chart(charts.confusion_figure(json.loads(evaluation["confusion"]),
                                                   json.loads(evaluation["labels"])))
    changes = queries.run_layer_changes(db, run_id)
    if changes:
        st.plotly_chart(charts.layer_change_figure(changes))
