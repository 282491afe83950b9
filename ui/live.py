"""A run being watched: progress, live charts and Stop, refreshed from SQLite by fragments.

Watching must cost the run nothing measurable (bench/watch_overhead.py): every rerun
holds the interpreter lock the training thread needs. So the status line (one run row,
the new metrics rows) polls every STATUS_SECONDS, the charts every CHART_SECONDS and
only rebuild their figures when rows came; metrics rows already read are kept in the
session and only new ones are read. The fragments poll only while the run is queued
or running; when the status sees the run end it reruns the whole page once, which
redraws it without `run_every`, so a finished run costs nothing to keep open.
"""

import streamlit as st

from core.jobs import comparison_of, title as job_title
from core import resources
from core.progress import duration_text
from storage import queries
from ui.common import jobs, open_db, plain
from ui.run_view import (STATUS_ICONS, curve_figures, log_panel, rename_popover, render_run,
                         show_figures)

LIVE = ("queued", "running")
POLL_SECONDS = STATUS_SECONDS = 5.0  # each redraw costs the browser too (bench/watch_overhead.py)
CHART_SECONDS = 15.0  # a chart a few steps late is fine; its redraw costs the most


def progress_line(run: dict, metrics: list[dict],
                  after: dict[str, float] | None = None) -> tuple[float, str]:
    """Fraction of training done, and what the run does now: the phase the engine said
    (loading, converting, tokenising, judging), or while training "training step N of M"
    with the epoch, the speed and the time left: the steps left at the speed measured
    between steps, and the phases `after` training as a run like it took them."""
    rows = [m for m in metrics if m["loss"] is not None]
    total = run["total_steps"] or (rows[-1]["step"] if rows else 0)
    done = min(rows[-1]["step"] / total, 1.0) if rows and total else 0.0
    if run["phase"] != "training":
        return done, plain(run["phase"] or "starting…")
    if not rows:
        return 0.0, f"training: step 1 of {total:,} under way…"
    last = rows[-1]
    parts = [f"training step {last['step']:,} of {total:,}"]
    if last["epoch"] is not None:
        parts.append(f"epoch {last['epoch']:.2f}")
    if last["throughput"]:
        parts.append(f"{last['throughput']:.1f} samples/s")
    per_step = seconds_per_step(rows)
    if per_step is not None and done < 1:
        left = per_step * (total - last["step"])
        after_seconds = sum((after or {}).values())
        parts.append(f"about {duration_text(left + after_seconds)} left" +
                     (f" (training {duration_text(left)}, then {duration_text(after_seconds)} "
                      "to test and save, as a run like it took here)" if after_seconds else ""))
    return done, " · ".join(parts)


def phases_after_training(db, run: dict) -> dict[str, float]:
    """The phases that follow training (judging the test split, saving), as the last run like
    this one took them; {} for none."""
    like = queries.last_timed_run(db, run["model"], run["method"], run["adapter"], run["dataset"])
    if like is None or "training" not in like["phase_seconds"]:
        return {}
    phases = list(like["phase_seconds"].items())
    return dict(phases[[p for p, _ in phases].index("training") + 1:])


def seconds_per_step(rows: list[dict]) -> float | None:
    """Seconds a step took between the first and the last logged step (loading and the
    first step's warm-up left out); None until two steps are logged."""
    timed = [r for r in rows if r["time"] is not None]
    if len(timed) < 2 or timed[-1]["step"] <= timed[0]["step"]:
        return None
    return (timed[-1]["time"] - timed[0]["time"]) / (timed[-1]["step"] - timed[0]["step"])


def watch(run_id: str) -> None:
    db = open_db()
    run = queries.get_run(db, run_id)
    if run is None or run["status"] not in LIVE:
        render_run(db, run_id)
        return
    # Drawn once: only the status line and the charts are polled (each element a fragment
    # redraws costs the training thread), and a change of status redraws the whole page.
    st.subheader(f"{STATUS_ICONS[run['status']]} {plain(run['name'])}")
    st.caption(" · ".join(plain(run[k]) for k in ("id", "method", "model", "dataset"))
               + f" · **{run['status']}**")
    rename_popover(db, run)
    live_status(run_id, run["status"])
    stop_button(run)
    live_charts(run_id, run["method"])


@st.fragment(run_every=STATUS_SECONDS)
def live_status(run_id: str, drawn_status: str) -> None:
    db = open_db()
    run = queries.get_run(db, run_id)
    if run is None or run["status"] != drawn_status:
        # Started, ended or deleted while we watched: redraw the page (without polling once
        # the run has ended).
        st.rerun()
    if run["status"] == "queued":
        waiting_line(run_id)
    else:
        if f"after-{run_id}" not in st.session_state:  # (found once: it does not change)
            st.session_state[f"after-{run_id}"] = phases_after_training(db, run)
        rows = watched_metrics(db, run_id)[0]
        done, line = progress_line(run, rows, st.session_state[f"after-{run_id}"])
        st.progress(done, text=line)
        if rows and (used := resources.line(rows[-1])):
            st.caption(f"The run's process now: {used}")


@st.fragment(run_every=CHART_SECONDS)
def live_charts(run_id: str, method: str) -> None:
    rows, version = watched_metrics(open_db(), run_id)
    drawn = st.session_state.get(f"figures-{run_id}")
    if drawn is None or drawn[0] != version:  # figures are rebuilt only when rows came
        drawn = st.session_state[f"figures-{run_id}"] = (version, curve_figures(rows, method))
    show_figures(drawn[1])
    run = queries.get_run(open_db(), run_id)
    if run is not None:
        log_panel(run)


def watched_metrics(db, run_id: str) -> tuple[list[dict], tuple[int, int]]:
    """The run's metrics rows, in step order, and their version (the latest id, the count):
    rows already read are kept in this session, only new ones are read (all again if some
    were rewound, as a resumed run does)."""
    kept = st.session_state.setdefault(f"metrics-{run_id}", {"rows": [], "last": 0})
    new, count = queries.metrics_after(db, run_id, kept["last"])
    if count != len(kept["rows"]) + len(new):
        kept["rows"], (new, count) = [], queries.metrics_after(db, run_id, 0)
    if new:
        kept["rows"] = sorted(kept["rows"] + new, key=lambda row: (row["step"], row["id"]))
        kept["last"] = max(row["id"] for row in new)
    return kept["rows"], (kept["last"], len(kept["rows"]))


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


def stop_button(run: dict) -> None:
    """Stop a training run after its current step, or cancel a queued one."""
    queued = run["status"] == "queued"
    if not st.button("Cancel" if queued else "Stop training", key=f"stop-{run['id']}", type="primary"):
        return
    if jobs().stop(run["id"]):
        st.toast("Cancelled." if queued else "Stopping after the current step…")
    else:
        st.warning("This run is neither training nor queued any more.")


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
        job = queries.get_comparison(db, number)
        return f"[Comparison {number}](compare?job={number}) · {plain(job['name'])}"
    run = queries.get_run(db, key)
    return (f"[{plain(run['name'])}](?run={key}) · "
            + " · ".join(plain(run[k]) for k in ("method", "model", "dataset")))
