"""Checkpoints a stopped, failed or interrupted run resumes from.

A run's checkpoints live in `runs/<id>/checkpoints/checkpoint-<step>/`. The
Trainer-based methods (trainer, sft, dpo, orpo) write the Trainer's own
(weights, optimiser, scheduler, RNG states, trainer state; the data position
is the step); the custom loop writes `loop_state.pt` beside its trainable
weights. A checkpoint counts only once its last file is written, so one cut
short by a full disk or a killed process is never resumed from.
"""

import re
import shutil
from pathlib import Path

import torch

PREFIX = "checkpoint-"
TRAINER_STATE = "trainer_state.json"  # the Trainer writes it last
LOOP_STATE = "loop_state.pt"
LOOP_WEIGHTS = "trainable.safetensors"


def folder(out_dir: Path) -> Path:
    return out_dir / "checkpoints"


def step_of(checkpoint: Path) -> int:
    match = re.fullmatch(PREFIX + r"(\d+)", checkpoint.name)
    return int(match.group(1)) if match else -1


def is_complete(checkpoint: Path) -> bool:
    return (checkpoint / TRAINER_STATE).exists() or (checkpoint / LOOP_STATE).exists()


def latest(out_dir: Path) -> Path | None:
    """The complete checkpoint with the highest step, if any."""
    found = [c for c in folder(out_dir).glob(PREFIX + "*") if step_of(c) >= 0 and is_complete(c)]
    return max(found, key=step_of, default=None)


def remove_all(out_dir: Path) -> None:
    """A completed run needs no checkpoint: its model is saved, and optimiser states are ~3x its size."""
    shutil.rmtree(folder(out_dir), ignore_errors=True)


def remove_incomplete(out_dir: Path) -> None:
    """Checkpoints a crash cut short: never resumed from, they would only take disk space."""
    for checkpoint in folder(out_dir).glob(PREFIX + "*"):
        if not is_complete(checkpoint):
            shutil.rmtree(checkpoint, ignore_errors=True)


def save_loop_state(out_dir: Path, step: int, model, optimizer, scheduler, keep: int = 2) -> Path:
    """The custom loop's checkpoint: trainable weights, optimiser, scheduler, RNG and step."""
    from safetensors.torch import save_file

    checkpoint = folder(out_dir) / f"{PREFIX}{step}"
    checkpoint.mkdir(parents=True, exist_ok=True)
    weights = {name: p.detach().cpu().contiguous() for name, p in model.named_parameters()
               if p.requires_grad}
    save_file(weights, checkpoint / LOOP_WEIGHTS)
    state = {"step": step, "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
             "rng": torch.get_rng_state(),
             "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}
    partial = checkpoint / (LOOP_STATE + ".partial")
    torch.save(state, partial)
    partial.replace(checkpoint / LOOP_STATE)  # complete only now
    _prune(out_dir, keep)
    return checkpoint


def load_loop_state(checkpoint: Path, model, optimizer, scheduler) -> int:
    """Put a loop checkpoint back into the model, optimiser and scheduler; returns its step."""
    from safetensors.torch import load_file

    weights = load_file(checkpoint / LOOP_WEIGHTS)
    device = next(model.parameters()).device
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name in weights:
                p.copy_(weights[name].to(device))
    state = torch.load(checkpoint / LOOP_STATE, weights_only=True)
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["rng"])
    if state["cuda_rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return state["step"]


def _prune(out_dir: Path, keep: int) -> None:
    complete = sorted((c for c in folder(out_dir).glob(PREFIX + "*") if is_complete(c)), key=step_of)
    for old in complete[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
