"""Prompting vs fine-tuning on one held-out split (S5): executions, repeated over seeds.

Every evaluation is scored on the same test examples: the test split is drawn
exactly as training draws it (data, seed and sizes), and the first `limit` of
its examples are used. A fine-tuned run therefore joins a comparison through
the predictions it stored on that split; nothing is recomputed.
"""

import json
import time
from dataclasses import dataclass, field

import numpy as np

from core.config import TrainConfig
from core.data import load_table, split_name, split_table
from core.errors import WorkbenchError
from core.metrics import classification_metrics
from storage import queries


def _f(default, help_text):
    return field(default=default, metadata={"help": help_text})


@dataclass
class EvalConfig:
    model: str | None = _f(None, "Causal model to prompt: catalog id, hub id or local folder.")
    run: str | None = _f(None, "Or a finished fine-tuned run, compared on its own test split.")
    dataset: str = _f("rt-reviews", "A labelled data set (catalog id or file).")
    text_column: str | None = _f(None, "Text column of an uploaded file.")
    label_column: str | None = _f(None, "Label column of an uploaded file.")
    shots: tuple = _f((0, 1, 3), "Numbers of examples shown before each text.")
    seeds: int = _f(3, "Executions per number of shots, each with other examples.")
    limit: int | None = _f(200, "Score the first N test examples (all when unset).")
    template: str = _f("plain", "plain, role, cot (chain of thought) or custom.")
    custom_template: str | None = _f(None, "Custom template text with {text} (and {examples}).")
    decide: str = _f("score", "score: compare each label's log-probability; generate: write "
                              "an answer and parse it.")
    max_new_tokens: int = _f(8, "generate: tokens per answer (chain of thought needs ~64).")
    batch_size: int = _f(16, "Rows per forward pass.")
    seed: int = _f(42, "Split seed (the same as a training run's to share its test split).")
    train_size: float | None = _f(None, "Split sizes, as for training.")
    eval_size: float | None = _f(None, "Split sizes, as for training.")
    test_size: float | None = _f(None, "Split sizes, as for training.")


def evaluate(config: EvalConfig, db, on_progress=None) -> list[int]:
    """Run every execution the config asks for; returns the evaluation ids stored."""
    if (config.model is None) == (config.run is None):
        raise WorkbenchError("give either a model to prompt or a fine-tuned run, not both")
    check_counts(config)
    if config.run:
        return [evaluate_run(config, db)]
    return evaluate_prompting(config, db, on_progress or (lambda done, text: None))


def evaluate_run(config: EvalConfig, db) -> int:
    """A fine-tuned run on the first `limit` examples of its test split, from its predictions."""
    run = queries.get_run(db, config.run)
    if run is None:
        raise WorkbenchError(f"no run with id {config.run}")
    finished = [e for e in queries.run_evaluations(db, config.run) if e["mode"] == "fine-tuned"]
    if run["status"] != "completed" or not finished:
        raise WorkbenchError(f"run {config.run} is {run['status']}; only a completed run has "
                             "test predictions to compare")
    source = finished[0]
    rows = queries.evaluation_predictions(db, source["id"])[: config.limit]
    names = json.loads(source["labels"])
    index = {name: i for i, name in enumerate(names)}
    report = classification_metrics([index[r["reference"]] for r in rows],
                                    [index[r["prediction"]] for r in rows], names)
    trained = TrainConfig(**json.loads(run["config"]))
    split = split_name(trained.dataset, trained.seed, source["n"], len(rows))
    report["unparseable"] = 0
    return store(db, {"run_id": run["id"], "model": f"{run['model']} ({run['method']} run)",
                      "dataset": trained.dataset, "mode": "fine-tuned", "shots": 0,
                      "seed": trained.seed, "template": None, "split": split}, report,
                 [{k: r[k] for k in ("idx", "input", "reference", "prediction", "score", "output")}
                  for r in rows])


