"""Home: what the workbench does, the path through it, and what it already holds."""

import streamlit as st

from core import assets, paths
from core.catalog import DATASETS, MODELS
from core.network import hub_reachable
from storage import queries
from ui.common import open_db, plain

STEPS = [  # (page, button, what it does)
    ("app_pages/train.py", "1 · Train",
     "Pick a model, a method and data; launch a run and watch its loss, learning rate and "
     "gradient norm live. It survives a reload; stop it and resume it later."),
    ("app_pages/compare.py", "2 · Compare",
     "Zero-, one- and few-shot prompting of the base model against your fine-tuned runs, on "
     "the same held-out examples, several executions each."),
    ("app_pages/playground.py", "3 · Playground",
     "Two to four models side by side on the same input, streamed as they write."),
    ("app_pages/review.py", "4 · Review",
     "Score outputs by hand against a rubric, blind to which model wrote them."),
]

st.title("Finetune Workbench")
st.markdown(
    "Fine-tune a language model on your data and judge the result honestly.  \n"
    "Every run is measured against prompting the model it started from, on the same held-out "
    "split, and by people against a rubric.  \n"
    "Everything (runs, metrics, predictions, reviews) is kept in one SQLite file.")

for column, (page, label, text) in zip(st.columns(len(STEPS)), STEPS):
    with column.container(border=True):
        # Buttons, not st.page_link: a page tested on its own (AppTest) knows no other pages.
        if st.button(label, key=f"go-{page}", type="primary", width="stretch"):
            st.switch_page(page)
        st.caption(text)

db = open_db()
held = queries.overview(db)
st.subheader("Already here")
figures = st.columns(4)
statuses = held["statuses"]
live = ", ".join(f"{statuses[s]} {s}" for s in ("running", "queued") if statuses.get(s))
figures[0].metric("Runs", held["runs"], live or None, delta_color="off")
figures[1].metric("Comparisons", held["comparisons"])
figures[2].metric("Saved playground lineups", held["playground"])
figures[3].metric("Outputs waiting for review", held["unreviewed"])
if held["runs"]:
    if st.button("All runs: open, compare, export or delete", icon=":material/table_view:"):
        st.switch_page("app_pages/runs.py")
    if held["experiments"] and st.button(
            f"Experiments ({held['experiments']}): k-fold, sweeps and seeds, mean ± std",
            icon=":material/science:"):
        st.switch_page("app_pages/experiments.py")
else:
    st.info("No runs yet: **1 · Train** launches one on the bundled defaults (a small sentiment "
            "classifier on movie-review snippets, a few minutes on a laptop's CPU).")

bundled = [i for i, spec in {**MODELS, **DATASETS}.items() if spec.source == "bundled"]
missing = [i for i in bundled if not assets.installed(i)]
if missing:
    st.warning(f"Bundled but not installed: {', '.join(missing)}. Install them with "
               f"`{assets.INSTALL_COMMAND}`; until then they are marked “not installed” "
               "wherever they are offered.", icon=":material/download:")
if not hub_reachable():
    working = [i for i in bundled if i not in missing]
    st.warning("Offline: the Hugging Face hub cannot be reached from this machine. "
               + (f"The installed bundled models and data sets ({', '.join(working)}) work; "
                  if working else "")
               + "hub entries are marked “needs a network” wherever they are offered.",
               icon=":material/cloud_off:")
st.caption(f"Data: {plain(paths.db_path())}")
