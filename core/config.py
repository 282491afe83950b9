"""The training configuration: one dataclass, with help text on every field (as TRL does).

A run's settings come from four sources, in one order of precedence (`settle`):
the method's defaults (its spec in `core.methods`) < a named preset < a run.yaml
< the flags or the form. A setting a source does not name is not given by it.
The presets `s1-loop`, `s2-trainer`, `s4-sft`, `s6-summarise` and `s8-orpo`
reproduce the seed systems (README: "The systems it reproduces").
"""

import dataclasses
import json
import math
import re
import typing
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from core import chat_templates, methods
from core.data import check_columns_differ
from core.errors import WorkbenchError
from core.trackers import check_trackers, trackers
from storage.run_names import MAX_NAME, checked_name

ADAPTERS = ("none", "lora", "qlora")
JUDGES = ("score", "generate")  # how a causal run's classification test answers are decided


BACKENDS = ("local", "ray")


def _f(default, help_text, **extra):
    return field(default=default, metadata={"help": help_text, **extra})


@dataclass
class TrainConfig:
    model: str = _f("minilm-l6", "Catalog id, Hugging Face hub id or local folder.")
    method: str = _f("trainer", "How to train: " + "; ".join(
        f"{spec.name} = {spec.title} ({spec.model_kind}s)" for spec in methods.REGISTRY.values()),
        choices=tuple(methods.REGISTRY))
    adapter: str = _f("none", "none = full fine-tune; lora = low-rank adapters through peft; "
                              "qlora = LoRA over a 4-bit (nf4) base, causal models on a CUDA GPU.",
                      choices=ADAPTERS)
    dataset: str = _f("rt-reviews", "Catalog id, hub data set name, or a CSV / JSONL file.")
    name: str | None = _f(None, f"A name for the run (at most {MAX_NAME} characters); defaults to "
                                "'<model> · <method> · <data set> · N'.")
    text_column: str | None = _f(None, "Column holding the text (uploaded files).")
    label_column: str | None = _f(None, "Column holding the label (uploaded files).")
    prompt_column: str | None = _f(None, "Column holding the prompt (uploaded files of prompt "
                                         "/ response, preference or feedback rows).")
    response_column: str | None = _f(None, "Column holding the response (uploaded prompt / "
                                           "response files).")
    chosen_column: str | None = _f(None, "Column holding the chosen answer (uploaded "
                                         "preference files).")
    rejected_column: str | None = _f(None, "Column holding the rejected answer (uploaded "
                                           "preference files).")
    completion_column: str | None = _f(None, "Column holding the completion (uploaded "
                                             "feedback files: prompt, completion, label).")
    train_size: float | None = _f(None, "Training examples: a count, or a fraction in (0, 1). "
                                        "Default: all that the other splits leave.",
                                  count_or_fraction=True)
    eval_size: float | None = _f(None, "Validation examples: count or fraction. Default 0.1 "
                                       "(at most 200 examples for causal models).",
                                       count_or_fraction=True)
    test_size: float | None = _f(None, "Test examples: count or fraction. Default 0.2. "
                                       "The test split depends only on the data, this size and "
                                       "the seed, so runs that share them are compared fairly.",
                                       count_or_fraction=True)
    seed: int = _f(42, "Seed for the splits, the initialisation and the data order.")
    folds: int | None = _f(None, "k-fold cross-validation: split the data into this many "
                                 "stratified folds (drawn once, by the seed); the run tests on "
                                 "fold `fold` and trains on the others (validation carved from "
                                 "them as usual). Without `fold`, one run per fold, as one "
                                 "experiment. The folds decide the test split: a preset's test "
                                 "size gives way to them.")
    fold: int | None = _f(None, "With folds: which fold (1 to folds) is this run's test split.")
    epochs: float | None = _f(None, "Passes over the training split.")
    max_steps: int | None = _f(None, "Stop after this many optimiser steps (overrides epochs).")
    lr: float | None = _f(None, "Peak learning rate.")
    batch_size: int | None = _f(None, "Examples per optimiser step.")
    weight_decay: float | None = _f(None, "AdamW weight decay (not applied to biases and norms).")
    warmup_steps: int | None = _f(None, "Linear warm-up steps before the linear decay.")
    max_grad_norm: float = _f(1.0, "Gradients are clipped to this norm.")
    max_length: int = _f(128, "Tokens per example; longer texts are truncated, batches are "
                              "padded only to their longest example.")
    logging_steps: int = _f(10, "Write a metrics row every N optimiser steps.")
    checkpoint_steps: int = _f(50, "Save a checkpoint (weights, optimiser, scheduler, random "
                                   "state, data position) every N optimiser steps, and at a "
                                   "stop, so that a stopped, failed or interrupted run resumes "
                                   "from it; 0 = only at a stop. A completed run deletes them.")
    lora_r: int = _f(8, "LoRA rank.")
    lora_alpha: int = _f(16, "LoRA scaling (alpha / r multiplies the update).")
    lora_dropout: float = _f(0.05, "Dropout on the LoRA branch.")
    lora_targets: str = _f("all-linear", "Modules that get adapters: 'all-linear', "
                                         "'projections' (every attention and MLP projection of "
                                         "the architecture, as the Llama-3 ORPO recipe) or a comma-separated list of "
                                         "module names.")
    eval_steps: int | None = _f(None, "Evaluate on the validation split every N steps; by default "
                                      "once per epoch.")
    early_stopping_patience: int = _f(0, "Stop when the validation loss has not improved for this "
                                         "many evaluations in a row; 0 turns it off.")
    packing: bool = _f(False, "sft: pack several examples into each max-length block instead of "
                              "padding each batch to its longest example.")
    clean_text: bool = _f(False, "Keep only letters, digits and white space in the texts (as the "
                                     "Pythia summarisation recipe did).")
    beta: float = _f(0.1, "dpo / orpo: weight of the preference term (DPO's KL strength, "
                          "ORPO's odds-ratio weight).")
    max_new_tokens: int = _f(64, "Tokens generated per test example when judging summaries and "
                                 "responses (class labels need only a few).")
    chat_template: str = _f("model", "Causal runs: the chat template prompts are read through, "
                                     "in training and judging alike (and saved with the run): "
                                     "model = the model's own (plain text for labelled data, "
                                     "ChatML for conversations, where it has none); chatml, "
                                     "llama-3, gemma, mistral; or a Jinja template, pasted whole.",
                            max_chars=chat_templates.MAX_TEMPLATE)
    system_prompt: str | None = _f(None, "Causal runs: a system turn put before every prompt and "
                                         "conversation that has none of its own.",
                                   max_chars=4000)
    judge: str = _f("score", "How a causal run's test answers on labelled data are judged, for "
                             "the tuned and the original model alike: score = the label whose "
                             "answer the model finds likeliest (every example gets a label, and "
                             "its probability); generate = the model writes an answer, parsed "
                             "back to a label (answers naming none count as wrong). Summaries "
                             "and preference pairs keep their own judges.", choices=JUDGES)
    gradient_checkpointing: bool = _f(False, "Recompute activations in the backward pass: less "
                                             "memory, about a third more time.")
    pooling: str = _f("cls", "probe: 'cls' (first token) or 'mean' (mean of the tokens).",
                      choices=("cls", "mean"))
    probe_c: float = _f(0.1, "probe: inverse regularisation strength of the logistic regression.")
    probe_max_iter: int = _f(500, "probe: most solver iterations of the logistic regression.")
    trust_remote_code: bool = _f(False, "Run code shipped with a hub model. Off unless you "
                                        "trust its authors.")
    processes: int = _f(1, "Processes to train with, one per GPU, through `accelerate launch` "
                           "(DDP; on a machine without GPUs, DDP on the CPU). Above 1, the run "
                           "trains in a subprocess. trainer, sft, dpo and orpo only.")
    accelerate_config: str | None = _f(None, "An accelerate config file (from `accelerate "
                                             "config`: FSDP, DeepSpeed, several machines); "
                                             "the run is launched with it, in a subprocess.")
    report_to: str = _f("none", "Also send the Trainer's logs to these trackers, comma-separated: "
                                "tensorboard, wandb, mlflow (each needs its package installed). "
                                "'none' = the workbench's own database only.")
    backend: str = _f("local", "Where the run trains: local = a worker process on this machine, "
                               "in the home's queue; ray = a job on a Ray cluster (its address "
                               "from ray_address or RAY_ADDRESS), as many at once as it holds.",
                      choices=BACKENDS)
    ray_address: str | None = _f(None, "ray: the cluster's dashboard address, e.g. "
                                       "http://127.0.0.1:8265 (unset: the RAY_ADDRESS variable).")
    ray_storage: str | None = _f(None, "ray: where the run's model and checkpoints go: a folder "
                                       "every node mounts at the same path, or a URI of any "
                                       "fsspec file system (s3://bucket/workbench, gs://…); "
                                       "unset: this home, for a cluster on this machine.")
    ray_cpus: float = _f(1.0, "ray: CPUs the run asks the cluster for.")
    ray_gpus: float = _f(0.0, "ray: GPUs the run asks the cluster for.")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


