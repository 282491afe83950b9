"""Train: pick a model, a method and data; launch a run and watch it learn."""

import streamlit as st

from core.errors import WorkbenchError
from storage import queries
from ui.common import from_url, jobs, open_db, plain, show_crash
from ui.live import queue_entry, queue_panel, watch
from ui.run_config import config_panel
from ui.train_form import config_form, estimate_panel


def new_run() -> None:
    """The form, its estimate and config, and Launch (or Add to queue): one settled config,
    the one shown, estimated and launched."""
    config = config_form()
    if config is None or not estimate_panel(config):
        return
    config_panel(config, key="form")
    manager = jobs()
    active = manager.active()
    if active:
        st.info(f"Running now: {queue_entry(open_db(), active)}. One job runs at a time, so a "
                "run launched now waits in the queue and starts by itself.")
        queue_panel()
    if not st.button("Add to queue" if active else "Launch", type="primary"):
        return
    try:
        run_id = manager.start(config)
    except WorkbenchError as error:
        st.error(plain(error))
        return
    except Exception as error:  # a bug in checking the config: say so, keep serving
        show_crash("Launching", error)
        return
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
