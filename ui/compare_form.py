"""The comparison page's form: which base models, prompting modes and fine-tuned runs to score."""

import dataclasses
import json
import os

import streamlit as st

from core import chat_templates, methods
from core.catalog import DATASETS, MODELS
from core.errors import WorkbenchError
from core.evaluate import EvalConfig
from core.comparisons import Comparison
from core.network import availability_note
from core.settings import choices_of, widget_limits
from storage import queries
from ui.common import plain

HELP = {f.name: f.metadata["help"] for f in dataclasses.fields(EvalConfig)}


def comparison_form(db) -> Comparison | None:
    """The comparison to queue when the user presses Compare, else None."""
    labelled = [d for d, spec in DATASETS.items() if spec.task == "classification"]
    dataset = st.selectbox("Data set", labelled, help=HELP["dataset"],
                           format_func=lambda d: d + availability_note(DATASETS[d]))
    completed = [r for r in queries.list_runs(db) if r["status"] == "completed"]
    tuned_causal = {r["id"]: r for r in completed if methods.is_causal(r["method"])}
    causal = [m for m, spec in MODELS.items() if spec.kind == "causal"] + list(tuned_causal)
    left, right = st.columns(2)
    models = left.multiselect(
        "Models to prompt", causal, default=causal[:1], help=HELP["model"] + " Finished causal "
        "runs are listed too: their tuned model is prompted like any other.",
        format_func=lambda m: f"run {tuned_causal[m]['name']} ({tuned_causal[m]['method']}, "
                              f"{tuned_causal[m]['model']})" if m in tuned_causal else
                              m + availability_note(MODELS[m]))
    other = right.text_input("Other causal model (hub id or local folder)").strip()
    finished = [r for r in completed if r["dataset"] == dataset and r["test_accuracy"] is not None]
    # Across the page: in a half column the chosen runs' long names pushed the first out of
    # sight instead of wrapping.
    runs = st.multiselect("Fine-tuned runs", [r["id"] for r in finished], help=HELP["run"],
                             format_func=lambda i: next(f"{r['name']} ({r['method']}, {r['model']}, "
                                                        f"accuracy {r['test_accuracy']:.3f})"
                                                        for r in finished if r["id"] == i))
    cols = st.columns(4)
    shots = cols[0].multiselect("Shots", [0, 1, 2, 3, 5, 8], default=[0, 1, 3], help=HELP["shots"])
    seeds = cols[1].number_input("Executions (seeds)", value=3,
                                 **widget_limits(EvalConfig, "seeds"), help=HELP["seeds"])
    limit = cols[2].number_input("Test examples", value=200,
                                 **widget_limits(EvalConfig, "limit"), help=HELP["limit"])
    decide = cols[3].radio("Decide by", choices_of(EvalConfig, "decide"), help=HELP["decide"])
    template = st.radio("Template", choices_of(EvalConfig, "template"), horizontal=True, help=HELP["template"])
    custom = None
    if template == "custom":
        custom = st.text_area("Custom template", "Here are some reviews:\n{examples}"
                              "Review: {text}\nThe review is", help=HELP["custom_template"])
    base = EvalConfig(dataset=dataset, shots=tuple(sorted(shots)), seeds=int(seeds), limit=int(limit),
                      template=template, custom_template=custom, decide=decide,
                      max_new_tokens=64 if template == "cot" else 8,
                      **baseline_inputs(dataset, decide),
                      **split_of([r for r in finished if r["id"] in runs]))
    if not show_preview(base, ([*models, *([other] if other else [])] or [None])[0]):
        return None
    configs = [dataclasses.replace(base, model=m) for m in [*models, *([other] if other else [])]]
    backend, address = where_inputs()
    if not st.button("Compare", type="primary", disabled=not (configs or runs)):
        return None
    return Comparison(configs, runs, int(limit), backend, address)


