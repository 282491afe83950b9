"""What a training method is, as data: one `MethodSpec` per method, one `Metric` per logged figure.

Everything outside `core/methods/` learns about a method through its spec (the
registry in `core.methods`), never by its name: the model kind it trains, the
data it learns from, its defaults, which settings the form shows, how many
sequences an example costs in memory, and the figures it logs. Heavy libraries
are imported inside the spec's functions, so reading the registry is instant.
"""

import math
from dataclasses import dataclass, field
from typing import Callable


@dataclass(frozen=True)
class Metric:
    column: str  # the `metrics` table's column (added, REAL, before a run first writes it)
    label: str  # its name in chart legends
    chart: str  # the chart it is drawn on
    source: str | None = None  # the HF Trainer's log key, where it differs from `column`
    derive: Callable[[dict], float | None] | None = None  # drawn from a row; never stored

    @property
    def key(self) -> str:
        return self.source or self.column


def perplexity(row: dict) -> float | None:
    """exp(validation loss): a language model's perplexity, capped to stay finite."""
    loss = row.get("eval_loss")
    return math.exp(min(loss, 50)) if loss is not None else None


LOSS = Metric("loss", "training loss", "Loss")
LEARNING_RATE = Metric("learning_rate", "learning rate", "Learning rate")
GRAD_NORM = Metric("grad_norm", "grad norm", "Gradient norm")
EVAL_LOSS = Metric("eval_loss", "validation loss", "Loss")
EVAL_ACCURACY = Metric("eval_accuracy", "validation accuracy", "Validation")
EVAL_F1 = Metric("eval_f1", "validation macro F1", "Validation")
EVAL_PERPLEXITY = Metric("eval_perplexity", "validation perplexity", "Validation perplexity",
                         derive=perplexity)
# DPO and ORPO report how often the chosen answer is the likelier: on the validation split,
# the preference accuracy, charted with the other validation figures.
EVAL_CHOSEN_WINS = Metric("eval_accuracy", "validation: chosen answer wins", "Validation",
                          source="eval_rewards/accuracies")
EVAL_REWARD_MARGIN = Metric("eval_reward_margin", "validation reward margin (chosen - rejected)",
                            "Preference", source="eval_rewards/margins")

NETWORK_METRICS = (LOSS, LEARNING_RATE, GRAD_NORM, EVAL_LOSS)
CLASSIFIER_METRICS = (*NETWORK_METRICS, EVAL_ACCURACY, EVAL_F1)
LANGUAGE_MODEL_METRICS = (*NETWORK_METRICS, EVAL_PERPLEXITY)
PAIR_METRICS = (*LANGUAGE_MODEL_METRICS, EVAL_CHOSEN_WINS, EVAL_REWARD_MARGIN)


def batch_steps(config, train_examples: int) -> int:
    """Optimiser steps of a run: `max_steps`, else epochs times the batches in an epoch.
    Launched processes each take their own batch per step."""
    batches_per_epoch = math.ceil(train_examples / (config.batch_size * config.processes))
    return config.max_steps or math.ceil(config.epochs * batches_per_epoch)


def no_arguments(config) -> dict:
    return {}


def no_check(config) -> None:
    pass


@dataclass(frozen=True)
class MethodSpec:
    name: str = field(metadata={"help": "What --method and run.yaml call it."})
    title: str = field(metadata={"help": "Plain words for menus, e.g. 'Supervised fine-tuning'."})
    summary: str = field(metadata={"help": "One sentence a newcomer understands."})
    model_kind: str = field(metadata={"help": "'encoder' or 'causal': the models it trains."})
    tasks: tuple[str, ...] = field(metadata={"help": "Data shapes it learns from "
                                                     "(core.data.TASK_COLUMNS)."})
    defaults: dict = field(metadata={"help": "Hyper-parameters used when nothing sets them."})
    order: int = field(default=99, metadata={"help": "Position in menus and listings."})
    full_finetune_lr: float | None = field(
        default=None, metadata={"help": "The learning rate with adapter 'none': a full "
                                        "fine-tune moves every weight, so it takes a smaller one."})
    adapters: tuple[str, ...] = field(default=("none", "lora"),
                                      metadata={"help": "Adapters it can train with."})
    hf_trainer: bool = field(default=False, metadata={
        "help": "Trains through the HF Trainer: several processes (DDP) and report_to work."})
    trains_weights: bool = field(default=True, metadata={
        "help": "False for frozen features: no gradients, no per-layer weight change."})
    settings: tuple[str, ...] = field(default=(), metadata={
        "help": "TrainConfig fields only this method reads (the Train form shows them)."})
    metrics: tuple[Metric, ...] = field(default=(), metadata={"help": "The figures it logs."})
    sequences_per_example: int = field(default=1, metadata={
        "help": "Sequences one example runs through the model (pairs run two): memory scales."})
    check: Callable = field(default=no_check, metadata={
        "help": "config -> None; raises WorkbenchError on settings this method cannot use."})
    steps: Callable = field(default=batch_steps, metadata={
        "help": "(config, train examples) -> the steps the progress bar counts."})
    fit: Callable | None = field(default=None, metadata={
        "help": "Encoders: (model, tokenizer, sets, label names, config, hooks, out_dir, "
                "resume_from) -> (finished, test probabilities or None, summary)."})
    trainer_classes: Callable | None = field(default=None, metadata={
        "help": "Causal: () -> (TRL trainer class, its config class)."})
    trainer_arguments: Callable = field(default=no_arguments, metadata={
        "help": "Causal: config -> what the method's TRL config adds to the shared arguments."})
    build_rows: Callable | None = field(default=None, metadata={
        "help": "Causal: (tokenizer, frame, table, config, instruction) -> rows its trainer reads."})

    @property
    def causal(self) -> bool:
        return self.model_kind == "causal"

    def default_lr(self, adapter: str) -> float | None:
        if adapter == "none" and self.full_finetune_lr is not None:
            return self.full_finetune_lr
        return self.defaults.get("lr")

    def stored_metrics(self) -> tuple[Metric, ...]:
        return tuple(m for m in self.metrics if m.derive is None)
