"""The review page's parts: queue, blind scoring of one item, the rubric, and the results."""

import string

import pandas as pd
import streamlit as st

from core import review
from core.errors import WorkbenchError
from core.review import SCORES, Criterion, Item
from core.spreadsheet import csv_text
from storage import queries
from ui import charts
from ui.common import from_url, plain
from ui.runs_table import run_names

LETTERS = string.ascii_uppercase


def remembered(name: str, value, resets: tuple[str, ...] = ()):
    """Keep a choice in the URL, so that a refresh or a shared link comes back to it.

    `resets` are choices that depend on this one, forgotten when it changes.
    """
    if st.query_params.get(name) != (None if value is None else str(value)):
        for dependent in resets:
            st.query_params.pop(dependent, None)
    if value is None:
        st.query_params.pop(name, None)
    else:
        st.query_params[name] = str(value)
    return value


def source_label(source: dict) -> str:
    what = "Saved playground lineups" if source["source"] == "playground" else \
        f"Predictions on {source['source']}"
    return f"{what} ({source['items']} items, {source['outputs']} outputs)"


def choose_source(sources: list[dict], key: str = "source") -> str:
    names = [s["source"] for s in sources]
    wanted = from_url(key, lambda text: text if text in names else None, "source")
    chosen = st.selectbox("Outputs to review", names, index=names.index(wanted) if wanted in names else 0,
                          format_func=lambda n: source_label(next(s for s in sources if s["source"] == n)))
    return remembered(key, chosen, resets=("item",))


def rubrics(db) -> dict[int, tuple[str, list[Criterion]]]:
    """Every rubric by id; the default one (accuracy, coherence, safety) is made on first use."""
    stored = queries.list_rubrics(db)
    if not stored:
        queries.add_rubric(db, review.DEFAULT_RUBRIC, review.as_rows(review.DEFAULT_CRITERIA))
        stored = queries.list_rubrics(db)
    return {r["id"]: (r["name"], [Criterion(**c) for c in r["criteria"]]) for r in stored}


def choose_rubric(db) -> tuple[int, list[Criterion]]:
    known = rubrics(db)
    ids = list(known)
    wanted = from_url("rubric", lambda number: number if number in known else None, "rubric",
                      number=True)
    rubric_id = st.selectbox("Rubric", ids, index=ids.index(wanted) if wanted in ids else 0,
                             format_func=lambda i: f"{known[i][0]} (#{i})",
                             help="Each criterion is scored 1 to 5; the weighted score is the "
                                  "weighted mean of the criteria.")
    remembered("rubric", rubric_id)
    st.caption("  \n".join(f"**{plain(c.name)}** (weight {c.weight:g}): {plain(c.description)}"
                           for c in known[rubric_id][1]))
    edit_rubric(db, known[rubric_id][1])
    return rubric_id, known[rubric_id][1]


def edit_rubric(db, criteria: list[Criterion]) -> None:
    """Edit a copy: a rubric that has reviews must keep meaning what it meant when they were made."""
    with st.expander("Edit the rubric (saved as a new one)"):
        rows = st.data_editor(pd.DataFrame(review.as_rows(criteria)), num_rows="dynamic",
                              hide_index=True, key="rubric-editor", column_config={
                                  "weight": st.column_config.NumberColumn(min_value=0.0, step=0.1),
                                  "description": st.column_config.TextColumn(width="large")})
        name = st.text_input("Name of the new rubric", "my rubric")
        if st.button("Save as a new rubric"):
            try:
                edited = review.criteria_from(rows.to_dict("records"))
            except WorkbenchError as error:
                st.error(plain(error))
                return
            remembered("rubric", queries.add_rubric(db, name.strip() or "rubric", review.as_rows(edited)))
            st.rerun()


def my_reviews(db, reviewer: str, rubric_id: int, source: str) -> dict[tuple, dict]:
    """This reviewer's reviews under this rubric, by what they scored."""
    return {(r["kind"], r["target_id"]): r
            for r in queries.reviews_with_targets(db, rubric_id, source) if r["reviewer"] == reviewer}


def is_reviewed(item: Item, mine: dict) -> bool:
    return all((o.kind, o.target_id) in mine for o in item.outputs)


def position(items: list[Item], mine: dict) -> int | None:
    """The item to show: the one in the URL, else the first not yet reviewed; None (said)
    when the URL names no item.

    Kept in the URL, so that saving scores stays on the item and reveals its models.
    """
    if "item" in st.query_params:
        return from_url("item", lambda number: number if number < len(items) else None, "item",
                        number=True)
    return remembered("item", next((i for i, item in enumerate(items) if not is_reviewed(item, mine)), 0))


