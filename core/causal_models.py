"""Loading causal language models to train them (the Mistral, Pythia and Llama-3 recipes, and the Llama-2 notes).

The device decides the precision: bf16 on CUDA cards of compute capability 8
or more, fp16 on older ones, fp32 on the CPU. Attention is flash-attention 2
where it is installed and the card supports it, else PyTorch's sdpa. QLoRA
(the Llama-3 ORPO recipe) loads the base in 4-bit nf4 with double quantisation; its CPU backward is
not sound, so it is refused before anything loads on a machine without CUDA.
"""

from core import chat_templates
from core.adapters import add_lora
from core.errors import WorkbenchError
from core.models import ModelSource, load_tokenizer, match_vocabulary, pretrained_weights

def compute_dtype_name(cuda: bool, capability: tuple[int, int] | None) -> str:
    """bf16 where the card computes in it natively (Ampere, capability 8, and later)."""
    if not cuda:
        return "float32"
    return "bfloat16" if capability and capability[0] >= 8 else "float16"


def attention_name(cuda: bool, capability: tuple[int, int] | None, flash_installed: bool) -> str:
    if cuda and flash_installed and capability and capability[0] >= 8:
        return "flash_attention_2"
    return "sdpa"


def device_facts() -> tuple[bool, tuple[int, int] | None, bool]:
    """(CUDA available, its compute capability, flash-attn installed)."""
    import importlib.util

    import torch

    cuda = torch.cuda.is_available()
    capability = torch.cuda.get_device_capability() if cuda else None
    return cuda, capability, importlib.util.find_spec("flash_attn") is not None


def check_adapter_fits_device(adapter: str) -> None:
    import torch

    if adapter == "qlora" and not torch.cuda.is_available():
        raise WorkbenchError("qlora needs a CUDA GPU: bitsandbytes' 4-bit backward pass is not "
                             "sound on the CPU; use --adapter lora (or none) here")


def ensure_pad_token(tokenizer, model) -> None:
    """A pad token distinct from end-of-text (the Llama-2 notes), and right padding for training.

    Padding with the end-of-text token is a common shortcut, but collators that
    mask padding by id then hide every real end-of-text from the loss, and the
    model never learns to stop. An existing unused special token (often 'unk')
    is taken first; only when there is none is a token added and the
    embeddings grown.
    """
    tokenizer.padding_side = "right"
    if tokenizer.pad_token is not None and tokenizer.pad_token != tokenizer.eos_token:
        return
    spare = tokenizer.unk_token
    if spare is not None and spare not in (tokenizer.eos_token, tokenizer.bos_token):
        tokenizer.pad_token = spare
    else:
        tokenizer.add_special_tokens({"pad_token": "<|pad|>"})
        model.resize_token_embeddings(len(tokenizer))
    model.config.pad_token_id = tokenizer.pad_token_id


def load_for_training(source: ModelSource, config, conversations: bool = False):
    """(model, tokenizer, dtype name) ready for TRL: precision, attention, pad token, adapters."""
    import torch
    from transformers import AutoModelForCausalLM

    check_adapter_fits_device(config.adapter)
    cuda, capability, flash = device_facts()
    dtype = compute_dtype_name(cuda, capability)
    # Adapters train over a base held in the compute dtype; a full fine-tune keeps fp32
    # master weights and computes in `dtype` under autocast (fp16 weights cannot be trained).
    weights = dtype if config.adapter in ("lora", "qlora") else "float32"
    kwargs = dict(dtype=getattr(torch, weights),
                  attn_implementation=attention_name(cuda, capability, flash))
    if config.adapter == "qlora":
        from transformers import BitsAndBytesConfig

        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=getattr(torch, dtype))
        kwargs["device_map"] = {"": 0}
    model = pretrained_weights(AutoModelForCausalLM, source, config.trust_remote_code, **kwargs)
    tokenizer = load_tokenizer(source, config.trust_remote_code)
    chat_templates.apply(tokenizer, config.chat_template, config.system_prompt, conversations)
    ensure_pad_token(tokenizer, model)
    if config.adapter == "qlora":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model, use_gradient_checkpointing=config.gradient_checkpointing)
    if config.adapter in ("lora", "qlora"):
        model = add_lora(model, config, "CAUSAL_LM")
    return model, tokenizer, dtype


def load_base(source: ModelSource, config, dtype: str, tokenizer):
    """The untrained model again, to judge it beside a fully fine-tuned one."""
    import torch
    from transformers import AutoModelForCausalLM

    model = pretrained_weights(AutoModelForCausalLM, source, config.trust_remote_code,
                               dtype=getattr(torch, dtype))
    match_vocabulary(model, tokenizer)
    return model.to("cuda" if torch.cuda.is_available() else "cpu")
