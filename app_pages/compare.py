"""Compare: prompting (zero-, one-, few-shot) against fine-tuned runs on the same test examples."""

import streamlit as st

from core.errors import WorkbenchError
from storage import queries
from ui import charts
from ui.common import from_url, jobs, open_db, plain
from ui.compare import by_system, disagreements, summary_table, summed_confusion, systems_of
from ui.compare_form import comparison_form
from ui.comparison_view import history, show_job
from ui.live import LIVE

st.title("Prompting vs fine-tuning")
db = open_db()
job = from_url("job", lambda number: queries.get_comparison(db, number), "comparison",
               number=True)

with st.expander("New comparison", expanded=not queries.list_splits(db) and job is None):
    comparison = comparison_form(db)
if comparison:
    # Queued in the job manager (behind any training): it runs in the background, and the
    # URL names it, so leaving the page or reloading it loses nothing.
    try:
        job_id = jobs().compare(comparison)
    except WorkbenchError as error:
        st.error(plain(error))
        st.stop()
    st.query_params.pop("split", None)
    st.query_params["job"] = str(job_id)
    st.rerun()
if job is not None:
    show_job(job)
# Any visit shows what is still to come: a comparison asked for from another visit (the
# sidebar drops `?job=`), another tab or the command line.
for other in queries.list_comparisons(db, live=True):
    if job is None or other["id"] != job["id"]:
        show_job(other)
history(db)
ended = job is not None and job["status"] not in LIVE and job["evaluation_ids"]

splits = queries.list_splits(db)
if not splits:
    if job is not None and job["status"] in LIVE:  # asked for already: not "press Compare"
        st.info("Its results appear here when it ends.")
    else:
        st.info("No evaluations yet: choose models and runs above and press Compare, or run "
                "`python -m core eval --model smollm2-135m --dataset rt-reviews --shots 0,1,3`.")
    st.stop()
names = [s["split"] for s in splits]
wanted = from_url("split", lambda text: text if text in names else None, "evaluation split") \
    or (job["split"] if ended else None)
# Both pickers start empty (a first entry once compared every run unasked); the URL and the
# comparison it names are the user's own picks.
split = st.selectbox("Evaluations scored on the same examples", names,
                     index=names.index(wanted) if wanted in names else None,
                     placeholder="Choose the examples the systems were scored on",
                     format_func=lambda s: f"{s} ({next(x['evaluations'] for x in splits if x['split'] == s)} evaluations)")
if split is None:
    st.info("Choose the examples, then the systems to compare on them.")
    st.stop()
st.query_params["split"] = split
evaluations = queries.split_evaluations(db, split)
systems = by_system(evaluations)
label = {key: runs[0]["label"] for key, runs in systems.items()}
picked = st.multiselect("Systems to compare", list(systems), format_func=label.get,
                        default=[k for k in (systems_of(db, job["evaluation_ids"]) if ended else [])
                                 if k in systems],
                        help="Each fine-tuned run is a system of its own; the seeds of a "
                             "prompting setting are the executions of one system.")
if not picked:
    st.info(f"Pick the systems to compare ({len(systems)} were scored on these examples).")
    st.stop()
summary = summary_table(evaluations, picked)
st.plotly_chart(charts.accuracy_figure(summary))
st.dataframe(summary, hide_index=True, column_config={
    "run": st.column_config.TextColumn(help="The id of a fine-tuned system's run (none for "
                                            "prompting); the system is named by the run's name."),
    **{name: st.column_config.NumberColumn(format="%.3f")
       for name in summary.columns if name not in ("system", "run", "executions", "unparseable")}})

st.subheader("Confusion matrices (all executions added up)")
columns = st.columns(min(3, len(picked)))
for i, key in enumerate(picked):
    matrix, labels = summed_confusion(systems[key])
    figure = charts.confusion_figure(matrix, labels, title=label[key])
    columns[i % len(columns)].plotly_chart(figure)

st.subheader("Where two systems disagree")
if len(picked) < 2:
    st.caption("Add a second system to this comparison to see where they disagree.")
    st.stop()
left, right = st.columns(2)
first = left.selectbox("System A", picked, index=0, format_func=label.get)
second = right.selectbox("System B", picked, index=1, format_func=label.get)
differ = disagreements(db, systems[first][0], systems[second][0])  # their first executions
st.caption(f"{len(differ)} of {systems[first][0]['n']} examples differ (first execution of each).")
st.dataframe(differ, hide_index=True)