# Named starting points (the Train page's presets, the CLI's --preset), with plain titles.
PRESETS = {
    "s1-loop": dict(method="loop", lr=5e-5, weight_decay=0.01, warmup_steps=500, epochs=3,
                    batch_size=16, logging_steps=50),
    "s2-trainer": dict(method="trainer", lr=2e-5, batch_size=16, epochs=2, weight_decay=0.01,
                       warmup_steps=0),
    "s3-probe": dict(method="probe", batch_size=32, epochs=1),
    # 2 epochs: with 1 (63 steps) the model still predicted the majority class for everything.
    "quick-cpu": dict(method="trainer", lr=5e-5, batch_size=16, epochs=2, weight_decay=0.01,
                      warmup_steps=0, max_length=64, train_size=1000, eval_size=200,
                      test_size=500),
    # S4 trained QLoRA on Mistral-7B; on a machine without CUDA, choose lora instead.
    "s4-sft": dict(method="sft", adapter="lora", model="smollm2-135m", train_size=300,
                   eval_size=100, test_size=2500, epochs=2, lr=2e-4, batch_size=8),
    # About 1 example/s trains on 2 CPU cores: S4's 300 examples, judged on 200.
    "quick-sft": dict(method="sft", adapter="lora", model="smollm2-135m", train_size=300,
                      eval_size=50, test_size=200, epochs=2, lr=2e-4, batch_size=8),
    "s6-summarise": dict(method="sft", adapter="none", model="smollm2-135m", dataset="aclsum",
                         lr=1e-5, clean_text=True, epochs=3, batch_size=4, max_length=512,
                         max_new_tokens=96),
    "s8-orpo": dict(method="orpo", adapter="lora", model="smollm2-135m", lora_r=16,
                    lora_alpha=32, lora_dropout=0.05, lora_targets="projections", lr=8e-6,
                    beta=0.1, batch_size=4, epochs=1, max_length=512),
}
PRESET_TITLES = {
    "quick-cpu": "Quick CPU run: sentiment classifier (126 steps: about 1 min 10 s on 2 idle CPU cores)",
    "s1-loop": "DistilBERT recipe: custom PyTorch loop",
    "s2-trainer": "DistilBERT recipe: Hugging Face Trainer",
    "s3-probe": "Frozen features + logistic regression",
    "quick-sft": "Quick causal SFT with LoRA (76 steps: about 13 minutes on 2 CPU cores)",
    "s4-sft": "Mistral recipe: sentiment as generation, SFT with LoRA",
    "s6-summarise": "Pythia recipe: summarisation, full fine-tune",
    "s8-orpo": "Llama-3 recipe: ORPO preference tuning with LoRA",
}


