"""S4, S6 and S8 through TRL: `sft`, `dpo` and `orpo` on a causal model.

The config, the hooks and the evaluation schedule are the same as S2's
Trainer (`core.methods.trainer`); only the trainer class and its config class
change with the method. SFT gets data already tokenised with labels on the
completion only (`core.causal_data.encode_sft`), so that training and
evaluation read exactly the same ids; DPO and ORPO tokenise their pairs
themselves.
"""

import os
from pathlib import Path

import datasets
from datasets import Dataset

from core.hooks import Hooks
from core.methods.trainer import HooksCallback, early_stopping, run_trainer, training_arguments

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # ORPO lives in trl.experimental
datasets.disable_progress_bars()  # stderr is for one-line reasons; progress goes to the hooks


def trainer_classes(method: str):
    """(trainer class, its config class)."""
    if method == "sft":
        from trl import SFTConfig, SFTTrainer

        return SFTTrainer, SFTConfig
    if method == "dpo":
        from trl import DPOConfig, DPOTrainer

        return DPOTrainer, DPOConfig
    from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    return ORPOTrainer, ORPOConfig


def method_arguments(config) -> dict:
    """What each TRL config adds to the shared training arguments."""
    if config.method == "sft":
        return dict(max_length=config.max_length, packing=config.packing)
    return dict(max_length=config.max_length, beta=config.beta)


def precision_arguments(dtype: str) -> dict:
    """Mixed precision on CUDA in the dtype the device computes best in; none on the CPU."""
    return {"bf16": dtype == "bfloat16", "fp16": dtype == "float16"}


def train_causal(model, tokenizer, train_rows, eval_rows, config, hooks: Hooks, output_dir: str,
                 dtype: str, resume_from: Path | None = None) -> tuple[bool, dict]:
    """Train with the method's TRL trainer; (ran to the end, closing summary)."""
    trainer_class, config_class = trainer_classes(config.method)
    has_eval = len(eval_rows) > 0
    extra = {**method_arguments(config), **precision_arguments(dtype)}
    if config.gradient_checkpointing:
        extra.update(gradient_checkpointing=True,
                     gradient_checkpointing_kwargs={"use_reentrant": False})
    args = training_arguments(config, output_dir, has_eval, config_class, **extra)
    callback = HooksCallback(hooks, config.batch_size, config.checkpoint_steps)
    trainer = trainer_class(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(train_rows),
        eval_dataset=Dataset.from_list(eval_rows) if has_eval else None,
        processing_class=tokenizer,
        callbacks=[callback, *early_stopping(config, has_eval)],
    )
    return run_trainer(trainer, callback, resume_from)
