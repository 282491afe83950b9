"""How strong is the prompting baseline? Every chat setting x verbaliser x template of a
causal model on one labelled split, each with its contextually calibrated twin (Zhao et al.,
2021), over k-shot executions and seeds: the table docs/benchmarks.md quotes, and the
setting the Compare page should start from. Accuracy, not time, so a busy machine only
makes it slower.

    python bench/prompting_baseline.py [--model smollm2-135m] [--dataset rt-reviews]
        [--limit 200] [--shots 0,1,3] [--seeds 3] [--templates plain,role]
        [--verbalizers "-;rotten=negative,fresh=positive"]
"""

import argparse
import itertools
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WORKBENCH_HOME", tempfile.mkdtemp(prefix="baseline-"))

from core import paths  # noqa: E402
from core.evaluate import EvalConfig, evaluate, system_summary  # noqa: E402
from storage.db import connect  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--dataset", default="rt-reviews")
    parser.add_argument("--limit", type=int, default=200)
    parser.add_argument("--shots", default="0,1,3")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--templates", default="plain,role")
    parser.add_argument("--chats", default="on,off")
    parser.add_argument("--verbalizers", default="-;rotten=negative,fresh=positive",
                        help="';'-separated; '-' keeps the data set's own label names")
    args = parser.parse_args()
    db = connect(paths.db_path())
    shots = tuple(int(k) for k in args.shots.split(","))
    settings = itertools.product(args.templates.split(","), args.chats.split(","),
                                 args.verbalizers.split(";"))
    rows = []
    for template, chat, words in settings:
        config = EvalConfig(model=args.model, dataset=args.dataset, shots=shots, seeds=args.seeds,
                            limit=args.limit, template=template, chat=chat,
                            verbalizer=None if words == "-" else words)
        ids = evaluate(config, db)
        rows += [dict(db["evaluations"].get(i)) for i in ids]
        print_table(system_summary(rows))


def print_table(summary) -> None:
    print("\n| system | shots | accuracy (mean ± std) | executions |")
    print("|---|---|---|---|")
    for row in summary.sort_values(["shots", "accuracy"], ascending=[True, False]).itertuples():
        print(f"| {row.template} | {row.shots} | {row.accuracy:.3f} ± {row.accuracy_std:.3f} | "
              f"{row.executions} |", flush=True)


if __name__ == "__main__":
    main()
