"""The prediction playground: one input, several models, their outputs side by side.

Any model the workbench can load takes part: a bundled or hub causal model, a
finished run (its adapters merged), or a classifier (a finished encoder run, or
a hub checkpoint that already has a classification head). Causal outputs are
streamed as they are generated, with their latency and speed; classifiers give
the probability of each label, and so do causal models on a classification
task (each label's likelihood as the answer, normalised over the labels).

Models stay loaded in a bounded cache, least recently used evicted first, so
that trying a second input does not reload them; the bound is memory, since
that is what runs out.
"""

import copy
import gc
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from core import chat_templates
from core.config import TrainConfig
from core.errors import WorkbenchError
from core.settings import checked, like, setting

TASKS = {
    "chat": "Chat: the input is the user's message (through the model's chat template; ChatML "
            "for a model without one)",
    "raw": "Continue: the model continues the input text as it is",
    "classify": "Classify: the training prompt of a classification run, asking for a label",
    "summarise": "Summarise: the training prompt of a summarisation run",
}
TASK_OF_DATA = {"classification": "classify", "summarisation": "summarise", "preference": "chat"}


def describe_prompt(task: str, label_names=(), instruction: str | None = None) -> str:
    """A prompt in words: its task, and the labels or the instruction it offered the model."""
    offered = {"classify": label_names and f"Labels: {', '.join(label_names)}",
               "summarise": instruction and f"Instruction: {instruction}"}.get(task)
    return f"{TASKS[task]}\n{offered}" if offered else TASKS[task]


@dataclass(frozen=True)
class GenerationSettings:
    max_new_tokens: int = setting(64, "Most tokens each model may generate.", low=1, high=4096)
    temperature: float = setting(0.0, "0 is greedy: the likeliest token every time, so the same "
                                      "input gives the same output. Above 0 samples; higher is "
                                      "more varied.", low=0, high=5)
    top_p: float = setting(1.0, "When sampling: draw only from the likeliest tokens whose "
                                "probabilities add up to this.", label="top-p", above=0, high=1)
    seed: int = like(TrainConfig, "seed", 0, "When sampling: the same seed gives the same output.")

    def check(self) -> None:
        checked(self)


@dataclass(frozen=True)
class Request:
    text: str
    task: str = "chat"
    label_names: tuple[str, ...] = ()  # classify: the labels the prompt offers
    instruction: str | None = None  # summarise: what the prompt asks for
    max_length: int = 512  # prompt tokens; longer inputs are cut
    # chat: this model's conversation so far, ((role, text), …): the user's turns, and the
    # answers this model gave (each model of a lineup keeps its own)
    history: tuple[tuple[str, str], ...] = ()
    # as a causal run's (core.chat_templates); "model": each model's own (a run's is saved with it)
    chat_template: str = "model"
    system_prompt: str | None = None

    def check(self) -> None:
        chat_templates.check(self.chat_template, self.system_prompt)
        if not self.text.strip():
            raise WorkbenchError("type an input or draw one from a data set")
        if self.history and self.task != "chat":
            raise WorkbenchError("only a chat continues a conversation")
        if any(role not in ("user", "assistant") for role, _ in self.history):
            raise WorkbenchError("a conversation's turns are the user's or the assistant's")
        if self.task not in TASKS:
            raise WorkbenchError(f"unknown task '{self.task}': one of {', '.join(TASKS)}")
        if self.task == "classify" and len(self.label_names) < 2:
            raise WorkbenchError("classify needs at least two label names")


@dataclass
class Loaded:
    id: str
    kind: str  # "causal" or "encoder"
    model: Any
    tokenizer: Any
    labels: tuple[str, ...] | None  # classifiers' label names
    load_seconds: float
    nbytes: int


@dataclass(frozen=True)
class Result:
    output: str
    latency: float  # seconds from the request to the last token
    first_token: float | None = None  # seconds to the first streamed text
    new_tokens: int | None = None
    tokens_per_second: float | None = None
    probabilities: dict | None = None  # label -> probability


def load(model_id: str, trust_remote_code: bool = False) -> Loaded:
    """A model ready to answer: causal models with their tokenizer, classifiers with their labels."""
    from core.models import (inference_device, load_causal, load_classifier, load_tokenizer,
                             resolve_model, run_model_dir)

    started = time.perf_counter()
    source = resolve_model(model_id, trust_remote_code)
    if source.kind == "encoder" and not source.labels:
        if run_model_dir(model_id) is not None:
            raise WorkbenchError(f"run {model_id} was trained before runs kept their label names; "
                                 "train it again to load it here")
        raise WorkbenchError(f"'{model_id}' is an encoder without a trained classification head: "
                             "pick a finished run trained from it")
    tokenizer = load_tokenizer(source, trust_remote_code)
    if source.kind == "causal":
        model = load_causal(source, trust_remote_code)
    else:
        model = load_classifier(source, list(source.labels), trust_remote_code)
        model = model.to(inference_device()).eval()
    return Loaded(model_id, source.kind, model, tokenizer, source.labels,
                  time.perf_counter() - started, model_bytes(model))


