"""Turning tables into what causal training reads: prompts and their completions.

- classification as generation (the Mistral recipe): the prompt asks for one of the labels; the
  completion is the right one. Instruct models see the prompt through their own
  chat template, so that training, the original model and the tuned one all
  read exactly the same text.
- summarisation and instruction data (the Pythia recipe): prompt -> response.
- conversations (Alpaca, ShareGPT, messages; `core.chat_data`): rendered turn by turn
  through the model's chat template, the loss on the assistant turns only; judged on
  the last assistant turn.
- preference pairs (the Llama-3 ORPO recipe): prompt, chosen, rejected; from a file, or built from a
  labelled table (chosen = the right label, rejected = a wrong one).
- unpaired feedback (KTO): prompt, completion, desirable or not; from a file, or
  built from a labelled table (a seeded half of the examples answered with the
  right label, marked desirable, the rest with a wrong one, marked undesirable).

Each method's spec names its row builder (`sft_rows`, `preference_rows`, ...); the
test split is judged by the table's task (`test_items`), whatever the method.

Long prompts are cut (from the end of the text) so that prompt and completion
fit in `max_length` together: cutting the joined sequence would drop the
completion, and with it everything the model is meant to learn.
"""

import dataclasses
import re

import numpy as np
import pandas as pd

from core.chat_templates import CHATML
from core.chat_data import is_conversational
from core.data import Table
from core.notes import left_out
from core.errors import WorkbenchError

# The question follows the text, where a small instruct model attends to it best: on 60
# rt-reviews snippets smollm2-135m named a label 2.5x as often as with the question first.
CLASSIFY = "Text: {text}\n\nWhich label fits the text: {labels}? Reply with one word: {labels}."
PLAIN_ANSWER = "\nAnswer:"  # ends a prompt for models without a chat template
INSTRUCTIONS = {  # what a bundled or catalog data set's prompt asks for
    "aclsum": "Summarise the challenge, the approach and the outcome of this paper abstract.",
    "meta-review": "Write a meta-review of these peer reviews.",
}
NOT_CLEANED = re.compile(r"[^a-zA-Z0-9\s]")


def clean(text: str) -> str:
    """The Pythia recipe's cleaning: letters, digits and white space only."""
    return NOT_CLEANED.sub("", text)


def render(tokenizer, user_text: str) -> str:
    """The full prompt text the model reads before its answer."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template([{"role": "user", "content": user_text}],
                                             tokenize=False, add_generation_prompt=True)
    return user_text + PLAIN_ANSWER


def completion_text(tokenizer, answer: str) -> str:
    """What follows the prompt: a space before a plain answer, nothing after a chat turn."""
    return answer if getattr(tokenizer, "chat_template", None) else " " + answer


def token_count(tokenizer, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def fit_text(tokenizer, text: str, budget: int) -> str:
    """`text` cut to at most `budget` tokens (at least one)."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return text if len(ids) <= budget else tokenizer.decode(ids[:max(budget, 1)])


def prompt_for(tokenizer, template: str, text: str, max_length: int, reserve: int, **fields) -> str:
    """`template` with the text cut to leave `reserve` tokens for the completion."""
    empty = render(tokenizer, template.format(text="", **fields))
    budget = max_length - token_count(tokenizer, empty) - reserve
    return render(tokenizer, template.format(text=fit_text(tokenizer, text, budget), **fields))


def classification_prompts(tokenizer, texts, label_names: list[str], max_length: int) -> list[str]:
    labels = " or ".join(label_names)
    reserve = max(token_count(tokenizer, completion_text(tokenizer, n)) for n in label_names) + 2
    return [prompt_for(tokenizer, CLASSIFY, t, max_length, reserve, labels=labels) for t in texts]


def generation_prompts(tokenizer, prompts, instruction: str | None, max_length: int,
                       reserve: int) -> list[str]:
    template = f"{instruction}\n\n{{text}}" if instruction else "{text}"
    return [prompt_for(tokenizer, template, p, max_length, reserve) for p in prompts]


def response_reserve(max_length: int) -> int:
    """Tokens kept for a response: half the sequence, as the Pythia recipe's summaries are short."""
    return max_length // 2