def evaluate_prompting(config: EvalConfig, db, on_progress) -> list[int]:
    from core import prompting
    from core.models import load_causal, load_tokenizer, resolve_model

    template = template_for(config)
    if config.decide not in ("score", "generate"):
        raise WorkbenchError(f"decide must be 'score' or 'generate', not '{config.decide}'")
    columns = {k: v for k, v in {"text": config.text_column, "label": config.label_column}.items() if v}
    table = load_table(config.dataset, columns)
    if table.task != "classification":
        raise WorkbenchError(f"'{config.dataset}' is not a labelled data set")
    sizes = (config.train_size, config.eval_size, config.test_size)
    splits = split_table(table, config.seed, *sizes)
    test = splits["test"].iloc[: config.limit]
    source = resolve_model(config.model)
    if source.kind != "causal":
        raise WorkbenchError(f"'{config.model}' is an encoder; prompting needs a causal model")
    tokenizer, model = load_tokenizer(source), load_causal(source)
    names, texts = table.label_names, list(test["text"])
    truth = test["label"].map({n: i for i, n in enumerate(names)}).to_numpy()
    split = split_name(config.dataset, config.seed, len(splits["test"]), len(test))
    executions = [(k, s) for k in config.shots for s in range(config.seeds)]
    stored, started, decided = [], time.monotonic(), {}
    for number, (shots, seed) in enumerate(executions):
        examples = prompting.choose_examples(splits["train"], shots, seed, names)
        prompt = prompting.build_prompt(template, examples, texts, names)

        def progress(fraction, number=number):
            done = (number + fraction) / len(executions)
            left = (time.monotonic() - started) * (1 - done) / done if done else None
            on_progress(done, f"{shots}-shot, seed {seed}" +
                        (f", about {left:.0f} s left" if left else ""))

        # The same examples make the same prompt (zero-shot under every seed): decide once.
        key = tuple(examples.index)
        if key not in decided:
            decided[key] = decide(model, tokenizer, prompt, config, names, progress)
        predicted, scores, outputs = decided[key]
        report = classification_metrics(truth, predicted, names)
        report["unparseable"] = int((predicted < 0).sum())
        mode = {0: "zero-shot", 1: "one-shot"}.get(shots, "few-shot")
        stored.append(store(
            db, {"run_id": None, "model": config.model, "dataset": config.dataset, "mode": mode,
                 "shots": shots, "seed": seed, "template": template_label(config), "split": split},
            report,
            [{"idx": i, "input": texts[i], "reference": names[truth[i]],
              "prediction": names[p] if p >= 0 else None, "score": scores[i],
              "output": outputs[i] if outputs else None} for i, p in enumerate(predicted)]))
    return stored


def check_counts(config: EvalConfig) -> None:
    if not config.shots or min(config.shots) < 0:
        raise WorkbenchError("give at least one number of shots, none negative")
    if config.seeds < 1:
        raise WorkbenchError(f"executions (seeds) must be at least 1 (got {config.seeds})")
    if config.limit is not None and config.limit < 1:
        raise WorkbenchError(f"the example limit must be at least 1 (got {config.limit})")


def decide(model, tokenizer, prompt, config: EvalConfig, names, progress):
    """(predicted label indices with -1 for unparseable, a score per example, raw outputs)."""
    from core import prompting

    if config.decide == "score":
        scores = prompting.score_labels(model, tokenizer, prompt, config.batch_size, progress)
        return scores.argmax(1), scores.max(1).tolist(), None
    outputs = prompting.generate_answers(model, tokenizer, prompt, config.max_new_tokens,
                                         config.batch_size, progress)
    parsed = [prompting.parse_answer(o, names) for o in outputs]
    predicted = np.array([names.index(p) if p else -1 for p in parsed])
    return predicted, [None] * len(outputs), outputs


def template_for(config: EvalConfig) -> dict:
    from core import prompting

    if config.template == "custom":
        return prompting.custom_template(config.custom_template or "")
    if config.template not in prompting.TEMPLATES:
        raise WorkbenchError(f"unknown template '{config.template}'; choose plain, role, cot "
                             "or custom")
    return prompting.TEMPLATES[config.template]


def template_label(config: EvalConfig) -> str:
    label = config.template if config.template != "custom" else f"custom: {config.custom_template}"
    return f"{label} ({config.decide})"


def store(db, evaluation: dict, report: dict, predictions: list[dict]) -> int:
    fields = ("n", "accuracy", "precision", "recall", "f1", "labels", "per_class", "confusion",
              "unparseable")
    return queries.add_evaluation(db, {**evaluation, **{k: report[k] for k in fields}}, predictions)


SYSTEM = ["model", "mode", "shots", "template"]
FIGURES = ["accuracy", "precision", "recall", "f1"]


def summarise(evaluations: list[dict]):
    """Mean and standard deviation of each figure over the executions of each system."""
    import pandas as pd

    frame = pd.DataFrame(evaluations)
    frame["template"] = frame["template"].fillna("-")
    grouped = frame.groupby(SYSTEM, sort=False)[FIGURES]
    summary = grouped.mean().join(grouped.std(ddof=0).add_suffix("_std"))
    summary["executions"] = grouped.size()
    return summary.reset_index()