def settle(given: dict | None = None, preset: str | None = None,
           file: str | Path | None = None) -> TrainConfig:
    """The one order of precedence, used once per launch: the method's defaults < `preset`
    < the run.yaml `file` < `given` (flags or form). Only the keys a source holds count:
    a flag left out is not given, even where its value would equal a default."""
    values = {}
    if preset is not None:
        if preset not in PRESETS:
            raise WorkbenchError(f"unknown preset '{preset}'; choose from {', '.join(PRESETS)}")
        values.update(PRESETS[preset])
    chosen = {**(read_config_file(file) if file is not None else {}), **(given or {})}
    if chosen.get("folds") is not None and "test_size" not in chosen:
        values.pop("test_size", None)  # the folds decide the test split (the field's help)
    values.update(chosen)
    return resolve(TrainConfig(**values))


def resolve(config: TrainConfig) -> TrainConfig:
    """Fill unset hyper-parameters from the method's defaults, then check everything.
    A resolved config resolves to itself."""
    config = typed(config)
    validate_choices(config)
    config = with_method_defaults(config)
    validate_numbers(config)
    methods.get(config.method).check(config)
    if config.name is not None:  # refused before launch, not once the run is being recorded
        config = dataclasses.replace(config, name=checked_name(config.name)
                                     if config.name.strip() else None)
    if config.max_steps and config.logging_steps > config.max_steps:
        # Otherwise a short run would log no row at all, and draw no curve.
        config = dataclasses.replace(config, logging_steps=config.max_steps)
    return config


