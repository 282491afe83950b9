"""The training configuration: one dataclass, with help text on every field (as TRL does).

A run's settings come from four sources, in one order of precedence (`settle`):
the method's defaults (its spec in `core.methods`) < a named preset < a run.yaml
< the flags or the form. A setting a source does not name is not given by it.
The presets `s1-loop`, `s2-trainer`, `s4-sft`, `s6-summarise` and `s8-orpo`
reproduce the seed systems (README: "The systems it reproduces").
"""

import dataclasses
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import yaml

from core import chat_templates, methods
from core.data import check_columns_differ
from core.errors import WorkbenchError
from core.settings import MANY_STEPS, MAX_SEED, checked, setting
from core.trackers import check_trackers, trackers
from storage.run_names import MAX_NAME, checked_name

ADAPTERS = ("none", "lora", "qlora")
JUDGES = ("score", "generate")  # how a causal run's classification test answers are decided


BACKENDS = ("local", "ray")


@dataclass
class TrainConfig:
    model: str = setting("minilm-l6", "Catalog id, Hugging Face hub id or local folder.")
    method: str = setting("trainer", "How to train: " + "; ".join(
        f"{spec.name} = {spec.title} ({spec.model_kind}s)" for spec in methods.REGISTRY.values()),
        choices=tuple(methods.REGISTRY))
    adapter: str = setting("none", "none = full fine-tune; lora = low-rank adapters through peft; "
                                   "qlora = LoRA over a 4-bit (nf4) base, causal models on a CUDA GPU.",
                           choices=ADAPTERS)
    dataset: str = setting("rt-reviews", "Catalog id, hub data set name, or a CSV / JSONL file.")
    name: str | None = setting(None, f"A name for the run (at most {MAX_NAME} characters); defaults to "
                                     "'<model> · <method> · <data set> · N'.")
    dataset_info: str | None = setting(None, "A LLaMA-Factory dataset_info.json whose entry "
                                             "(by file_name) says how to read the file: "
                                             "formatting, columns, tags, ranking. Unset: the "
                                             "one beside the file, where it names it.")
    text_only: bool = setting(False, "Train on a multimodal file's text alone: its images, "
                                     "video and audio (columns, or parts of turns) left out, "
                                     "and said in the notes. Off: such a file is refused.")
    text_column: str | None = setting(None, "Column holding the text (uploaded files).")
    label_column: str | None = setting(None, "Column holding the label (uploaded files).")
    prompt_column: str | None = setting(None, "Column holding the prompt (uploaded files of prompt "
                                              "/ response, preference or feedback rows).")
    response_column: str | None = setting(None, "Column holding the response (uploaded prompt / "
                                                "response files).")
    chosen_column: str | None = setting(None, "Column holding the chosen answer (uploaded "
                                              "preference files).")
    rejected_column: str | None = setting(None, "Column holding the rejected answer (uploaded "
                                                "preference files).")
    completion_column: str | None = setting(None, "Column holding the completion (uploaded "
                                                  "feedback files: prompt, completion, label).")
    train_size: float | None = setting(None, "Training examples: a count, or a fraction in (0, 1). "
                                             "Default: all that the other splits leave.",
                                       count_or_fraction=True, low=0)
    eval_size: float | None = setting(None, "Validation examples: count or fraction. Default 0.1 "
                                            "(at most 200 examples for causal models).",
                                            count_or_fraction=True, low=0)
    test_size: float | None = setting(None, "Test examples: count or fraction. Default 0.2. "
                                            "The test split depends only on the data, this size and "
                                            "the seed, so runs that share them are compared fairly.",
                                            count_or_fraction=True, low=0)
    seed: int = setting(42, "Seed for the splits, the initialisation and the data order.",
                        low=0, high=MAX_SEED)
    folds: int | None = setting(None, "k-fold cross-validation: split the data into this many "
                                      "stratified folds (drawn once, by the seed); the run tests on "
                                      "fold `fold` and trains on the others (validation carved from "
                                      "them as usual). Without `fold`, one run per fold, as one "
                                      "experiment. The folds decide the test split: a preset's test "
                                      "size gives way to them.",
                                low=2, off=0)
    fold: int | None = setting(None, "With folds: which fold (1 to folds) is this run's test split.",
                               low=1)
    epochs: float | None = setting(None, "Passes over the training split.",
                                   above=0, high=1000)
    max_steps: int | None = setting(None, "Stop after this many optimiser steps (overrides epochs).",
                                    low=1, high=MANY_STEPS, off=0)
    lr: float | None = setting(None, "Peak learning rate.",
                               label="learning rate", above=0)
    batch_size: int | None = setting(None, "Examples per optimiser step.",
                                     low=1, high=65_536)
    weight_decay: float | None = setting(None, "AdamW weight decay (not applied to biases and norms).",
                                         low=0, high=10)
    warmup_steps: int | None = setting(None, "Linear warm-up steps before the linear decay.",
                                       label="warm-up steps", low=0, high=MANY_STEPS)
    max_grad_norm: float = setting(1.0, "Gradients are clipped to this norm.",
                                   above=0)
    max_length: int = setting(128, "Tokens per example; longer texts are truncated, batches are "
                                   "padded only to their longest example.",
                              low=8, high=131_072, unit=" tokens")
    logging_steps: int = setting(10, "Write a metrics row every N optimiser steps.",
                                 low=1, high=MANY_STEPS)
    checkpoint_steps: int = setting(50, "Save a checkpoint (weights, optimiser, scheduler, random "
                                        "state, data position) every N optimiser steps, and at a "
                                        "stop, so that a stopped, failed or interrupted run resumes "
                                        "from it; 0 = only at a stop. A completed run deletes them.",
                                    low=0, high=MANY_STEPS)
    lora_r: int = setting(8, "LoRA rank.",
                          label="LoRA rank", low=1, high=4096)
    lora_alpha: int = setting(16, "LoRA scaling (alpha / r multiplies the update).",
                              label="LoRA alpha", low=1, high=16_384)
    lora_dropout: float = setting(0.05, "Dropout on the LoRA branch.",
                                  label="LoRA dropout", low=0, high=0.9)
    lora_targets: str = setting("all-linear", "Modules that get adapters: 'all-linear', "
                                              "'projections' (every attention and MLP projection of "
                                              "the architecture, as the Llama-3 ORPO recipe) or a comma-separated list of "
                                              "module names.")
    eval_steps: int | None = setting(None, "Evaluate on the validation split every N steps; by default "
                                           "once per epoch.",
                                     low=1, high=MANY_STEPS, off=0)
    early_stopping_patience: int = setting(0, "Stop when the validation loss has not improved for this "
                                              "many evaluations in a row; 0 turns it off.",
                                           label="early-stopping patience", low=0, high=1000)
    packing: bool = setting(False, "sft: pack several examples into each max-length block instead of "
                                   "padding each batch to its longest example.")
    clean_text: bool = setting(False, "Keep only letters, digits and white space in the texts (as the "
                                          "Pythia summarisation recipe did).")
    beta: float = setting(0.1, "dpo / orpo: weight of the preference term (DPO's KL strength, "
                               "ORPO's odds-ratio weight).",
                          above=0, high=100)
    max_new_tokens: int = setting(64, "Tokens generated per test example when judging summaries and "
                                      "responses (class labels need only a few).",
                                  low=1, high=32_768)
    chat_template: str = setting("model", "Causal runs: the chat template prompts are read through, "
                                          "in training and judging alike (and saved with the run): "
                                          "model = the model's own (plain text for labelled data, "
                                          "ChatML for conversations, where it has none); chatml, "
                                          "llama-3, gemma, mistral; or a Jinja template, pasted whole.",
                                 max_chars=chat_templates.MAX_TEMPLATE)
    system_prompt: str | None = setting(None, "Causal runs: a system turn put before every prompt and "
                                              "conversation that has none of its own.",
                                        max_chars=4000)
    judge: str = setting("score", "How a causal run's test answers on labelled data are judged, for "
                                  "the tuned and the original model alike: score = the label whose "
                                  "answer the model finds likeliest (every example gets a label, and "
                                  "its probability); generate = the model writes an answer, parsed "
                                  "back to a label (answers naming none count as wrong). Summaries "
                                  "and preference pairs keep their own judges.", choices=JUDGES)
    gradient_checkpointing: bool = setting(False, "Recompute activations in the backward pass: less "
                                                  "memory, about a third more time.")
    pooling: str = setting("cls", "probe: 'cls' (first token) or 'mean' (mean of the tokens).",
                           choices=("cls", "mean"))
    probe_c: float = setting(0.1, "probe: inverse regularisation strength of the logistic regression.",
                             label="probe C", above=0, high=1e6)
    probe_max_iter: int = setting(500, "probe: most solver iterations of the logistic regression.",
                                  label="probe max iterations", low=10, high=1_000_000)
    trust_remote_code: bool = setting(False, "Run code shipped with a hub model. Off unless you "
                                             "trust its authors.")
    processes: int = setting(1, "Processes to train with, one per GPU, through `accelerate launch` "
                                "(DDP; on a machine without GPUs, DDP on the CPU). Above 1, the run "
                                "trains in a subprocess. trainer, sft, dpo and orpo only.",
                             low=1, high=1024)
    accelerate_config: str | None = setting(None, "An accelerate config file (from `accelerate "
                                                  "config`: FSDP, DeepSpeed, several machines); "
                                                  "the run is launched with it, in a subprocess.")
    report_to: str = setting("none", "Also send the Trainer's logs to these trackers, comma-separated: "
                                     "tensorboard, wandb, mlflow (each needs its package installed). "
                                     "'none' = the workbench's own database only.")
    backend: str = setting("local", "Where the run trains: local = a worker process on this machine, "
                                    "in the home's queue; ray = a job on a Ray cluster (its address "
                                    "from ray_address or RAY_ADDRESS), as many at once as it holds.",
                           choices=BACKENDS)
    ray_address: str | None = setting(None, "ray: the cluster's dashboard address, e.g. "
                                            "http://127.0.0.1:8265 (unset: the RAY_ADDRESS variable).")
    ray_storage: str | None = setting(None, "ray: where the run's model and checkpoints go: a folder "
                                            "every node mounts at the same path, or a URI of any "
                                            "fsspec file system (s3://bucket/workbench, gs://…); "
                                            "unset: this home, for a cluster on this machine.")
    ray_cpus: float = setting(1.0, "ray: CPUs the run asks the cluster for.",
                              label="ray CPUs", above=0, high=100_000)
    ray_gpus: float = setting(0.0, "ray: GPUs the run asks the cluster for.",
                              label="ray GPUs", low=0, high=100_000)

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
    # The Mistral recipe trained QLoRA on Mistral-7B; on a machine without CUDA, choose lora instead.
    "s4-sft": dict(method="sft", adapter="lora", model="smollm2-135m", train_size=300,
                   eval_size=100, test_size=2500, epochs=2, lr=2e-4, batch_size=8),
    # About 1 example/s trains on 2 CPU cores: the Mistral recipe's 300 examples, judged on 200.
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
    "quick-cpu": "Quick CPU run: sentiment classifier (126 steps; 1 min 10 s on 2 idle CPU cores)",
    "s1-loop": "DistilBERT recipe: custom PyTorch loop",
    "s2-trainer": "DistilBERT recipe: Hugging Face Trainer",
    "s3-probe": "Frozen features + logistic regression",
    "quick-sft": "Quick causal SFT with LoRA (76 steps; 13 min on 2 idle CPU cores)",
    "s4-sft": "Mistral recipe: sentiment as generation, SFT with LoRA",
    "s6-summarise": "Pythia recipe: summarisation, full fine-tune",
    "s8-orpo": "Llama-3 recipe: ORPO preference tuning with LoRA",
}