def navigation(items: list[Item], mine: dict, index: int) -> None:
    done = sum(is_reviewed(item, mine) for item in items)
    st.progress(done / len(items), text=f"{done} of {len(items)} reviewed")
    back, skip, jump = st.columns([1, 1, 4])
    if back.button("◀ Previous", disabled=index == 0):
        go_to(index - 1)
    label = "Next ▶" if is_reviewed(items[index], mine) else "Skip ▶"
    if skip.button(label, disabled=index == len(items) - 1):
        go_to(index + 1)
    chosen = jump.selectbox("Go to", range(len(items)), index=index, label_visibility="collapsed",
                            format_func=lambda i: f"{i + 1}. {'✓' if is_reviewed(items[i], mine) else '·'} "
                                                  f"{items[i].input[:70]}")
    if chosen != index:
        go_to(chosen)


def go_to(index: int) -> None:
    st.query_params["item"] = str(index)
    st.rerun()


def score_item(db, item: Item, reviewer: str, rubric_id: int, criteria: list[Criterion],
               mine: dict) -> None:
    """The item's outputs under letters, in this reviewer's shuffled order; names once scored."""
    reviewed = is_reviewed(item, mine)
    st.markdown("**Prompt**")
    st.text(item.prompt)
    st.markdown("**Input**")
    st.text(item.input)
    if item.reference:
        with st.expander("Reference"):
            st.text(item.reference)
    order = review.blind_order(len(item.outputs), reviewer, item.key)
    if reviewed:
        st.success("Scored. " + " · ".join(f"Output {LETTERS[n]} was {plain(item.outputs[j].model)}"
                                           for n, j in enumerate(order)))
    with st.form(f"review {item.key} {reviewer} {rubric_id}"):
        entered = {}
        for n, j in enumerate(order):
            output = item.outputs[j]
            st.markdown(f"#### Output {LETTERS[n]}" + (f": {plain(output.model)}" if reviewed else ""))
            st.text(output.text)
            entered[j] = score_inputs(f"{item.key}-{j}", criteria, mine.get((output.kind, output.target_id)))
        if st.form_submit_button("Save scores" if not reviewed else "Save changes", type="primary"):
            save_scores(db, item, entered, reviewer, rubric_id)


def score_inputs(key: str, criteria: list[Criterion], previous: dict | None) -> tuple[dict, str]:
    """A 1-5 choice per criterion (none ticked until the reviewer decides) and a comment."""
    old = previous["scores"] if previous else {}
    columns = st.columns(len(criteria))
    scores = {c.name: column.radio(plain(c.name), SCORES, horizontal=True, help=plain(c.description),
                                   index=SCORES.index(old[c.name]) if c.name in old else None,
                                   key=f"{key}-{c.name}")
              for c, column in zip(criteria, columns)}
    comment = st.text_input("Comment", previous["comment"] if previous else "", key=f"{key}-comment")
    return scores, comment


def save_scores(db, item: Item, entered: dict, reviewer: str, rubric_id: int) -> None:
    missing = [f"Output {LETTERS[n]}" for n, (scores, _) in enumerate(entered.values())
               if None in scores.values()]
    if missing:
        st.error(f"Score every criterion first: {', '.join(missing)} has criteria without a score.")
        return
    for j, (scores, comment) in entered.items():
        output = item.outputs[j]
        queries.save_review(db, output.kind, output.target_id, reviewer, rubric_id, scores, comment)
    st.rerun()


def by_run_name(db, targets: list[dict]) -> list[dict]:
    """Review targets (or reviews) whose `model` names its run by its name, not its id."""
    names = run_names(db)
    return [dict(t, model=t["model"].replace(t["run_id"], names[t["run_id"]]))
            if t["run_id"] in names else t for t in targets]


def results(db, rubric_id: int, criteria: list[Criterion], source: str | None) -> None:
    reviews = by_run_name(db, queries.reviews_with_targets(db, rubric_id, source))
    if not reviews:
        st.info("No reviews under this rubric yet.")
        return
    table = review.model_results(reviews, criteria)
    st.plotly_chart(charts.review_figure(table))
    st.dataframe(table, hide_index=True, column_config={
        name: st.column_config.NumberColumn(format="%.2f") for name in table.columns
        if name not in ("model", "reviews", "reviewers")})
    figures = review.agreement(reviews, criteria)
    alpha = figures["alpha"]
    st.metric("Agreement between reviewers (Krippendorff's alpha, interval)",
              "—" if alpha is None else f"{alpha:.3f}")
    if alpha is None:
        st.caption("Needs outputs scored by at least two reviewers, with some spread in the scores.")
    else:
        st.caption(f"Over {figures['units']} (output, criterion) pairs scored by two or more "
                   "reviewers. 1 is perfect agreement, 0 no better than chance; " + ", ".join(
                       f"{plain(c.name)} {'—' if figures['alpha ' + c.name] is None else format(figures['alpha ' + c.name], '.3f')}"
                       for c in criteria) + ".")


def export_button(db) -> None:
    everything = by_run_name(db, queries.reviews_with_targets(db))
    known = {i: criteria for i, (_, criteria) in rubrics(db).items()}
    frame = review.export_frame(everything, known)
    st.download_button(f"Download all {len(frame)} reviews (CSV)", csv_text(frame),
                       "reviews.csv", "text/csv", disabled=frame.empty)
