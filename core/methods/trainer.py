"""S2: the Hugging Face `Trainer`, evaluating and saving each epoch, best model at the end.

A callback forwards the Trainer's own log rows (loss, learning rate, grad norm,
validation loss) to the hooks and turns a stop request into
`control.should_training_stop`, checked after every step.
"""

from transformers import PrinterCallback, Trainer, TrainerCallback, TrainingArguments

from core.hooks import Hooks, Throughput
from core.metrics import classification_metrics

LOGGED_KEYS = ("loss", "learning_rate", "grad_norm", "eval_loss", "eval_accuracy", "eval_f1")


class HooksCallback(TrainerCallback):
    def __init__(self, hooks: Hooks, batch_size: int):
        self.hooks, self.batch_size = hooks, batch_size
        self.meter = Throughput()
        self.stopped = False
        self.summary = {}

    def on_step_end(self, args, state, control, **kwargs):
        self.meter.add(self.batch_size)
        if self.hooks.should_stop():
            self.stopped = control.should_training_stop = True

    def on_epoch_end(self, args, state, control, **kwargs):
        # A stopped run ends its epoch early: skip the epoch's evaluation and checkpoint (a
        # stop should be quick), and forget the best checkpoint so that the weights are kept
        # as they were at the stop, not swapped for an earlier epoch's.
        if self.stopped:
            control.should_evaluate = control.should_save = False
            state.best_model_checkpoint = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        logs = logs or {}
        row = {key: logs[key] for key in LOGGED_KEYS if key in logs}
        if "train_runtime" in logs:  # the closing summary of Trainer.train()
            self.summary = {k: v for k, v in logs.items() if isinstance(v, (int, float))}
            return
        if not row:
            return
        if "loss" in row:
            row.update(self.meter.read())
        self.hooks.log({"step": state.global_step, "epoch": state.epoch, **row})


def compute_metrics(label_names):
    def compute(prediction):
        report = classification_metrics(prediction.label_ids, prediction.predictions.argmax(-1),
                                        label_names)
        return {"accuracy": report["accuracy"], "f1": report["f1"]}
    return compute


def training_arguments(config, output_dir: str, has_eval: bool) -> TrainingArguments:
    """TrainingArguments for S2; the benchmark uses the same function for its plain script."""
    per_epoch = "epoch" if has_eval else "no"
    return TrainingArguments(
        output_dir=output_dir,
        learning_rate=config.lr,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps or -1,
        weight_decay=config.weight_decay,
        warmup_steps=config.warmup_steps,
        max_grad_norm=config.max_grad_norm,
        eval_strategy=per_epoch,
        save_strategy=per_epoch,
        load_best_model_at_end=has_eval,
        metric_for_best_model="eval_loss" if has_eval else None,
        save_total_limit=2,  # the best and the latest
        logging_steps=config.logging_steps,
        seed=config.seed,
        data_seed=config.seed,
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
    )


def train_with_trainer(model, tokenizer, train_set, eval_set, label_names, config, hooks: Hooks,
                       output_dir: str) -> tuple[bool, dict]:
    """Returns (ran to the end, the Trainer's closing summary)."""
    has_eval = len(eval_set) > 0
    callback = HooksCallback(hooks, config.batch_size)
    trainer = Trainer(
        model=model,
        args=training_arguments(config, output_dir, has_eval),
        train_dataset=train_set,
        eval_dataset=eval_set if has_eval else None,
        processing_class=tokenizer,
        compute_metrics=compute_metrics(label_names),
        callbacks=[callback],
    )
    trainer.remove_callback(PrinterCallback)  # stdout is for the run id; rows go to the hooks
    trainer.train()
    return not callback.stopped, callback.summary