def settle(given: dict | None = None, preset: str | None = None,
           file: str | Path | None = None, start: dict | None = None) -> TrainConfig:
    """The one order of precedence, used once per launch: the method's defaults < `preset`
    (or `start`, a cloned run's settings) < the run.yaml `file` < `given` (flags or form).
    Only the keys a source holds count: a flag left out is not given, even where its value
    would equal a default. A starting point's settings this run does not read are dropped
    (a LoRA preset's rank, once the adapter is none); given ones are refused."""
    if preset is not None and preset not in PRESETS:
        raise WorkbenchError(f"unknown preset '{preset}'; choose from {', '.join(PRESETS)}")
    values = dict(PRESETS[preset] if preset is not None else start or {})
    chosen = {**(read_config_file(file) if file is not None else {}), **(given or {})}
    if chosen.get("folds") is not None and "test_size" not in chosen:
        values.pop("test_size", None)  # the folds decide the test split (the field's help)
    unread = settings_not_read({**values, **chosen})
    values = {k: v for k, v in values.items() if k not in unread}
    values.update(chosen)
    return resolve(TrainConfig(**values))


def resolve(config: TrainConfig) -> TrainConfig:
    """Fill unset hyper-parameters from the method's defaults, then check everything.
    A resolved config resolves to itself."""
    config = checked(config)
    validate_choices(config)
    config = with_method_defaults(config)
    validate_numbers(config)
    check_settings_apply(config)
    methods.get(config.method).check(config)
    if config.name is not None:  # refused before launch, not once the run is being recorded
        config = dataclasses.replace(config, name=checked_name(config.name)
                                     if config.name.strip() else None)
    if config.max_steps and config.logging_steps > config.max_steps:
        # Otherwise a short run would log no row at all, and draw no curve.
        config = dataclasses.replace(config, logging_steps=config.max_steps)
    return config


