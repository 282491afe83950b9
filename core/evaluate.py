"""Prompting vs fine-tuning on one held-out split: executions, repeated over seeds.

Every evaluation is scored on the same test examples: the test split is drawn
exactly as training draws it (data, seed and sizes), and the first `limit` of
its examples are used. A fine-tuned run therefore joins a comparison through
the predictions it stored on that split; nothing is recomputed.
"""

import copy
import hashlib
import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from core import chat_templates
from core.catalog import DATASETS, MODELS
from core.config import TrainConfig, from_stored
from core.data import Table, load_table, split_name, split_table
from core.errors import WorkbenchError
from core.metrics import classification_metrics
from core.settings import checked, like, setting
from storage import queries

if TYPE_CHECKING:
    from core.models import ModelSource


SPLIT_HELP = "As for training: the same sizes and seed draw the same test split."


@dataclass
class EvalConfig:
    """A prompting execution's settings. Those it shares with training (the data, the split,
    the chat template, generation) are TrainConfig's fields (`like`): one help, one type,
    one set of bounds."""
    model: str | None = setting(None, "Causal model to prompt: catalog id, hub id or local "
                                      "folder.")
    run: str | None = setting(None, "Or a finished fine-tuned run, compared on its own test "
                                    "split.")
    dataset: str = like(TrainConfig, "dataset", "rt-reviews", "A labelled data set (catalog id "
                                                               "or file).")
    text_column: str | None = like(TrainConfig, "text_column")
    label_column: str | None = like(TrainConfig, "label_column")
    shots: tuple = setting((0, 1, 3), "Numbers of examples shown before each text.")
    seeds: int = setting(3, "Executions per number of shots, each with other examples.",
                         label="executions (seeds)", low=1, high=100)
    limit: int | None = setting(200, "Score the first N test examples (all when unset).",
                                label="the example limit", low=1)
    template: str = setting("plain", "plain, role, cot (chain of thought) or custom.",
                            choices=("plain", "role", "cot", "custom"))
    custom_template: str | None = setting(None, "Custom template text with {text} (and "
                                                "{examples}).", max_chars=20_000)
    decide: str = setting("score", "score: compare each label's log-probability; generate: "
                                   "write an answer and parse it.", choices=("score", "generate"))
    chat: str = setting("auto", "auto: the model's measured best where the catalog has one "
                                "(plain text for smollm2-135m), else its chat template when it "
                                "has one (instruct models), else plain text; on; off.",
                        choices=("auto", "on", "off"))
    verbalizer: str | None = setting(None, "The word the model reads and is scored on for each "
                                           "label, e.g. 'rotten=negative,fresh=positive'; a "
                                           "label not named keeps its own name. Unset: the "
                                           "catalog data set's measured words (rt-reviews: "
                                           "negative / positive); empty: the labels' own names.")
    chat_template: str = like(TrainConfig, "chat_template", "model",
                              "Which chat template the chat prompts read through: the model's "
                              "own, chatml, llama-3, gemma, mistral, or a Jinja template (as a "
                              "causal run's).")
    system_prompt: str | None = like(TrainConfig, "system_prompt", None,
                                     "A system turn before each chat prompt (as a causal run's).")
    calibrate: bool = setting(True, "Scoring only: also report each system with contextual "
                                    "calibration (Zhao et al., 2021), its bias on content-free "
                                    "inputs such as 'N/A' divided out.")
    max_new_tokens: int = like(TrainConfig, "max_new_tokens", 8,
                               "generate: tokens per answer (chain of thought needs ~64).")
    batch_size: int = like(TrainConfig, "batch_size", 16, "Rows per forward pass.")
    seed: int = like(TrainConfig, "seed", 42, "Split seed (the same as a training run's to "
                                              "share its test split).")
    train_size: float | None = like(TrainConfig, "train_size", None, SPLIT_HELP)
    eval_size: float | None = like(TrainConfig, "eval_size", None, SPLIT_HELP)
    test_size: float | None = like(TrainConfig, "test_size", None, SPLIT_HELP)
    folds: int | None = like(TrainConfig, "folds", None, "With fold: test on one fold of a "
                                                         "cross-validation, as a run of an "
                                                         "experiment with these folds and seed "
                                                         "was.")
    fold: int | None = like(TrainConfig, "fold", None, "The fold (1 to folds) to test on.")