def model_bytes(model) -> int:
    return sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers()])


def estimate_bytes(model_id: str) -> int:
    """Roughly what loading a model will take, before loading it: 0 where nothing is known."""
    from core.catalog import MODELS
    from core.models import run_model_dir

    run_model = run_model_dir(model_id)
    if run_model is not None:
        return _folder_bytes(run_model) or _base_bytes(run_model)
    if model_id in MODELS and MODELS[model_id].params:
        return MODELS[model_id].params * 4  # float32
    return _folder_bytes(Path(model_id)) if Path(model_id).is_dir() else 0


def _folder_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.glob("*.safetensors") if "adapter" not in f.name)


def _base_bytes(run_model: Path) -> int:
    import json

    from core.models import RUN_MODEL_FILE

    base = json.loads((run_model / RUN_MODEL_FILE).read_text()).get("adapter_of")
    return estimate_bytes(base) if base else 0


def memory_budget() -> int:
    """Half the memory of the device models load on: the rest is for training and the server."""
    import psutil
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_properties(0).total_memory // 2
    return psutil.virtual_memory().total // 2


class ModelCache:
    """Loaded models by id; the least recently used go first when the next would not fit."""

    def __init__(self, budget_bytes: int | None = None, loader=load):
        self.budget = memory_budget() if budget_bytes is None else budget_bytes
        self._load = loader
        self._models: OrderedDict[str, Loaded] = OrderedDict()
        self._lock = threading.Lock()
        self.evicted: list[str] = []  # in order, for the page to say what was unloaded

    def get(self, model_id: str, trust_remote_code: bool = False) -> Loaded:
        with self._lock:
            if model_id in self._models:
                self._models.move_to_end(model_id)
                return self._models[model_id]
            self._make_room(estimate_bytes(model_id))
            loaded = self._load(model_id, trust_remote_code)
            self._models[model_id] = loaded
            self._make_room(0, keep=model_id)  # in case the estimate was low
            return loaded

    def contents(self) -> list[tuple[str, int]]:
        """(id, bytes) of each loaded model, least recently used first."""
        return [(m.id, m.nbytes) for m in self._models.values()]

    def used(self) -> int:
        return sum(m.nbytes for m in self._models.values())

    def clear(self) -> None:
        with self._lock:
            for model_id in list(self._models):
                self._evict(model_id)

    def _make_room(self, needed: int, keep: str | None = None) -> None:
        for model_id in list(self._models):  # least recently used first
            if self.used() + needed <= self.budget:
                return
            if model_id != keep:
                self._evict(model_id)

    def _evict(self, model_id: str) -> None:
        del self._models[model_id]
        self.evicted.append(model_id)
        gc.collect()
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def causal_prompt(tokenizer, request: Request) -> str:
    """The text a causal model reads: the same prompts its training and judging use."""
    from core import causal_data

    if request.task == "raw":
        return request.text
    if request.chat_template != "model" or request.system_prompt:
        tokenizer = copy.copy(tokenizer)  # the cached model's own stays as it is
        chat_templates.apply(tokenizer, request.chat_template, request.system_prompt)
    if request.task == "classify":
        return causal_data.classification_prompts(tokenizer, [request.text],
                                                  list(request.label_names), request.max_length)[0]
    if request.task == "summarise":
        reserve = causal_data.response_reserve(request.max_length)
        return causal_data.generation_prompts(tokenizer, [request.text], request.instruction,
                                              request.max_length, reserve)[0]
    # A chat, first turn or later, reads as conversations train (ChatML without a template).
    turns = [{"role": role, "content": text} for role, text in request.history]
    prompt = causal_data.render_turns(tokenizer, [*turns, {"role": "user",
                                                           "content": request.text}], True)
    return causal_data.keep_end(tokenizer, prompt, request.max_length)


def answer(loaded: Loaded, request: Request, settings: GenerationSettings) -> Iterator[str | Result]:
    """The output so far each time it grows (causal models), then the Result."""
    request.check()
    settings.check()
    if loaded.kind == "encoder":
        yield classify(loaded, request)
    else:
        yield from stream(loaded, request, settings)


