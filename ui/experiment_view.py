"""One experiment: its runs, the mean ± std of each setting with the best marked, a chart of
the figure against each swept setting, and k-fold's pooled evaluation (per class)."""

import json

import pandas as pd
import streamlit as st

from core import experiments
from core.experiments import FIGURES
from storage import queries
from ui import charts
from ui.common import jobs, open_db, plain
from ui.live import LIVE, POLL_SECONDS
from ui.run_view import STATUS_ICONS


def render_experiment(db, experiment_id: int) -> None:
    """The experiment's page. While any of its runs is queued or running, a fragment polls
    their statuses every few seconds (drawing only which run works now, and its phase) and
    redraws the page when one changes: the tables and charts are not redrawn meanwhile, as
    each redraw costs the browser, and the machine trains the run."""
    found = experiments.summary(db, experiment_id)
    header(found)
    if found.runs.empty:
        st.info("All of its runs were deleted: nothing is left to show.")
        return
    body(found)
    if found.status in LIVE:
        watch_statuses(experiment_id, statuses_of(found))


def statuses_of(found: experiments.Summary) -> tuple:
    return tuple(found.runs["status"])


@st.fragment(run_every=POLL_SECONDS)
def watch_statuses(experiment_id: int, drawn: tuple) -> None:
    db = open_db()  # its own: a fragment's rerun may run in another thread than the page's
    found = experiments.summary(db, experiment_id)
    if statuses_of(found) != drawn:
        st.rerun()  # the whole page: new figures, and no Cancel once nothing is left to run
    running = found.runs[found.runs["status"] == "running"]
    for run_id, name in zip(running["run"], running["name"]):
        phase = queries.get_run(db, run_id)["phase"] or "starting…"
        st.caption(f"Running now: {plain(name)}: {plain(phase)}")


def header(found: experiments.Summary) -> None:
    base, sweep, seeds = (found.settings["base"], found.settings["sweep"],
                          found.settings["seeds"])
    st.subheader(f"{STATUS_ICONS.get(found.status, '')} {plain(found.experiment['name'])}")
    varies = [f"{name} over {', '.join(map(charts.value_text, values))}"
              for name, values in sweep.items()]
    varies += [f"{seeds} seeds from {base['seed']}"] if seeds > 1 else []
    varies += [f"{base['folds']} folds (seed {base['seed']})"] if base.get("folds") else []
    st.caption(plain(f"{base['model']} · {base['method']} · {base['dataset']} · varies "
                     f"{'; '.join(varies)} · created {found.experiment['created_at']}"))
    if found.status in LIVE:
        with st.popover("Cancel experiment"):
            st.write("Stops the running run (it keeps a checkpoint) and cancels every queued "
                     "one. Each can be resumed on its own later.")
            if st.button("Cancel every run of it", type="primary",
                         key=f"cancel-experiment-{found.experiment['id']}"):
                stopped = jobs().stop_experiment(found.experiment["id"])
                st.session_state["experiment-cancelled"] = stopped
                st.rerun()
    if "experiment-cancelled" in st.session_state:
        count = st.session_state.pop("experiment-cancelled")
        st.success(f"Cancelled or stopped {count} run{'s' * (count != 1)}." if count else
                   "Nothing to cancel here: its runs are queued by another process (the CLI); "
                   "stop that one with Ctrl-C.")


def body(found: experiments.Summary) -> None:
    runs = found.runs
    counts = runs["status"].value_counts()
    st.progress(counts.get("completed", 0) / len(runs),
                text=f"{counts.get('completed', 0)} of {len(runs)} runs completed" +
                "".join(f" · {counts[s]} {s}" for s in ("running", "queued", "failed",
                                                          "stopped", "interrupted")
                        if s in counts))
    figures = experiments.figures_of(runs)
    if figures and runs[figures[0]].notna().any():
        settings_section(found, figures)
    pooled_section(found.pooled)
    st.markdown("**Runs** (select one to open it on the Runs page, to resume, stop or delete "
                "it)")
    # Swept values as the settings table writes them (5e-05, not 0.00005). A row opens its
    # run in this tab: a link column would open a new tab, and so a new session.
    shown = runs.rename(columns={"run": "id"})
    for setting in found.settings["sweep"]:
        shown[setting] = shown[setting].map(charts.value_text)
    picked = st.dataframe(shown, hide_index=True, on_select="rerun",
                          selection_mode="single-row", key="experiment-runs", column_config={
                              f: st.column_config.NumberColumn(charts.FIGURE_TITLES[f],
                                                               format="%.4f") for f in figures})
    if picked.selection.rows:
        st.switch_page("app_pages/runs.py",
                       query_params={"run": shown["id"].iloc[picked.selection.rows[0]]})


def settings_section(found: experiments.Summary, figures: list[str]) -> None:
    sweep, by_setting, runs = found.settings["sweep"], found.by_setting, found.runs
    first = figures[0]
    best = by_setting[by_setting["best"]]
    if sweep and not best.empty:
        settings = "; ".join(", ".join(f"{k}={charts.value_text(row[k])}" for k in sweep)
                             for _, row in best.iterrows())
        row = best.iloc[0]
        completed = int(row["completed"])
        st.success(plain(f"Best setting{'s (tied)' if len(best) > 1 else ''}: {settings}: "
                         f"{charts.FIGURE_TITLES[first]} "
                         f"{experiments.mean_std(row[first], row[first + '_std'])} over "
                         f"{completed} run{'s' * (completed != 1)}"),
                   icon=":material/star:")
        if caveat := experiments.best_caveat(by_setting):
            st.warning(plain(caveat.capitalize() + "."))
    columns, records = experiments.settings_table(by_setting, sweep)
    table = pd.DataFrame(records, columns=columns).rename(
        columns={f: f"{charts.FIGURE_TITLES[f]} (mean ± std)" for f in FIGURES})
    if len(table) == 1:  # one setting: nothing to be best among
        table = table.drop(columns=["best"])
    st.dataframe(table.astype(str), hide_index=True)
    if sweep:
        for setting in sweep:
            others = [k for k in sweep if k != setting]
            st.plotly_chart(charts.sweep_figure(by_setting, runs, setting, others, first))
    else:
        by = "fold" if "fold" in runs and runs["fold"].notna().any() else "seed"
        st.plotly_chart(charts.replicates_figure(runs, by, first))


def pooled_section(pooled: list[dict]) -> None:
    """k-fold: every example predicted once, by the run that held it out."""
    for evaluation in pooled:
        st.markdown(f"**{plain(evaluation['model'])}**: every one of the {evaluation['n']:,} "
                    "examples predicted once, by the run that did not train on it. "
                    "The Compare page lists it under the split "
                    f"“{plain(evaluation['split'])}”.")
        cols = st.columns(4)
        for column, (name, title) in zip(cols, [("accuracy", "accuracy"), ("precision", "macro precision"),
                                                ("recall", "macro recall"), ("f1", "macro F1")]):
            column.metric(f"pooled {title}", f"{evaluation[name]:.3f}")
        per_class = pd.DataFrame(json.loads(evaluation["per_class"])).T
        left, right = st.columns(2)
        left.dataframe(per_class.style.format(
            {c: "{:.0f}" if c == "support" else "{:.3f}" for c in per_class.columns}))
        right.plotly_chart(charts.confusion_figure(json.loads(evaluation["confusion"]),
                                                   json.loads(evaluation["labels"]),
                                                   "Confusion matrix (all folds)"),
                           key=f"pooled-confusion-{evaluation['id']}")
