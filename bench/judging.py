"""Judging a causal run's labelled test split: scoring the labels against generating answers.

The same model (bundled smollm2-135m) judges the same rt-reviews test examples,
in the training prompt of an sft run, both ways through `causal_eval.classify`:

- generation: the model writes an answer, parsed back to a label;
- scoring: each label's answer (the completion SFT trains) is scored, the likeliest wins.

A run judges its tuned and its original model this way. Prints the seconds of each,
the speed-up (generation / scoring), the accuracy of each, and how often they agree.

    python bench/judging.py [--limit 100]
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from core import causal_data, causal_eval, engine  # noqa: E402
from core.causal_run import EVAL_BATCH  # noqa: E402
from core.config import TrainConfig  # noqa: E402
from core.models import load_causal, load_tokenizer  # noqa: E402


def timed(judge: str, model, tokenizer, items: dict, batch_size: int) -> tuple[float, dict, list]:
    started = time.perf_counter()
    report, predictions = causal_eval.classify(model, tokenizer, **{**items, "judge": judge},
                                               batch_size=batch_size)
    return time.perf_counter() - started, report, predictions


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=100)
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--batch-size", type=int, default=EVAL_BATCH)
    args = parser.parse_args()

    # The test split an sft run on rt-reviews is judged on (S4's sizes), its first examples.
    prepared = engine.prepare(TrainConfig(model=args.model, method="sft", adapter="lora",
                                          dataset="rt-reviews", test_size=2500))
    tokenizer, model = load_tokenizer(prepared.source), load_causal(prepared.source)
    test = prepared.splits["test"].iloc[: args.limit]
    _, items = causal_data.test_items(tokenizer, test, prepared.table, prepared.config, None)
    rows = [causal_data.encode_prompt(tokenizer, p) for p in items["prompts"]]
    torch.set_grad_enabled(False)
    warm = {**items, **{k: items[k][: args.batch_size] for k in ("prompts", "texts", "truth")}}
    timed("score", model, tokenizer, warm, args.batch_size)  # first calls pay one-off costs

    generate_seconds, generated, by_writing = timed("generate", model, tokenizer, items,
                                                    args.batch_size)
    score_seconds, scored, by_scoring = timed("score", model, tokenizer, items, args.batch_size)

    same = np.array([g["prediction"] == s["prediction"] for g, s in zip(by_writing, by_scoring)])
    named = np.array([g["prediction"] is not None for g in by_writing])
    print(f"{len(test)} rt-reviews test examples, {args.model}, batch {args.batch_size}; sft "
          f"prompts of {np.mean([len(r) for r in rows]):.0f} tokens on average, the first "
          f"{causal_eval.shared_length(rows)} shared")
    print(f"generation: {generate_seconds:6.1f} s, accuracy {generated['accuracy']:.3f} "
          f"({generated['unparseable']} answers naming no label)")
    print(f"scoring:    {score_seconds:6.1f} s, accuracy {scored['accuracy']:.3f} "
          f"({scored['unparseable']} answers naming no label)")
    print(f"speed-up = generation / scoring = {generate_seconds / score_seconds:.2f}x")
    print(f"agreement: the same label for {same.mean():.1%} of examples "
          f"({same[named].mean():.1%} of those whose written answer named one)")


if __name__ == "__main__":
    main()
