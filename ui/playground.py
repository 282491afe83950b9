"""The playground page's parts: model choice, input, settings, and outputs side by side."""

import dataclasses
import json
from contextlib import closing

import streamlit as st

from core import chat_templates, playground
from core.catalog import DATASETS, MODELS
from core.errors import WorkbenchError
from core.models import run_model_dir
from core.network import availability_note
from core.playground import GenerationSettings, ModelCache, Request
from core.settings import widget_limits
from storage import queries
from ui.common import plain, show_crash
from ui.runs_table import run_labels

HELP = {f.name: f.metadata["help"] for f in dataclasses.fields(GenerationSettings)}
MAX_MODELS = 4
GENERIC_LABELS = ("negative", "positive")  # classify's labels when no chosen run has its own


@st.cache_resource
def model_cache() -> ModelCache:
    """The server's loaded models, shared by every session (bounded by memory)."""
    return ModelCache()


def model_choices(db) -> dict[str, str]:
    """Models that can answer, id -> label: causal catalog models and finished runs' models."""
    choices = {m: f"{m} ({spec.source}){availability_note(spec)}" for m, spec in MODELS.items()
               if spec.kind == "causal"}
    runs = queries.list_runs(db)
    names = run_labels(runs)
    for run in runs:
        if run["status"] in ("completed", "stopped") and run_model_dir(run["id"]) is not None:
            choices[run["id"]] = f"run {names[run['id']]} ({run['method']}, {run['model']}, {run['status']})"
    return choices


def preselected(db, choices: dict[str, str]) -> list[str]:
    """Two models to start from: the newest completed run (else the newest stopped one) beside
    the model it was tuned from (what tuning changed), else the first two offered."""
    runs = sorted((run for run in queries.list_runs(db) if run["id"] in choices),
                  key=lambda run: run["status"] != "completed")  # stable: newest first in each
    newest = next(iter(runs), None)
    first = [newest["id"], newest["model"]] if newest else []
    return [m for m in dict.fromkeys([*first, *choices]) if m in choices][:2]


def choose_models(db) -> list[str]:
    choices = model_choices(db)
    chosen = st.multiselect(
        f"Models (2 to {MAX_MODELS})", list(choices), default=preselected(db, choices),
        max_selections=MAX_MODELS, format_func=choices.get,
        help="Catalog models, and finished runs (adapters merged into their base). An encoder "
             "run answers with its label and the probability of each label.")
    others = st.text_input("Other models: hub ids or local folders, separated by commas")
    # Each once: outputs are kept by model.
    models = list(dict.fromkeys([*chosen, *(m.strip() for m in others.split(",") if m.strip())]))
    if len(models) > MAX_MODELS:
        st.warning(f"At most {MAX_MODELS} models side by side: the first {MAX_MODELS} will run.")
    return models[:MAX_MODELS]


@st.cache_data(max_entries=32, show_spinner="Drawing an example…")
def _drawn(dataset: str, number: int) -> dict:
    return playground.draw_example(dataset, number)


def choose_input(db, models: list[str]) -> tuple[Request, str | None] | None:
    """The request to answer and its reference (drawn examples); None while it cannot be built."""
    drawn = {}
    if st.radio("Input from", ["Type it", "Draw from a data set's test split"], horizontal=True) != "Type it":
        left, right = st.columns([3, 1])
        dataset = left.selectbox("Data set", [d for d in DATASETS if DATASETS[d].source == "bundled"])
        if right.button("Draw another"):
            st.session_state["draw"] = st.session_state.get("draw", 0) + 1
        try:
            drawn = _drawn(dataset, st.session_state.get("draw", 0))
        except WorkbenchError as error:
            st.error(plain(error))
            return None
    text = st.text_area("Input", drawn.get("text", ""), height=120, key=f"input-{drawn.get('text', '')[:40]}")
    if drawn.get("reference"):
        st.caption(f"Reference: {plain(drawn['reference'])}")
    tasks = list(playground.TASKS)
    task = st.selectbox("Prompt", tasks, index=tasks.index(drawn.get("task", "chat")),
                        format_func=playground.TASKS.get,
                        help="How causal models read the input. Classify and summarise use the "
                             "prompts runs are trained and judged with; classifiers read the input as is.")
    labels = drawn.get("label_names") or ()
    if task == "classify" and not labels:
        offered = next(filter(None, (run_label_names(db, m) for m in models)), GENERIC_LABELS)
        labels = tuple(x.strip() for x in st.text_input(
            "Labels", ", ".join(offered), help="The labels the prompt offers, separated by commas: "
            "at first those of the first run chosen above that has labels.").split(",") if x.strip())
    template, system = chat_choice() if task != "raw" else ("model", None)
    return Request(text, task, tuple(labels), drawn.get("instruction"), chat_template=template,
                   system_prompt=system), drawn.get("reference")


