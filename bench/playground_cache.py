"""What the playground's model cache saves: a second input to the same models, cold and warm.

Cold: each model is loaded, then answers (a fresh cache per model, as with no cache).
Warm: the same models answer a second input from the cache. Both answer greedily,
so outputs of the same input are identical. Prints each time and the ratio
cold / warm (how much longer the second input would take without the cache).

    python bench/playground_cache.py [--models smollm2-135m,RUN_ID] [--tokens 32]
"""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from core import playground  # noqa: E402
from core.playground import GenerationSettings, ModelCache, Request  # noqa: E402

INPUTS = ["In one sentence, what is a language model?", "Name three uses of text classification."]


def answer_all(cache: ModelCache, models: list[str], text: str, settings) -> tuple[float, list]:
    started = time.perf_counter()
    results = [list(playground.answer(cache.get(m), Request(text), settings))[-1] for m in models]
    return time.perf_counter() - started, results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models", default="smollm2-135m")
    parser.add_argument("--tokens", type=int, default=32)
    args = parser.parse_args()
    models, settings = args.models.split(","), GenerationSettings(max_new_tokens=args.tokens)

    playground.load(models[0])  # converts the bundled GGUF once, outside both timings
    cold = sum(answer_all(ModelCache(), [m], INPUTS[1], settings)[0] for m in models)
    cache = ModelCache()
    answer_all(cache, models, INPUTS[0], settings)
    warm, results = answer_all(cache, models, INPUTS[1], settings)
    speed = sum(r.tokens_per_second for r in results) / len(results)
    print(f"models: {', '.join(models)}; {args.tokens} new tokens at most")
    print(f"second input, loading each model: {cold:.2f} s")
    print(f"second input, models cached:      {warm:.2f} s  ({speed:.1f} tokens/s on average)")
    print(f"ratio cold / warm: {cold / warm:.2f}")


if __name__ == "__main__":
    main()
