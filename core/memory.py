"""Before launch: how many parameters will train, and will the run fit in memory?

Parameter counts are exact: the model is built on PyTorch's "meta" device
(shapes, no storage), with LoRA applied when asked, so nothing is loaded.
Memory is an estimate:
- weights at the precision training holds them in: fp32 on the CPU and for a
  full fine-tune; the compute dtype (2 bytes) under LoRA on CUDA; 4-bit nf4
  with double quantisation (about 4.13 bits) for QLoRA's quantised layers;
- gradients and AdamW's two moments, fp32, for the trainable share;
- activations by the formula of Korthikanti et al. (2022) for a transformer
  layer, (34 h + 5 a s) bytes per token at 16 bits, only each layer's input
  under gradient checkpointing; and a causal model's logits over its whole
  vocabulary (fp32, kept with their softmax for the backward pass).
"""

from dataclasses import dataclass

from core import methods
from core.config import TrainConfig
from core.models import ModelSource, local_dir
from core.network import hub_download

BYTES_FP32 = 4
NF4_BITS = 4.127  # 4-bit weights plus double-quantised block scales (QLoRA paper)


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
    from core.adapters import add_lora

    spec = methods.get(config.method)
    model, model_config = skeleton(source, config, num_labels)
    if not spec.trains_weights:
        model.requires_grad_(False)
    elif config.adapter in ("lora", "qlora"):
        model = add_lora(model, config, "CAUSAL_LM" if spec.causal else "SEQ_CLS")
    return model, model_config


def skeleton(source: ModelSource, config: TrainConfig, num_labels: int = 2):
    """The base model on the "meta" device (shapes, no storage), and its transformers config."""
    import torch
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    model_config = architecture(source, config.trust_remote_code, num_labels=num_labels)
    causal = methods.get(config.method).causal
    auto_class = AutoModelForCausalLM if causal else AutoModelForSequenceClassification
    with torch.device("meta"):
        return auto_class.from_config(model_config), model_config


def architecture(source: ModelSource, trust_remote_code: bool = False, **overrides):
    """The model's transformers config, read from its files (no weights)."""
    from transformers import AutoConfig

    with hub_download(source.id, "model"):
        return AutoConfig.from_pretrained(_config_dir(source), trust_remote_code=trust_remote_code,
                                          **overrides)


def _config_dir(source: ModelSource) -> str:
    """Where the architecture is described; a run's adapters describe none of their own."""
    if source.adapter_of:
        from core.models import resolve_model

        return _config_dir(resolve_model(source.adapter_of))
    return local_dir(source)


def weight_bytes(model, adapter: str, cuda: bool) -> int:
    """Bytes the weights take as training holds them (see the module's notes)."""
    if adapter == "none" or not cuda:
        return sum(p.numel() for p in model.parameters()) * BYTES_FP32
    total = 0
    for name, p in model.named_parameters():
        quantised = adapter == "qlora" and p.ndim == 2 and not p.requires_grad and \
            "embed" not in name and "lm_head" not in name
        total += int(p.numel() * NF4_BITS / 8) if quantised else p.numel() * (
            BYTES_FP32 if p.requires_grad else 2)
    return total


def available_memory() -> tuple[int | None, str]:
    """Free bytes on the device training will use."""
    import psutil
    import torch

    if torch.cuda.is_available():
        free, _total = torch.cuda.mem_get_info()
        return free, torch.cuda.get_device_name()
    return psutil.virtual_memory().available, "CPU (host memory)"


def activation_bytes(model_config, config: TrainConfig, cuda: bool) -> int:
    batch, length = config.batch_size, config.max_length
    hidden = getattr(model_config, "hidden_size", 0)
    heads = getattr(model_config, "num_attention_heads", 1)
    layers = getattr(model_config, "num_hidden_layers", 0)
    scale = 1 if cuda else 2  # the formula counts 16-bit values; the CPU trains in fp32
    per_layer = batch * length * (34 * hidden + 5 * heads * length) * scale
    if config.gradient_checkpointing:  # each layer's input kept, one layer's inside at a time
        kept = layers * batch * length * hidden * 2 * scale + per_layer
    else:
        kept = layers * per_layer
    spec = methods.get(config.method)
    if spec.causal:
        # Preference pairs run the chosen and the rejected answer of each example.
        sequences = spec.sequences_per_example
        kept = kept * sequences + sequences * batch * length * model_config.vocab_size * BYTES_FP32 * 2
    return kept


def estimate(source: ModelSource, config: TrainConfig, num_labels: int) -> Estimate:
    from core.models import count_parameters

    import torch

    model, model_config = meta_model(source, config, num_labels)
    trainable, total = count_parameters(model)
    available, device = available_memory()
    cuda = torch.cuda.is_available()
    return Estimate(
        trainable_params=trainable,
        total_params=total,
        weights_bytes=weight_bytes(model, config.adapter, cuda),
        gradients_bytes=trainable * BYTES_FP32,
        optimizer_bytes=trainable * 2 * BYTES_FP32,
        # Frozen features need forward passes only: no activations kept for a backward pass.
        activations_bytes=activation_bytes(model_config, config, cuda) if trainable else 0,
        available_bytes=available,
        device=device,
    )