MAX_INT = 2**53  # beyond this a count is a typo, and floats lose whole numbers
MAX_TEXT = 500  # characters in a name, a column, a model id or a path
MAX_SEED = 2**32 - 1  # numpy's seeds are 32-bit


def field_type(f: dataclasses.Field) -> type:
    """The field's type, without the None of an optional one (`float | None` -> float)."""
    kinds = [k for k in typing.get_args(f.type) if k is not type(None)] or [f.type]
    return kinds[0]


def typed(config: TrainConfig) -> TrainConfig:
    """Every field checked against its declared type, whatever the source (form, flags,
    run.yaml, a stored run): the one door. A YAML string is never a boolean, a count is
    never fractional, and no number is infinite."""
    values = {f.name: typed_value(f, getattr(config, f.name)) for f in dataclasses.fields(config)}
    return TrainConfig(**values)


def typed_value(f: dataclasses.Field, value):
    kind, label = field_type(f), f.name.replace("_", " ")
    if value is None:
        if f.default is None:
            return None
        raise WorkbenchError(f"{label} must be given (got nothing)")
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise WorkbenchError(f"{label} must be true or false (got {describe(value)})")
    if kind is str:
        if not isinstance(value, str):
            raise WorkbenchError(f"{label} must be text (got {describe(value)})")
        longest = f.metadata.get("max_chars", MAX_TEXT)
        if len(value) > longest:
            raise WorkbenchError(f"{label} is {len(value)} characters long; at most {longest}")
        return value
    if kind is int:
        return whole_number(label, value)
    return finite_number(label, value)


def whole_number(label: str, value) -> int:
    number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if number is None or not math.isfinite(number) or not float(number).is_integer():
        raise WorkbenchError(f"{label} must be a whole number (got {describe(value)})")
    if abs(number) > MAX_INT:
        raise WorkbenchError(f"{label} {value} is out of range (at most {MAX_INT})")
    return int(number)


def finite_number(label: str, value) -> float | int:
    if isinstance(value, str):  # YAML reads 2e-5 (no dot) as a string: take it as written
        try:
            value = float(value.strip())
        except ValueError:
            raise WorkbenchError(f"{label} must be a number (got {describe(value)})") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise WorkbenchError(f"{label} must be a number (got {describe(value)})")
    if not math.isfinite(value):
        raise WorkbenchError(f"{label} must be a finite number (got {value})")
    return value


