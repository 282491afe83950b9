"""Train: pick a model, a method and data; launch a run and watch it learn."""

import streamlit as st

from core.errors import WorkbenchError
from ui.common import jobs, show_crash
from ui.live import queue_panel, watch
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
        st.info(f"Run {active} is training ([watch it](?run={active})); one run trains at a time, "
                "so a run launched now waits in the queue and starts by itself.")
        queue_panel()
    if not st.button("Add to queue" if active else "Launch", type="primary"):
        return
    try:
        run_id = manager.start(config)
    except WorkbenchError as error:
        st.error(str(error))
        return
    except Exception as error:  # a bug in checking the config: say so, keep serving
        show_crash("Launching", error)
        return
    st.query_params["run"] = run_id
    st.rerun()


st.title("Train")
run_id = st.query_params.get("run")
if run_id:
    if st.button("New run"):
        del st.query_params["run"]
        st.rerun()
    # No st.stop() after watching: it replaces a pending rerun, so a click on the live
    # panel's Stop made while the page was still drawing would be dropped.
    watch(run_id)
else:
    new_run()