def evaluate(config: EvalConfig, db, on_progress=None, on_stored=None) -> list[int]:
    """Run every execution the config asks for; returns the evaluation ids stored. Each id
    also goes to `on_stored` as soon as it is stored: a caller that stops the work midway
    (an exception from `on_progress`) knows the executions that finished."""
    stored = []

    def keep(evaluation_id: int) -> None:
        stored.append(evaluation_id)
        if on_stored:
            on_stored(evaluation_id)

    check_source(config)
    if config.run is not None:
        keep(evaluate_run(config, db))
    else:
        evaluate_prompting(config, db, on_progress or (lambda done, text: None), keep)
    return stored


def check(config: EvalConfig, db) -> None:
    """Refuse (WorkbenchError) what would fail before any model is loaded: the job manager
    checks a comparison with this before queuing it, so bad input is said at once."""
    check_source(config)
    if config.run is not None:
        fine_tuned_source(db, config.run)
    else:
        prepare_prompting(config)


def check_source(config: EvalConfig) -> None:
    if (config.model is None) == (config.run is None):
        raise WorkbenchError("give either a model to prompt or a fine-tuned run, not both")
    check_counts(config)


def fine_tuned_source(db, run_id: str) -> tuple[dict, list[dict]]:
    """The run and its fine-tuned evaluations (the first holds its test predictions)."""
    run = queries.get_run(db, run_id)
    if run is None:
        raise WorkbenchError(f"no run with id {run_id}")
    finished = [e for e in queries.run_evaluations(db, run_id) if e["mode"] == "fine-tuned"]
    if run["status"] != "completed" or not finished:
        raise WorkbenchError(f"run {run_id} is {run['status']}; only a completed run has "
                             "test predictions to compare")
    return run, finished


def evaluate_run(config: EvalConfig, db) -> int:
    """A fine-tuned run on the first `limit` examples of its test split, from its predictions."""
    run, finished = fine_tuned_source(db, config.run)
    source = finished[0]
    rows = queries.evaluation_predictions(db, source["id"])[: config.limit]
    names = json.loads(source["labels"])
    index = {name: i for i, name in enumerate(names)}
    # A generated answer that named no label was stored without a prediction: it is wrong.
    predicted = [index.get(r["prediction"], -1) for r in rows]
    report = classification_metrics([index[r["reference"]] for r in rows], predicted, names)
    trained = from_stored(run["config"])
    split = split_name(trained.dataset, trained.seed, source["n"], len(rows), trained.folds,
                       trained.fold)
    same = [e for e in finished if e["split"] == split and e["n"] == len(rows)]
    if same:  # compared on this split before: one run is one execution, never two copies
        return same[0]["id"]
    report["unparseable"] = predicted.count(-1)
    return store(db, {"run_id": run["id"], "model": f"{run['model']} ({run['method']} run)",
                      "dataset": trained.dataset, "mode": "fine-tuned", "shots": 0,
                      "seed": trained.seed, "template": source["template"], "split": split},
                 report,
                 [{k: r[k] for k in ("idx", "input", "reference", "prediction", "score", "output")}
                  for r in rows])


@dataclass
class PreparedPrompting:
    """A prompting config checked: its template, data, splits and test examples, and model."""
    template: dict
    table: Table
    splits: dict
    test: pd.DataFrame
    source: "ModelSource"


def prepare_prompting(config: EvalConfig) -> PreparedPrompting:
    from core import prompting
    from core.models import resolve_model

    template = template_for(config)
    columns = {k: v for k, v in {"text": config.text_column, "label": config.label_column}.items() if v}
    table = load_table(config.dataset, columns)
    if table.task != "classification":
        raise WorkbenchError(f"'{config.dataset}' is not a labelled data set")
    prompting.verbaliser(label_words(config), table.label_names)
    splits = split_table(table, config.seed, config.train_size, config.eval_size,
                         config.test_size, config.folds, config.fold)
    source = resolve_model(config.model)
    if source.kind != "causal":
        raise WorkbenchError(f"'{config.model}' is an encoder; prompting needs a causal model")
    prepared = PreparedPrompting(template, table, splits, splits["test"].iloc[: config.limit],
                                 source)
    check_prompts_fit(config, prepared)
    return prepared


