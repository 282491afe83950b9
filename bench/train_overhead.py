"""What does training through the workbench cost over a plain HF Trainer script?

Same model (bundled minilm-l6), same data (the same rt-reviews split), same
TrainingArguments; the workbench adds its callback (metrics to SQLite every
logging step, stop checks every step). Rounds alternate between the two in one
process so that machine noise hits both alike. Prints each round and the ratio
of the medians of the Trainer's own `train_samples_per_second` (target >= 0.97).

    python bench/train_overhead.py [--rounds 5] [--max-steps 60]
"""

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import transformers  # noqa: E402
from transformers import (AutoModelForSequenceClassification, AutoTokenizer,  # noqa: E402
                          DataCollatorWithPadding, Trainer)

from core import engine  # noqa: E402
from core.config import TrainConfig  # noqa: E402
from core.hf_trainer import training_arguments  # noqa: E402
from storage import queries  # noqa: E402
from storage.db import connect  # noqa: E402


def plain_trainer(prepared, output_dir: str) -> float:
    """The script a user would write by hand: tokenise, Trainer, train."""
    config, names = prepared.config, prepared.table.label_names
    transformers.set_seed(config.seed)
    path = prepared.source.location
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModelForSequenceClassification.from_pretrained(path, num_labels=len(names))
    index = {name: i for i, name in enumerate(names)}

    def tokenised(frame):
        encodings = tokenizer(list(frame["text"]), truncation=True, max_length=config.max_length)
        labels = frame["label"].map(index).tolist()
        return [{**{k: v[i] for k, v in encodings.items()}, "labels": labels[i]}
                for i in range(len(labels))]

    trainer = Trainer(model=model, args=training_arguments(config, output_dir, True),
                      train_dataset=tokenised(prepared.splits["train"]),
                      eval_dataset=tokenised(prepared.splits["eval"]),
                      data_collator=DataCollatorWithPadding(tokenizer))
    return trainer.train().metrics["train_samples_per_second"]


def workbench(config: TrainConfig, home: Path) -> float:
    db = connect(home / "workbench.db")
    run_id = engine.train(config, db)
    run = queries.get_run(db, run_id)
    if run["status"] != "completed":
        raise SystemExit(f"workbench run failed: {run['error']}")
    return json.loads(run["summary"])["train_samples_per_second"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--max-steps", type=int, default=60)
    args = parser.parse_args()
    transformers.logging.set_verbosity_error()
    transformers.logging.disable_progress_bar()

    config = TrainConfig(model="minilm-l6", method="trainer", dataset="rt-reviews",
                         train_size=640, eval_size=128, test_size=128, max_length=64,
                         max_steps=args.max_steps, lr=5e-5, logging_steps=10)
    prepared = engine.prepare(config)
    ours, theirs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["WORKBENCH_HOME"] = tmp
        for i in range(args.rounds):
            # Alternate who goes first, so warm-up and drift do not favour one side.
            order = [("plain", theirs), ("workbench", ours)][:: 1 if i % 2 else -1]
            for name, results in order:
                started = time.perf_counter()
                if name == "plain":
                    results.append(plain_trainer(prepared, f"{tmp}/plain-{i}"))
                else:
                    results.append(workbench(prepared.config, Path(tmp)))
                print(f"round {i + 1} {name:9s} {results[-1]:7.1f} samples/s "
                      f"({time.perf_counter() - started:.0f} s wall)", flush=True)
    ratio = statistics.median(ours) / statistics.median(theirs)
    paired = statistics.median(a / b for a, b in zip(ours, theirs))
    print(f"median samples/s: workbench {statistics.median(ours):.1f}, "
          f"plain Trainer {statistics.median(theirs):.1f}")
    print(f"ratio workbench / plain = {ratio:.3f} (target >= 0.97); "
          f"median of per-round ratios {paired:.3f}")


if __name__ == "__main__":
    main()
