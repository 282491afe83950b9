"""Compare: prompting (zero-, one-, few-shot) against fine-tuned runs on the same test examples."""

import streamlit as st

from core.errors import WorkbenchError
from core.evaluate import EvalConfig, evaluate
from storage import queries
from ui import charts
from ui.common import from_url, open_db, plain, show_crash
from ui.compare import by_system, disagreements, summary_table, summed_confusion
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

splits = queries.list_splits(db)
if not splits:
    st.info("No evaluations yet: choose models and runs above and press Compare, or run "
            "`python -m core eval --model smollm2-135m --dataset rt-reviews --shots 0,1,3`.")
    st.stop()
names = [s["split"] for s in splits]
wanted = from_url("split", lambda text: text if text in names else None, "evaluation split")
split = st.selectbox("Evaluations scored on the same examples", names,
                     index=names.index(wanted) if wanted in names else 0,
                     format_func=lambda s: f"{s} ({next(x['evaluations'] for x in splits if x['split'] == s)} evaluations)")
st.query_params["split"] = split
evaluations = queries.split_evaluations(db, split)
summary = summary_table(evaluations)
st.plotly_chart(charts.accuracy_figure(summary))
st.dataframe(summary, hide_index=True, column_config={
    name: st.column_config.NumberColumn(format="%.3f")
    for name in summary.columns if name not in ("system", "executions", "unparseable")})

systems = by_system(evaluations)
st.subheader("Confusion matrices (all executions added up)")
columns = st.columns(min(3, len(systems)))
for i, (name, runs) in enumerate(systems.items()):
    matrix, labels = summed_confusion(runs)
    figure = charts.confusion_figure(matrix, labels, title=name)
    columns[i % len(columns)].plotly_chart(figure)

st.subheader("Where two systems disagree")
if len(systems) < 2:
    st.caption("Add a second system to this comparison to see where they disagree.")
    st.stop()
left, right = st.columns(2)
first = left.selectbox("System A", list(systems), index=0)
second = right.selectbox("System B", list(systems), index=1)
differ = disagreements(db, systems[first][0], systems[second][0])  # their first executions
st.caption(f"{len(differ)} of {systems[first][0]['n']} examples differ (first execution of each).")
st.dataframe(differ, hide_index=True)
