"""orpo: Odds-Ratio Preference Optimisation through TRL's `ORPOTrainer` (the Llama-3 recipe).

One stage instead of SFT then DPO: the answer's own loss plus `beta` times an
odds-ratio term that favours the chosen answer over the rejected one, with no
reference model. The Llama-3 recipe trained it with QLoRA on Llama-3-8B (preset `s8-orpo`).
It reads the same pairs, defaults and settings as DPO; only the trainer differs.
"""

import dataclasses
import os

from core.methods.dpo import SPEC as DPO

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # ORPO lives in trl.experimental


def trainer_classes():
    from trl.experimental.orpo import ORPOConfig, ORPOTrainer

    return ORPOTrainer, ORPOConfig


SPEC = dataclasses.replace(
    DPO, name="orpo", order=6, title="Odds-ratio preference optimisation (ORPO)",
    summary="Supervised fine-tuning and preference learning in one stage, with no reference "
            "model (the Llama-3 recipe).",
    trainer_classes=trainer_classes,
)