def with_method_defaults(config: TrainConfig) -> TrainConfig:
    """Unset hyper-parameters taken from the method's defaults (the Train form shows them)."""
    spec = methods.get(config.method)
    defaults = {**spec.defaults, "lr": spec.default_lr(config.adapter)}
    filled = {k: v for k, v in defaults.items() if getattr(config, k) is None}
    return dataclasses.replace(config, **filled)


def validate_choices(config: TrainConfig) -> None:
    """What the fields' own choices cannot say: the method's adapters, trackers, templates."""
    spec = methods.get(config.method)
    if config.adapter not in spec.adapters:
        raise WorkbenchError(adapter_refusal(spec, config.adapter))
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
    """What one field's bounds cannot say (`settings.checked` holds those): how the split
    settings go together."""
    checks = [
        (config.fold is None or config.folds is not None,
         "fold names a fold of a cross-validation: give folds as well"),
        (config.fold is None or config.folds is None or config.fold <= config.folds,
         f"fold must be between 1 and {config.folds} (got {config.fold})"),
        (config.folds is None or config.test_size is None,
         f"with {config.folds} folds the test split is one fold (1/{config.folds} of the "
         "data); drop the test size"),
    ]
    for name in ("train_size", "eval_size", "test_size"):
        value = getattr(config, name)
        label = name.replace("_", " ")
        checks.append((value is None or value < 1 or float(value).is_integer(),
                       f"{label} must be a whole count or a fraction below 1 (got {value})"))
    for ok, message in checks:
        if not ok:
            raise WorkbenchError(message)
    check_columns_differ(column_mapping(config))