def sft_records(tokenizer, frame: pd.DataFrame, task: str, label_names: list[str],
                instruction: str | None, max_length: int) -> pd.DataFrame:
    """prompt / completion pairs for SFT."""
    if task == "classification":
        prompts = classification_prompts(tokenizer, frame["text"], label_names, max_length)
        answers = frame["label"]
    else:
        reserve = response_reserve(max_length)
        prompts = generation_prompts(tokenizer, frame["prompt"], instruction, max_length, reserve)
        answers = [fit_text(tokenizer, r, reserve - 1) for r in frame["response"]]
    return pd.DataFrame({"prompt": prompts,
                         "completion": [completion_text(tokenizer, a) for a in answers]})


def encode_prompt(tokenizer, prompt: str) -> list[int]:
    """Prompt ids, led by the beginning-of-text token where the model has one and the
    (chat-rendered) text does not already start with it."""
    ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    bos = tokenizer.bos_token_id
    return ids if bos is None or ids[:1] == [bos] else [bos] + ids


def encode_sft(tokenizer, records: pd.DataFrame) -> list[dict]:
    """input_ids and labels; only the completion and its end-of-text token carry loss."""
    rows = []
    for prompt, completion in zip(records["prompt"], records["completion"]):
        head = encode_prompt(tokenizer, prompt)
        tail = tokenizer(completion, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        rows.append({"input_ids": head + tail, "labels": [-100] * len(head) + tail})
    return rows


def answer_prompts(tokenizer, cells, conversational: bool, instruction: str | None,
                   max_length: int, reserve: int) -> list[str]:
    """The prompts answers follow: text, or (a chat file's preference or feedback rows) a
    conversation read through the chat template, its start cut off where it is too long."""
    if not conversational:
        return generation_prompts(tokenizer, cells, instruction, max_length, reserve)
    from core.chat_data import messages_of

    return [keep_end(tokenizer, render_turns(tokenizer, messages_of(cell), generation=True),
                     max_length - reserve) for cell in cells]


def answer_text(tokenizer, answer: str, conversational: bool) -> str:
    """An answer as it follows its prompt (after a chat turn's header: as it is)."""
    return answer if conversational else completion_text(tokenizer, answer)


def preference_records(tokenizer, frame: pd.DataFrame, task: str, label_names: list[str],
                       max_length: int, seed: int, conversational: bool = False) -> pd.DataFrame:
    """prompt / chosen / rejected for DPO and ORPO."""
    if task == "classification":
        rng = np.random.default_rng(seed)
        wrong = [rng.choice([n for n in label_names if n != label]) for label in frame["label"]]
        return pd.DataFrame({
            "prompt": classification_prompts(tokenizer, frame["text"], label_names, max_length),
            "chosen": [completion_text(tokenizer, a) for a in frame["label"]],
            "rejected": [completion_text(tokenizer, a) for a in wrong],
        })
    reserve = response_reserve(max_length)
    return pd.DataFrame({
        "prompt": answer_prompts(tokenizer, frame["prompt"], conversational, None, max_length,
                                 reserve),
        **{col: [answer_text(tokenizer, fit_text(tokenizer, t, reserve - 1), conversational)
                 for t in frame[col]] for col in ("chosen", "rejected")},
    })


def sft_rows(tokenizer, frame: pd.DataFrame, table, config, instruction: str | None) -> list[dict]:
    """Tokenised SFT rows, loss on the completion (a conversation's assistant turns) only."""
    if table.task == "conversation":
        return conversation_rows(tokenizer, frame, table, config.max_length)
    records = sft_records(tokenizer, frame, table.task, table.label_names, instruction,
                          config.max_length)
    return encode_sft(tokenizer, records)


def render_turns(tokenizer, messages: list[dict], generation: bool = False,
                 tools: list | None = None) -> str:
    """The conversation as the model reads it: through its chat template (ChatML, the most
    common, for a base model without one), with the assistant's header after it when
    `generation`, and the functions it may call (`tools`) where it calls any."""
    own = getattr(tokenizer, "chat_template", None)
    return tokenizer.apply_chat_template(messages, tokenize=False,
                                         add_generation_prompt=generation,
                                         **({"tools": tools} if tools else {}),
                                         **({} if own else {"chat_template": CHATML}))


def check_renders_tool_calls(tokenizer, messages: list[dict], tools: list | None) -> None:
    """A conversation that calls functions needs a template that writes the calls, their
    results and the schemas: one that drops them would teach answers without their cause."""
    rendered = render_turns(tokenizer, messages, tools=tools)
    calls = [c["function"]["name"] for t in messages for c in t.get("tool_calls") or []]
    results = [t["content"] for t in messages if t["role"] == "tool"]
    schemas = [str(tool.get("function", tool).get("name", "")) for tool in tools or []]
    if all(part in rendered for part in [*calls, *results, *schemas]):
        return
    raise WorkbenchError("the chat template does not write tool calls, their results or the "
                         "tools' schemas, so conversations that call functions cannot be "
                         "trained through it; choose chatml (it writes them as Hermes and "
                         "Qwen do) or paste a template that does")


def check_prompts(tokenizer, table: Table, max_length: int, instruction: str | None) -> None:
    """Before anything is written: the data's own conversations render through the chosen
    template (one of each shape of turns: a template refuses roles, not words), and the
    prompt around the text (template, system prompt, question) leaves room for it within
    max length. Found in training instead, a run was written and failed."""
    if table.task == "conversation":
        check_conversations(tokenizer, table)
    fixed, answer = prompt_overhead(tokenizer, table, max_length, instruction)
    if fixed + answer >= max_length:
        raise WorkbenchError(
            f"max length {max_length} leaves no room for the text: the prompt around it (chat "
            f"template, system prompt, question) takes {fixed} tokens and the answer "
            f"{answer}; raise max length well above {fixed + answer}, or shorten the system "
            "prompt")


def check_conversations(tokenizer, table: Table) -> None:
    """The first conversation of each sequence of roles, rendered as training will."""
    from core.chat_data import calls_tools, messages_of, tools_of

    shapes: dict[tuple, tuple] = {}
    for row, cell in enumerate(table.frame["messages"]):
        roles = tuple(turn["role"] for turn in messages_of(cell))
        shapes.setdefault((roles, calls_tools(cell)), (row, cell))
    for (roles, calling), (row, cell) in shapes.items():
        if calling:
            check_renders_tool_calls(tokenizer, messages_of(cell), tools_of(cell))
        try:
            encode_conversation(tokenizer, messages_of(cell), tools_of(cell))
        except WorkbenchError:
            raise
        except Exception as error:  # the template's own refusal (raise_exception), or a bug in it
            reason = " ".join(str(error).split())[:200]
            raise WorkbenchError(f"the chat template fails on the data's conversation {row + 1} "
                                 f"(turns: {', '.join(roles)}): {type(error).__name__}: "
                                 f"{reason}; choose another template") from None


def prompt_overhead(tokenizer, table: Table, max_length: int,
                    instruction: str | None) -> tuple[int, int]:
    """Tokens of the prompt without its text (with the beginning-of-text token), and those
    kept for the answer: a label's, half the length for a response, one assistant token."""
    bos = int(tokenizer.bos_token_id is not None)
    if table.task == "conversation":
        empty = render_turns(tokenizer, [{"role": "user", "content": ""}], generation=True)
        return token_count(tokenizer, empty) + bos, 1
    if table.task == "classification":
        labels = " or ".join(table.label_names)
        empty = render(tokenizer, CLASSIFY.format(text="", labels=labels))
        answer = max(token_count(tokenizer, completion_text(tokenizer, n))
                     for n in table.label_names) + 2
        return token_count(tokenizer, empty) + bos, answer
    template = f"{instruction}\n\n{{text}}" if instruction else "{text}"
    empty = render(tokenizer, template.format(text=""))
    return token_count(tokenizer, empty) + bos, response_reserve(max_length)


def encode_conversation(tokenizer, messages: list[dict],
                        tools: list | None = None) -> tuple[list[int], list[int]]:
    """input_ids and labels of a conversation: the loss falls on each assistant turn (its text
    and the template's end of turn) and nowhere else. The text is rendered turn by turn, so
    that each part is known to be the assistant's or not; turns after the last assistant one
    teach nothing and are left off."""
    ids, labels, done = [], [], ""
    for index, turn in enumerate(messages):
        if turn["role"] != "assistant":
            continue
        before = render_turns(tokenizer, messages[:index], generation=True, tools=tools)
        through = render_turns(tokenizer, messages[:index + 1], tools=tools)
        if not (before.startswith(done) and through.startswith(before)):
            raise WorkbenchError("the chat template does not render a conversation turn by "
                                 f"turn (turn {index + 1} changes the text before it), so the "
                                 "assistant's turns cannot be told apart; pick another template")
        for part, learn in ((before[len(done):], False), (through[len(before):], True)):
            part_ids = tokenizer(part, add_special_tokens=False)["input_ids"]
            ids += part_ids
            labels += part_ids if learn else [-100] * len(part_ids)
        done = through
    bos = tokenizer.bos_token_id
    if bos is not None and ids[:1] != [bos]:
        ids, labels = [bos] + ids, [-100] + labels
    return ids, labels


def conversation_rows(tokenizer, frame: pd.DataFrame, table, max_length: int) -> list[dict]:
    """Each conversation encoded and cut to `max_length` tokens. One whose first assistant
    token lies beyond the cut teaches nothing: it is left out and counted in the table's
    notes (which the run keeps)."""
    from core.chat_data import calls_tools, messages_of, tools_of

    rows = []
    for cell in frame["messages"]:
        messages, tools = messages_of(cell), tools_of(cell)
        if calls_tools(cell):
            check_renders_tool_calls(tokenizer, messages, tools)
        ids, labels = encode_conversation(tokenizer, messages, tools)
        if any(label != -100 for label in labels[:max_length]):
            rows.append({"input_ids": ids[:max_length], "labels": labels[:max_length]})
    if len(rows) < len(frame):
        note = left_out(len(frame) - len(rows), len(frame), "no assistant turn within the first "
                        f"{max_length} tokens (max length)")
        table.notes.append(note)
    if not rows:
        raise WorkbenchError(f"no conversation has an assistant turn within the first "
                             f"{max_length} tokens; raise max length")
    return rows


def preference_rows(tokenizer, frame: pd.DataFrame, table, config,
                    instruction: str | None) -> list[dict]:
    """prompt / chosen / rejected text rows (the preference trainers tokenise them)."""
    return preference_records(tokenizer, frame, table.task, table.label_names, config.max_length,
                              config.seed, is_conversational(table)).to_dict("records")


def unpaired_rows(tokenizer, frame: pd.DataFrame, table, config,
                  instruction: str | None) -> list[dict]:
    """prompt / completion / label (desirable) text rows for KTO."""
    if table.task == "classification":
        rng = np.random.default_rng(config.seed)
        desirable = rng.random(len(frame)) < 0.5
        names = table.label_names
        answers = [label if good else rng.choice([n for n in names if n != label])
                   for label, good in zip(frame["label"], desirable)]
        prompts = classification_prompts(tokenizer, frame["text"], names, config.max_length)
    else:
        reserve = response_reserve(config.max_length)
        prompts = answer_prompts(tokenizer, frame["prompt"], is_conversational(table),
                                 instruction, config.max_length, reserve)
        answers = [fit_text(tokenizer, c, reserve - 1) for c in frame["completion"]]
        desirable = frame["label"].to_numpy()
    return [{"prompt": p, "completion": answer_text(tokenizer, a, is_conversational(table)),
             "label": bool(good)} for p, a, good in zip(prompts, answers, desirable)]


def classification_items(tokenizer, frame, table, config, instruction) -> tuple[str, dict]:
    names = table.label_names
    return "classify", dict(
        prompts=classification_prompts(tokenizer, frame["text"], names, config.max_length),
        texts=list(frame["text"]), truth=frame["label"].map({n: i for i, n in enumerate(names)})
        .to_numpy(), label_names=names, judge=config.judge)


def summarisation_items(tokenizer, frame, table, config, instruction) -> tuple[str, dict]:
    reserve = response_reserve(config.max_length)
    return "summarise", dict(
        prompts=generation_prompts(tokenizer, frame["prompt"], instruction, config.max_length,
                                   reserve),
        sources=list(frame["prompt"]), references=list(frame["response"]),
        max_new_tokens=config.max_new_tokens)


def preference_items(tokenizer, frame, table, config, instruction) -> tuple[str, dict]:
    records = preference_records(tokenizer, frame, table.task, [], config.max_length, config.seed,
                                 is_conversational(table))
    return "prefer", dict(prompts=list(records["prompt"]), chosen=list(records["chosen"]),
                          rejected=list(records["rejected"]))


def conversation_items(tokenizer, frame, table, config, instruction) -> tuple[str, dict]:
    """A conversation is judged on its last assistant turn, as generation: the model reads
    everything before it (the start cut off where it is too long) and writes the turn."""
    from core.chat_data import messages_of, tools_of

    budget = config.max_length - response_reserve(config.max_length)
    prompts, sources, references = [], [], []
    for cell in frame["messages"]:
        messages = messages_of(cell)
        last = max(i for i, turn in enumerate(messages) if turn["role"] == "assistant")
        prompts.append(keep_end(tokenizer, render_turns(tokenizer, messages[:last], True,
                                                        tools_of(cell)), budget))
        sources.append("\n".join(f"{t['role']}: {t['content']}" for t in messages[:last]))
        references.append(messages[last]["content"])
    return "summarise", dict(prompts=prompts, sources=sources, references=references,
                             max_new_tokens=config.max_new_tokens)


def keep_end(tokenizer, text: str, budget: int) -> str:
    """`text` without its start, where it holds more than `budget` tokens."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return text if len(ids) <= budget else tokenizer.decode(ids[-max(budget, 1):])


def unpaired_items(tokenizer, frame, table, config, instruction) -> tuple[str, dict]:
    """Unpaired feedback is judged as generation against its desirable completions."""
    desirable = frame[frame["label"]]
    if desirable.empty:
        raise WorkbenchError("the test split holds no desirable completion to judge the model "
                             "against; give it more examples or mark more completions true")
    renamed = desirable.rename(columns={"completion": "response"})
    if not is_conversational(table):
        return summarisation_items(tokenizer, renamed, table, config, instruction)
    reserve = response_reserve(config.max_length)
    return "summarise", dict(
        prompts=answer_prompts(tokenizer, renamed["prompt"], True, None, config.max_length,
                               reserve),
        sources=[readable(cell) for cell in renamed["prompt"]],
        references=list(renamed["response"]), max_new_tokens=config.max_new_tokens)


def readable(cell: str) -> str:
    """A conversation prompt as a reviewer reads it: one 'role: text' line per turn."""
    from core.chat_data import messages_of

    return "\n".join(f"{t['role']}: {t['content']}" for t in messages_of(cell))


# How each task's test split is judged: (judge, its inputs) - classify by the label scored
# likeliest or the answer named, summarise by ROUGE and perplexity against references,
# prefer by likelihood.
TEST_ITEMS = {"classification": classification_items, "summarisation": summarisation_items,
              "preference": preference_items, "unpaired": unpaired_items,
              "conversation": conversation_items}


def test_items(tokenizer, frame: pd.DataFrame, table, config,
               instruction: str | None) -> tuple[str, dict]:
    return TEST_ITEMS[table.task](tokenizer, frame, table, config, instruction)


def clean_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Every text column cleaned (labels are left alone)."""
    columns = [c for c in frame.columns if c != "label"]
    return frame.assign(**{c: frame[c].map(clean) for c in columns})


def clean_table(table: Table) -> Table:
    """The table with every text cleaned; a row with nothing left in a text ("!!!", or a text
    in another script) is left out and counted in the notes, rather than trained on as blank."""
    if table.task == "conversation":  # its cells are JSON: cleaning would break them
        raise WorkbenchError("clean text keeps letters, digits and spaces of text columns; a "
                             "conversation's turns cannot be cleaned: turn it off")
    frame = clean_frame(table.frame)
    columns = [c for c in frame.columns if c != "label"]
    blank = pd.DataFrame({c: frame[c].str.strip().eq("") for c in columns})
    notes = [left_out(int(blank[c].sum()), len(frame), f"an empty {c} once cleaned to letters, "
                      "digits and spaces") for c in columns if blank[c].any()]
    kept = frame[~blank.any(axis=1)].reset_index(drop=True)
    if kept.empty:
        raise WorkbenchError("no row has a letter or a digit left once cleaned; turn off "
                             "'clean text' for this data")
    return dataclasses.replace(table, frame=kept, notes=[*table.notes, *notes])
