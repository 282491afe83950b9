"""The chat template and system prompt of a causal run: the model's own, a well-known one or a
pasted Jinja template, applied to training and judging alike and saved with the run."""

import json
from pathlib import Path

import pytest

from core import chat_templates, engine
from core.causal_data import encode_conversation, render
from core.config import settle, to_yaml
from core.errors import WorkbenchError
from core.models import load_tokenizer, resolve_model, run_model_dir

DATA = Path(__file__).resolve().parent / "data"
TURNS = [{"role": "user", "content": "dull plot?"}, {"role": "assistant", "content": "negative"},
         {"role": "user", "content": "superb?"}, {"role": "assistant", "content": "positive"}]


@pytest.fixture
def tokenizer():
    return load_tokenizer(resolve_model("smollm2-135m"))


@pytest.mark.parametrize("name,turn_end", [("chatml", "<|im_end|>\n"), ("llama-3", "<|eot_id|>"),
                                           ("gemma", "<end_of_turn>\n"), ("mistral", "EOS")])
def test_each_known_template_renders_turn_by_turn_and_masks_all_but_the_assistant(
        tokenizer, name, turn_end):
    chat_templates.apply(tokenizer, name, None)
    assert tokenizer.chat_template == chat_templates.CHAT_TEMPLATES[name]
    ids, labels = encode_conversation(tokenizer, TURNS)
    learned = tokenizer.decode([i for i, label in zip(ids, labels) if label != -100])
    end = tokenizer.eos_token if turn_end == "EOS" else turn_end
    assert learned == f"negative{end}positive{end}"


def test_a_system_prompt_leads_every_conversation_without_one(tokenizer):
    chat_templates.apply(tokenizer, "model", "Answer in one word.")
    text = tokenizer.apply_chat_template(TURNS[:1], tokenize=False)
    assert text.startswith("<|im_start|>system\nAnswer in one word.<|im_end|>\n<|im_start|>user")
    own = [{"role": "system", "content": "Mine."}, *TURNS[:1]]
    assert "Answer in one word" not in tokenizer.apply_chat_template(own, tokenize=False)
    assert render(tokenizer, "Text: x").count("Answer in one word.") == 1  # labelled prompts too


def test_a_quote_or_jinja_in_the_system_prompt_is_text(tokenizer):
    tricky = 'Say "hi" {{ 7*7 }} {% raw %}'
    chat_templates.apply(tokenizer, "chatml", tricky)
    assert tricky in tokenizer.apply_chat_template(TURNS[:1], tokenize=False)


CAUSAL = {"model": "smollm2-135m", "method": "sft"}  # the runs that read a chat template


def test_a_pasted_jinja_template_is_checked_before_launch():
    long_template = "{# a long comment #}" * 40 + chat_templates.CHATML
    assert settle({**CAUSAL, "chat_template": long_template}).chat_template == long_template
    for bad, message in [("{% for m in messages %}", "does not render a conversation"),
                         ("alpaca", "neither one of model, chatml, llama-3, gemma, mistral"),
                         ("{{ messages[0]['nope'] }}", "does not render a conversation")]:
        with pytest.raises(WorkbenchError, match=message):
            settle({**CAUSAL, "chat_template": bad})
    with pytest.raises(WorkbenchError, match="the system prompt is empty"):
        settle({**CAUSAL, "system_prompt": "  "})


@pytest.mark.slow
def test_the_choice_trains_judges_and_is_saved_with_the_run(db, tiny_causal):
    config = settle({"model": tiny_causal, "method": "sft", "dataset": str(DATA / "messages.jsonl"),
                     "max_steps": 2, "batch_size": 4, "lr": 5e-3, "max_length": 96,
                     "max_new_tokens": 2, "eval_size": 2, "test_size": 2,
                     "chat_template": "llama-3", "system_prompt": "Be brief."})
    assert "chat_template: llama-3\nsystem_prompt: Be brief.\n" in to_yaml(config)
    run_id = engine.train(config, db)
    saved = load_tokenizer(resolve_model(run_id))
    assert saved.chat_template.endswith(chat_templates.LLAMA_3)
    assert json.dumps("Be brief.") in saved.chat_template
    assert (run_model_dir(run_id) / "chat_template.jinja").is_file()


