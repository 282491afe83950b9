"""Runs: every recorded run; open one, compare several, export or delete."""

import streamlit as st

from core.errors import WorkbenchError
from storage import queries
from storage.schema import RUN_STATUSES
from ui import charts
from ui.common import from_url, jobs, open_db, plain
from ui.live import watch
from ui.runs_table import config_diff, metrics_csv, predictions_csv, run_labels, runs_frame

st.title("Runs")
if "deleted" in st.session_state:
    st.success(f"Deleted run {plain(st.session_state.pop('deleted'))}.")
db = open_db()
runs = queries.list_runs(db)
if not runs:
    st.info("No runs yet. Launch one on the Train page, or from a terminal: "
            "`python -m core train --model minilm-l6 --method trainer --dataset rt-reviews "
            "--preset quick-cpu`.")
    st.stop()

table = runs_frame(runs)
counts = table["status"].value_counts()
st.caption(f"{len(table)} run{'s' * (len(table) != 1)}: " + ", ".join(f"{counts[s]} {s}" for s in RUN_STATUSES if s in counts))
filters = st.columns(5)
for column, name in zip(filters, ["status", "method", "model", "dataset", "experiment"]):
    chosen = column.multiselect(name.capitalize(), sorted(table[name].dropna().unique()),
                                key=f"filter-{name}")
    if chosen:
        table = table[table[name].isin(chosen)]
# Between the filters and the table: the table's toolbar, shown on hover above its top right
# corner, covered the last filter when the table came right under them.
st.caption("Select one run to open it, several to compare them. Click a header to sort.")
# Keyed by the runs listed: a selection is of row positions, which must not carry over to
# another list (after a delete or a new run the same position is another run).
picked = st.dataframe(
    table, hide_index=True, on_select="rerun", selection_mode="multi-row",
    key=f"runs_table-{hash(tuple(table['id']))}",
    column_config={"id": st.column_config.TextColumn(help="The run's id: `python -m core eval --run ID`"),
                   "test_accuracy": st.column_config.NumberColumn("test accuracy", format="%.3f"),
                   "test_f1": st.column_config.NumberColumn("test F1", format="%.3f"),
                   "duration": st.column_config.NumberColumn("duration (s)", format="%d")})
selected = list(table.iloc[picked.selection.rows]["id"])

if len(selected) > 1:
    by_id = {r["id"]: r for r in runs}
    labels = run_labels(runs)
    curves = {i: queries.run_metrics(db, i) for i in selected}
    left, right = st.columns(2)
    for column, (metric, title) in zip([left, right, left, right], [
            ("loss", "Training loss"), ("eval_loss", "Validation loss"),
            ("eval_accuracy", "Validation accuracy"), ("learning_rate", "Learning rate")]):
        figure = charts.overlay_figure(curves, labels, metric, title)
        if figure is not None:
            column.plotly_chart(figure)
    st.subheader("Settings that differ")
    differences = config_diff([by_id[i] for i in selected], labels)
    if differences.empty:
        st.write("All settings are equal.")
    else:
        st.dataframe(differences.astype(str))
    st.stop()

run = (queries.get_run(db, selected[0]) if selected
       else from_url("run", lambda text: queries.get_run(db, text), "run"))
if run is None:
    st.stop()
run_id = run["id"]  # the row's own id: never the URL's text
st.query_params["run"] = run_id
watch(run_id)
actions = st.columns(3)
actions[0].download_button("Metrics (CSV)", metrics_csv(db, run_id), f"{run_id}-metrics.csv",
                           mime="text/csv")
actions[1].download_button("Predictions (CSV)", predictions_csv(db, run_id),
                           f"{run_id}-predictions.csv", mime="text/csv")
with actions[2].popover("Delete run"):
    st.write(f"Deletes run {plain(run['name'])}: its metrics, evaluations, predictions, reviews "
             "and saved model. This cannot be undone.")
    if st.button("Delete for good", type="primary", key=f"delete-{run_id}"):
        try:
            jobs().delete(run_id)
        except WorkbenchError as error:
            st.error(plain(error))
            st.stop()
        del st.query_params["run"]  # back to the list, not to whichever run comes next
        st.session_state["deleted"] = run["name"]
        st.rerun()