# Settings only some runs read, and which: a value given to a run that does not read it would be
# stored in run.yaml and the model card as if it had applied.
SETTINGS_READ_BY: dict[tuple[str, ...], tuple[str, Callable]] = {
    ("lora_r", "lora_alpha", "lora_dropout", "lora_targets"):
        ("adapter lora or qlora", lambda config, spec: config.adapter != "none"),
    ("chat_template", "system_prompt", "judge", "max_new_tokens"):
        ("causal language models", lambda config, spec: spec.causal),
    ("epochs", "max_steps", "lr", "weight_decay", "warmup_steps", "max_grad_norm",
     "checkpoint_steps"):
        ("methods that train weights", lambda config, spec: spec.trains_weights),
    ("eval_steps", "early_stopping_patience", "gradient_checkpointing"):
        (f"methods trained by the Hugging Face Trainer ({', '.join(methods.trainer_methods())})",
         lambda config, spec: spec.hf_trainer),
    ("ray_address", "ray_storage", "ray_cpus", "ray_gpus"):
        ("backend ray", lambda config, spec: config.backend == "ray"),
    **{(name,): (f"{', '.join(methods.reading(name))}",
                 lambda config, spec, name=name: name in spec.settings)
       for name in methods.own_settings()},
}


def settings_not_read(values: dict) -> set[str]:
    """The settings a run of these values (its method, adapter and backend) does not read."""
    run = TrainConfig(**{k: values[k] for k in ("method", "adapter", "backend") if k in values})
    if run.method not in methods.REGISTRY:
        return set()  # refused as an unknown method
    spec = methods.get(run.method)
    return {name for names, (_, reads) in SETTINGS_READ_BY.items() if not reads(run, spec)
            for name in names}


