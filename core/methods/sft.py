"""sft: supervised fine-tuning of a causal model through TRL's `SFTTrainer`.

On labelled data it is classification as generation (the Mistral recipe): the prompt asks for
one of the labels and the loss falls on the answer only. On prompt / response
data it is summarisation or instruction tuning (the Pythia recipe). `packing` joins examples
into max-length blocks instead of padding each batch.
"""

from core import causal_data
from core.methods.spec import LANGUAGE_MODEL_METRICS, MethodSpec


def trainer_classes():
    from trl import SFTConfig, SFTTrainer

    return SFTTrainer, SFTConfig


SPEC = MethodSpec(
    name="sft", order=4, model_kind="causal", tasks=("classification", "summarisation", "conversation"),
    title="Supervised fine-tuning (SFT)",
    summary="Teaches a language model to write the answer: the right label for labelled data "
            "(sentiment as generation), or the reference response (summaries).",
    defaults=dict(lr=2e-4, batch_size=8, epochs=1, weight_decay=0.0, warmup_steps=10),
    full_finetune_lr=2e-5, adapters=("none", "lora", "qlora"), hf_trainer=True,
    settings=("packing",), metrics=LANGUAGE_MODEL_METRICS,
    trainer_classes=trainer_classes,
    trainer_arguments=lambda config: dict(max_length=config.max_length, packing=config.packing),
    build_rows=causal_data.sft_rows,
)
