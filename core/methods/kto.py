"""kto: Kahneman-Tversky Optimisation through TRL's `KTOTrainer`.

Learns from unpaired feedback: each example is one prompt and one completion
marked desirable or undesirable, with no partner to compare it with. From an
uploaded file (`prompt`, `completion`, `label` true / false), or built from
labelled data: each example's right label as a desirable completion, or a wrong
one as an undesirable completion (a seeded half of each). The loss weighs
each completion against a KL estimate from mismatched pairs of the same batch,
so a batch needs at least two examples.
"""

from core import causal_data
from core.errors import WorkbenchError
from core.methods.spec import LANGUAGE_MODEL_METRICS, EVAL_REWARD_MARGIN, Metric, MethodSpec


def trainer_classes():
    from trl import KTOConfig, KTOTrainer

    return KTOTrainer, KTOConfig


def check(config) -> None:
    if config.batch_size < 2:
        raise WorkbenchError("kto estimates its KL term from mismatched pairs within a batch: "
                             f"set the batch size to at least 2 (got {config.batch_size})")


SPEC = MethodSpec(
    name="kto", order=7, model_kind="causal", tasks=("classification", "unpaired"),
    title="Kahneman-Tversky optimisation (KTO)",
    summary="Teaches a language model from answers marked good or bad one at a time, with no "
            "pairs needed: thumbs-up / thumbs-down feedback.",
    defaults=dict(lr=5e-5, batch_size=4, epochs=1, weight_decay=0.0, warmup_steps=10),
    full_finetune_lr=5e-6, adapters=("none", "lora", "qlora"), hf_trainer=True,
    settings=("beta",), check=check,
    metrics=(*LANGUAGE_MODEL_METRICS, EVAL_REWARD_MARGIN,
             Metric("eval_kl", "validation KL estimate", "Preference", source="eval_kl")),
    # The KL estimate runs a second, mismatched completion through the model per example.
    sequences_per_example=2,
    trainer_classes=trainer_classes,
    trainer_arguments=lambda config: dict(max_length=config.max_length, beta=config.beta),
    build_rows=causal_data.unpaired_rows,
)
