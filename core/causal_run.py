"""One causal run: load, format the data, train through TRL, save, then judge the
tuned model and the original on the same test split ("Original vs Tuned", S4).

The tuned model is judged first. The original is the same model with its
adapters switched off, or, after a full fine-tune, the base loaded again.
"""

from pathlib import Path

from core import causal_data, causal_eval, checkpoints
from core.engine import Outcome, Prepared, evaluation_row
from core.hooks import Hooks
from core.launch import rank

EVAL_BATCH = 16


def training_rows(tokenizer, prepared: Prepared) -> dict[str, list[dict]]:
    """Train and validation rows in the form the method's TRL trainer reads."""
    config, table = prepared.config, prepared.table
    rows = {}
    for name in ("train", "eval"):
        frame = prepared.splits[name]
        if config.method == "sft":
            records = causal_data.sft_records(tokenizer, frame, table.task, table.label_names,
                                              instruction_for(prepared), config.max_length)
            rows[name] = causal_data.encode_sft(tokenizer, records)
        else:
            records = causal_data.preference_records(tokenizer, frame, table.task,
                                                     table.label_names, config.max_length,
                                                     config.seed)
            rows[name] = records.to_dict("records")
    return rows


def instruction_for(prepared: Prepared) -> str | None:
    return causal_data.INSTRUCTIONS.get(prepared.config.dataset)


def judge(model, tokenizer, prepared: Prepared) -> tuple[dict, list[dict]]:
    """The figures and predictions of `model` on the test split, by the table's task."""
    config, table, test = prepared.config, prepared.table, prepared.splits["test"]
    model.eval()
    if table.task == "classification":
        names = table.label_names
        prompts = causal_data.classification_prompts(tokenizer, test["text"], names,
                                                     config.max_length)
        truth = test["label"].map({n: i for i, n in enumerate(names)}).to_numpy()
        return causal_eval.classify(model, tokenizer, prompts, list(test["text"]), truth, names,
                                    EVAL_BATCH)
    if table.task == "summarisation":
        reserve = causal_data.response_reserve(config.max_length)
        prompts = causal_data.generation_prompts(tokenizer, test["prompt"], instruction_for(prepared),
                                                 config.max_length, reserve)
        return causal_eval.summarise(model, tokenizer, prompts, list(test["prompt"]),
                                     list(test["response"]), config.max_new_tokens, EVAL_BATCH)
    records = causal_data.preference_records(tokenizer, test, table.task, [], config.max_length,
                                             config.seed)
    return causal_eval.prefer(model, tokenizer, list(records["prompt"]), list(records["chosen"]),
                              list(records["rejected"]), EVAL_BATCH)


def judge_original(model, tokenizer, prepared: Prepared, dtype: str):
    if hasattr(model, "disable_adapter"):  # peft: the base is still there, under the adapters
        with model.disable_adapter():
            return judge(model, tokenizer, prepared)
    from core.causal import load_base

    return judge(load_base(prepared.source, prepared.config, dtype, tokenizer), tokenizer, prepared)


def fit_and_evaluate_causal(prepared: Prepared, hooks: Hooks, out_dir: Path,
                            resume_from: Path | None) -> Outcome:
    from core.causal import load_for_training
    from core.methods.causal import train_causal
    from core.models import count_parameters, save_model

    config = prepared.config
    model, tokenizer, dtype = load_for_training(prepared.source, config)
    trainable, total = count_parameters(model)
    rows = training_rows(tokenizer, prepared)
    summary = {"trainable_params": trainable, "total_params": total, "precision": dtype,
               **{f"{k}_examples": len(v) for k, v in prepared.splits.items()}}
    finished, extra = train_causal(model, tokenizer, rows["train"], rows["eval"], config, hooks,
                                   str(checkpoints.folder(out_dir)), dtype, resume_from)
    summary.update(extra)
    if rank() != 0:  # a launched helper process: the main one saves and judges
        return Outcome(finished)
    save_model(model, tokenizer, out_dir / "model", prepared.source, config.adapter)
    if not finished:
        return Outcome(False, summary=summary)
    template = f"{config.method} prompt (generate)"
    tuned = judge(model, tokenizer, prepared)
    original = judge_original(model, tokenizer, prepared, dtype)
    return Outcome(True, [
        (evaluation_row(prepared, "fine-tuned", config.model, tuned[0], template), tuned[1]),
        (evaluation_row(prepared, "zero-shot", config.model, original[0], template), original[1]),
    ], summary=summary)
