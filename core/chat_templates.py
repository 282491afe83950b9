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

import functools
import json
import subprocess
import sys
from pathlib import Path

from core.errors import WorkbenchError

# ChatML; with tools (a conversation that calls functions), as Hermes and Qwen 2.5 write
# them: the functions' schemas in the system turn, each call in <tool_call> in the
# assistant's turn, each result in <tool_response> in a user turn. Without tools it renders
# exactly as plain ChatML.
CHATML = ("{% if tools %}{{ '<|im_start|>system\n' }}{% if messages[0]['role'] == 'system' %}"
          "{{ messages[0]['content'] + '\n\n' }}{% endif %}{{ '# Tools\n\nYou may call "
          "functions; their signatures are within <tools></tools>:\n<tools>' }}"
          "{% for tool in tools %}{{ '\n' + (tool | tojson) }}{% endfor %}"
          "{{ '\n</tools>\n\nFor each call, write a JSON object with its name and arguments "
          "within <tool_call></tool_call>.<|im_end|>\n' }}{% endif %}"
          "{% for message in messages %}"
          "{% if not (tools and loop.first and message['role'] == 'system') %}"
          "{% if message['role'] == 'tool' %}{{ '<|im_start|>user\n<tool_response>\n' + "
          "message['content'] + '\n</tool_response><|im_end|>\n' }}"
          "{% else %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] }}"
          "{% for call in message['tool_calls'] or [] %}{{ '<tool_call>\n' + "
          "({'name': call['function']['name'], 'arguments': call['function']['arguments']} "
          "| tojson) + '\n</tool_call>' }}{% endfor %}{{ '<|im_end|>\n' }}{% endif %}"
          "{% endif %}{% endfor %}"
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
CHAT_TEMPLATES = {"chatml": CHATML, "llama-3": LLAMA_3, "gemma": GEMMA, "mistral": MISTRAL}
CHOICES = ("model", *CHAT_TEMPLATES)
MAX_TEMPLATE = 20_000  # characters: Jinja templates of real models run to a few thousand
SAMPLE = [{"role": "user", "content": "Hello there"},
          {"role": "assistant", "content": "General Kenobi"},
          {"role": "user", "content": "You are a bold one"},
          {"role": "assistant", "content": "Back away"}]
SAMPLE_SYSTEM_TURN = {"role": "system", "content": "Be kind."}


def is_jinja(value: str) -> bool:
    return "{{" in value or "{%" in value


CHECK_SECONDS = 3  # a pasted template renders a short conversation in milliseconds (0.1 s with
# the checking process started)
CHECK_MEMORY = 1 << 30  # bytes of address space the checking process may take


def check(chat_template: str, system_prompt: str | None) -> None:
    """A known name, or a Jinja template that renders a short conversation."""
    if chat_template not in CHOICES and not is_jinja(chat_template):
        raise WorkbenchError(f"chat template '{chat_template[:40]}' is neither one of "
                             f"{', '.join(CHOICES)} nor a Jinja template")
    if is_jinja(chat_template):
        refusal = bounded_check(chat_template, bool(system_prompt))
        if refusal:
            raise WorkbenchError(refusal)
    if system_prompt is not None and not system_prompt.strip():
        raise WorkbenchError("the system prompt is empty; leave it unset instead")


@functools.lru_cache(maxsize=64)  # the Train form checks the same template at every rerun
def bounded_check(template: str, with_system: bool) -> str | None:
    """Why a pasted template is refused, or None. Rendered in a process of its own, bounded in
    time and memory: a template is code (`{{ 9**9**9 }}`, `{{ 'x' * 10**10 }}`, loops in loops)
    and must never stall or exhaust the server or the command line that checks it."""
    script = ("import json, resource, sys\n"
              "try:\n"  # (macOS refuses an address-space limit: time still bounds it)
              f"    resource.setrlimit(resource.RLIMIT_AS, ({CHECK_MEMORY}, {CHECK_MEMORY}))\n"
              "except (ValueError, OSError):\n"
              "    pass\n"
              "sys.path.insert(0, sys.argv[1])\n"
              "from core.chat_templates import check_samples\n"
              "asked = json.load(sys.stdin)\n"
              "print(json.dumps(check_samples(asked['template'], asked['system'])))\n")
    root = str(Path(__file__).resolve().parents[1])
    try:
        done = subprocess.run([sys.executable, "-c", script, root], capture_output=True,
                              text=True, timeout=CHECK_SECONDS,
                              input=json.dumps({"template": template, "system": with_system}))
    except subprocess.TimeoutExpired:
        return (f"the chat template takes more than {CHECK_SECONDS} s to render a short "
                "conversation; it cannot be used")
    if done.returncode or not done.stdout.strip():
        return ("the chat template needs more memory than a short conversation could "
                f"({CHECK_MEMORY >> 20} MiB) or crashed the process rendering it; it cannot be "
                "used")
    return json.loads(done.stdout.splitlines()[-1])


def check_samples(template: str, with_system: bool) -> str | None:
    """In the checking process: why the template is refused, or None."""
    try:
        for sample in [SAMPLE, *([[SAMPLE_SYSTEM_TURN, *SAMPLE]] if with_system else [])]:
            check_turn_by_turn(template, sample)
    except WorkbenchError as error:
        return str(error)
    except MemoryError:
        return (f"the chat template needs more than {CHECK_MEMORY >> 20} MiB to render a short "
                "conversation; it cannot be used")
    return None


def check_turn_by_turn(template: str, messages: list[dict]) -> None:
    """The template renders the conversation, with its text, turn by turn: each rendering of
    the turns so far begins the next one (training tells the assistant's turns apart so)."""
    try:
        done = ""
        for index in (i for i, turn in enumerate(messages) if turn["role"] == "assistant"):
            before, through = (render(template, messages[:index], True),
                               render(template, messages[:index + 1], False))
            if not (before.startswith(done) and through.startswith(before)):
                raise WorkbenchError("the chat template does not render a conversation turn by "
                                     "turn (a later turn changes the text before it), so the "
                                     "assistant's turns could not be told apart")
            done = through
    except (WorkbenchError, MemoryError):
        raise
    except Exception as error:  # jinja2 raises many kinds; the first line says which
        raise WorkbenchError(f"the chat template does not render a conversation: "
                             f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"
                             ) from None
    if not all(turn["content"] in done for turn in messages):
        raise WorkbenchError("the chat template does not render a conversation: its turns "
                             "leave no text in it")


def raise_exception(message: str):
    """What transformers gives templates to refuse a conversation with."""
    raise ValueError(message)


def render(template: str, messages: list[dict], generation: bool) -> str:
    """What transformers renders (its sandboxed Jinja), without a tokenizer."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                                extensions=["jinja2.ext.loopcontrols"])
    environment.globals["raise_exception"] = raise_exception
    return environment.from_string(template).render(messages=messages,
                                                    add_generation_prompt=generation,
                                                    bos_token="", eos_token="")


def with_system_prompt(template: str, system_prompt: str) -> str:
    """`template`, first putting a system turn of `system_prompt` before conversations
    that have none."""
    # A string literal Jinja reads back as the same text: non-ASCII kept as it is (Jinja
    # would turn an escaped emoji's two surrogates into two lone halves).
    text = json.dumps(system_prompt, ensure_ascii=False)
    return ("{% if messages and messages[0]['role'] != 'system' %}{% set messages = "
            f"[{{'role': 'system', 'content': {text}}}] + messages %}}{{% endif %}}" + template)


def apply(tokenizer, chat_template: str, system_prompt: str | None,
          conversations: bool = False) -> None:
    """Set the chosen template (and system prompt) on the run's tokenizer. Left at "model"
    with no system prompt, the tokenizer keeps what it has, but for `conversations` on a
    model without a template: ChatML, set where it is saved with the run, so that the
    playground and later prompting read what the run trained on."""
    chosen = CHAT_TEMPLATES.get(chat_template, chat_template if is_jinja(chat_template) else None)
    own = getattr(tokenizer, "chat_template", None)
    if chosen is None and system_prompt is None and (own or not conversations):
        return
    base = chosen or own or CHATML  # a system prompt, or turns, need a template with turns
    tokenizer.chat_template = with_system_prompt(base, system_prompt) if system_prompt else base


def turn_end(tokenizer) -> str | None:
    """What the tokenizer's template writes after an assistant's text, where that is text of
    its own (Gemma's <end_of_turn>, ChatML's <|im_end|> on a model whose end-of-text token is
    another): a tuned model learns to write it, so generation stops there. None where the
    turn ends with the end-of-text token, which stops generation anyway, or no template."""
    if not getattr(tokenizer, "chat_template", None):
        return None
    mark = "\u2063ANSWER\u2063"
    try:
        rendered = tokenizer.apply_chat_template(
            [{"role": "user", "content": "x"}, {"role": "assistant", "content": mark}],
            tokenize=False)
    except Exception:  # a template that refuses this conversation: nothing to stop at
        return None
    end = rendered.split(mark)[-1].strip()
    return end if end and end != (tokenizer.eos_token or "").strip() else None


def stops(tokenizer, prompt_length: int) -> list:
    """Stopping criteria for generate() that end an answer at its turn's end (`turn_end`),
    if it has one; `prompt_length`: the tokens before the answer. (transformers' own
    stop_strings cannot read every vocabulary: a word-piece one made it fail.)"""
    end = turn_end(tokenizer)
    return [TurnEnd(tokenizer, end, prompt_length)] if end else []


class TurnEnd:
    """Stops each sequence whose answer so far holds `end` (decoded, so that however the
    tokenizer splits the mark, it is found)."""

    def __init__(self, tokenizer, end: str, prompt_length: int):
        self.tokenizer, self.end, self.start = tokenizer, end, prompt_length

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        answers = self.tokenizer.batch_decode(input_ids[:, self.start:])
        return torch.tensor([self.end in answer for answer in answers], device=input_ids.device)


def cut_at_turn_end(text: str, tokenizer) -> str:
    """An answer without its turn's end, and what a model wrote after it."""
    end = turn_end(tokenizer)
    return text.split(end)[0] if end else text