def chat_choice() -> tuple[str, str | None]:
    """The chat template and system prompt causal models read the input through."""
    with st.expander("Chat template and system prompt"):
        left, right = st.columns([1, 2])
        template = left.selectbox("Chat template", chat_templates.CHOICES,
                                  help="model: each model's own (a run's is saved with it, "
                                       "with its system prompt); or one for all of them.")
        system = right.text_input("System prompt (optional)",
                                  help="A system turn before the input, for every causal model.")
    return template, system if system.strip() else None


def run_label_names(db, model_id: str) -> tuple[str, ...]:
    """A run's label names: those its evaluations scored, else its data set's in the catalog;
    none for a model that is no run, or a run without labels (summaries)."""
    run = queries.get_run(db, model_id)
    if run is None:
        return ()
    scored = [e["labels"] for e in queries.run_evaluations(db, model_id) if e["labels"]]
    if scored:
        return tuple(json.loads(scored[0]))
    spec = DATASETS.get(run["dataset"])
    return spec.label_names if spec else ()


def choose_settings() -> GenerationSettings:
    with st.expander("Generation settings (greedy unless the temperature is above 0)"):
        cols = st.columns(4)
        return GenerationSettings(
            max_new_tokens=int(cols[0].number_input("Max new tokens", value=64,
                                                    **limits("max_new_tokens"),
                                                    help=HELP["max_new_tokens"])),
            temperature=float(cols[1].number_input("Temperature", value=0.0, step=0.1,
                                                   **limits("temperature"),
                                                   help=HELP["temperature"])),
            top_p=float(cols[2].number_input("Top-p", value=1.0, step=0.05, **limits("top_p"),
                                             help=HELP["top_p"])),
            seed=int(cols[3].number_input("Seed", value=0, **limits("seed"), help=HELP["seed"])))


def limits(name: str) -> dict:
    return widget_limits(GenerationSettings, name)


ASKED = "playground-asked"  # the session's key of the request being answered


@dataclasses.dataclass
class Asked:
    """A request being answered, kept in the session.

    A click anywhere on the page reruns its script, which stops it mid-answer: the next run
    takes the request up again and goes on from the first model without an answer.
    """
    models: list[str]
    request: Request
    reference: str | None
    settings: GenerationSettings
    outputs: dict[str, dict] = dataclasses.field(default_factory=dict)  # by model
    failures: dict[str, str] = dataclasses.field(default_factory=dict)  # model -> why it gave none
    # chat: each model's conversation so far (Conversation.history_of), continued by `request`
    histories: dict[str, tuple] = dataclasses.field(default_factory=dict)


CONVERSATION = "playground-conversation"  # the session's key of the conversation under way


@dataclasses.dataclass
class Conversation:
    """A chat with several models at once: the user's turns, shared, and each model's own
    answers; each model reads its own side of it when the next turn comes."""
    models: list[str]
    turns: list[dict] = dataclasses.field(default_factory=list)  # {"user": text, "replies": {…}}

    def history_of(self, model_id: str) -> tuple[tuple[str, str], ...]:
        history = []
        for turn in self.turns:
            history.append(("user", turn["user"]))
            if model_id in turn["replies"]:
                history.append(("assistant", turn["replies"][model_id]))
        return tuple(history)

    def continues(self, models: list[str], task: str) -> bool:
        return task == "chat" and bool(self.turns) and models == self.models


def conversation_panel(models: list[str], task: str, names: dict[str, str]) -> Conversation | None:
    """The chat under way with these models, each model's side in its own column, and a
    button to start afresh; None when there is none (or other models or another task)."""
    conversation = st.session_state.get(CONVERSATION)
    if conversation is None or not conversation.continues(models, task):
        return None
    st.markdown(f"**Conversation so far** ({len(conversation.turns)} "
                f"turn{'s' * (len(conversation.turns) != 1)}): the next input continues it, "
                "each model reading its own answers")
    for column, model_id in zip(st.columns(len(models)), models):
        with column:
            show_model_name(model_id, names)
            for role, text in conversation.history_of(model_id):
                st.chat_message(role).text(text)
    if st.button("New conversation"):
        del st.session_state[CONVERSATION]
        st.rerun()
    return conversation


def keep_turn(asked: Asked) -> None:
    """A chat's answers become the conversation's next turn (a new conversation when other
    models or no conversation came before)."""
    if asked.request.task != "chat" or not asked.outputs:  # (no answer: no turn to go on from)
        return
    conversation = st.session_state.get(CONVERSATION)
    if conversation is None or not conversation.continues(asked.models, "chat"):
        conversation = st.session_state[CONVERSATION] = Conversation(list(asked.models))
    conversation.turns.append({"user": asked.request.text, "replies": {
        m: output["output"] for m, output in asked.outputs.items()}})


def saved_input(asked: Asked) -> str:
    """The input a lineup keeps: a later turn of a chat with the user's earlier turns."""
    earlier = [text for role, text in next(iter(asked.histories.values()), ()) if role == "user"]
    if not earlier:
        return asked.request.text
    return ("Earlier in the conversation:\n" + "\n".join(f"user: {t}" for t in earlier) +
            f"\n\nNow:\n{asked.request.text}")


