"""Before launch: how many parameters will train, and will the run fit in memory?

Parameter counts are exact: the model is built on PyTorch's "meta" device
(shapes, no storage), with LoRA applied when asked, so nothing is loaded.
Memory is an estimate: weights, gradients and AdamW's two moments for the
trainable share, plus activations by the formula of Korthikanti et al. (2022)
for a transformer layer, (34 h + 5 a s) bytes per token at 16 bits.
"""

from dataclasses import dataclass

from core.config import TrainConfig
from core.models import ModelSource, local_dir

BYTES_FP32 = 4


@dataclass
class Estimate:
    trainable_params: int
    total_params: int
    weights_bytes: int
    gradients_bytes: int
    optimizer_bytes: int
    activations_bytes: int
    available_bytes: int | None
    device: str

    @property
    def total_bytes(self) -> int:
        return self.weights_bytes + self.gradients_bytes + self.optimizer_bytes + self.activations_bytes

    @property
    def fits(self) -> bool:
        return self.available_bytes is None or self.total_bytes <= self.available_bytes


def meta_model(source: ModelSource, config: TrainConfig, num_labels: int):
    """The model's skeleton, as training would build it, without any weights."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification

    from core.encoder import add_lora

    model_config = AutoConfig.from_pretrained(local_dir(source), num_labels=num_labels,
                                              trust_remote_code=config.trust_remote_code)
    with torch.device("meta"):
        model = AutoModelForSequenceClassification.from_config(model_config)
    if config.method == "probe":
        model.requires_grad_(False)
    elif config.adapter == "lora":
        model = add_lora(model, config)
    return model, model_config


def available_memory() -> tuple[int | None, str]:
    """Free bytes on the device training will use."""
    import psutil
    import torch

    if torch.cuda.is_available():
        free, _total = torch.cuda.mem_get_info()
        return free, torch.cuda.get_device_name()
    return psutil.virtual_memory().available, "CPU (host memory)"


def activation_bytes(model_config, batch_size: int, length: int) -> int:
    hidden = getattr(model_config, "hidden_size", 0)
    heads = getattr(model_config, "num_attention_heads", 1)
    layers = getattr(model_config, "num_hidden_layers", 0)
    per_token_16bit = 34 * hidden + 5 * heads * length
    return layers * batch_size * length * per_token_16bit * BYTES_FP32 // 2


def estimate(source: ModelSource, config: TrainConfig, num_labels: int) -> Estimate:
    from core.models import count_parameters

    model, model_config = meta_model(source, config, num_labels)
    trainable, total = count_parameters(model)
    training = trainable > 0
    available, device = available_memory()
    return Estimate(
        trainable_params=trainable,
        total_params=total,
        weights_bytes=total * BYTES_FP32,
        gradients_bytes=trainable * BYTES_FP32,
        optimizer_bytes=trainable * 2 * BYTES_FP32,
        # The probe runs forward passes only: no activations are kept for a backward pass.
        activations_bytes=activation_bytes(model_config, config.batch_size, config.max_length)
        if training else 0,
        available_bytes=available,
        device=device,
    )
