"""Judging a causal model on the test split: the original and the tuned one alike (the Mistral sentiment and Pythia summary recipes).

- classification (the Mistral recipe's "Original vs Tuned" table: accuracy overall and on each
  class), by the run's `judge`: "score" takes the label whose answer (exactly the
  completion SFT trains, end-of-text included) is likeliest after the training
  prompt; "generate" lets the model write an answer, parsed back to a label, and
  answers naming no label are counted and wrong.
- summaries and responses: generated, scored with ROUGE-1/2/L against the
  references, plus the perplexity of the references (the Pythia summary recipe).
- preference pairs: how often the chosen answer is more likely than the rejected.

Each returns the evaluation's figures and one prediction row per test example.
"""

import copy
import math
import os

import numpy as np
import torch

from core import progress
from core.causal_data import completion_text, encode_prompt, token_count
from core.metrics import classification_metrics
from core.prompting import generate_batches, parse_answer

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


def classify(model, tokenizer, prompts: list[str], texts: list[str], truth: np.ndarray,
             label_names: list[str], batch_size: int, judge: str) -> tuple[dict, list[dict]]:
    rows = [encode_prompt(tokenizer, p) for p in prompts]
    predicted, scores, outputs = VERDICTS[judge](model, tokenizer, rows, label_names, batch_size)
    report = classification_metrics(truth, predicted, label_names)
    report["unparseable"] = int((predicted < 0).sum())
    predictions = [{"idx": i, "input": texts[i], "reference": label_names[truth[i]],
                    "prediction": label_names[p] if p >= 0 else None, "score": scores[i],
                    "output": outputs[i]} for i, p in enumerate(predicted)]
    return report, predictions


def scored_verdicts(model, tokenizer, rows: list[list[int]], label_names: list[str],
                    batch_size: int) -> tuple[np.ndarray, list, list]:
    """The label whose answer is likeliest, its probability over the labels; nothing written."""
    answers = [completion_text(tokenizer, name) for name in label_names]
    logprobs = answer_logprobs(model, tokenizer, rows, answers, batch_size)
    probs = np.exp(logprobs - logprobs.max(1, keepdims=True))
    probs /= probs.sum(1, keepdims=True)
    return probs.argmax(1), probs.max(1).tolist(), [None] * len(rows)


def generated_verdicts(model, tokenizer, rows: list[list[int]], label_names: list[str],
                       batch_size: int) -> tuple[np.ndarray, list, list]:
    """The label each written answer names (-1 for none); no score; the answers."""
    longest = max(token_count(tokenizer, " " + name) for name in label_names)
    outputs = generate_batches(model, tokenizer, rows, longest + 4, batch_size)
    parsed = [parse_answer(o, label_names) for o in outputs]
    return (np.array([label_names.index(p) if p else -1 for p in parsed]), [None] * len(rows),
            outputs)


VERDICTS = {"score": scored_verdicts, "generate": generated_verdicts}  # one per config.JUDGES


def judge_summaries(model, tokenizer, prompts: list[str], sources: list[str], references: list[str],
              max_new_tokens: int, batch_size: int) -> tuple[dict, list[dict]]:
    rows = [encode_prompt(tokenizer, p) for p in prompts]
    outputs = [o.strip() for o in generate_batches(model, tokenizer, rows, max_new_tokens, batch_size)]
    per_example = rouge(references, outputs)
    report = {"n": len(outputs), **{k: float(np.mean([s[k] for s in per_example]))
                                    for k in ROUGE_TYPES},
              "perplexity": perplexity(model, tokenizer, rows, references, batch_size)}
    predictions = [{"idx": i, "input": sources[i], "reference": references[i],
                    "prediction": outputs[i], "score": per_example[i]["rougeL"],
                    "output": outputs[i]} for i in range(len(outputs))]
    return report, predictions


