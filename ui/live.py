"""A run being watched: progress, live charts and Stop, refreshed from SQLite by a fragment.

The fragment polls only while the run is queued or running; when it sees the
run end it reruns the whole page once, which redraws it without `run_every`,
so a finished run costs nothing to keep open.
"""

import streamlit as st

from core.jobs import comparison_of
from storage import queries
from ui.common import jobs, open_db, plain
from ui.run_view import STATUS_ICONS, log_panel, render_curves, render_run

LIVE = ("queued", "running")
POLL_SECONDS = 1.5


def progress_line(run: dict, metrics: list[dict]) -> tuple[float, str]:
    """Fraction done and a line: step, epoch, samples per second, time left."""
    rows = [m for m in metrics if m["loss"] is not None]
    if not rows:
        return 0.0, "Loading the model and the data…"
    last, total = rows[-1], run["total_steps"] or rows[-1]["step"]
    done = min(last["step"] / total, 1.0)
    parts = [f"step {last['step']:,} / {total:,}"]
    if last["epoch"] is not None:
        parts.append(f"epoch {last['epoch']:.2f}")
    if last["throughput"]:
        parts.append(f"{last['throughput']:.1f} samples/s")
    if last["time"] and 0 < done < 1:
        parts.append(f"about {format_seconds(last['time'] * (1 - done) / done)} left")
    if done >= 1:
        parts.append("training done: judging the test split…")
    return done, " · ".join(parts)


def format_seconds(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes} min {seconds:02d} s" if minutes else f"{seconds} s"


def watch(run_id: str) -> None:
    db = open_db()
    run = queries.get_run(db, run_id)
    if run is None or run["status"] not in LIVE:
        render_run(db, run_id)
        return
    live_panel(run_id)


@st.fragment(run_every=POLL_SECONDS)
def live_panel(run_id: str) -> None:
    db = open_db()
    run = queries.get_run(db, run_id)
    if run is None or run["status"] not in LIVE:
        st.rerun()  # ended (or deleted) while we watched: redraw the page without polling
    metrics = queries.run_metrics(db, run_id)
    st.subheader(f"{STATUS_ICONS[run['status']]} {plain(run['name'])}")
    st.caption(" · ".join(plain(run[k]) for k in ("id", "method", "model", "dataset"))
               + f" · **{run['status']}**")
    if run["status"] == "queued":
        waiting_line(run_id)
    else:
        done, line = progress_line(run, metrics)
        st.progress(done, text=line)
    stop_button(run)
    render_curves(metrics, run["method"])
    log_panel(run_id)


def waiting_line(key: str) -> None:
    """Where a queued job (a run's id, or a comparison's key) stands in the queue."""
    position, active = jobs().position(key), jobs().active()
    if position is None:
        st.info("Starting…")
        return
    db = open_db()
    ahead = f"behind {job_title(db, active)}" + (
        f" and {position - 1} queued before it" if position > 1 else "")
    st.info(f"Waiting in the queue: number {position}, {plain(ahead)}. It starts by itself.")


def job_title(db, key: str | None) -> str:
    """'run <its name>' or 'comparison N': what the queue holds, as a user knows it."""
    number = comparison_of(key)
    if number is not None:
        return f"comparison {number}"
    run = queries.get_run(db, key) if key else None
    return f"run {run['name'] if run else key}"


def stop_button(run: dict) -> None:
    """Stop a training run after its current step, or cancel a queued one."""
    queued = run["status"] == "queued"
    if not st.button("Cancel" if queued else "Stop training", key=f"stop-{run['id']}", type="primary"):
        return
    if jobs().stop(run["id"]):
        st.toast("Cancelled." if queued else "Stopping after the current step…")
    else:
        st.warning("This run is not training or queued in this server, so it cannot be "
                   "stopped here.")


def queue_panel() -> None:
    """The runs and comparisons waiting, in order, each with a link and a Cancel button."""
    waiting = jobs().queued()
    if not waiting:
        return
    db = open_db()
    st.markdown("**Queue**: " + plain(f"{len(waiting)} waiting behind "
                                      f"{job_title(db, jobs().active())}"))
    for position, key in enumerate(waiting, start=1):
        left, right = st.columns([5, 1])
        left.markdown(f"{position}. " + queue_entry(db, key))
        if right.button("Cancel", key=f"cancel-{key}"):
            jobs().stop(key)
            st.rerun()


def queue_entry(db, key: str) -> str:
    """A queued job as a link to the page that watches it."""
    number = comparison_of(key)
    if number is not None:
        job = queries.get_evaluation_job(db, number)
        return f"[Comparison {number}](compare?job={number}) · {plain(job['name'])}"
    run = queries.get_run(db, key)
    return (f"[{plain(run['name'])}](?run={key}) · "
            + " · ".join(plain(run[k]) for k in ("method", "model", "dataset")))
