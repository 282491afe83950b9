"""Prompted classification with a causal model: zero-, one- and k-shot.

A prompt is a shared prefix (instruction and the k examples, the same for every
test example of an execution) followed by the example's own part. Two ways to
decide the label:

- scoring: each label's continuation is scored by its total log-probability
  (every token of a multi-token label counts). The prefix is run once and its
  key/value cache reused for every example; examples and labels are batched.
- generation: the model writes an answer, which is parsed back to a label;
  answers naming no label are counted as unparseable (and wrong).

Token ids are built piece by piece (prefix, example, label) so that the fast
path and the plain one-forward-per-example path see exactly the same tokens.
"""

import copy
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from core import chat_templates, progress
from core.errors import WorkbenchError

PROMPT_TEMPLATES = {
    "plain": {
        "instruction": "Classify each text as one of: {labels}.\n\n",
        "example": "Text: {text}\nLabel: {label}\n\n",
        "query": "Text: {text}\nLabel:",
    },
    "role": {
        "instruction": "You are an experienced film critic. Read each review and say whether "
                       "the critic's verdict is {labels}.\n\n",
        "example": "Review: {text}\nVerdict: {label}\n\n",
        "query": "Review: {text}\nVerdict:",
    },
    "cot": {
        "instruction": "Classify each text as one of: {labels}. Think step by step about its "
                       "tone, then finish with 'Answer: <label>'.\n\n",
        "example": "Text: {text}\nAnswer: {label}\n\n",
        "query": "Text: {text}\nReasoning:",
    },
}


@dataclass(frozen=True)
class Prompt:
    """The pieces of one execution's prompts."""
    prefix: str  # instruction and examples, shared by every test example
    queries: list[str]  # one per test example
    labels: list[str]  # continuations to score, e.g. " fresh", " rotten"


@dataclass(frozen=True)
class Style:
    """How a model is asked: the template, the word it reads and is scored on for each label
    (the verbaliser: a model may know "positive" far better than a data set's "fresh"),
    and whether the model's own chat template wraps the turns (instruct models)."""
    template: dict
    names: tuple[str, ...]  # the data set's labels, in label order
    words: tuple[str, ...]  # the word for each label
    chat: bool = False

    def word(self, label: str) -> str:
        return self.words[self.names.index(label)]


def verbaliser(setting: str | None, names: list[str]) -> tuple[str, ...]:
    """The word for each label from 'rotten=negative,fresh=positive'; a label not named keeps
    its own name. Unknown labels, empty or repeated words are refused."""
    words = dict(zip(names, names))
    for pair in filter(None, (p.strip() for p in (setting or "").split(","))):
        label, _, word = (part.strip() for part in pair.partition("="))
        if label not in words:
            raise WorkbenchError(f"verbaliser: '{label}' is not a label of this data set "
                                 f"({', '.join(names)})")
        if not word:
            raise WorkbenchError(f"verbaliser: give a word for '{label}' (label=word)")
        words[label] = word
    chosen = tuple(words[name] for name in names)
    if len(set(chosen)) < len(chosen):
        raise WorkbenchError(f"verbaliser: two labels share a word ({', '.join(chosen)})")
    return chosen


def uses_chat(setting: str, tokenizer) -> bool:
    """auto: the model's chat template when it has one; on: required; off: plain text."""
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if setting == "on" and not has_template:
        raise WorkbenchError("this model has no chat template; use chat 'off' (plain text)")
    return has_template if setting == "auto" else setting == "on"


# Content-free inputs (Zhao et al., 2021, "Calibrate Before Use"): what a prompt makes the
# model say about nothing is its bias, divided out by `calibrate`.
CONTENT_FREE = ("N/A", "", "[MASK]")


def calibrate(scores: np.ndarray, content_free: np.ndarray) -> np.ndarray:
    """Contextual calibration: each label's probability (over the labels) divided by its mean
    probability for the content-free inputs under the same prompt; returned as log-scores."""
    def log_probs(x):
        return x - np.logaddexp.reduce(x, axis=1, keepdims=True)
    bias = np.log(np.exp(log_probs(content_free)).mean(0))
    return log_probs(scores) - bias


def custom_template(text: str) -> dict:
    """A user template with {text} and optionally {examples} and {labels}: everything before
    {text} (examples included) is the shared prefix. Any other brace is literal text."""
    if "{text}" not in text:
        raise WorkbenchError("a custom template needs a {text} placeholder")
    head, tail = text.split("{text}", 1)
    if "{examples}" in tail:
        raise WorkbenchError("{examples} must come before {text} in a custom template")
    return {"instruction": head, "example": "Text: {text}\nLabel: {label}\n\n", "query": "{text}" + tail}