def check_prompts_fit(config: EvalConfig, prepared: PreparedPrompting) -> None:
    """Before anything is scored or stored: every execution's examples can be drawn from the
    training split, and its longest prompt (the longest test text, the longest answer) fits
    the positions the model reads. A prompt past them is refused, never scored as a result."""
    from core import prompting
    from core.memory import architecture
    from core.model_limits import max_positions
    from core.models import load_tokenizer

    train, names = prepared.splits["train"], prepared.table.label_names
    executions = []
    for shots, seed in planned_executions(config):
        try:
            executions.append((shots, seed, prompting.choose_examples(train, shots, seed, names)))
        except WorkbenchError as error:
            raise WorkbenchError(f"{error}: the training split they are drawn from holds "
                                 f"{len(train):,} examples") from None
    context = max_positions(architecture(prepared.source))
    if not context or prepared.test.empty:
        return
    tokenizer = load_tokenizer(prepared.source)
    chat_templates.apply(tokenizer, config.chat_template, config.system_prompt)
    style = prompting_style(config, prepared.template, names, tokenizer)
    longest = max(prepared.test["text"], key=len)
    answer = config.max_new_tokens if config.decide == "generate" else \
        max(len(prompting.piece_ids(tokenizer, " " + word)) for word in style.words)
    for shots, seed, examples in executions:
        prompt = prompting.build_prompt(style, examples, [longest], tokenizer)
        tokens = len(prompting.prefix_ids(tokenizer, prompt.prefix)) + \
            len(prompting.piece_ids(tokenizer, prompt.queries[0])) + answer
        if tokens > context:
            raise WorkbenchError(
                f"{shots} shots (seed {seed}) make a prompt of {tokens:,} tokens with the "
                f"longest test text, past the {context:,} positions '{config.model}' reads; "
                "give fewer shots")


def evaluate_prompting(config: EvalConfig, db, on_progress, keep) -> None:
    from core import prompting
    from core.models import load_causal, load_tokenizer

    prepared = prepare_prompting(config)
    table, splits, test, template = (prepared.table, prepared.splits, prepared.test,
                                     prepared.template)
    tokenizer, model = load_tokenizer(prepared.source), load_causal(prepared.source)
    chat_templates.apply(tokenizer, config.chat_template, config.system_prompt)
    names, texts = table.label_names, list(test["text"])
    style = prompting_style(config, template, names, tokenizer)
    # Calibration reads the prompt's bias from content-free inputs, scored with the texts.
    scoring = config.decide == "score"
    content_free = list(prompting.CONTENT_FREE) if config.calibrate and scoring else []
    truth = test["label"].map({n: i for i, n in enumerate(names)}).to_numpy()
    split = split_name(config.dataset, config.seed, len(splits["test"]), len(test), config.folds,
                       config.fold)
    started, decided = time.monotonic(), {}
    executions = planned_executions(config)
    for number, (shots, seed) in enumerate(executions):
        mode = {0: "zero-shot", 1: "one-shot"}.get(shots, "few-shot")
        examples = prompting.choose_examples(splits["train"], shots, seed, names)
        keys = {variant: prompt_key(config, split, template_label(config, style, variant),
                                    examples)
                for variant in (["", "calibrated"] if content_free else [""])}
        earlier = queries.find_by_prompt_keys(db, list(keys.values()))
        if len(earlier) == len(keys):  # asked before: the same prompt, the same verdicts
            for evaluation_id in earlier:  # (a second copy would pose as a second execution)
                keep(evaluation_id)
            continue
        prompt = prompting.build_prompt(style, examples, texts + content_free, tokenizer)

        def progress(fraction, number=number):
            done = (number + fraction) / len(executions)
            left = (time.monotonic() - started) * (1 - done) / done if done else None
            on_progress(done, f"{shots}-shot, seed {seed}" +
                        (f", about {left:.0f} s left" if left else ""))

        # The same examples make the same prompt (zero-shot under every seed): decide once.
        key = tuple(examples.index)
        if key not in decided:
            decided[key] = decide(model, tokenizer, prompt, config, style, len(content_free),
                                  progress)
        for label, (predicted, scores, outputs) in decided[key].items():
            report = classification_metrics(truth, predicted, names)
            report["unparseable"] = int((predicted < 0).sum())
            keep(store(
                db, {"run_id": None, "model": config.model, "dataset": config.dataset,
                     "mode": mode, "shots": shots, "seed": seed,
                     "template": template_label(config, style, label), "split": split,
                     "prompt_key": keys[label]},
                report,
                [{"idx": i, "input": texts[i], "reference": names[truth[i]],
                  "prediction": names[p] if p >= 0 else None, "score": scores[i],
                  "output": outputs[i] if outputs else None} for i, p in enumerate(predicted)]))