def run_side_by_side(asked: Asked, names: dict[str, str]) -> None:
    """Each model answers in its own column, one after the other (so timings do not compete);
    its output, or why it gave none, goes into `asked` as soon as it has one."""
    slots = []
    for column, model_id in zip(st.columns(len(asked.models)), asked.models):
        with column:
            show_model_name(model_id, names)
        slots.append(column.empty())
        slots[-1].caption("waiting for its turn…")
    for slot, model_id in zip(slots, asked.models):
        with slot.container():
            if model_id in asked.failures:
                st.error(plain(asked.failures[model_id]))
            elif model_id not in asked.outputs:
                _record_answer(asked, model_id)
            if model_id in asked.outputs:
                show_output(asked.outputs[model_id])


def _record_answer(asked: Asked, model_id: str) -> None:
    request = dataclasses.replace(asked.request, history=asked.histories.get(model_id, ()))
    try:
        asked.outputs[model_id] = _answer_one(model_id, request, asked.settings)
    except WorkbenchError as error:
        asked.failures[model_id] = str(error)
        st.error(plain(error))
    except Exception as error:  # a crash in one model must not lose the others
        asked.failures[model_id] = f"{type(error).__name__}: {error}"
        show_crash(model_id, error)


def _answer_one(model_id: str, request: Request, settings: GenerationSettings) -> dict:
    with st.spinner(f"Loading {plain(model_id)}…"):
        loaded = model_cache().get(model_id)
    box = st.empty()
    # Closed at once when a rerun stops the page here, which stops the generation too.
    with closing(playground.answer(loaded, request, settings)) as events:
        for event in events:
            if isinstance(event, str):
                box.text(event)
            else:
                result = event
    box.empty()
    return {"model": model_id, "output": result.output, "probabilities": result.probabilities,
            "load_seconds": loaded.load_seconds, "latency": result.latency,
            "first_token": result.first_token, "new_tokens": result.new_tokens,
            "tokens_per_second": result.tokens_per_second}


def show_outputs(outputs: list[dict], names: dict[str, str]) -> None:
    """A stored lineup's outputs side by side."""
    for column, output in zip(st.columns(len(outputs)), outputs):
        with column:
            show_model_name(output["model"], names)
            show_output(output)


def show_model_name(model_id: str, names: dict[str, str]) -> None:
    """A model's name over its output: a run's own name (`names`), its id on hover."""
    st.markdown(f"**{plain(names.get(model_id, model_id))}**",
                help=f"Run {model_id}" if model_id in names else None)


def show_output(output: dict) -> None:
    """One model's output, its timings, and its label probabilities where it has them."""
    st.text(output["output"])
    speed = output["tokens_per_second"]
    st.caption(f"{output['latency']:.2f} s"
               + (f" · first text after {output['first_token']:.2f} s" if speed else "")
               + (f" · {output['new_tokens']} tokens, {speed:.1f} tokens/s" if speed else ""))
    if output["probabilities"]:
        st.bar_chart(output["probabilities"], horizontal=True,
                     height=80 + 30 * len(output["probabilities"]))


def save_panel(db, lineup: dict) -> None:
    if lineup["saved"]:
        st.success(f"Saved as '{plain(lineup['name'])}': its outputs are in the review queue.")
        if st.button("Open the review queue", type="tertiary", icon=":material/rate_review:"):
            st.switch_page("app_pages/review.py")  # this tab and session, not a new one
        return
    with st.form("save"):
        name = st.text_input("Name", lineup["input"][:60].replace("\n", " "))
        if st.form_submit_button("Save for review"):
            queries.keep_lineup(db, lineup["id"], name.strip() or f"lineup {lineup['id']}")
            st.rerun()


def saved_list(db, names: dict[str, str]) -> None:
    saved = queries.list_lineups(db)
    st.subheader(f"Saved lineups ({len(saved)})")
    if not saved:
        st.caption("None yet: run models side by side, then press 'Save for review'.")
        return
    st.dataframe([{"open": f"?lineup={c['id']}", "name": c["name"],
                   "models": ", ".join(names.get(m, m) for m in c["models"].split(", ")),
                   "reviews": c["reviews"], "created": c["created_at"]} for c in saved],
                 hide_index=True, column_config={"open": st.column_config.LinkColumn(display_text="open")})
    left, right = st.columns([3, 1])
    doomed = left.selectbox("Delete a lineup (and its reviews)", [None] + [c["id"] for c in saved],
                            format_func=lambda i: "—" if i is None else next(c["name"] for c in saved if c["id"] == i))
    if right.button("Delete", disabled=doomed is None):
        queries.delete_lineup(db, doomed)
        st.rerun()


def settings_of(lineup: dict) -> str:
    settings = json.loads(lineup["settings"] or "{}")
    return ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in settings.items())