def choose_examples(train: pd.DataFrame, shots: int, seed: int, label_names: list[str]) -> pd.DataFrame:
    """`shots` training examples, balanced across classes, in a seeded order."""
    rng = np.random.default_rng(seed)
    pools = {name: rng.permutation(train.index[train["label"] == name].to_numpy())
             for name in label_names}
    picked = []
    for i in range(shots):
        name = label_names[(i + seed) % len(label_names)]  # the seed also varies which class leads
        pool = pools[name]
        if len(pool) <= i // len(label_names):
            raise WorkbenchError(f"not enough training examples of class '{name}' for {shots} shots")
        picked.append(pool[i // len(label_names)])
    return train.loc[rng.permutation(picked)] if picked else train.iloc[:0]


def fill(template: str, **values: str) -> str:
    """`template` with each {name} of `values` replaced, in one pass; any other brace stays as
    written (str.format trips on a literal answer such as {"label": "fresh"}), and a value that
    holds "{labels}" is not filled in again."""
    pattern = re.compile("|".join(re.escape("{" + name + "}") for name in values))
    return pattern.sub(lambda found: str(values[found.group()[1:-1]]), template)


def build_prompt(style: Style, examples: pd.DataFrame, texts: list[str], tokenizer=None) -> Prompt:
    """One execution's prompts; through the model's chat template when `style.chat` (which
    needs the tokenizer)."""
    if style.chat:
        return chat_prompt(style, examples, texts, tokenizer)
    template, labels_text = style.template, " or ".join(style.words)
    shown = "".join(fill(template["example"], text=r.text, label=style.word(r.label))
                    for r in examples.itertuples())
    instruction = template["instruction"]
    if "{examples}" in instruction:
        prefix = fill(instruction, examples=shown, labels=labels_text)
    else:
        prefix = fill(instruction, labels=labels_text) + shown
    return Prompt(prefix, [fill(template["query"], text=t) for t in texts],
                  [" " + word for word in style.words])


SLOT = "\x00text\x00"  # where the text goes in a rendered chat: never in a real template


def chat_prompt(style: Style, examples: pd.DataFrame, texts: list[str], tokenizer) -> Prompt:
    """The instruction as the system turn, each example a user turn answered by its label
    word, the text the last user turn; the labels are scored as the assistant's first words.
    Everything before the last user turn's text is the shared prefix."""
    template = style.template
    instruction = fill(template["instruction"], labels=" or ".join(style.words), examples="")
    turns = []
    for r in examples.itertuples():
        turns += [{"role": "user", "content": fill(template["query"], text=r.text)},
                  {"role": "assistant", "content": style.word(r.label)}]
    turns.append({"role": "user", "content": fill(template["query"], text=SLOT)})
    head, tail = render_chat(tokenizer, instruction.strip(), turns).split(SLOT)
    # The head ends with the query's words before the text ("Text: "), the tail holds the
    # rest of the query and the template's opening of the assistant's turn.
    return Prompt(head, [text + tail for text in texts], list(style.words))


def render_chat(tokenizer, system: str, turns: list[dict]) -> str:
    """The turns through the model's chat template, ready for the assistant's answer. A
    template without a system role (Gemma's) gets the instruction in the first user turn."""
    try:
        return tokenizer.apply_chat_template([{"role": "system", "content": system}, *turns],
                                             tokenize=False, add_generation_prompt=True)
    except Exception:  # jinja raises its own errors for a role the template refuses
        first = {**turns[0], "content": f"{system}\n\n{turns[0]['content']}"}
        return tokenizer.apply_chat_template([first, *turns[1:]], tokenize=False,
                                             add_generation_prompt=True)


def preview(style: Style, examples: pd.DataFrame, text: str, tokenizer=None) -> str:
    """The full prompt one example gets, as the model will read it."""
    prompt = build_prompt(style, examples, [text], tokenizer)
    return prompt.prefix + prompt.queries[0]


def piece_ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def prefix_ids(tokenizer, prefix: str) -> list[int]:
    """The prefix's ids, led by the beginning-of-text token where the model uses one (and a
    rendered chat template has not already written it)."""
    bos = tokenizer.bos_token_id
    if bos is None or (tokenizer.bos_token and prefix.startswith(tokenizer.bos_token)):
        return piece_ids(tokenizer, prefix)
    return [bos] + piece_ids(tokenizer, prefix)


@torch.no_grad()
def score_labels(model, tokenizer, prompt: Prompt, batch_size: int = 16,
                 on_progress=None) -> np.ndarray:
    """Total log-probability of each label after each query: shape (examples, labels).

    The prefix runs once; its cache is copied for each batch. A row holds a query and a
    label without its last token, so labels of one token share one row per example (the
    next-token distribution after the query scores them all).
    """
    device = next(model.parameters()).device
    prefix = prefix_ids(tokenizer, prompt.prefix)
    if not prefix:
        raise WorkbenchError("the prompt is empty before the text and the model has no "
                             "beginning-of-text token; add an instruction")
    prefix_out = model(torch.tensor([prefix], device=device), use_cache=True)
    labels = [piece_ids(tokenizer, label) for label in prompt.labels]
    queries = [piece_ids(tokenizer, q) for q in prompt.queries]
    rows = {}  # (example, label head) -> the (example, label) pairs that row scores
    for i in range(len(queries)):
        for j, label in enumerate(labels):
            rows.setdefault((i, tuple(label[:-1])), []).append(j)
    scores = np.zeros((len(queries), len(labels)))
    keys = list(rows)
    for start in range(0, len(keys), batch_size):
        chunk = keys[start:start + batch_size]
        logprobs = _row_logprobs(model, prefix_out, [queries[i] + list(head) for i, head in chunk],
                                 len(prefix), tokenizer.pad_token_id or 0)
        for r, (i, _head) in enumerate(chunk):
            for j in rows[(i, _head)]:
                # Row position t is predicted by logprobs[r, t] (position 0 by the prefix).
                positions = torch.arange(len(queries[i]), len(queries[i]) + len(labels[j]))
                scores[i, j] = logprobs[r, positions, torch.tensor(labels[j])].sum().item()
        if on_progress:
            on_progress(min(start + batch_size, len(keys)) / len(keys))
    return scores


def _row_logprobs(model, prefix_out, sequences: list[list[int]], prefix_length: int, pad: int):
    """Log-probabilities predicting each row token, after the cached prefix: (rows, width + 1, vocab)."""
    device = prefix_out.logits.device
    width = max(1, max(map(len, sequences)))
    ids = torch.full((len(sequences), width), pad, device=device)
    mask = torch.zeros((len(sequences), prefix_length + width), dtype=torch.long, device=device)
    mask[:, :prefix_length] = 1
    for r, seq in enumerate(sequences):  # right padding: the padded tail is never read
        ids[r, : len(seq)] = torch.tensor(seq, device=device)
        mask[r, prefix_length: prefix_length + len(seq)] = 1
    cache = copy.deepcopy(prefix_out.past_key_values)
    cache.batch_repeat_interleave(len(sequences))
    logits = model(ids, attention_mask=mask, past_key_values=cache, use_cache=True).logits
    first = prefix_out.logits[:, -1:].expand(len(sequences), -1, -1)
    return torch.log_softmax(torch.cat([first, logits], 1).float(), -1).cpu()


@torch.no_grad()
def score_labels_plainly(model, tokenizer, prompt: Prompt) -> np.ndarray:
    """The reference: one forward pass per example and label over the full prompt, unbatched."""
    device = next(model.parameters()).device
    prefix = prefix_ids(tokenizer, prompt.prefix)
    labels = [piece_ids(tokenizer, label) for label in prompt.labels]
    scores = np.zeros((len(prompt.queries), len(labels)))
    for i, query in enumerate(prompt.queries):
        head = prefix + piece_ids(tokenizer, query)
        for j, label in enumerate(labels):
            logits = model(torch.tensor([head + label], device=device)).logits[0].float()
            logprobs = torch.log_softmax(logits, -1)
            scores[i, j] = sum(logprobs[len(head) - 1 + k, t].item() for k, t in enumerate(label))
    return scores


def parse_answer(output: str, label_names: list[str]) -> str | None:
    """The label an answer names: after 'Answer:' if present, else the first label word."""
    tail = output.rsplit("Answer:", 1)[-1]
    found = [(m.start(), name) for name in label_names
             for m in [re.search(rf"\b{re.escape(name)}\b", tail, re.IGNORECASE)] if m]
    return min(found)[1] if found else None


def generate_answers(model, tokenizer, prompt: Prompt, max_new_tokens: int,
                     batch_size: int = 8, on_progress=None) -> list[str]:
    """Greedy answers for each query of a prompt."""
    prefix = prefix_ids(tokenizer, prompt.prefix)
    rows = [prefix + piece_ids(tokenizer, q) for q in prompt.queries]
    return generate_batches(model, tokenizer, rows, max_new_tokens, batch_size, on_progress)


@torch.no_grad()
def generate_batches(model, tokenizer, rows: list[list[int]], max_new_tokens: int,
                     batch_size: int = 8, on_progress=None) -> list[str]:
    """Greedy continuations of token-id rows, batched with left padding; an answer ends at
    the end-of-text token or at its chat template's end of turn."""
    from transformers import StoppingCriteriaList

    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    outputs = []
    for start in range(0, len(rows), batch_size):
        batch = rows[start:start + batch_size]
        width = max(map(len, batch))
        ids = torch.tensor([[pad] * (width - len(r)) + r for r in batch], device=device)
        mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in batch], device=device)
        generated = model.generate(
            input_ids=ids, attention_mask=mask, do_sample=False, max_new_tokens=max_new_tokens,
            pad_token_id=pad, stopping_criteria=StoppingCriteriaList(
                chat_templates.stops(tokenizer, width)))
        outputs += [chat_templates.cut_at_turn_end(text, tokenizer) for text in
                    tokenizer.batch_decode(generated[:, width:], skip_special_tokens=True)]
        progress.advance(len(batch))
        if on_progress:
            on_progress(min(start + batch_size, len(rows)) / len(rows))
    return outputs
