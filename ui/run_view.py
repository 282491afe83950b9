"""One run on a page: status, curves, test results and per-layer change (Train and Runs pages)."""

import functools
import json

import pandas as pd
import streamlit as st

from core import checkpoints, methods, paths, ray_backend
from core.config import from_stored
from core.engine import RESUMABLE
from core.errors import WorkbenchError
from core.launch import LOG_FILE, log_tail
from core.progress import duration_text
from core.models import run_folder
from core.results import ORIGINAL_VS_TUNED, original_vs_tuned
from storage import queries
from ui import charts
from ui.common import jobs, plain
from ui.run_config import config_panel

STATUS_ICONS = {"queued": ":material/hourglass_top:", "running": ":material/directions_run:",
                "completed": ":material/check_circle:", "failed": ":material/error:",
                "stopped": ":material/stop_circle:", "interrupted": ":material/warning:"}


def render_run(db, run_id: str) -> None:
    run = queries.get_run(db, run_id)
    if run is None:
        st.warning(f"No such run: “{plain(run_id)}” (it may have been deleted).")
        return
    status = run["status"]
    st.subheader(f"{STATUS_ICONS.get(status, '')} {plain(run['name'])}")
    st.caption(" · ".join(plain(run[k]) for k in ("id", "method", "model", "dataset"))
               + f" · adapter {plain(run['adapter'])} · **{status}**")
    left, right = st.columns([1, 5])
    with left:
        rename_popover(db, run)
    if right.button("Clone into the Train form", icon=":material/content_copy:",
                    help="Its settings in the Train form, to change and launch as a new run."):
        st.switch_page("app_pages/train.py", query_params={"clone": run["id"]})
    if status == "failed":
        st.error(plain(run["error"] or "The run failed without a message."))
        if run["traceback"]:
            with st.expander("Traceback"):
                st.code(run["traceback"])
    elif status == "interrupted":
        st.warning(plain(run["error"]))
    for note in json.loads(run["summary"] or "{}").get("data_notes", []):
        st.info(plain(note))
    metrics = queries.run_metrics(db, run_id)
    if status in RESUMABLE:
        st.caption(where_it_ended(run, metrics))
        resume_button(run)
    causal = methods.is_causal(run["method"])
    render_curves(metrics, run["method"])
    if status == "completed":
        render_results(db, run_id)
    if phases := json.loads(run["summary"] or "{}").get("phase_seconds"):
        st.caption(plain("Where its time went: " + " · ".join(
            f"{phase} {duration_text(seconds)}" for phase, seconds in phases.items())))
    if causal and status in ("completed", "stopped"):
        export_button(run)
    else:  # exported from the command line (`export RUN_ID`), downloaded here
        export_downloads(run_id)
    if status == "completed":
        push_popover(db, run)
    try:
        config_panel(from_stored(run["config"]), key=run_id)
    except WorkbenchError as error:
        st.warning(plain(error))
    log_panel(run)


def rename_popover(db, run: dict) -> None:
    """Rename the run, whatever its status: a form, so that typing reruns nothing."""
    with st.popover("Rename", icon=":material/edit:"):
        with st.form(f"rename-{run['id']}", border=False):
            name = st.text_input("Run name", run["name"])
            if not st.form_submit_button("Save"):
                return
        try:
            queries.rename_run(db, run["id"], name)
        except WorkbenchError as error:
            st.error(plain(error))
            return
        st.rerun()


def where_it_ended(run: dict, metrics: list[dict]) -> str:
    """'Stopped at training step 18 of 126' (failed, interrupted): how far a run got."""
    steps = [m["step"] for m in metrics if m["loss"] is not None]
    if not steps:
        return f"{run['status'].capitalize()} before its first training step."
    total = f" of {run['total_steps']:,}" if run["total_steps"] else ""
    return f"{run['status'].capitalize()} at training step {steps[-1]:,}{total}."


