"""A comparison on the Compare page: its state, live progress and Stop, read from SQLite.

The job manager runs it, so leaving the page loses nothing: the URL (`?job=N`)
names it, and a reload or a later visit finds it where it is. The fragment polls
only while the comparison is queued or running, then reruns the page once to
show its results.
"""

import streamlit as st

from core.comparisons import left_out
from core.jobs import comparison_key
from storage import queries
from ui.common import jobs, open_db, plain
from ui.live import LIVE, POLL_SECONDS, waiting_line
from ui.run_view import STATUS_ICONS


def show_job(job: dict) -> None:
    if job["status"] in LIVE:
        live_job(job["id"])
    else:
        ended(job)


@st.fragment(run_every=POLL_SECONDS)
def live_job(job_id: int) -> None:
    job = queries.get_comparison(open_db(), job_id)
    if job is None or job["status"] not in LIVE:
        st.rerun()  # ended (or deleted) while we watched: show its results, without polling
    heading(job)
    if job["status"] == "queued":
        waiting_line(comparison_key(job_id))
    else:
        st.progress(min(job["progress"] or 0.0, 1.0),
                    text=plain(job["progress_text"] or "Loading the model and the data…"))
    kept = len(job["evaluation_ids"])
    st.caption(f"{kept} execution{'s' * (kept != 1)} stored so far. You can leave this page: "
               "the comparison goes on, and this page's link finds it again.")
    queued = job["status"] == "queued"
    if st.button("Cancel" if queued else "Stop comparison", key=f"stop-comparison-{job_id}"):
        if jobs().stop(comparison_key(job_id)):
            st.toast("Cancelled." if queued else "Stopping before the next batch…")
        else:
            st.warning("This comparison is neither running nor queued any more.")


def heading(job: dict) -> None:
    st.subheader(f"{STATUS_ICONS[job['status']]} Comparison {job['id']}")
    st.caption(plain(job["name"]) + f" · **{job['status']}**")


def ended(job: dict) -> None:
    heading(job)
    kept = len(job["evaluation_ids"])
    ids = job["evaluation_ids"]
    gone = kept - (len(queries.get_evaluations(open_db(), ids)) if ids else 0)
    if gone:  # a run deleted since takes its evaluations with it
        st.warning(f"{gone} of its {kept} executions were deleted since (with their runs).")
    if job["status"] == "completed":
        st.success(f"Completed: {kept} execution{'s' * (kept != 1)}"
                   + (", shown below." if gone < kept else "."))
    elif job["status"] == "failed":
        st.error(plain(f"The comparison failed: {job['error']}"))
        if job["traceback"]:
            with st.expander("Details (for a bug report)"):
                st.code(job["traceback"], language=None)
    else:
        st.warning(plain(job["error"] or job["status"]))
    if missing := left_out(open_db(), job):
        st.warning(plain(f"Not in the result below ({job['split'] or 'nothing was scored'}), "
                         f"of the {len(missing)} system{'s' * (len(missing) != 1)} asked for: "
                         + "; ".join(missing) + "."))


def history(db) -> None:
    """The latest comparisons, each a link to its own state and results."""
    past = queries.list_comparisons(db, limit=20)
    if not past:
        return
    with st.expander(f"Comparisons ({len(past)} latest)"):
        for job in past:
            kept = len(job["evaluation_ids"])
            label = (f"Comparison {job['id']} · {job['status']} · {kept} "
                     f"execution{'s' * (kept != 1)} · {plain(job['name'])} · "
                     f"{job['created_at'][:16].replace('T', ' ')}")
            if st.button(label, key=f"open-comparison-{job['id']}", type="tertiary",
                         icon=STATUS_ICONS[job["status"]]):
                st.query_params.pop("split", None)
                st.query_params["job"] = str(job["id"])
                st.rerun()
