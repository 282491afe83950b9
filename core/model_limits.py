"""Settings checked against the model itself, before anything is written.

Some settings are only wrong for a given model: a max length beyond the positions it
was trained with (its position embeddings have no row for them, and the run would
crash at its first long batch), or LoRA target modules it does not have (peft would
fail after the weights had loaded). Both are read from the model's config and its
skeleton on the "meta" device, in about a second, and refused in one line.
"""

from core.adapters import lora_targets
from core.config import TrainConfig
from core.errors import WorkbenchError
from core.memory import architecture, skeleton
from core.models import ModelSource

POSITION_FIELDS = ("max_position_embeddings", "n_positions", "n_ctx")
# Layers peft can put LoRA on (Conv1D is GPT-2's linear layer).
ADAPTABLE = ("Linear", "Conv1D", "Conv1d", "Conv2d", "Embedding")


def check_settings_suit_model(source: ModelSource, config: TrainConfig) -> None:
    model_config = architecture(source, config.trust_remote_code)
    positions = max_positions(model_config)
    if positions and config.max_length > positions:
        raise WorkbenchError(f"max length {config.max_length} is beyond what '{config.model}' "
                             f"reads ({positions} positions); set it to {positions} or less")
    targets = lora_targets(config.lora_targets, model_config.model_type)
    if config.adapter != "none" and isinstance(targets, list):
        check_lora_targets(targets, adaptable_names(skeleton(source, config)[0]), config.model)


def max_positions(model_config) -> int | None:
    found = (getattr(model_config, name, None) for name in POSITION_FIELDS)
    return next((n for n in found if isinstance(n, int) and n > 0), None)


def adaptable_names(model) -> set[str]:
    """Every name peft matches a target against: each module's own name (the last part of
    its path, such as `query`) and its full path."""
    names = set()
    for path, module in model.named_modules():
        if type(module).__name__ in ADAPTABLE and path:
            names.update({path, path.rsplit(".", 1)[-1]})
    return names


def check_lora_targets(targets: list[str], names: set[str], model: str) -> None:
    unknown = [t for t in targets if t not in names]
    if not targets or unknown:
        short = sorted(n for n in names if "." not in n)
        raise WorkbenchError(f"LoRA target(s) {', '.join(unknown) or '(none)'} not in "
                             f"'{model}'; its layers that take adapters: {', '.join(short)}")
