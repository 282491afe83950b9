"""Review: score model outputs blind against a rubric; results per model and agreement."""

import streamlit as st

from core.review import group_items
from storage import queries
from ui.common import open_db
from ui.review import (by_run_name, choose_rubric, choose_source, export_button, my_reviews,
                       navigation, position, remembered, results, score_item, source_label)

st.title("Review")
db = open_db()
sources = queries.review_sources(db)
if not sources:
    st.info("Nothing to review yet: save a lineup on the Playground page, or train a "
            "summarisation run (e.g. `python -m core train --preset s6-summarise`), whose "
            "generated summaries are stored as predictions.")
    st.stop()

left, right = st.columns([1, 2])
name = left.text_input("Your name", st.query_params.get("reviewer", ""),
                       help="Reviews are kept per reviewer, so that several people can score the "
                            "same outputs.")
reviewer = remembered("reviewer", name.strip() or None, resets=("item",))
with right:
    source = choose_source(sources)
rubric_id, criteria = choose_rubric(db)
scoring, summary = st.tabs(["Score outputs", "Results"])

with scoring:
    if not reviewer:
        st.info("Type your name to start: model names stay hidden until you have scored an item.")
    else:
        items = group_items(by_run_name(db, queries.review_targets(db, source)))
        mine = my_reviews(db, reviewer, rubric_id, source)
        index = position(items, mine)
        if index is not None:  # None: the URL names no item, and nothing is offered to score
            navigation(items, mine, index)
            score_item(db, items[index], reviewer, rubric_id, criteria, mine)

with summary:
    if not st.toggle("Show the results", help="They name the models: reviewers still scoring may "
                                               "prefer not to see how each model is doing."):
        st.stop()
    names = [None] + [s["source"] for s in sources]
    scope = st.selectbox("Reviews of", names, format_func=lambda n: "all sources" if n is None else
                         source_label(next(s for s in sources if s["source"] == n)))
    results(db, rubric_id, criteria, scope)
    export_button(db)
