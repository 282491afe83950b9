"""Train: pick a model, a method and data; launch a run and watch it learn."""

import streamlit as st

from core import experiments
from core.errors import WorkbenchError
from core.experiments import is_experiment
from core.jobs import job_slots
from storage import queries
from ui.common import from_url, jobs, open_db, plain, show_crash
from ui.live import queue_entry, queue_panel, watch
from ui.run_config import config_panel
from ui.train_form import config_form, estimate_panel, repeat_inputs


def new_run() -> None:
    """The form, its estimate and config, and Launch (or Add to queue): one settled config,
    the one shown, estimated and launched (as one run, or as the runs of an experiment)."""
    # ?clone=RUN_ID (the run page's "Clone into the Train form"): that run's settings.
    config = config_form(from_url("clone", lambda text: queries.get_run(open_db(), text), "run"))
    repeat = repeat_inputs(config) if config is not None else None
    if repeat is None or not estimate_panel(config):
        return
    experiment = is_experiment(config, repeat["sweep"], repeat["seeds"])
    given = {k: repeat[k] for k in ("sweep", "seeds") if repeat[k] and repeat[k] != 1}
    config_panel(config, key="form", repeat=given)
    manager = jobs()
    active = manager.active() if config.backend == "local" else None
    if active:
        slots = job_slots()
        st.info(f"Running now: {queue_entry(open_db(), active)}. This machine runs {slots} "
                f"job{'s' * (slots > 1)} at a time, so a run launched now waits in the queue "
                "and starts by itself.")
        queue_panel()
    elif config.backend == "ray":
        st.caption("On the Ray cluster, a run does not wait for this machine's queue: it starts "
                   "as soon as the cluster has room for it.")
    runs = f" {repeat['runs']} runs" if experiment else ""
    if not st.button(f"Add{runs} to queue" if active else f"Launch{runs}", type="primary",
                     disabled=not repeat["allow_many"]):
        return
    try:
        if experiment:
            checking = st.progress(0.0, f"Checking {repeat['runs']} runs…")
            plan = experiments.plan(config.to_dict(), sweep=repeat["sweep"],
                                    seeds=repeat["seeds"], allow_many=repeat["allow_many"],
                                    progress=lambda done, total: checking.progress(
                                        done / total, f"Checked {done} of {total} runs…"))
            experiment_id = manager.start_experiment(plan)
        else:
            run_id = manager.start(config)
    except WorkbenchError as error:
        st.error(plain(error))
        return
    except Exception as error:  # a bug in checking the config: say so, keep serving
        show_crash("Launching", error)
        return
    if experiment:
        st.switch_page("app_pages/experiments.py", query_params={"experiment": str(experiment_id)})
    st.query_params.pop("clone", None)
    st.query_params["run"] = run_id
    st.rerun()


st.title("Train")
run = from_url("run", lambda text: queries.get_run(open_db(), text), "run")
if "run" in st.query_params:
    if st.button("New run"):
        del st.query_params["run"]
        st.rerun()
    # No st.stop() after watching: it replaces a pending rerun, so a click on the live
    # panel's Stop made while the page was still drawing would be dropped.
    if run is not None:
        watch(run["id"])  # the row's own id: never the URL's text
else:
    new_run()
