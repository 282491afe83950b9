"""Which chat template a causal run reads its prompts through, and its system prompt.

`chat_template` is "model" (the model's own; for a model without one, plain text for
labelled prompts and ChatML for conversations), one of a few well-known templates
(ChatML, Llama-3, Gemma, Mistral), or a Jinja template pasted whole. `system_prompt`
is put before every conversation that has no system turn of its own.

Both are set on the tokenizer once, where the run loads it (`apply`): every prompt
the run renders, in training and in judging the tuned and the original model, goes
through the tokenizer's template, and the tokenizer saved with the run carries it to
the playground, to later prompting and into an exported GGUF file.
"""

import json

from core.errors import WorkbenchError

CHATML = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + "
          "message['content'] + '<|im_end|>' + '\n' }}{% endfor %}"
          "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")
LLAMA_3 = ("{% for message in messages %}{% if loop.first %}{{ bos_token }}{% endif %}"
           "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + "
           "message['content'] | trim + '<|eot_id|>' }}{% endfor %}{% if add_generation_prompt %}"
           "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}")
# Gemma has no system role: a system turn leads the first user turn, as Google's template does.
GEMMA = ("{{ bos_token }}{% if messages[0]['role'] == 'system' %}"
         "{% set first = messages[0]['content'] + '\n\n' %}{% set turns = messages[1:] %}"
         "{% else %}{% set first = '' %}{% set turns = messages %}{% endif %}"
         "{% for message in turns %}{% set role = 'model' if message['role'] == 'assistant' "
         "else message['role'] %}{{ '<start_of_turn>' + role + '\n' + "
         "(first if loop.first else '') + message['content'] | trim + '<end_of_turn>\n' }}"
         "{% endfor %}{% if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{% endif %}")
MISTRAL = ("{{ bos_token }}{% for message in messages %}{% if message['role'] == 'system' %}"
           "{{ message['content'] + '\n\n' }}{% elif message['role'] == 'user' %}"
           "{{ '[INST] ' + message['content'] + ' [/INST]' }}{% else %}"
           "{{ message['content'] + eos_token }}{% endif %}{% endfor %}")
TEMPLATES = {"chatml": CHATML, "llama-3": LLAMA_3, "gemma": GEMMA, "mistral": MISTRAL}
CHOICES = ("model", *TEMPLATES)
MAX_TEMPLATE = 20_000  # characters: Jinja templates of real models run to a few thousand
SAMPLE = [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hello there"},
          {"role": "assistant", "content": "General Kenobi"}]


def is_jinja(value: str) -> bool:
    return "{{" in value or "{%" in value


def check(chat_template: str, system_prompt: str | None) -> None:
    """A known name, or a Jinja template that renders a short conversation."""
    if chat_template not in CHOICES and not is_jinja(chat_template):
        raise WorkbenchError(f"chat template '{chat_template[:40]}' is neither one of "
                             f"{', '.join(CHOICES)} nor a Jinja template")
    if is_jinja(chat_template):
        try:
            text = render(chat_template, SAMPLE, True)
        except Exception as error:  # jinja2 raises many kinds; the first line says which
            raise WorkbenchError(f"the chat template does not render a conversation: "
                                 f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
                                 ) from None
        if not all(turn["content"] in text for turn in SAMPLE[1:]):
            raise WorkbenchError("the chat template does not render a conversation: a user's "
                                 "and an assistant's turn leave no text in it")
    if system_prompt is not None and not system_prompt.strip():
        raise WorkbenchError("the system prompt is empty; leave it unset instead")


def render(template: str, messages: list[dict], generation: bool) -> str:
    """What transformers renders (its sandboxed Jinja), without a tokenizer."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                                extensions=["jinja2.ext.loopcontrols"])
    return environment.from_string(template).render(messages=messages,
                                                    add_generation_prompt=generation,
                                                    bos_token="", eos_token="")


def with_system_prompt(template: str, system_prompt: str) -> str:
    """`template`, first putting a system turn of `system_prompt` before conversations
    that have none."""
    text = json.dumps(system_prompt)  # a string literal Jinja reads back as the same text
    return ("{% if messages and messages[0]['role'] != 'system' %}{% set messages = "
            f"[{{'role': 'system', 'content': {text}}}] + messages %}}{{% endif %}}" + template)


def apply(tokenizer, chat_template: str, system_prompt: str | None) -> None:
    """Set the chosen template (and system prompt) on the run's tokenizer. Left at "model"
    with no system prompt, the tokenizer keeps what it has (possibly nothing)."""
    chosen = TEMPLATES.get(chat_template, chat_template if is_jinja(chat_template) else None)
    own = getattr(tokenizer, "chat_template", None)
    if chosen is None and system_prompt is None:
        return
    base = chosen or own or CHATML  # a system prompt needs a template with turns
    tokenizer.chat_template = with_system_prompt(base, system_prompt) if system_prompt else base