def describe(value) -> str:
    """A wrong value as a user would recognise it, cut short (it may be a huge structure)."""
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:40] + "…"
        return f"the text {shown!r}"
    kind = {list: "a list", dict: "a mapping", bool: "a boolean"}.get(type(value))
    return kind or repr(value)[:40]


def with_method_defaults(config: TrainConfig) -> TrainConfig:
    """Unset hyper-parameters taken from the method's defaults (the Train form shows them)."""
    spec = methods.get(config.method)
    defaults = {**spec.defaults, "lr": spec.default_lr(config.adapter)}
    filled = {k: v for k, v in defaults.items() if getattr(config, k) is None}
    return dataclasses.replace(config, **filled)


def validate_choices(config: TrainConfig) -> None:
    spec = methods.get(config.method)
    if config.adapter not in ADAPTERS:
        raise WorkbenchError(f"unknown adapter '{config.adapter}'; choose from {', '.join(ADAPTERS)}")
    if config.adapter not in spec.adapters:
        raise WorkbenchError(adapter_refusal(spec, config.adapter))
    if config.judge not in JUDGES:
        raise WorkbenchError(f"unknown judge '{config.judge}'; choose from {', '.join(JUDGES)}")
    if config.backend not in BACKENDS:
        raise WorkbenchError(f"unknown backend '{config.backend}'; choose from {', '.join(BACKENDS)}")
    if config.pooling not in ("cls", "mean"):
        raise WorkbenchError(f"pooling must be 'cls' or 'mean', not '{config.pooling}'")
    check_trackers(config.report_to)
    chat_templates.check(config.chat_template, config.system_prompt)
    if trackers(config.report_to) and not spec.hf_trainer:
        raise WorkbenchError(f"report_to passes the Trainer's logs on; method '{config.method}' "
                             f"has no Trainer (use {', '.join(methods.trainer_methods())})")


def adapter_refusal(spec, adapter: str) -> str:
    if not spec.trains_weights:
        return (f"method '{spec.name}' trains no network weights, so it takes no adapter; "
                "use --adapter none")
    if adapter == "qlora":
        return (f"qlora is for causal language models ({', '.join(methods.names('causal'))}) on "
                "a CUDA GPU; use --adapter lora or none with this method")
    return f"method '{spec.name}' takes adapter {' or '.join(spec.adapters)}, not '{adapter}'"


