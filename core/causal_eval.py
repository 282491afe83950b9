"""Judging a causal model on the test split: the original and the tuned one alike (S4, S6).

- classification: the model writes an answer to the training prompt, which is
  parsed back to a label (S4's "Original vs Tuned" table: accuracy overall and
  on each class); answers naming no label are counted and wrong.
- summaries and responses: generated, scored with ROUGE-1/2/L against the
  references, plus the perplexity of the references (S6).
- preference pairs: how often the chosen answer is more likely than the rejected.

Each returns the evaluation's figures and one prediction row per test example.
"""

import math

import numpy as np
import torch

from core.causal_data import encode_prompt, token_count
from core.metrics import classification_metrics
from core.prompting import generate_batches, parse_answer

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


def classify(model, tokenizer, prompts: list[str], texts: list[str], truth: np.ndarray,
             label_names: list[str], batch_size: int) -> tuple[dict, list[dict]]:
    rows = [encode_prompt(tokenizer, p) for p in prompts]
    longest = max(token_count(tokenizer, " " + name) for name in label_names)
    outputs = generate_batches(model, tokenizer, rows, longest + 4, batch_size)
    parsed = [parse_answer(o, label_names) for o in outputs]
    predicted = np.array([label_names.index(p) if p else -1 for p in parsed])
    report = classification_metrics(truth, predicted, label_names)
    report["unparseable"] = int((predicted < 0).sum())
    predictions = [{"idx": i, "input": texts[i], "reference": label_names[truth[i]],
                    "prediction": parsed[i], "score": None, "output": outputs[i]}
                   for i in range(len(texts))]
    return report, predictions


def summarise(model, tokenizer, prompts: list[str], sources: list[str], references: list[str],
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
    return results


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
