"""Playground: one input, 2 to 4 models, their outputs side by side (a chat goes on turn after
turn, each model with its own side of the conversation); save a lineup for review."""

import dataclasses

import streamlit as st

from core.errors import WorkbenchError
from storage import queries
from ui.common import from_url, jobs, open_db, plain
from ui.live import job_title
from ui.playground import (ASKED, Asked, choose_input, choose_models, choose_settings,
                           conversation_panel, keep_turn, model_cache, run_side_by_side,
                           save_panel, saved_list, saved_input, settings_of, show_outputs)
from ui.runs_table import run_names

st.title("Playground")
db = open_db()
names = run_names(db)

models = choose_models(db)
chosen = choose_input(db, models)
conversation = conversation_panel(models, chosen[0].task, names) if chosen else None
settings = choose_settings()
asked = st.session_state.get(ASKED)
if jobs().active():
    working = job_title(db, jobs().active())
    st.caption(plain(f"{working[0].upper()}{working[1:]} is working on this machine: outputs "
                     "come slower meanwhile."))
if st.button("Run side by side", type="primary", disabled=asked is not None or not (models and chosen)):
    request, reference = chosen
    try:
        request.check()
        settings.check()
    except WorkbenchError as error:
        st.error(plain(error))
        st.stop()
    histories = {m: conversation.history_of(m) for m in models} if conversation else {}
    st.session_state[ASKED] = Asked(models, request, reference, settings, histories=histories)
    st.rerun()  # drawn again with the button off while the models answer

if asked is not None:
    st.caption("Generating… A click meanwhile does not stop it: the models answer first, then "
               "'Run side by side' is back.")
    # The input box may already hold another input (changed meanwhile): say which is answered.
    with st.expander(f"Answering ({plain(asked.request.task)})", expanded=False):
        st.text(asked.request.text)
    run_side_by_side(asked, names)
    del st.session_state[ASKED]  # before saving: a rerun from here on must not answer it again
    keep_turn(asked)
    st.session_state["failures"] = [f"{names.get(m, m)}: {why}" for m, why in asked.failures.items()]
    outputs = [asked.outputs[m] for m in asked.models if m in asked.outputs]
    if outputs:
        request = asked.request
        st.query_params["lineup"] = queries.save_lineup(
            db, {"input": saved_input(asked), "reference": asked.reference, "task": request.task,
                 "labels": list(request.label_names), "instruction": request.instruction,
                 "settings": dataclasses.asdict(asked.settings)}, outputs)
    st.rerun()

for failure in st.session_state.pop("failures", []):
    st.error(plain(failure))
stored = from_url("lineup", lambda number: queries.get_lineup(db, number), "lineup",
                  number=True)
if stored:
    lineup, outputs = stored
    st.subheader(plain(lineup["name"] or "Latest lineup"))
    st.caption(f"Prompt: {plain(lineup['task'])} · {plain(settings_of(lineup))} · "
               f"{lineup['created_at']}")
    with st.expander("Input", expanded=False):
        st.text(lineup["input"])
        if lineup["reference"]:
            st.caption(f"Reference: {plain(lineup['reference'])}")
    show_outputs(outputs, names)
    save_panel(db, lineup)

saved_list(db, names)
with st.expander("Loaded models"):
    cache = model_cache()
    st.caption(f"Kept in memory for the next input: {cache.used() / 1e9:.2f} of "
               f"{cache.budget / 1e9:.1f} GB; the least recently used go first when the next "
               "would not fit.")
    st.dataframe([{"model": names.get(m, m), "GB": b / 1e9} for m, b in cache.contents()],
                 hide_index=True)
    if st.button("Unload all"):
        cache.clear()
        st.rerun()