def validate_numbers(config: TrainConfig) -> None:
    # Unset values are those the method does not use (the probe has no learning rate).
    checks = [
        (config.lr is None or config.lr > 0, f"learning rate must be above 0 (got {config.lr})"),
        (config.batch_size is None or config.batch_size >= 1,
         f"batch size must be at least 1 (got {config.batch_size})"),
        (config.epochs is None or config.epochs > 0, f"epochs must be above 0 (got {config.epochs})"),
        (config.max_steps is None or config.max_steps >= 1,
         f"max steps must be at least 1 (got {config.max_steps})"),
        (config.weight_decay is None or config.weight_decay >= 0,
         f"weight decay cannot be negative (got {config.weight_decay})"),
        (config.warmup_steps is None or config.warmup_steps >= 0,
         f"warm-up steps cannot be negative (got {config.warmup_steps})"),
        (config.max_length >= 8, f"max length must be at least 8 tokens (got {config.max_length})"),
        (config.logging_steps >= 1, f"logging steps must be at least 1 (got {config.logging_steps})"),
        (config.checkpoint_steps >= 0,
         f"checkpoint steps cannot be negative (got {config.checkpoint_steps})"),
        (config.max_grad_norm > 0, f"max grad norm must be above 0 (got {config.max_grad_norm})"),
        (config.lora_r >= 1, f"LoRA rank must be at least 1 (got {config.lora_r})"),
        (config.lora_alpha >= 1, f"LoRA alpha must be at least 1 (got {config.lora_alpha})"),
        (0 <= config.lora_dropout < 1, f"LoRA dropout must be in [0, 1) (got {config.lora_dropout})"),
        (config.probe_c > 0, f"probe C must be above 0 (got {config.probe_c})"),
        (config.probe_max_iter >= 10,
         f"probe max iterations must be at least 10 (got {config.probe_max_iter})"),
        (config.eval_steps is None or config.eval_steps >= 1,
         f"eval steps must be at least 1 (got {config.eval_steps})"),
        (config.early_stopping_patience >= 0,
         f"early-stopping patience cannot be negative (got {config.early_stopping_patience})"),
        (config.beta > 0, f"beta must be above 0 (got {config.beta})"),
        (config.max_new_tokens >= 1,
         f"max new tokens must be at least 1 (got {config.max_new_tokens})"),
    ]
    checks += [
        (0 <= config.seed <= MAX_SEED, f"seed must be between 0 and {MAX_SEED} (got {config.seed})"),
        (config.processes >= 1, f"processes must be at least 1 (got {config.processes})"),
        (config.ray_cpus > 0, f"ray CPUs must be above 0 (got {config.ray_cpus})"),
        (config.ray_gpus >= 0, f"ray GPUs cannot be negative (got {config.ray_gpus})"),
        (config.folds is None or config.folds >= 2,
         f"cross-validation needs at least 2 folds (got {config.folds})"),
        (config.fold is None or config.folds is not None,
         "fold names a fold of a cross-validation: give folds as well"),
        (config.fold is None or config.folds is None or 1 <= config.fold <= config.folds,
         f"fold must be between 1 and {config.folds} (got {config.fold})"),
        (config.folds is None or config.test_size is None,
         f"with {config.folds} folds the test split is one fold (1/{config.folds} of the "
         "data); drop the test size"),
    ]
    for name in ("train_size", "eval_size", "test_size"):
        value = getattr(config, name)
        label = name.replace("_", " ")
        checks.append((value is None or value >= 0, f"{label} cannot be negative (got {value})"))
        checks.append((value is None or value < 1 or float(value).is_integer(),
                       f"{label} must be a whole count or a fraction below 1 (got {value})"))
    for ok, message in checks:
        if not ok:
            raise WorkbenchError(message)
    check_columns_differ(column_mapping(config))


COLUMN_FIELDS = {"text": "text_column", "label": "label_column", "prompt": "prompt_column",
                 "response": "response_column", "chosen": "chosen_column",
                 "rejected": "rejected_column", "completion": "completion_column"}


def column_mapping(config) -> dict[str, str]:
    """The file's column for each canonical one the config names ({"text": "review"})."""
    return {name: getattr(config, f) for name, f in COLUMN_FIELDS.items() if getattr(config, f)}


UNUSUAL_LR_FACTOR = 100  # this far above (or 1,000x below) a method's usual rate


def learning_rate_warning(config: TrainConfig) -> str | None:
    """A resolved config's learning rate far outside its method's usual one: allowed (a user
    may mean it), but said before launch, as such runs usually diverge or learn nothing."""
    if config.lr is None:
        return None
    usual = methods.get(config.method).default_lr(config.adapter)
    if usual / (10 * UNUSUAL_LR_FACTOR) <= config.lr <= usual * UNUSUAL_LR_FACTOR:
        return None
    return (f"learning rate {config.lr:g} is far from the usual {usual:g} for {config.method} "
            f"with adapter {config.adapter}: such runs usually diverge or learn nothing")


def to_yaml(config: TrainConfig, repeat: dict | None = None) -> str:
    """Every setting, as a run.yaml that `python -m core train --config run.yaml` takes back;
    with `repeat` ({"sweep": …, "seeds": N}, those given), an experiment's too."""
    return yaml.safe_dump({**config.to_dict(), **(repeat or {})}, sort_keys=False,
                          allow_unicode=True)


STORED_ESSENTIALS = ("model", "method", "dataset")  # without them a default would stand in


