"""Compare: prompting (zero-, one-, few-shot) against fine-tuned runs on the same test examples."""

import streamlit as st

from core.errors import WorkbenchError
from core.evaluate import EvalConfig, evaluate
from storage import queries
from ui import charts
from ui.common import from_url, open_db, plain, show_crash
from ui.compare import by_system, disagreements, summary_table, summed_confusion, systems_of
from ui.compare_form import comparison_form

st.title("Prompting vs fine-tuning")
db = open_db()

with st.expander("New comparison", expanded=not queries.list_splits(db)):
    chosen = comparison_form(db)
if chosen:
    configs, runs = chosen
    bar = st.progress(0.0, text="Loading…")
    try:
        ids = []
        for number, config in enumerate(configs):
            def progress(done, text, number=number, name=config.model):
                bar.progress((number + done) / len(configs), text=f"{name}: {text}")
            ids += evaluate(config, db, progress)
        limit = configs[0].limit if configs else 200
        ids += [i for run in runs for i in evaluate(EvalConfig(run=run, limit=limit), db)]
    except WorkbenchError as error:
        st.error(plain(error))
        st.stop()
    except Exception as error:  # a crash: say what, keep the page; finished executions are stored
        show_crash("The evaluation", error)
        st.stop()
    bar.empty()
    st.query_params["split"] = db["evaluations"].get(ids[0])["split"]
    st.session_state["compared"] = systems_of(db, ids)  # asked for: picked below

splits = queries.list_splits(db)
if not splits:
    st.info("No evaluations yet: choose models and runs above and press Compare, or run "
            "`python -m core eval --model smollm2-135m --dataset rt-reviews --shots 0,1,3`.")
    st.stop()
names = [s["split"] for s in splits]
wanted = from_url("split", lambda text: text if text in names else None, "evaluation split")
# Both pickers start empty (a first entry once compared every run unasked); the URL and a
# comparison just run are the user's own picks.
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
                        default=[k for k in st.session_state.get("compared", []) if k in systems],
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
