"""Turning tables into what causal training reads: prompts and their completions.

- classification as generation (S4): the prompt asks for one of the labels; the
  completion is the right one. Instruct models see the prompt through their own
  chat template, so that training, the original model and the tuned one all
  read exactly the same text.
- summarisation and instruction data (S6): prompt -> response.
- preference pairs (S8): prompt, chosen, rejected; from a file, or built from a
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

from core.data import Table, left_out
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
    """S6's cleaning: letters, digits and white space only."""
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
    """Tokens kept for a response: half the sequence, as S6's summaries are short."""
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


def preference_records(tokenizer, frame: pd.DataFrame, task: str, label_names: list[str],
                       max_length: int, seed: int) -> pd.DataFrame:
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
        "prompt": generation_prompts(tokenizer, frame["prompt"], None, max_length, reserve),
        **{col: [completion_text(tokenizer, fit_text(tokenizer, t, reserve - 1)) for t in frame[col]]
           for col in ("chosen", "rejected")},
    })


def sft_rows(tokenizer, frame: pd.DataFrame, table, config, instruction: str | None) -> list[dict]:
    """Tokenised SFT rows, loss on the completion only."""
    records = sft_records(tokenizer, frame, table.task, table.label_names, instruction,
                          config.max_length)
    return encode_sft(tokenizer, records)


def preference_rows(tokenizer, frame: pd.DataFrame, table, config,
                    instruction: str | None) -> list[dict]:
    """prompt / chosen / rejected text rows (the preference trainers tokenise them)."""
    return preference_records(tokenizer, frame, table.task, table.label_names, config.max_length,
                              config.seed).to_dict("records")


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
        prompts = generation_prompts(tokenizer, frame["prompt"], instruction, config.max_length,
                                     reserve)
        answers = [fit_text(tokenizer, c, reserve - 1) for c in frame["completion"]]
        desirable = frame["label"].to_numpy()
    return [{"prompt": p, "completion": completion_text(tokenizer, a), "label": bool(good)}
            for p, a, good in zip(prompts, answers, desirable)]


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
    records = preference_records(tokenizer, frame, table.task, [], config.max_length, config.seed)
    return "prefer", dict(prompts=list(records["prompt"]), chosen=list(records["chosen"]),
                          rejected=list(records["rejected"]))


def unpaired_items(tokenizer, frame, table, config, instruction) -> tuple[str, dict]:
    """Unpaired feedback is judged as generation against its desirable completions."""
    desirable = frame[frame["label"]]
    if desirable.empty:
        raise WorkbenchError("the test split holds no desirable completion to judge the model "
                             "against; give it more examples or mark more completions true")
    renamed = desirable.rename(columns={"completion": "response"})
    return summarisation_items(tokenizer, renamed, table, config, instruction)


# How each task's test split is judged: (judge, its inputs) - classify by the label scored
# likeliest or the answer named, summarise by ROUGE and perplexity against references,
# prefer by likelihood.
TEST_ITEMS = {"classification": classification_items, "summarisation": summarisation_items,
              "preference": preference_items, "unpaired": unpaired_items}


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