def from_stored(stored: str | dict) -> TrainConfig:
    """A run's stored settings (JSON); ones an older workbench had and this one dropped are
    ignored. Damaged ones are refused: a missing model must not resume as the default one."""
    try:
        data = json.loads(stored) if isinstance(stored, str) else stored
    except json.JSONDecodeError:
        data = None
    missing = [k for k in STORED_ESSENTIALS if k not in data] if isinstance(data, dict) else None
    if missing is None or missing:
        lacking = f" (no {', '.join(missing)})" if missing else ""
        raise WorkbenchError(f"the run's stored settings are damaged{lacking}; start a new run")
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in data.items() if k in known})


MAX_CONFIG_BYTES = 1 << 20  # a run.yaml is a few hundred bytes


class _StrictYaml(yaml.SafeLoader):
    """YAML as a settings file needs it. No aliases: a few lines of nested aliases expand to
    billions of nodes (the "billion laughs"). No key twice: the last would silently win.
    Booleans are true / false only: YAML 1.1 also reads yes, no, on and off as booleans,
    and `trust_remote_code: on` must not be how remote code gets turned on by accident."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            raise WorkbenchError("aliases (*name) are not allowed")
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):
        keys = [self.construct_object(key, deep=deep) for key, _ in node.value]
        repeated = sorted({str(k) for k in keys if keys.count(k) > 1})
        if repeated:
            raise WorkbenchError(f"{', '.join(repeated)} given twice")
        return super().construct_mapping(node, deep)


_StrictYaml.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_StrictYaml.add_implicit_resolver("tag:yaml.org,2002:bool",
                                  re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                                  list("tTfF"))


def yaml_value(text: str):
    """One value as a run.yaml would read it (a number, true / false, else the text)."""
    try:
        return yaml.load(text, Loader=_StrictYaml)
    except (WorkbenchError, yaml.YAMLError):
        return text


def read_small_file(path: Path) -> str:
    """A settings file's text: a regular file (a FIFO would hang, /dev/zero never end), read
    no further than the limit whatever its size claims."""
    if not path.is_file():
        raise WorkbenchError("not found, or not a regular file" if not path.exists()
                             else "not a regular file")
    with path.open("rb") as handle:
        raw = handle.read(MAX_CONFIG_BYTES + 1)
    if len(raw) > MAX_CONFIG_BYTES:
        raise WorkbenchError(f"over {MAX_CONFIG_BYTES // 1024} KiB, where a settings file "
                             "holds a few settings")
    return raw.decode("utf-8")


# Besides a run's settings, a run.yaml may say how to repeat it as an experiment
# (core.experiments): `sweep:` {setting: [values]} and `seeds:` N.
EXPERIMENT_KEYS = ("sweep", "seeds")


def read_config_file(path: str | Path) -> dict:
    """A run.yaml's (or .json's) settings, without its experiment keys."""
    settings, _ = read_settings_file(path)
    return settings


def read_settings_file(path: str | Path) -> tuple[dict, dict]:
    """A run.yaml's (or .json's) settings, and its experiment keys; unknown keys are an error.
    Types are checked with every other source's, by `resolve` (`core.experiments` for the
    experiment keys)."""
    try:
        data = yaml.load(read_small_file(Path(path)), Loader=_StrictYaml) or {}
    except WorkbenchError as error:
        raise WorkbenchError(f"config file {path}: {error}") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        reason = " ".join(str(error).split())
        raise WorkbenchError(f"cannot read config file {path}: {reason}") from None
    if not isinstance(data, dict):
        raise WorkbenchError(f"config file {path} must hold a mapping of settings")
    known = {f.name for f in dataclasses.fields(TrainConfig)} | set(EXPERIMENT_KEYS)
    unknown = sorted(str(key) for key in data if key not in known)
    if unknown:
        raise WorkbenchError(f"config file {path}: unknown setting(s) {', '.join(unknown)}")
    return ({k: v for k, v in data.items() if k not in EXPERIMENT_KEYS},
            {k: data[k] for k in EXPERIMENT_KEYS if k in data})