def where_inputs() -> tuple[str, str | None]:
    """This machine, or a Ray cluster (its address): where the comparison is scored."""
    cols = st.columns([2, 3])
    on_ray = cols[0].radio("Runs on", ["This machine", "Ray cluster"], horizontal=True,
                           key="compare-backend") == "Ray cluster"
    if not on_ray:
        return "local", None
    address = cols[1].text_input("Cluster address", os.environ.get("RAY_ADDRESS", ""),
                                 placeholder="http://127.0.0.1:8265",
                                 key="compare-ray-address").strip()
    return "ray", address or None


def split_of(runs: list[dict]) -> dict:
    """The split settings of the chosen runs, so that prompts are scored on their test examples."""
    if not runs:
        return {}
    configs = [json.loads(r["config"]) for r in runs]
    keys = ("seed", "train_size", "eval_size", "test_size", "folds", "fold")
    if len({tuple(c.get(k) for k in keys) for c in configs}) > 1:
        st.warning("The chosen runs were tested on different splits: the prompts use the first "
                   "run's, and each run is listed with the examples it was tested on.")
    return {k: configs[0].get(k) for k in keys}


@st.cache_data(max_entries=4, show_spinner=False)
def _splits(dataset: str, seed: int, sizes: tuple):
    """`sizes`: train, validation and test sizes, folds and fold (as split_table takes them)."""
    from core.data import load_table, split_table

    table = load_table(dataset)
    return split_table(table, seed, *sizes), table.label_names


def baseline_inputs(dataset: str, decide: str) -> dict:
    """How the base models are asked: chat template, label words, calibration."""
    cols = st.columns(3)
    chat = cols[0].radio("Chat template", ["auto", "on", "off"], horizontal=True,
                         help=HELP["chat"])
    default = DATASETS[dataset].label_words or ""  # the measured words, shown and editable
    verbalizer = cols[1].text_input("Label words", default, key=f"label-words-{dataset}",
                                    placeholder="rotten=negative,fresh=positive",
                                    help=HELP["verbalizer"]).strip()
    calibrate = cols[2].checkbox("Calibrate (also)", True, disabled=decide != "score",
                                 help=HELP["calibrate"])
    left, right = st.columns([1, 2])
    template = left.selectbox("Which chat template", chat_templates.CHOICES,
                              help=HELP["chat_template"], disabled=chat == "off")
    system = right.text_input("System prompt (optional)", help=HELP["system_prompt"],
                              disabled=chat == "off")
    return {"chat": chat, "verbalizer": verbalizer, "calibrate": calibrate,
            "chat_template": template, "system_prompt": system if system.strip() else None}


def show_preview(config: EvalConfig, model: str | None) -> bool:
    """The prompt a real test example gets in the execution with the most shots, as `model`
    reads it (its chat template included); plain text until a model is picked."""
    from core.evaluate import preview_prompt

    try:
        splits, names = _splits(config.dataset, config.seed,
                                (config.train_size, config.eval_size, config.test_size, config.folds,
                                 config.fold))
        tokenizer = _tokenizer(model) if model else None
        config = dataclasses.replace(config, model=model)  # its default chat setting
        if tokenizer is None:
            config = dataclasses.replace(config, chat="off")
        text = preview_prompt(config, splits["train"], splits["test"]["text"].iloc[0], names,
                              tokenizer)
    except WorkbenchError as error:
        st.error(plain(error))
        return False
    shots = max(config.shots or (0,))
    with st.expander(f"Prompt preview ({shots}-shot, first test example"
                     f"{', as ' + plain(model) + ' reads it' if model else ''})"):
        st.code(text, language=None)
    return True


@st.cache_resource(max_entries=4, show_spinner=False)
def _tokenizer(model: str):
    """The tokenizer that renders the chat template; None for a model that cannot be found
    (the comparison itself then says why)."""
    from core.models import load_tokenizer, resolve_model

    try:
        return load_tokenizer(resolve_model(model))
    except (WorkbenchError, OSError):
        return None