def prompt_key(config: EvalConfig, split: str, label: str, examples) -> str:
    """What decides an execution's verdicts, as a digest: the model, the prompt setting and
    how it decides (`label`), the test examples (`split`), the examples shown (their rows in
    the training data, which its size changes) and, generating, the answer length."""
    answer = config.max_new_tokens if config.decide == "generate" else None
    setting = [config.model, label, split, [int(i) for i in examples.index],
               [config.train_size, config.eval_size, config.test_size], answer]
    if config.chat_template != "model" or config.system_prompt:  # (earlier keys unchanged)
        setting += [config.chat_template, config.system_prompt]
    return hashlib.sha256(json.dumps(setting).encode()).hexdigest()


def planned_executions(config: EvalConfig) -> list[tuple[int, int]]:
    """(shots, seed) pairs: a seed picks the examples shown, so zero-shot (nothing shown,
    nothing varies) is one execution, not copies of it."""
    return [(k, s) for k in config.shots for s in range(config.seeds if k else 1)]


def prompting_style(config: EvalConfig, template: dict, names: list[str], tokenizer):
    from core import prompting

    words = prompting.verbaliser(label_words(config), names)
    return prompting.Style(template, tuple(names), words,
                           prompting.uses_chat(chat_setting(config), tokenizer))


def label_words(config: EvalConfig) -> str | None:
    """The verbaliser asked for, or the catalog data set's default."""
    if config.verbalizer is not None:
        return config.verbalizer
    spec = DATASETS.get(config.dataset)
    return spec.label_words if spec else None


def chat_setting(config: EvalConfig) -> str:
    """on / off / auto as asked; auto is the catalog model's measured best where it has one."""
    spec = MODELS.get(config.model or "")
    return spec.prompt_chat if config.chat == "auto" and spec else config.chat


def check_counts(config: EvalConfig) -> None:
    """Every field's type, bounds and choices (as every training setting's), then what they
    cannot say alone."""
    checked(config)
    chat_templates.check(config.chat_template, config.system_prompt)
    if not isinstance(config.shots, tuple) or not config.shots or \
            any(isinstance(k, bool) or not isinstance(k, int) or k < 0 for k in config.shots):
        raise WorkbenchError("give at least one number of shots, none negative")
    folds, fold = config.folds, config.fold
    if (folds is None) != (fold is None) or (folds and fold and fold > folds):
        raise WorkbenchError("testing on a fold needs both folds (at least 2) and the fold, "
                             f"1 to folds (got folds {config.folds}, fold {config.fold})")


def decide(model, tokenizer, prompt, config: EvalConfig, style, content_free: int,
           progress) -> dict:
    """{"" and, calibrating, "calibrated": (predicted label indices with -1 for unparseable,
    a score per example, raw outputs)}. The prompt's last `content_free` queries are the
    content-free inputs calibration reads the prompt's bias from."""
    from core import prompting

    if config.decide == "score":
        scores = prompting.score_labels(model, tokenizer, prompt, config.batch_size, progress)
        plain, free = scores[:len(scores) - content_free], scores[len(scores) - content_free:]
        decided = {"": (plain.argmax(1), plain.max(1).tolist(), None)}
        if content_free:
            calibrated = prompting.calibrate(plain, free)
            decided["calibrated"] = (calibrated.argmax(1), calibrated.max(1).tolist(), None)
        return decided
    outputs = prompting.generate_answers(model, tokenizer, prompt, config.max_new_tokens,
                                         config.batch_size, progress)
    parsed = [prompting.parse_answer(o, list(style.words)) for o in outputs]
    predicted = np.array([style.words.index(p) if p else -1 for p in parsed])
    return {"": (predicted, [None] * len(outputs), outputs)}


def template_for(config: EvalConfig) -> dict:
    from core import prompting

    if config.template == "custom":
        return prompting.custom_template(config.custom_template or "")
    if config.template not in prompting.PROMPT_TEMPLATES:
        raise WorkbenchError(f"unknown template '{config.template}'; choose plain, role, cot "
                             "or custom")
    return prompting.PROMPT_TEMPLATES[config.template]