def log_panel(run: dict) -> None:
    """Where the run works and what its worker printed: the worker's log on this machine, or
    the Ray job's (read from the cluster when asked), with a link to its dashboard page."""
    url = ray_backend.dashboard_url(run)
    if url:
        cols = st.columns([4, 1])
        cols[0].caption(f"On the Ray cluster at {plain(run['ray_address'])}, as job "
                        f"{plain(run['ray_job'])}.")
        cols[1].link_button("Ray dashboard", url)
        with st.expander("Log (Ray job)"):
            if st.toggle("Read it from the cluster", key=f"ray-log-{run['id']}"):
                st.code(ray_backend.job_log(run) or "The cluster did not answer.",
                        language="text")
        return
    log = paths.run_dir(run["id"]) / LOG_FILE
    if log.exists():
        with st.expander("Log (the run's worker process)"):
            # Read and drawn only when asked: a live page redraws this every few seconds.
            if st.toggle("Show its last lines", key=f"log-{run['id']}"):
                st.code(log_tail(log), language="text")


def resume_button(run: dict) -> None:
    """Queue the run to continue from its last checkpoint (or from the start, if it has none)."""
    if run["error"] and run["status"] == "stopped":
        st.caption(plain(run["error"]))  # a cancelled run says so
    checkpoint = checkpoints.latest(run_folder(run))
    label = (f"Resume from step {checkpoints.step_of(checkpoint):,}" if checkpoint
             else "Resume (no checkpoint yet: starts again)")
    if not st.button(label, key=f"resume-{run['id']}",
                     help="Continues with the run's own settings; the curves go on where the "
                          "checkpoint was saved. Waits in the queue if another run trains."):
        return
    try:
        jobs().resume(run["id"])
    except WorkbenchError as error:
        st.error(plain(error))
        return
    st.rerun()


def charted_metrics(method: str) -> tuple:
    """The figures a run's method logs; every known one for a method no longer registered."""
    if method in methods.REGISTRY:
        return methods.get(method).metrics
    return tuple(methods.stored_metrics().values())


def render_curves(rows: list[dict], method: str) -> None:
    show_figures(curve_figures(rows, method))


def curve_figures(rows: list[dict], method: str) -> list:
    """One chart per group of the method's metrics (derived ones, such as perplexity, drawn
    from the stored columns), in the order the method lists them."""
    metrics = charted_metrics(method)
    derived = [m for m in metrics if m.derive is not None]
    rows = [{**row, **{m.column: m.derive(row) for m in derived}} for row in rows]
    titles = dict.fromkeys(m.chart for m in metrics)
    figures = [charts.curve_figure(rows, {m.column: m.label for m in metrics if m.chart == title},
                                   title) for title in titles] if rows else []
    return [f for f in figures if f is not None]


def show_figures(figures: list) -> None:
    if not figures:
        st.info("No metrics yet.")
        return
    for i, column in enumerate(st.columns(2)):
        for figure in figures[i::2]:
            column.plotly_chart(figure)


def render_results(db, run_id: str) -> None:
    evaluations = queries.run_evaluations(db, run_id)
    # The run's own evaluations share its whole test split; later comparisons (`eval --run`)
    # on part of it are shown on the Compare page.
    evaluations = [e for e in evaluations if e["split"] == evaluations[0]["split"]]
    if len(evaluations) > 1:
        st.markdown("**Original vs Tuned** on the same test split")
        st.dataframe(original_vs_tuned(evaluations).style.format(precision=3))
        for evaluation in evaluations:
            with st.expander(f"{ORIGINAL_VS_TUNED.get(evaluation['mode'])}: predictions"):
                predictions = pd.DataFrame(queries.evaluation_predictions(db, evaluation["id"]),
                                           columns=["input", "reference", "prediction", "score",
                                                    "output"])
                st.dataframe(predictions.dropna(axis=1, how="all"), hide_index=True)
        return
    for evaluation in evaluations:
        figures = ("accuracy", "precision", "recall", "f1")
        columns = st.columns(len(figures) + 1)
        for column, name in zip(columns, figures):
            column.metric(f"test {name}", f"{evaluation[name]:.3f}")
        columns[-1].metric("test examples", evaluation["n"])
        per_class = pd.DataFrame(json.loads(evaluation["per_class"])).T
        left, right = st.columns(2)
        left.dataframe(per_class.style.format(  # support is a count of examples
            {c: "{:.0f}" if c == "support" else "{:.3f}" for c in per_class.columns}))
        right.plotly_chart(charts.confusion_figure(json.loads(evaluation["confusion"]),
                                                   json.loads(evaluation["labels"])))
    changes = queries.run_layer_changes(db, run_id)
    if changes:
        st.plotly_chart(charts.layer_change_figure(changes))


