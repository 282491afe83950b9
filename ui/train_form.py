"""The Train page's form: widgets in, a TrainConfig out (the engine never sees a widget)."""

import dataclasses
import os

import pandas as pd
import streamlit as st

from core import chat_data, chat_templates, methods, progress
from core.catalog import DATASETS, MODELS
from core.config import (COLUMN_FIELDS, JUDGES, PRESET_TITLES, PRESETS, TrainConfig,
                         column_mapping, from_stored, planned_steps, setting_warnings, settle,
                         with_method_defaults)
from core.data import (MAX_UPLOAD_BYTES, TASK_COLUMNS, guess_task, load_table, parse_upload,
                       store_upload)
from core.engine import check_splits_fit, fitting_split_sizes
from core.errors import WorkbenchError
from core.methods.spec import MethodSpec
from core.network import availability_note
from core.settings import widget_limits
from core.trackers import TRACKERS
from storage import queries
from storage.run_names import MAX_NAME, name_prefix
from ui.common import open_db, plain
from ui.form_state import Tracker

HELP = {f.name: f.metadata["help"] for f in dataclasses.fields(TrainConfig)}


def limits(name: str) -> dict:
    """The widget's min and max: the setting's own bounds (core.settings), nowhere else."""
    return widget_limits(TrainConfig, name)

OTHER_MODEL = "Other: a hub id or a local folder"
UPLOAD = "Upload a CSV / JSONL file"
DEFAULT_PRESET = "quick-cpu"  # a first run on a laptop should take a minute or two, not an hour


CLONE = "clone"  # the preset picker's entry for the settings of the run being cloned


def config_form(source: dict | None = None) -> TrainConfig | None:
    """Render the form; the settled config it describes (the preset, then every widget), or
    None while the data is not usable or the settings are refused (the reason is shown).
    `source`: a run whose settings start the form (cloned: editable, launched as a new run)."""
    options = [*([CLONE] if source else []), *PRESETS]
    preset = st.selectbox(
        "Preset", options, index=0 if source else options.index(DEFAULT_PRESET),
        format_func=lambda p: f"Settings of run “{source['name']}”" if p == CLONE else
        PRESET_TITLES[p], help="A starting point; change anything below. Times were measured "
                               "on 2 idle CPU cores; the estimate below is measured here.")
    cloned = from_stored(source["config"]) if preset == CLONE else None
    base = dataclasses.replace(cloned, name=None) if cloned else TrainConfig(**PRESETS[preset])
    form = Tracker(f"run-{source['id']}" if cloned else preset)  # a new start resets the widgets
    key = form.key
    left, right = st.columns(2)
    with left:
        model = model_picker(base.model, key)
        spec = method_picker(base.method, model, key)
        adapters = list(spec.adapters)
        adapter = st.radio("Adapter", adapters, horizontal=True, help=HELP["adapter"],
                           index=adapters.index(base.adapter) if base.adapter in adapters else 0,
                           disabled=len(adapters) == 1, key=key("adapter"))
    with right:
        data = data_picker(base.dataset, spec, key, column_mapping(base))
    if data is None:
        return None
    # Keyed apart from the preset: a name is not a setting a preset resets.
    name = st.text_input("Run name (optional)", max_chars=MAX_NAME, key="run-name",
                         placeholder=name_prefix(model, spec.name, data["dataset"]) + "N",
                         help=HELP["name"])
    # The method's own defaults fill what the preset leaves unset; a value the user typed
    # stays through a change of method or adapter, one left untouched follows the defaults.
    tuned = with_method_defaults(dataclasses.replace(base, method=spec.name, adapter=adapter))
    splits = split_inputs(base, key)
    split_check = st.container()  # filled once the config is settled: the check reads all of it
    moved = st.container()  # what a change of method or adapter did to the settings below
    values = dict(model=model, method=spec.name, adapter=adapter, name=name, **data, **splits,
                  **hyper_parameters(tuned, spec, form), **method_settings(tuned, spec, form))
    if spec.causal:
        values.update(causal_inputs(tuned, form))
    if adapter != "none":
        values.update(lora_inputs(tuned, form))
    if spec.hf_trainer:
        values.update(launch_inputs(tuned, form))
    with moved:
        say_what_moved(form, spec, adapter)
    values.update(where_inputs(base))
    values["trust_remote_code"] = st.checkbox(
        "Trust remote code", help=HELP["trust_remote_code"], key=key("trust"))
    if values["trust_remote_code"]:
        st.warning("The model's own Python code will run on this machine with your rights.")
    try:  # a clone keeps the settings the form does not show (max grad norm, …)
        config = settle(values, start=cloned.to_dict()) if cloned else settle(values, preset)
    except WorkbenchError as error:
        st.error(plain(error))
        return None
    with split_check:
        if not splits_fit(config, key):
            return None
    if not cloned and (changed := changed_from_preset(config, preset)):
        st.caption(plain(f"From the preset “{PRESET_TITLES[preset]}”, changed: {changed}."))
    for warning in setting_warnings(config, train_examples(config)):
        st.warning(plain(warning))
    return config


