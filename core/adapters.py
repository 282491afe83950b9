"""LoRA adapters through peft, for encoders and causal models alike."""

# The Llama-3 ORPO recipe's "all projection modules", by architecture: attention and MLP projections.
PROJECTIONS = {
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"],
    "gpt_neox": ["query_key_value", "dense", "dense_h_to_4h", "dense_4h_to_h"],
    "gpt2": ["c_attn", "c_proj", "c_fc"],
    "phi": ["q_proj", "k_proj", "v_proj", "dense", "fc1", "fc2"],
    "bert": ["query", "key", "value", "dense"],
}
for _name in ("mistral", "gemma", "gemma2", "qwen2", "qwen3"):
    PROJECTIONS[_name] = PROJECTIONS["llama"]


def lora_targets(setting: str, model_type: str):
    """peft's target_modules for a setting: 'all-linear', 'projections' or a list of names."""
    if setting == "all-linear":
        return "all-linear"
    if setting == "projections":
        # For architectures not listed, every linear layer below the head is the same set.
        return PROJECTIONS.get(model_type, "all-linear")
    return [name.strip() for name in setting.split(",") if name.strip()]


def add_lora(model, config, task_type: str = "SEQ_CLS"):
    """Wrap with LoRA adapters; for classification the new head stays fully trainable."""
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(task_type=task_type, r=config.lora_r, lora_alpha=config.lora_alpha,
                      lora_dropout=config.lora_dropout,
                      target_modules=lora_targets(config.lora_targets, model.config.model_type))
    return get_peft_model(model, lora)