EXPORT_FORMATS = {"hf": "a transformers folder (merged)", "f16": "GGUF, f16 (llama.cpp, Ollama)",
                  "q8_0": "GGUF, q8_0: about half of f16's size"}


def export_button(run: dict) -> None:
    """Merge a run's adapters into its base and write a standalone model: a folder, or one
    GGUF file read back and checked against the merged model; then its downloads."""
    from core.export import export_model
    from core.gguf_export import check_line, export_gguf

    left, right = st.columns([2, 1])
    chosen = left.radio("Export as", list(EXPORT_FORMATS), format_func=EXPORT_FORMATS.get,
                        horizontal=True, key=f"export-format-{run['id']}")
    overwrite = left.checkbox("Replace an earlier export of this kind",
                              key=f"export-overwrite-{run['id']}")
    label = "Export merged model" if chosen == "hf" else f"Export GGUF ({chosen})"
    if right.button(label, key=f"export-{run['id']}",
                    help="Writes the base with the adapters merged in (or the fully tuned "
                         "model) under the workbench's home; a GGUF file is read back and "
                         "compared with the merged model. Downloads appear below."):
        with st.spinner("Merging and saving…" if chosen == "hf" else
                        "Merging, converting to GGUF and checking it…"):
            try:
                if chosen == "hf":
                    st.success(f"Saved to {plain(export_model(run['id'], overwrite=overwrite))}")
                else:
                    path, found = export_gguf(run["id"], chosen, overwrite=overwrite)
                    st.success(plain(f"Saved to {path} with an Ollama Modelfile beside it; "
                                     f"{check_line(found)}."))
            except WorkbenchError as error:
                st.error(plain(error))
    export_downloads(run["id"])


def export_downloads(run_id: str) -> None:
    """A browser download for each of the run's exports (the server's folder may be out of
    the user's reach): a GGUF file and its Modelfile, or the merged folder as a zip. Read
    only when clicked."""
    from core.export import exports_of, zipped

    for folder in exports_of(run_id):
        files = sorted(folder.glob("*.gguf"))
        cols = st.columns([2, 1, 1])
        cols[0].caption(plain(f"{folder.name} ({size_text(folder)})"))
        if not files:
            cols[1].download_button("Download (zip)", functools.partial(zipped, folder),
                                    file_name=f"{folder.name}.zip", mime="application/zip",
                                    key=f"download-{folder.name}", icon=":material/download:")
            continue
        cols[1].download_button(f"Download {files[0].name}", files[0].read_bytes,
                                file_name=files[0].name,
                                mime="application/octet-stream", key=f"download-{folder.name}",
                                icon=":material/download:")
        cols[2].download_button("Modelfile", (folder / "Modelfile").read_text(),
                                file_name="Modelfile", mime="text/plain",
                                key=f"modelfile-{folder.name}")


def size_text(folder) -> str:
    size = sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())
    return f"{size / 2**20:,.0f} MB"


def push_popover(db, run: dict) -> None:
    """Upload the run's model and a model card made from it to the Hugging Face hub. What it
    ends with is shown under the button: a popover closes on the rerun, hiding it."""
    from core.push import push_run

    with st.popover("Push to the hub", icon=":material/cloud_upload:"):
        with st.form(f"push-{run['id']}", border=False):
            repo = st.text_input("Repository", placeholder="namespace/name",
                                 help="Created if missing; needs a token that may write there "
                                      "(`hf auth login`, or HF_TOKEN).")
            private = st.checkbox("Private (a new repository)", True)
            pushed = st.form_submit_button("Push")
    if not pushed:
        return
    with st.spinner("Uploading…"):
        try:
            url = push_run(db, run["id"], repo.strip(), private)
        except WorkbenchError as error:
            st.error(plain(f"Push to the hub: {error}"))
            return
    st.success(f"Pushed to {plain(url)}")