def changed_from_preset(config: TrainConfig, preset: str) -> str:
    """What makes the run another than the preset's title says (its model, method, adapter
    or data), as "model smollm2-135m, method sft"; "" when none."""
    fields = ("model", "method", "adapter", "dataset")
    given = TrainConfig(**PRESETS[preset])
    return ", ".join(f"{name} {getattr(config, name)}" for name in fields
                     if getattr(config, name) != getattr(given, name))


def method_picker(default: str, model: str, key) -> MethodSpec:
    """The methods that suit the model's kind (all of them for a model not yet known)."""
    kind = MODELS[model].kind if model in MODELS else None
    names = methods.names(kind)
    name = st.selectbox("Method", names, help=HELP["method"], key=key("method"),
                        index=names.index(default) if default in names else 0,
                        format_func=lambda n: f"{methods.get(n).title} ({n})")
    spec = methods.get(name)
    st.caption(spec.summary)
    return spec


def model_picker(default: str, key) -> str:
    options = [*MODELS, OTHER_MODEL]
    known = default in MODELS  # else a hub id or a folder (a cloned run's), typed in below
    choice = st.selectbox("Model", options, index=options.index(default if known else OTHER_MODEL),
                          key=key("model"),
                          format_func=lambda m: m if m == OTHER_MODEL else
                          f"{m} ({MODELS[m].kind}, {MODELS[m].params / 1e6:,.0f} M, "
                          f"{MODELS[m].source}){availability_note(MODELS[m])}")
    if choice == OTHER_MODEL:
        return st.text_input("Hub id or local folder", "" if known else default,
                             key=key("model-id")).strip()
    return choice


