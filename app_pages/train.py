"""Train: pick a model, a method and data; launch a run and watch it learn."""

import streamlit as st

from core.config import resolve
from core.errors import WorkbenchError
from ui.common import jobs, show_crash
from ui.live import queue_panel, watch
from ui.run_config import config_panel
from ui.train_form import config_form, estimate_panel

st.title("Train")
manager = jobs()
run_id = st.query_params.get("run")
if run_id:
    if st.button("New run"):
        del st.query_params["run"]
        st.rerun()
    watch(run_id)
    st.stop()

config = config_form()
if config is None or not estimate_panel(config):
    st.stop()
config_panel(resolve(config), key="form")
active = manager.active()
if active:
    st.info(f"Run {active} is training ([watch it](?run={active})); one run trains at a time, "
            "so a run launched now waits in the queue and starts by itself.")
    queue_panel()
if st.button("Add to queue" if active else "Launch", type="primary"):
    try:
        run_id = manager.start(config)
    except WorkbenchError as error:
        st.error(str(error))
        st.stop()
    except Exception as error:  # a bug in checking the config: say so, keep serving
        show_crash("Launching", error)
        st.stop()
    st.query_params["run"] = run_id
    st.rerun()
