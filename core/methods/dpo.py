"""dpo: Direct Preference Optimisation through TRL's `DPOTrainer`.

Learns from prompt / chosen / rejected pairs: an uploaded file, or pairs built
from labelled data (chosen = the right label, rejected = a wrong one). `beta`
is the strength of the pull back towards the reference (the untrained model).
"""

from core import causal_data
from core.methods.spec import PAIR_METRICS, MethodSpec


def trainer_classes():
    from trl import DPOConfig, DPOTrainer

    return DPOTrainer, DPOConfig


SPEC = MethodSpec(
    name="dpo", order=5, model_kind="causal", tasks=("classification", "preference"),
    title="Direct preference optimisation (DPO)",
    summary="Teaches a language model to prefer the chosen answer of each pair over the "
            "rejected one, staying close to the original model.",
    defaults=dict(lr=5e-5, batch_size=4, epochs=1, weight_decay=0.0, warmup_steps=10),
    full_finetune_lr=5e-6, adapters=("none", "lora", "qlora"), hf_trainer=True,
    settings=("beta",), metrics=PAIR_METRICS, sequences_per_example=2,
    trainer_classes=trainer_classes,
    trainer_arguments=lambda config: dict(max_length=config.max_length, beta=config.beta),
    build_rows=causal_data.preference_rows,
)
