"""A run that crashed, told as one line a user can act on.

Out-of-memory (on the GPU or in the machine's RAM) and a full disk are the
crashes users cause most, and each has settings that fix it; anything else is
named as it is, with the step it happened at.
"""

import errno
import shutil

from core import methods, paths
from core.config import TrainConfig

HOST_OOM_SIGNS = ("DefaultCPUAllocator: can't allocate memory", "not enough memory")
DISK_FULL_SIGNS = ("No space left on device", "StorageFull", "database or disk is full")


def is_gpu_out_of_memory(error: BaseException) -> bool:
    import torch

    return isinstance(error, torch.cuda.OutOfMemoryError) or "CUDA out of memory" in str(error)


def is_host_out_of_memory(error: BaseException) -> bool:
    return isinstance(error, MemoryError) or any(sign in str(error) for sign in HOST_OOM_SIGNS)


def is_disk_full(error: BaseException) -> bool:
    return (isinstance(error, OSError) and error.errno == errno.ENOSPC) or \
        any(sign in str(error) for sign in DISK_FULL_SIGNS)


UNWRITABLE = (errno.EROFS, errno.EACCES, errno.EPERM)


def write_failure(error: BaseException, target) -> str | None:
    """Why `target` could not be written, in words the user can act on; None for an error
    that is not about writing (a bug). A full disk is said as such whatever raised it (the
    safetensors and torch writers wrap it in errors of their own); a read-only place is not
    told to free space."""
    if is_disk_full(error):
        return f"could not write {target}: the disk is full; free some space and try again"
    if isinstance(error, OSError) and error.errno in UNWRITABLE:
        return (f"could not write {target} ({error.strerror}): make the folder writable, or "
                "set WORKBENCH_HOME to a folder you can write to")
    if isinstance(error, OSError):
        return f"could not write {target} ({error.strerror or error})"
    return None


class Diverged(Exception):
    """A loss or the gradient norm became NaN or infinite: training cannot recover."""

    def __init__(self, step: int | None, values: dict):
        super().__init__(", ".join(f"{k} {v}" for k, v in values.items()))
        self.step = step


def divergence_advice(error: Diverged, config: TrainConfig) -> str:
    where = f"at step {error.step}" if error.step else "at its first logged step"
    lr = f"{config.lr:g}" if config.lr is not None else "unset"
    advice = [f"lower the learning rate (now {lr})"]
    warm_up = config.warmup_steps or 0
    if not config.max_steps or warm_up < config.max_steps:  # (a 3-step run never left warm-up)
        advice.append(f"add warm-up steps (now {warm_up})")
    advice.append(f"clip gradients harder (max grad norm, now {config.max_grad_norm:g})")
    return (f"the run diverged {where} ({error}): {', '.join(advice[:-1])} or {advice[-1]}, "
            "then launch it again")


def failure_reason(error: BaseException, config: TrainConfig, step: int | None) -> str:
    if isinstance(error, Diverged):
        return divergence_advice(error, config)
    # The last logged step: rows come every `logging_steps`, so the crash came after it.
    where = f"after step {step}" if step else "before its first logged step"
    if is_gpu_out_of_memory(error) or is_host_out_of_memory(error):
        device = "GPU memory" if is_gpu_out_of_memory(error) else "the machine's memory (RAM)"
        return f"out of {device} {where}: " + "; ".join(memory_advice(config))
    if is_disk_full(error):
        free = shutil.disk_usage(paths.home()).free / 2**30
        return (f"the disk is full ({free:.1f} GiB free under {paths.home()}) {where}: free some "
                "space, delete old runs, or set WORKBENCH_HOME to a larger disk, then resume "
                "the run")
    return f"{type(error).__name__} {where}: {error}"


def memory_advice(config: TrainConfig) -> list[str]:
    """The settings that would make this run fit, from the one that helps most."""
    advice = [f"lower the batch size (now {config.batch_size})",
              f"lower the max length (now {config.max_length} tokens)"]
    spec = methods.get(config.method)
    causal = spec.causal
    if causal and not config.gradient_checkpointing:
        advice.append("turn on gradient checkpointing")
    if config.adapter == "none" and spec.trains_weights:
        advice.append("train LoRA adapters instead of every weight")
    elif causal and config.adapter == "lora":
        advice.append("on a CUDA GPU, use QLoRA (a 4-bit base)")
    advice.append("or pick a smaller model; then launch it again")
    return advice