def template_label(config: EvalConfig, style, variant: str = "") -> str:
    """What a prompting system is, as one label: template, chat or plain text, the label
    words, how it decides, and `variant` ("calibrated")."""
    label = config.template if config.template != "custom" else f"custom: {config.custom_template}"
    words = "" if style.words == style.names else ", words " + "/".join(style.words)
    label += (", chat" if style.chat else ", plain text") + words
    if style.chat and config.chat_template != "model":
        label += f", template {config.chat_template if config.chat_template in chat_templates.CHOICES else 'custom'}"
    if style.chat and config.system_prompt:
        label += f", system prompt {config.system_prompt[:40]!r}"
    return f"{label} ({config.decide}{', ' + variant if variant else ''})"


def preview_prompt(config: EvalConfig, train, text: str, names: list[str], tokenizer) -> str:
    """The whole prompt `text` gets in the execution with the most shots (seed 0), as the
    model of `tokenizer` reads it (through its chat template when the config says so)."""
    from core import prompting

    if tokenizer is not None:  # (a copy: the caller's tokenizer may be cached and shared)
        tokenizer = copy.copy(tokenizer)
        chat_templates.apply(tokenizer, config.chat_template, config.system_prompt)
    style = prompting_style(config, template_for(config), names, tokenizer)
    examples = prompting.choose_examples(train, max(config.shots or (0,)), 0, names)
    return prompting.preview(style, examples, text, tokenizer)


def store(db, evaluation: dict, report: dict, predictions: list[dict]) -> int:
    fields = ("n", "accuracy", "precision", "recall", "f1", "labels", "per_class", "confusion",
              "unparseable")
    return queries.add_evaluation(db, {**evaluation, **{k: report[k] for k in fields}}, predictions)


# What makes prompting evaluations one system: only their seed differs, so the seeds are its
# executions. A fine-tuned run is a system of its own, whatever its model (see `system_of`).
SYSTEM_KEYS = ["model", "mode", "shots", "template"]
FIGURES = ["accuracy", "precision", "recall", "f1"]
DESCRIPTION = ["label", "run", "model", "mode", "shots", "template"]


def system_of(evaluation: dict) -> dict:
    """The `system` key, `label` and `run` (its id, or None) of the system an evaluation
    scored. Two runs of one model are two systems (once merged into one row whose mean and
    summed confusion described neither), named by the run's name (`run_name`, as the queries
    join it) or else its id; so is each pooled k-fold evaluation of an experiment. A causal
    run's original-model evaluation is a prompting one."""
    run_id = evaluation.get("run_id")
    if evaluation["mode"] == "fine-tuned" and run_id:
        name = evaluation.get("run_name") or run_id
        return {"system": f"run {run_id}", "label": f"{name} · fine-tuned", "run": run_id}
    if evaluation["mode"] == "fine-tuned" and evaluation.get("experiment_id"):
        # k-fold pooled (core.pooling): its model names the experiment's setting
        return {"system": f"pooled {evaluation['id']}", "label": evaluation["model"],
                "run": None}
    setting = [evaluation.get(column) for column in SYSTEM_KEYS]
    label = f"{setting[0]} · {setting[2]}-shot · {setting[3] or '-'}"
    return {"system": "prompt " + json.dumps(setting), "label": label, "run": None}


def with_systems(evaluations: list[dict]) -> list[dict]:
    """The evaluations with their system's `system` key and `label`, which the compare page,
    its charts and the CLI all use. Runs that share a name get their id in the label, as
    plotly draws equal labels as one bar."""
    keyed = [{**e, **system_of(e)} for e in evaluations]
    systems_per_label = {}
    for row in keyed:
        systems_per_label.setdefault(row["label"], set()).add(row["system"])
    for row in keyed:
        if len(systems_per_label[row["label"]]) > 1 and row["run"]:
            row["label"] += f" ({row['run']})"
    return keyed


def system_summary(evaluations: list[dict]):
    """Mean and standard deviation of each figure over the executions of each system, with
    what describes the system (its label, run id, model, mode, shots and template)."""
    import pandas as pd

    frame = pd.DataFrame(with_systems(evaluations))
    frame = frame.reindex(columns=[*frame.columns, *(c for c in DESCRIPTION + ["unparseable"]
                                                     if c not in frame)])
    frame["template"] = frame["template"].fillna("-")
    grouped = frame.groupby("system", sort=False)
    summary = grouped[DESCRIPTION].first()
    summary = summary.join(grouped[FIGURES].mean()).join(
        grouped[FIGURES].std(ddof=0).add_suffix("_std"))
    summary["executions"] = grouped.size()
    summary["unparseable"] = grouped["unparseable"].sum().astype(int)
    return summary.reset_index()