def data_picker(default: str, spec: MethodSpec, key, columns: dict) -> dict | None:
    """The dataset fields of the config, with a preview; None until the data is usable.
    `columns`: the default data set's column mapping (a cloned run's file)."""
    suitable = [d for d, data in DATASETS.items() if data.task in spec.tasks]
    # A cloned run's own file (an upload, a path) is offered first, with its columns.
    own = [] if default in DATASETS or not os.path.isfile(default) else [default]
    options = [*own, *suitable, UPLOAD]
    choice = st.selectbox("Data set", options, key=key(f"dataset-{spec.name}"),
                          index=options.index(default) if default in options else 0,
                          format_func=lambda d: d if d == UPLOAD else
                          f"the run's file: {os.path.basename(d)}" if d in own else
                          f"{d}: {DATASETS[d].description}{availability_note(DATASETS[d])}")
    if choice in own:
        return {"dataset": choice, **{COLUMN_FIELDS[name]: column for name, column in
                                      columns.items()}} if preview(choice, columns) else None
    if choice != UPLOAD:
        return {"dataset": choice} if preview(choice, {}) else None
    if spec.causal:
        shapes = [f.name for f in chat_data.FORMATS.values() if f.task in spec.tasks]
        st.caption(plain("Besides text / label files, this method reads files with the columns " +
                         " or ".join(", ".join(TASK_COLUMNS[t]) for t in spec.tasks
                                     if t not in ("classification", "conversation")) +
                         (f"; and chat files: {'; '.join(shapes)}" if shapes else "") + "."))
    upload = st.file_uploader(UPLOAD, type=["csv", "jsonl", "json"], key=key("upload"),
                              max_upload_size=MAX_UPLOAD_BYTES // 2**20)
    if upload is None:
        st.info("Choose a file with a text column and a label column.")
        return None
    raw = upload.getvalue()
    try:
        frame = parse_upload(raw, upload.name)
    except WorkbenchError as error:
        st.error(plain(error))
        return None
    path = store_upload(raw, upload.name)
    if chat_data.detect(frame):  # a chat format is read by its own columns (the preview names it)
        return {"dataset": str(path)} if preview(str(path), {}) else None
    mapping = column_inputs(list(frame.columns), guess_task(frame, None), spec, key)
    if not preview(str(path), mapping):
        return None
    return {"dataset": str(path), **{COLUMN_FIELDS[name]: c for name, c in mapping.items()}}


FILE_TASKS = {"classification": "a text and a label", "summarisation": "a prompt and a response",
              "preference": "a prompt, a chosen and a rejected answer",
              "unpaired": "a prompt, a completion and whether it is desirable"}


def column_inputs(columns: list, guessed: str, spec: MethodSpec, key) -> dict[str, str]:
    """Which of the file's columns is which, for the kind of rows it holds (of those the
    method learns from): {canonical name: the file's column}."""
    tasks = [t for t in spec.tasks if t in FILE_TASKS]
    task = st.radio("Each row holds", tasks, horizontal=True, format_func=FILE_TASKS.get,
                    index=tasks.index(guessed) if guessed in tasks else 0,
                    key=key("file-task")) if len(tasks) > 1 else tasks[0]
    names = TASK_COLUMNS[task]
    return {name: column.selectbox(f"{name.capitalize()} column", columns,
                                   index=guess(columns, name, position), key=key(f"{name}-col"))
            for position, (column, name) in enumerate(zip(st.columns(len(names)), names))}


def guess(columns: list, wanted: str, fallback: int) -> int:
    """Index of the column named like `wanted`, else the fallback position."""
    names = [str(c).lower() for c in columns]
    return names.index(wanted) if wanted in names else min(fallback, len(columns) - 1)


@st.cache_data(show_spinner="Reading the data…", max_entries=8)
def _load(dataset: str, columns: tuple) -> tuple[pd.DataFrame | None, list[str], str | None,
                                                 list[str], str | None]:
    """(rows, label names, error, notes on rows left out, the chat format it was read as).
    Errors are cached too: a hub data set that cannot be reached offline fails once, not
    again (after the hub's retries) on every widget change."""
    try:
        table = load_table(dataset, dict(columns))
    except WorkbenchError as error:
        return None, [], str(error), [], None
    return table.frame, table.label_names, None, table.notes, table.format


def train_examples(config: TrainConfig) -> int:
    """The training split's size for a config whose splits fit its data."""
    return check_splits_fit(config, len(loaded(config)[0]))["train"]


def loaded(config: TrainConfig) -> tuple:
    """`_load` of the config's data set: the preview's, from the cache."""
    return _load(config.dataset, tuple(sorted(column_mapping(config).items())))


def preview(dataset: str, columns: dict) -> bool:
    """First rows and class balance; shows the error and returns False if the data is unusable."""
    frame, names, error, notes, fmt = _load(dataset, tuple(sorted(columns.items())))
    if error:
        st.error(plain(error))
        return False
    if fmt:
        st.caption(f"Read as {chat_data.FORMATS[fmt].name}" +
                   (": each conversation is trained on its assistant turns only, through the "
                    "chat template chosen below." if chat_data.FORMATS[fmt].task == "conversation"
                    else "."))
    for note in notes:  # rows left out are said, never dropped in silence
        # A bundled set's cleaning is by design (a caption); a file's may be a surprise.
        (st.caption if dataset in DATASETS else st.warning)(plain(note))
    if names:
        counts = frame["label"].value_counts().reindex(names, fill_value=0)
        st.caption(f"{len(frame):,} labelled examples · {len(names)} classes")
        st.bar_chart(counts, height=140, horizontal=True)
    elif "messages" in frame:
        turns = frame["messages"].map(lambda cell: len(chat_data.messages_of(cell)))
        st.caption(f"{len(frame):,} conversations · {turns.mean():.1f} turns on average")
    else:
        st.caption(f"{len(frame):,} examples with columns {plain(', '.join(map(str, frame.columns)))}")
    with st.expander("First rows"):
        st.dataframe(frame.head(8), hide_index=True)
    return True


def split_inputs(base: TrainConfig, key) -> dict:
    st.markdown("**Splits**: a count, or a fraction below 1. Train 0 = all that is left.")
    cols = st.columns(4)
    folds = cols[3].number_input("Cross-validation folds (0 = off)", value=base.folds or 0, **limits("folds"),
                                 help=HELP["folds"], key=key("folds"))
    values = {"folds": folds or None}
    fields = [("train_size", "Train", 0), ("eval_size", "Validation", 0.1), ("test_size", "Test", 0.2)]
    for col, (name, label, fallback) in zip(cols, fields):
        if name == "test_size" and folds:  # each run tests on its fold
            col.text_input(label, f"one fold (1/{folds} of the data)", disabled=True,
                           key=key("test-fold"), help=HELP["folds"])
            values[name] = None
            continue
        given = getattr(base, name)
        # No default once "Use default fractions" has set the input (Streamlit warns of both).
        shown = {} if key(name) in st.session_state else {
            "value": float(fallback if given is None else given)}
        value = col.number_input(label, **limits(name), format="%g", help=HELP[name],
                                 key=key(name), **shown)
        # Left at the shown default, the engine's own default applies (and for a causal
        # model, caps validation at 200 examples).
        untouched = given is None and value == fallback
        count = int(value) if float(value).is_integer() else value  # 300, not 300.0, in run.yaml
        values[name] = None if untouched or (name == "train_size" and value == 0) else count
    return values


def splits_fit(config: TrainConfig, key) -> bool:
    """Whether the split sizes fit the data set's rows, by the check Launch makes; if not, says
    why and offers sizes that fit (a preset's 1,000 training examples do not fit a small file)."""
    rows = len(loaded(config)[0])
    try:
        check_splits_fit(config, rows)
        return True
    except WorkbenchError as error:
        st.error(plain(error) + ". Launch appears once they fit.")
    try:
        sizes = fitting_split_sizes(config, rows)
    except WorkbenchError:  # too few rows for any training and test split: the error says so
        return False
    st.button("Use default fractions (70 / 10 / 20 %)", on_click=use_split_sizes,
              args=(sizes, key),
              help=f"Train {sizes['train']:,}, validation {sizes['eval']:,} and test "
                   f"{sizes['test']:,} examples: about 70 / 10 / 20 % of the {rows:,} rows.")
    return False


def use_split_sizes(sizes: dict, key) -> None:
    """Set the split inputs (a button's callback: it runs before they are drawn again)."""
    for name in ("train", "eval", "test"):
        st.session_state[key(f"{name}_size")] = float(sizes[name])


def hyper_parameters(base: TrainConfig, spec: MethodSpec, form: Tracker) -> dict:
    st.markdown("**Training**")
    values = {}
    cols = st.columns(4)
    number = lambda col, label, name, default, field, **kw: form(  # noqa: E731
        col.number_input, label, name, default, **limits(field), help=HELP[field], **kw)
    if spec.trains_weights:
        values["epochs"] = number(cols[0], "Epochs", "epochs", float(base.epochs or 1), "epochs")
        steps = number(cols[1], "Max steps (0 = by epochs)", "steps", int(base.max_steps or 0),
                       "max_steps")
        values["max_steps"] = steps or None
        values["lr"] = number(cols[2], "Learning rate", "lr", float(base.lr or 2e-5), "lr",
                              format="%.1e")
        values["weight_decay"] = number(cols[3], "Weight decay", "wd",
                                        float(base.weight_decay or 0.0), "weight_decay")
        values["warmup_steps"] = number(cols[0], "Warm-up steps", "warmup",
                                        int(base.warmup_steps or 0), "warmup_steps")
    values["batch_size"] = number(cols[1], "Batch size", "batch", int(base.batch_size or 16),
                                  "batch_size")
    values["max_length"] = number(cols[2], "Max length (tokens)", "length", base.max_length,
                                  "max_length")
    values["logging_steps"] = number(cols[3], "Log every N steps", "logging", base.logging_steps,
                                     "logging_steps")
    values["seed"] = number(cols[0], "Seed", "seed", base.seed, "seed")
    if spec.trains_weights:
        values["checkpoint_steps"] = number(
            cols[1], "Checkpoint every N steps (0 = at a stop only)", "checkpoint",
            base.checkpoint_steps, "checkpoint_steps")
    return values


# The widget of each setting a method may call its own (its spec's `settings`).
SETTING_WIDGETS = {
    "pooling": lambda base, form: form(st.selectbox, "Pooling", "pooling", base.pooling,
                                       options=["cls", "mean"], help=HELP["pooling"]),
    "probe_c": lambda base, form: form(st.number_input, "C", "C", base.probe_c,
                                       **limits("probe_c"), format="%g", help=HELP["probe_c"]),
    "probe_max_iter": lambda base, form: form(
        st.number_input, "Most solver iterations", "max-iter", base.probe_max_iter,
        **limits("probe_max_iter"), help=HELP["probe_max_iter"]),
    "packing": lambda base, form: form(st.toggle, "Packing", "packing", base.packing,
                                       help=HELP["packing"]),
    "beta": lambda base, form: form(st.number_input, "Beta", "beta", base.beta,
                                    **limits("beta"), format="%g", help=HELP["beta"]),
}


def method_settings(base: TrainConfig, spec: MethodSpec, form: Tracker) -> dict:
    """The settings only this method reads, one widget each."""
    if not spec.settings:
        return {}
    st.markdown(f"**{spec.title}**")
    cols = st.columns(4)
    values = {}
    for i, name in enumerate(spec.settings):
        with cols[i % 4]:
            values[name] = SETTING_WIDGETS[name](base, form)
    return values


def causal_inputs(base: TrainConfig, form: Tracker) -> dict:
    """The evaluation schedule and early stopping, the text cleaning, generation length."""
    cols = st.columns(3)
    values = {
        "eval_steps": form(cols[0].number_input, "Evaluate every N steps (0 = each epoch)",
                           "eval-steps", int(base.eval_steps or 0), **limits("eval_steps"),
                           help=HELP["eval_steps"]) or None,
        "early_stopping_patience": form(
            cols[1].number_input, "Early-stopping patience (0 = off)", "patience",
            base.early_stopping_patience, **limits("early_stopping_patience"),
            help=HELP["early_stopping_patience"]),
        "max_new_tokens": form(cols[2].number_input, "Max new tokens", "new-tokens",
                               base.max_new_tokens, **limits("max_new_tokens"),
                               help=HELP["max_new_tokens"]),
    }
    cols = st.columns(3)
    values["clean_text"] = form(cols[0].toggle, "Clean text", "clean", base.clean_text,
                                help=HELP["clean_text"])
    values["judge"] = form(cols[2].radio, "Judge labelled test answers by", "judge", base.judge,
                           options=list(JUDGES), horizontal=True, help=HELP["judge"])
    values["gradient_checkpointing"] = form(
        cols[1].toggle, "Gradient checkpointing", "checkpointing", base.gradient_checkpointing,
        help=HELP["gradient_checkpointing"])
    return {**values, **chat_inputs(base, form)}


CUSTOM_TEMPLATE = "custom (Jinja)"


def chat_inputs(base: TrainConfig, form: Tracker) -> dict:
    """The chat template prompts are read through, and an optional system prompt."""
    left, right = st.columns([1, 2])
    pasted = chat_templates.is_jinja(base.chat_template)
    choice = form(left.selectbox, "Chat template", "chat-template",
                  CUSTOM_TEMPLATE if pasted else base.chat_template,
                  options=[*chat_templates.CHOICES, CUSTOM_TEMPLATE], help=HELP["chat_template"])
    template = choice
    if choice == CUSTOM_TEMPLATE:
        template = form(left.text_area, "Jinja template", "jinja-template",
                        base.chat_template if pasted else "",
                        placeholder="{% for message in messages %}…")
    system = form(right.text_area, "System prompt (optional)", "system-prompt",
                  base.system_prompt or "", height=100, help=HELP["system_prompt"])
    return {"chat_template": template, "system_prompt": system if system.strip() else None}


def launch_inputs(base: TrainConfig, form: Tracker) -> dict:
    """Several devices or machines through accelerate, and other trackers (Trainer methods)."""
    with st.expander("Devices and trackers"):
        cols = st.columns(3)
        processes = form(cols[0].number_input, "Processes (one per GPU)", "processes",
                         base.processes, **limits("processes"), help=HELP["processes"])
        accelerate_config = form(cols[1].text_input, "accelerate config file (optional)",
                                 "accelerate-config", base.accelerate_config or "",
                                 help=HELP["accelerate_config"]).strip()
        chosen = form(cols[2].multiselect, "Also report to", "report-to", [],
                      options=list(TRACKERS), help=HELP["report_to"])
        if processes > 1 or accelerate_config:
            st.caption("This run trains in `accelerate launch` subprocesses; its log is on the "
                       "run's page.")
    return {"processes": processes, "accelerate_config": accelerate_config or None,
            "report_to": ",".join(chosen) or "none"}


def where_inputs(base: TrainConfig) -> dict:
    """This machine (a worker process, in the home's queue) or a Ray cluster. Keyed apart
    from the preset: where runs go is not a setting a preset resets."""
    with st.expander("Where it runs"):
        on_ray = st.radio("Backend", ["This machine", "Ray cluster"], horizontal=True,
                          help=HELP["backend"], key="backend") == "Ray cluster"
        if not on_ray:
            return {"backend": "local"}
        cols = st.columns([3, 3, 1, 1])
        address = cols[0].text_input("Cluster address", os.environ.get("RAY_ADDRESS", ""),
                                     placeholder="http://127.0.0.1:8265",
                                     help=HELP["ray_address"], key="ray-address").strip()
        storage = cols[1].text_input("Shared storage (optional)", "", help=HELP["ray_storage"],
                                     placeholder="a folder every node mounts",
                                     key="ray-storage").strip()
        cpus = cols[2].number_input("CPUs", value=base.ray_cpus, **limits("ray_cpus"), step=0.5,
                                    help=HELP["ray_cpus"], key="ray-cpus")
        gpus = cols[3].number_input("GPUs", value=base.ray_gpus, **limits("ray_gpus"), step=1.0,
                                    help=HELP["ray_gpus"], key="ray-gpus")
        st.caption("The cluster is asked at Launch; the run's charts, Stop and results come "
                   "back here as for a run on this machine.")
    return {"backend": "ray", "ray_address": address or None, "ray_storage": storage or None,
            "ray_cpus": cpus, "ray_gpus": gpus}


def lora_inputs(base: TrainConfig, form: Tracker) -> dict:
    cols = st.columns(4)
    number = lambda col, label, name, field: form(  # noqa: E731
        col.number_input, label, name, getattr(base, field), **limits(field), help=HELP[field])
    return {
        "lora_r": number(cols[0], "LoRA r", "r", "lora_r"),
        "lora_alpha": number(cols[1], "LoRA alpha", "alpha", "lora_alpha"),
        "lora_dropout": number(cols[2], "LoRA dropout", "dropout", "lora_dropout"),
        "lora_targets": form(cols[3].text_input, "Target modules", "targets", base.lora_targets,
                             help=HELP["lora_targets"]),
    }


def say_what_moved(form: Tracker, spec: MethodSpec, adapter: str) -> None:
    """After a change of method or adapter: the untouched settings that took the new one's
    defaults, and those it does not have (their values kept for a way back)."""
    if form.moved:
        st.info(plain(f"{spec.title} with adapter {adapter}: its defaults replaced settings you "
                      f"had not changed: {'; '.join(form.moved)}. What you typed is kept."))
    if gone := form.gone():
        st.caption(plain(f"Not used by {spec.title} with adapter {adapter}: "
                         f"{', '.join(gone)} (kept for when you switch back)."))


@st.cache_data(show_spinner="Sizing the model…", max_entries=32)
def _estimate(config: TrainConfig, num_labels: int):
    """(estimate, error); errors cached for the same reason as in `_load`."""
    from core.engine import check_method_suits_model
    from core.memory import estimate
    from core.models import resolve_model

    try:
        source = resolve_model(config.model, config.trust_remote_code)
        check_method_suits_model(config, source)
        return estimate(source, config, num_labels), None
    except WorkbenchError as error:
        return None, str(error)


def estimate_panel(config: TrainConfig) -> bool:
    """Trainable parameters and memory before launch (of the settled config); False if the
    model cannot be used."""
    names = loaded(config)[1]
    # Drawn over at once: the previous model's figures stayed on screen while a new model
    # was sized (40 s for a first conversion), as if they were the new one's.
    panel = st.empty()
    panel.caption(plain(f"Sizing {config.model} for {config.method}…"))
    found, error = _estimate(config, len(names))
    if error:
        panel.error(plain(error))
        return False
    gib = lambda n: f"{n / 2**30:.2f} GiB"  # noqa: E731
    cols = panel.container().columns(3)
    cols[0].metric("Trainable parameters", f"{found.trainable_params:,}")
    cols[0].caption(f"{found.trainable_params / found.total_params:.1%} of {found.total_params:,}")
    cols[1].metric("Memory estimate", gib(found.total_bytes))
    cols[1].caption(f"weights {gib(found.weights_bytes)} · gradients {gib(found.gradients_bytes)} · "
                    f"optimiser {gib(found.optimizer_bytes)} · activations "
                    f"{gib(found.activations_bytes)}")
    cols[2].metric("Free on " + found.device, gib(found.available_bytes or 0))
    if not found.fits:
        st.warning("This run is likely to run out of memory: lower the batch size or the max "
                   "length, use a LoRA adapter (QLoRA on a GPU), or turn on gradient "
                   "checkpointing.")
    time_estimate(config)
    return True


def time_estimate(config: TrainConfig) -> None:
    """This run's time, phase by phase, from the last run like it on this home (the same
    model, method, adapter and data): measured here, not promised."""
    like = queries.last_timed_run(open_db(), config.model, config.method, config.adapter,
                                  config.dataset)
    if like is None:
        st.caption("Time: no run like this one has completed here yet; its live panel will "
                   "say the time left once it trains.")
        return
    steps = planned_steps(config, train_examples(config)) or like["total_steps"]
    phases = progress.estimated_phases(like["phase_seconds"], like["total_steps"], steps)
    st.caption(plain(f"Time: about {progress.duration_text(sum(phases.values()))}: " +
                     ", ".join(f"{phase} {progress.duration_text(seconds)}"
                               for phase, seconds in phases.items()) +
                     f" (measured on run “{like['name']}”, {like['total_steps']:,} steps, its "
                     f"training scaled to this run's {steps:,})."))


SWEEP_HELP = ("One setting per line, its values after '=' separated by commas, e.g. "
              "'lr = 2e-5, 5e-5'. Several lines: every combination. Names are the run.yaml's "
              "(lr, batch_size, lora_r, epochs, …).")


def repeat_inputs(config: TrainConfig) -> dict | None:
    """An experiment's sweep and seeds (the folds are with the splits), checked as the CLI's
    are; None while they are refused (the reason is shown). Also says how many runs it is."""
    from core import experiments

    with st.expander("Sweep and seeds: several runs as one experiment"):
        left, right = st.columns([3, 1])
        text = left.text_area("Sweep", placeholder="lr = 2e-5, 5e-5", help=SWEEP_HELP,
                              key="sweep")
        seeds = right.number_input("Seeds per setting", 1, 50, 1, key="seeds",
                                   help=f"Each setting this many times, with seeds {config.seed}, "
                                        f"{config.seed + 1}, …, for its mean ± std.")
    try:
        sweep = experiments.checked_sweep(experiments.parse_sweep(
            [line for line in text.splitlines() if line.strip()]))
        runs = len(experiments.grid(config, sweep, seeds))
        experiments.check_count(runs, allow_many=True)
    except WorkbenchError as error:
        st.error(plain(error))
        return None
    repeat = {"sweep": sweep, "seeds": seeds, "runs": runs, "allow_many": True}
    if runs > 1:
        st.info(f"{runs} runs, queued as one experiment: each setting's mean ± std, the best "
                "marked, on the Experiments page.")
    if runs > experiments.MAX_RUNS:
        repeat["allow_many"] = st.checkbox(f"Yes, queue all {runs} runs", key="allow-many")
    return repeat
