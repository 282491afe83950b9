"""The workbench's label scorer against the plain way, on the same prompt and examples.

Plain: one forward pass per example and label over the full prompt, unbatched.
Workbench: the shared 3-shot prefix runs once and its key/value cache is reused;
examples are batched; labels of one token share a row. Both see the same token
ids, so the predictions must be identical. Prints both times and the speed-up
(target: 3x or more).

    python bench/prompt_scoring.py [--limit 200] [--shots 3]
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

from core import prompting  # noqa: E402
from core.data import load_table, split_table  # noqa: E402
from core.models import load_causal, load_tokenizer, resolve_model  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--shots", type=int, default=3)
    parser.add_argument("--model", default="smollm2-135m")
    args = parser.parse_args()

    source = resolve_model(args.model)
    tokenizer, model = load_tokenizer(source), load_causal(source)
    table = load_table("rt-reviews")
    splits = split_table(table, seed=42)
    examples = prompting.choose_examples(splits["train"], args.shots, 0, table.label_names)
    test = splits["test"].iloc[: args.limit]
    names = tuple(table.label_names)
    prompt = prompting.build_prompt(prompting.Style(prompting.PROMPT_TEMPLATES["plain"], names, names),
                                    examples, list(test["text"]))
    torch.set_grad_enabled(False)

    started = time.perf_counter()
    fast = prompting.score_labels(model, tokenizer, prompt)
    fast_seconds = time.perf_counter() - started
    started = time.perf_counter()
    plain = prompting.score_labels_plainly(model, tokenizer, prompt)
    plain_seconds = time.perf_counter() - started

    truth = test["label"].map({n: i for i, n in enumerate(table.label_names)}).to_numpy()
    same = (fast.argmax(1) == plain.argmax(1)).all()
    print(f"{len(test)} examples, {args.shots}-shot prompt of "
          f"{len(prompting.prefix_ids(tokenizer, prompt.prefix))} prefix tokens, {args.model}")
    print(f"plain (one forward per example and label): {plain_seconds:6.1f} s")
    print(f"workbench (cached prefix, batched):          {fast_seconds:6.1f} s")
    print(f"identical predictions: {same}; largest log-probability difference "
          f"{np.abs(fast - plain).max():.2e}; accuracy {(fast.argmax(1) == truth).mean():.3f}")
    print(f"speed-up = {plain_seconds / fast_seconds:.2f}x (target >= 3x)")


if __name__ == "__main__":
    main()