def rouge(references: list[str], outputs: list[str]) -> list[dict]:
    """ROUGE F-measures per example (Google's reference implementation, with stemming)."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=True)
    return [{k: v.fmeasure for k, v in scorer.score(ref, out).items()}
            for ref, out in zip(references, outputs)]


@torch.no_grad()
def completion_logprobs(model, tokenizer, prompt_rows: list[list[int]], completions: list[str],
                        batch_size: int) -> list[tuple[float, int]]:
    """(total log-probability, token count) of each completion and its end-of-text token."""
    device = next(model.parameters()).device
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    results = []
    for start in range(0, len(prompt_rows), batch_size):
        heads = prompt_rows[start:start + batch_size]
        tails = [tokenizer(c, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
                 for c in completions[start:start + batch_size]]
        width = max(len(h) + len(t) for h, t in zip(heads, tails))
        ids = torch.full((len(heads), width), pad, device=device)
        mask = torch.zeros_like(ids)
        for r, (head, tail) in enumerate(zip(heads, tails)):  # right padding
            ids[r, : len(head) + len(tail)] = torch.tensor(head + tail, device=device)
            mask[r, : len(head) + len(tail)] = 1
        logprobs = torch.log_softmax(model(ids, attention_mask=mask).logits.float(), -1)
        for r, (head, tail) in enumerate(zip(heads, tails)):
            positions = torch.arange(len(head) - 1, len(head) + len(tail) - 1, device=device)
            picked = logprobs[r, positions, torch.tensor(tail, device=device)]
            results.append((picked.sum().item(), len(tail)))
        progress.advance(len(heads))
    return results


@torch.no_grad()
def answer_logprobs(model, tokenizer, prompt_rows: list[list[int]], answers: list[str],
                    batch_size: int) -> np.ndarray:
    """Total log-probability of each answer and its end-of-text token after each prompt,
    shape (prompts, answers): `completion_logprobs` of every (prompt, answer) pair, the same
    tokens at the same positions, for about the cost of reading each prompt once.

    Pairing every prompt with every answer reads each prompt once per answer: on 100 sft
    prompts of rt-reviews, smollm2-135m took 41 s that way, 16 s to generate the answers and
    9 s this way (bench/judging.py). Here the beginning all prompts share (a chat
    template's system turn, the prompt's opening words) runs once; each prompt's remainder
    runs once, in batches of similar length (less padding); only the answers' tokens then
    run for each answer, on copies of the prompt's key/value cache.
    """
    device = next(model.parameters()).device
    shared = shared_length(prompt_rows)
    prefix = (model(torch.tensor([prompt_rows[0][:shared]], device=device),
                    use_cache=True).past_key_values if shared else None)
    tails = [tokenizer(a, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
             for a in answers]
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    order = sorted(range(len(prompt_rows)), key=lambda i: len(prompt_rows[i]))
    scores = np.zeros((len(prompt_rows), len(answers)))
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        scores[chunk] = _answers_after(model, prefix, shared,
                                       [prompt_rows[i][shared:] for i in chunk], tails, pad)
        progress.advance(len(chunk))
    return scores


def shared_length(rows: list[list[int]]) -> int:
    """Tokens every row begins with, short of each row's last: the logits after a prompt's
    last token score the answer's first, so that token must run with the prompt's own."""
    return min(len(os.path.commonprefix(rows)), min(map(len, rows)) - 1)


def _answers_after(model, prefix, shared: int, heads: list[list[int]], tails: list[list[int]],
                   pad: int) -> np.ndarray:
    """(heads, tails) log-probabilities of each tail after the cached prefix and each head.

    The heads run once, left-padded so that all end together: only their last position's
    logits are computed (the vocabulary projection of every position would cost a fifth of a
    small model's pass). Their cache is then repeated once per tail, head-major, and each
    tail but its last token runs after it. Positions are given, as padding lies between the
    prefix and a head."""
    device = next(model.parameters()).device
    ids, mask = _padded(heads, pad, device, left=True)
    cache = copy.deepcopy(prefix)
    if cache is not None:
        cache.batch_repeat_interleave(len(heads))
    seen = torch.cat([torch.ones(len(heads), shared, dtype=mask.dtype, device=device), mask], 1)
    positions = shared + (mask.cumsum(1) - 1).clamp(min=0)
    out = model(ids, attention_mask=seen, past_key_values=cache, position_ids=positions,
                use_cache=True, logits_to_keep=1)
    first = torch.log_softmax(out.logits[:, -1].float(), -1)

    cache = out.past_key_values
    cache.batch_repeat_interleave(len(tails))
    rest_ids, rest_mask = _padded([t[:-1] for t in tails] * len(heads), pad, device)
    after = (positions[:, -1:] + 1).repeat_interleave(len(tails), 0)
    rest = model(rest_ids, past_key_values=cache,
                 attention_mask=torch.cat([seen.repeat_interleave(len(tails), 0), rest_mask], 1),
                 position_ids=after + torch.arange(rest_ids.shape[1], device=device)).logits
    following = torch.log_softmax(rest.float(), -1)
    scores = np.zeros((len(heads), len(tails)))
    for i in range(len(heads)):
        for j, tail in enumerate(tails):
            picked = following[i * len(tails) + j, torch.arange(len(tail) - 1, device=device),
                               torch.tensor(tail[1:], device=device)]
            scores[i, j] = (first[i, tail[0]] + picked.sum()).item()
    return scores


def _padded(rows: list[list[int]], pad: int, device,
            left: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and attention mask of `rows`, padded to the longest on the right (or left)."""
    width = max(map(len, rows))

    def side(row, fill):
        return fill + row if left else row + fill

    ids = [side(r, [pad] * (width - len(r))) for r in rows]
    mask = [side([1] * len(r), [0] * (width - len(r))) for r in rows]
    return torch.tensor(ids, device=device), torch.tensor(mask, device=device)


def perplexity(model, tokenizer, prompt_rows, references: list[str], batch_size: int) -> float:
    """exp of the mean loss per reference token, given its prompt."""
    scored = completion_logprobs(model, tokenizer, prompt_rows, references, batch_size)
    total, tokens = sum(s for s, _ in scored), sum(n for _, n in scored)
    return math.exp(-total / tokens)


def prefer(model, tokenizer, prompts: list[str], chosen: list[str], rejected: list[str],
           batch_size: int) -> tuple[dict, list[dict]]:
    """Preference accuracy: the share of pairs where the chosen answer is the likelier."""
    rows = [encode_prompt(tokenizer, p) for p in prompts]
    good = completion_logprobs(model, tokenizer, rows, chosen, batch_size)
    bad = completion_logprobs(model, tokenizer, rows, rejected, batch_size)
    margins = [g[0] - b[0] for g, b in zip(good, bad)]
    report = {"n": len(margins), "accuracy": float(np.mean([m > 0 for m in margins]))}
    predictions = [{"idx": i, "input": prompts[i], "reference": chosen[i],
                    "prediction": chosen[i] if m > 0 else rejected[i], "score": m, "output": None}
                   for i, m in enumerate(margins)]
    return report, predictions