def classify(loaded: Loaded, request: Request) -> Result:
    import torch

    started = time.perf_counter()
    encoded = loaded.tokenizer(request.text, truncation=True, max_length=request.max_length,
                               return_tensors="pt").to(loaded.model.device)
    with torch.no_grad():
        probs = torch.softmax(loaded.model(**encoded).logits[0].float(), -1).cpu().numpy()
    latency = time.perf_counter() - started
    return Result(loaded.labels[int(probs.argmax())], latency, latency,
                  probabilities=dict(zip(loaded.labels, map(float, probs))))


def stream(loaded: Loaded, request: Request, settings: GenerationSettings) -> Iterator[str | Result]:
    """Generate in a thread, yielding the text as the streamer hands it over.

    Closing the generator early (a page rerun drops it mid-answer) stops the generation too,
    rather than leaving it to use the machine until its last token.
    """
    import torch
    from transformers import StoppingCriteriaList, TextIteratorStreamer

    from core.causal_data import encode_prompt

    model, tokenizer = loaded.model, loaded.tokenizer
    prompt = causal_prompt(tokenizer, request)
    ids = torch.tensor([encode_prompt(tokenizer, prompt)], device=model.device)
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    done: dict = {}
    abandoned = threading.Event()

    def generate():
        try:
            torch.manual_seed(settings.seed)
            done["ids"] = model.generate(
                input_ids=ids, attention_mask=torch.ones_like(ids), streamer=streamer,
                stopping_criteria=StoppingCriteriaList([lambda *_, **__: abandoned.is_set(),
                                                        *chat_templates.stops(tokenizer,
                                                                              ids.shape[1])]),
                **sampling(settings, tokenizer))
        except Exception as error:  # raised again below, in the caller's thread
            done["error"] = error
            streamer.end()

    started = time.perf_counter()
    worker = threading.Thread(target=generate, name=f"playground-{loaded.id}", daemon=True)
    worker.start()
    text, first = "", None
    try:
        for piece in streamer:
            if piece:
                first = first or time.perf_counter() - started
                text += piece
                yield text
    finally:  # the end of the text, or the caller's stop
        abandoned.set()
    worker.join()
    if "error" in done:
        raise done["error"]
    latency = time.perf_counter() - started
    new_tokens = int(done["ids"].shape[1] - ids.shape[1])
    probabilities = (label_probabilities(loaded, prompt, request.label_names)
                     if request.task == "classify" else None)
    text = chat_templates.cut_at_turn_end(text, tokenizer)
    yield Result(text.strip(), latency, first, new_tokens, new_tokens / latency, probabilities)


def sampling(settings: GenerationSettings, tokenizer) -> dict:
    """generate() arguments: greedy at temperature 0, else sampling with temperature and top-p."""
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    common = {"max_new_tokens": settings.max_new_tokens, "pad_token_id": pad}
    if settings.temperature == 0:
        return {**common, "do_sample": False}
    return {**common, "do_sample": True, "temperature": settings.temperature,
            "top_p": settings.top_p}


def label_probabilities(loaded: Loaded, prompt: str, label_names) -> dict:
    """Each label's probability as the whole answer (with its end-of-text), over the labels."""
    from core.causal_data import completion_text, encode_prompt
    from core.causal_eval import completion_logprobs

    rows = [encode_prompt(loaded.tokenizer, prompt)] * len(label_names)
    answers = [completion_text(loaded.tokenizer, name) for name in label_names]
    scores = np.array([s for s, _ in completion_logprobs(loaded.model, loaded.tokenizer, rows,
                                                         answers, len(rows))])
    probs = np.exp(scores - scores.max())
    return dict(zip(label_names, map(float, probs / probs.sum())))


def draw_example(dataset: str, number: int, seed: int = 42) -> dict:
    """The `number`-th example (in a seeded shuffle) of a data set's test split, as a request.

    The split is the one runs with the default sizes and this seed are tested on.
    """
    from core.causal_data import INSTRUCTIONS
    from core.data import load_table, split_table

    table = load_table(dataset)
    test = split_table(table, seed)["test"]
    row = test.iloc[np.random.default_rng(seed + number).integers(len(test))]
    text, reference = {"classification": ("text", "label"), "summarisation": ("prompt", "response"),
                       "preference": ("prompt", "chosen")}[table.task]
    return {"text": row[text], "reference": row[reference], "task": TASK_OF_DATA[table.task],
            "label_names": tuple(table.label_names), "instruction": INSTRUCTIONS.get(dataset)}
