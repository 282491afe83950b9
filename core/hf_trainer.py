"""Training through the Hugging Face `Trainer` and TRL's trainers (its subclasses).

Shared by every method that trains through a Trainer: the `trainer` method
(the DistilBERT Trainer recipe: evaluate and save each epoch, best model at the end) and the causal
methods, whose spec names their TRL trainer and config class. A callback
forwards the Trainer's own log rows (the method's metrics, renamed to their
columns) to the hooks, turns a stop request into
`control.should_training_stop`, checked after every step, and asks the Trainer
for a checkpoint every `checkpoint_steps` and at a stop, which
`trainer.train(resume_from_checkpoint=...)` continues from.
"""

from pathlib import Path

import datasets
from datasets import Dataset
from transformers import (EarlyStoppingCallback, PrinterCallback, Trainer, TrainerCallback,
                          TrainingArguments)

from core.distributed import cpu_processes
from core.hooks import Hooks, Throughput
from core.metrics import classification_metrics
from core.trackers import trackers

datasets.disable_progress_bars()  # stderr is for one-line reasons; progress goes to the hooks


class HooksCallback(TrainerCallback):
    def __init__(self, hooks: Hooks, batch_size: int, checkpoint_steps: int, metrics: tuple):
        self.hooks, self.batch_size, self.checkpoint_steps = hooks, batch_size, checkpoint_steps
        self.metrics = [m for m in metrics if m.derive is None]  # derived ones are drawn, not logged
        self.meter = Throughput()
        self.stopped = False
        self.summary = {}

    def on_step_end(self, args, state, control, **kwargs):
        self.meter.add(self.batch_size)
        if stop_everywhere(self.hooks.should_stop()):
            self.stopped = control.should_training_stop = True
        # Not at the last step: the finished model is saved by the engine then.
        due = (self.checkpoint_steps and state.global_step % self.checkpoint_steps == 0
               and state.global_step < state.max_steps)
        if self.stopped or due:
            control.should_save = True

    def on_epoch_end(self, args, state, control, **kwargs):
        # A stopped run ends its epoch early: skip the epoch's evaluation and a second
        # checkpoint (a stop should be quick; one was saved at the stop), and forget the best
        # checkpoint so that the weights are kept as they were at the stop, not swapped for
        # an earlier epoch's.
        if self.stopped:
            control.should_evaluate = control.should_save = False
            state.best_model_checkpoint = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        row = {m.column: logs[m.key] for m in self.metrics if m.key in logs}
        if "train_runtime" in logs:  # the closing summary of Trainer.train()
            self.summary = {k: v for k, v in logs.items() if isinstance(v, (int, float))}
            return
        if not row:
            return
        if "loss" in row:
            row.update(self.meter.read())
        self.hooks.log({"step": state.global_step, "epoch": state.epoch, **row})