@pytest.mark.slow
def test_the_train_form_sets_the_template_and_the_system_prompt(db):
    from test_pages import app

    page = app("train.py").run()
    key = lambda name: f"{name}-quick-cpu"  # noqa: E731
    page.selectbox(key=key("model")).set_value("smollm2-135m").run()
    page.selectbox(key=key("method")).set_value("sft").run()
    page.selectbox(key=key("chat-template")).set_value("custom (Jinja)").run()
    page.text_area(key=key("jinja-template")).input("{% for m in messages %}").run()
    assert any("does not render a conversation" in e.value for e in page.error)
    page.selectbox(key=key("chat-template")).set_value("gemma").run()
    page.text_area(key=key("system-prompt")).input("Answer with one word.").run()
    assert not page.exception and not page.error, [e.value for e in page.error]
    yaml = page.code[0].value
    assert "chat_template: gemma\n" in yaml and "system_prompt: Answer with one word.\n" in yaml


def test_an_emoji_in_the_system_prompt_is_kept_whole(tokenizer):
    chat_templates.apply(tokenizer, "chatml", "Answer with an emoji 😀")
    ids, labels = encode_conversation(tokenizer, TURNS[:2])
    assert "Answer with an emoji 😀" in tokenizer.decode(ids)


def test_generation_stops_at_a_turn_end_that_is_not_the_end_of_text(tokenizer):
    import torch

    assert chat_templates.stops(tokenizer, 3) == []  # smollm2's turn ends with its end of text
    chat_templates.apply(tokenizer, "gemma", None)
    [stop] = chat_templates.stops(tokenizer, 3)
    prompt = tokenizer("a b c", add_special_tokens=False)["input_ids"][:3]
    answers = [tokenizer("positive<end_of_turn>", add_special_tokens=False)["input_ids"],
               tokenizer("positive and", add_special_tokens=False)["input_ids"]]
    width = max(map(len, answers))
    batch = torch.tensor([prompt + a + [0] * (width - len(a)) for a in answers])
    assert stop(batch, None).tolist() == [True, False]
    assert chat_templates.cut_at_turn_end("positive<end_of_turn>\n<start_of_turn>user", tokenizer) \
        == "positive"


def test_a_model_without_a_template_saves_the_chatml_its_conversations_trained_on(tiny_causal):
    tokenizer = load_tokenizer(resolve_model(tiny_causal))
    chat_templates.apply(tokenizer, "model", None)
    assert not getattr(tokenizer, "chat_template", None)  # labelled prompts stay plain text
    chat_templates.apply(tokenizer, "model", None, conversations=True)
    assert tokenizer.chat_template == chat_templates.CHATML


def test_templates_that_do_not_render_turn_by_turn_or_refuse_are_said_before_launch():
    counting = "{% for m in messages %}{{ messages|length }}:{{ m.content }}\n{% endfor %}"
    with pytest.raises(WorkbenchError, match="does not render a conversation turn by turn"):
        settle({**CAUSAL, "chat_template": counting})
    no_system = ("{% if messages[0]['role'] == 'system' %}{{ raise_exception('no system role') }}"
                 "{% endif %}" + chat_templates.CHATML)
    assert settle({**CAUSAL, "chat_template": no_system}).chat_template == no_system
    with pytest.raises(WorkbenchError, match="ValueError: no system role"):
        settle({**CAUSAL, "chat_template": no_system, "system_prompt": "Be brief."})


@pytest.mark.parametrize("bomb, said", [
    ("{{ 9 ** (9 ** 10) }}{% for m in messages %}{{ m['content'] }}{% endfor %}", "cannot be used"),
    ("{% for m in messages %}{{ m['content'] * 10 ** 10 }}{% endfor %}", "cannot be used"),
    ("{% for a in range(99999) %}{% for b in range(99999) %}{{ a }}{% endfor %}{% endfor %}",
     "cannot be used"),
    ("{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}"
     "{% for m in messages %}{{ m['content'] }}{% endfor %}", "more than 3 s"),
])
def test_a_template_bomb_is_refused_in_seconds_and_never_runs_in_this_process(bomb, said):
    """A pasted template is code: it is rendered in a process of its own, bounded in time
    and memory, so that neither the server nor the command line stalls on it."""
    import resource
    import time

    from core import chat_templates

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.monotonic()
    with pytest.raises(WorkbenchError, match=said):
        chat_templates.check(bomb, None)
    assert time.monotonic() - started < 30  # bounded (5 s), where unbounded it never returns
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB


def test_a_good_pasted_template_is_checked_once_per_text():
    from core import chat_templates

    chat_templates.bounded_check.cache_clear()
    for _ in range(3):
        chat_templates.check(chat_templates.CHATML + "{# mine #}", "Be brief.")
    assert chat_templates.bounded_check.cache_info().misses == 1