def check_settings_apply(config: TrainConfig) -> None:
    """Refuse a setting given, away from its usual value, to a run that does not read it
    (`--method probe --lora-r 64`), naming what reads it. Usual values pass: a run.yaml
    holds every setting, and a method's own defaults are its to fill."""
    usual = with_method_defaults(TrainConfig(method=config.method, adapter=config.adapter))
    unread = [f"{name} (read by {who} only)"
              for names, (who, _) in SETTINGS_READ_BY.items() for name in names
              if name in settings_not_read(config.to_dict())
              and getattr(config, name) != getattr(usual, name)]
    if unread:
        raise WorkbenchError(f"this run ({config.method}, adapter {config.adapter}, backend "
                             f"{config.backend}) does not read {'; '.join(unread)}: leave "
                             f"{'it' if len(unread) == 1 else 'them'} out")


COLUMN_FIELDS = {"text": "text_column", "label": "label_column", "prompt": "prompt_column",
                 "response": "response_column", "chosen": "chosen_column",
                 "rejected": "rejected_column", "completion": "completion_column"}


def column_mapping(config) -> dict[str, str]:
    """The file's column for each canonical one the config names ({"text": "review"})."""
    return {name: getattr(config, f) for name, f in COLUMN_FIELDS.items() if getattr(config, f)}


UNUSUAL_LR_FACTOR = 100  # this far above (or 1,000x below) a method's usual rate


def setting_warnings(config: TrainConfig, train_examples: int | None = None) -> list[str]:
    """Settings of a resolved config that are allowed but cannot do what a user expects: said
    before launch (form and CLI), never refused (a user may mean them). `train_examples`, where
    known, gives the steps of a run trained by epochs."""
    return [w for w in (learning_rate_warning(config),
                        warm_up_warning(config, planned_steps(config, train_examples)),
                        clip_norm_warning(config)) if w]


def learning_rate_warning(config: TrainConfig) -> str | None:
    """A learning rate far outside its method's usual one: such runs usually diverge or learn
    nothing."""
    usual = methods.get(config.method).default_lr(config.adapter)
    if config.lr is None or usual is None:  # (a method that trains no weights has no rate)
        return None
    if usual / (10 * UNUSUAL_LR_FACTOR) <= config.lr <= usual * UNUSUAL_LR_FACTOR:
        return None
    return (f"learning rate {config.lr:g} is far from the usual {usual:g} for {config.method} "
            f"with adapter {config.adapter}: such runs usually diverge or learn nothing")


def planned_steps(config: TrainConfig, train_examples: int | None) -> int | None:
    """The optimiser steps a run will take (its method's count); None where neither its max
    steps nor its training examples are known."""
    if not config.max_steps and (train_examples is None or not config.epochs):
        return None
    return methods.get(config.method).steps(config, train_examples or 0)


def warm_up_warning(config: TrainConfig, steps: int | None) -> str | None:
    """Warm-up as long as the run: the learning rate never reaches its value."""
    if not methods.get(config.method).trains_weights or steps is None or \
            not config.warmup_steps or config.warmup_steps < steps:
        return None
    return (f"warm-up ({config.warmup_steps:,} steps) is as long as the run ({steps:,} steps): "
            f"the learning rate never reaches {config.lr:g}; use fewer warm-up steps")


VANISHING_CLIP_NORM = 1e-3  # usual norms are 0.3 to 1; far below, every step is nearly zero


def clip_norm_warning(config: TrainConfig) -> str | None:
    """Gradients clipped to a vanishing norm: the weights barely move, whatever the rate."""
    if not methods.get(config.method).trains_weights or \
            config.max_grad_norm >= VANISHING_CLIP_NORM:
        return None
    return (f"max grad norm {config.max_grad_norm:g} clips every update to almost nothing: the "
            "run will learn next to nothing; the usual value is 1")


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