def stop_everywhere(asked: bool) -> bool:
    """Under DDP, a stop any process saw, seen by all at the same step (else the others would
    wait for it forever in the next gradient exchange)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return asked
    import torch

    flag = torch.tensor([int(asked)], device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(flag, op=dist.ReduceOp.MAX)
    return bool(flag.item())


def compute_metrics(label_names):
    def compute(prediction):
        report = classification_metrics(prediction.label_ids, prediction.predictions.argmax(-1),
                                        label_names)
        return {"accuracy": report["accuracy"], "f1": report["f1"]}
    return compute


def evaluation_schedule(config, has_eval: bool) -> dict:
    """Evaluate and save each epoch, or every `eval_steps`; keep the best by validation loss."""
    if not has_eval:
        return dict(eval_strategy="no", save_strategy="no")
    strategy = "steps" if config.eval_steps else "epoch"
    return dict(eval_strategy=strategy, save_strategy=strategy, eval_steps=config.eval_steps,
                save_steps=config.eval_steps, load_best_model_at_end=True,
                metric_for_best_model="eval_loss")


def training_arguments(config, output_dir: str, has_eval: bool, args_class=TrainingArguments,
                       **extra):
    """Arguments for the DistilBERT recipe's Trainer, and (through `args_class`) for TRL's trainers.

    The benchmark uses the same function for its plain script."""
    return args_class(
        output_dir=output_dir,
        learning_rate=config.lr,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        weight_decay=config.weight_decay,
        warmup_steps=config.warmup_steps,
        max_grad_norm=config.max_grad_norm,
        **evaluation_schedule(config, has_eval),
        save_total_limit=2,  # the best and the latest
        logging_steps=config.logging_steps,
        logging_first_step=True,  # the page shows measured progress from the first step on
        logging_nan_inf_filter=False,  # a NaN loss is the news: the run diverged (engine)
        seed=config.seed,
        data_seed=config.seed,
        report_to=trackers(config.report_to) or "none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        use_cpu=cpu_processes(),  # DDP over gloo when launched on a machine without GPUs
        **extra,
    )


def train_with_trainer(model, tokenizer, train_set, eval_set, label_names, config, hooks: Hooks,
                       output_dir: str, metrics: tuple,
                       resume_from: Path | None = None) -> tuple[bool, dict]:
    """A classifier through the plain Trainer; (ran to the end, the Trainer's closing summary)."""
    has_eval = len(eval_set) > 0
    callback = HooksCallback(hooks, config.batch_size, config.checkpoint_steps, metrics)
    callbacks = [callback, *early_stopping(config, has_eval)]
    trainer = Trainer(
        model=model,
        # A classifier ignores the token count the Trainer passes, so averaging it across
        # processes would only multiply its loss (and gradients) by their number.
        args=training_arguments(config, output_dir, has_eval, average_tokens_across_devices=False),
        train_dataset=train_set,
        eval_dataset=eval_set if has_eval else None,
        processing_class=tokenizer,
        compute_metrics=compute_metrics(label_names),
        callbacks=callbacks,
    )
    return run_trainer(trainer, callback, resume_from)


def early_stopping(config, has_eval: bool) -> list:
    """Early stopping (the Llama-2 practice notes) on a validation loss that stops improving, when asked for."""
    if not (has_eval and config.early_stopping_patience):
        return []
    return [EarlyStoppingCallback(early_stopping_patience=config.early_stopping_patience)]


def run_trainer(trainer, callback: HooksCallback, resume_from: Path | None) -> tuple[bool, dict]:
    """Train (from a checkpoint when resuming); (ran to the end, closing summary).

    An early stop on validation loss is an end."""
    trainer.remove_callback(PrinterCallback)  # stdout is for the run id; rows go to the hooks
    keep_tensorboard_logs(trainer)
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    summary = dict(callback.summary)
    planned = trainer.state.max_steps
    if not callback.stopped and trainer.state.global_step < planned:
        summary["stopped_early_at_step"] = trainer.state.global_step
    return not callback.stopped, summary


def keep_tensorboard_logs(trainer) -> None:
    """TensorBoard writes under the Trainer's output folder by default: the run's checkpoints,
    deleted when it completes. Keep its logs beside them, in the run's `tensorboard/`."""
    from transformers.integrations import TensorBoardCallback

    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, TensorBoardCallback):
            callback.logging_dir = str(Path(trainer.args.output_dir).parent / "tensorboard")


def precision_arguments(dtype: str) -> dict:
    """Mixed precision on CUDA in the dtype the device computes best in; none on the CPU."""
    return {"bf16": dtype == "bfloat16", "fp16": dtype == "float16"}


def train_with_trl(spec, model, tokenizer, train_rows, eval_rows, config, hooks: Hooks,
                   output_dir: str, dtype: str,
                   resume_from: Path | None = None) -> tuple[bool, dict]:
    """A causal model through the method's TRL trainer; (ran to the end, closing summary).

    SFT gets data already tokenised with labels on the completion only, so that training
    and judging read exactly the same ids; the preference trainers tokenise their own."""
    trainer_class, config_class = spec.trainer_classes()
    has_eval = len(eval_rows) > 0
    extra = {**spec.trainer_arguments(config), **precision_arguments(dtype)}
    if config.gradient_checkpointing:
        extra.update(gradient_checkpointing=True,
                     gradient_checkpointing_kwargs={"use_reentrant": False})
    args = training_arguments(config, output_dir, has_eval, config_class, **extra)
    callback = HooksCallback(hooks, config.batch_size, config.checkpoint_steps, spec.metrics)
    trainer = trainer_class(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(train_rows),
        eval_dataset=Dataset.from_list(eval_rows) if has_eval else None,
        processing_class=tokenizer,
        callbacks=[callback, *early_stopping(config, has_eval)],
    )
    return run_trainer(trainer, callback, resume_from)
