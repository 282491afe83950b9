"""One causal run: load, format the data with the method's row builder, train through its
TRL trainer, save, then judge the tuned model and the original on the same test split
("Original vs Tuned", the Mistral recipe's table).

The tuned model is judged first. The original is the same model with its
adapters switched off, or, after a full fine-tune, the base loaded again; both by
the same judge (`judge`: labels scored or answers generated) on the same prompts.
"""

from pathlib import Path

from core import causal_data, causal_eval, checkpoints, methods, progress
from core.distributed import rank
from core.hooks import Hooks, never, stop_on_request
from core.results import ORIGINAL, Outcome, Prepared, evaluation_row

EVAL_BATCH = 16
JUDGE_OF_TASK = {"classify": causal_eval.classify, "summarise": causal_eval.judge_summaries,
          "prefer": causal_eval.prefer}


def training_rows(tokenizer, prepared: Prepared) -> dict[str, list[dict]]:
    """Train and validation rows in the form the method's TRL trainer reads."""
    build = methods.get(prepared.config.method).build_rows
    return {name: build(tokenizer, prepared.splits[name], prepared.table, prepared.config,
                        instruction_for(prepared))
            for name in ("train", "eval")}


def instruction_for(prepared: Prepared) -> str | None:
    return causal_data.INSTRUCTIONS.get(prepared.config.dataset)


# Passes over the test split each judge makes (summaries: generate, then perplexity; preferences:
# the chosen answers, then the rejected), so that the count shown ends at the end.
PASSES = {"classify": 1, "summarise": 2, "prefer": 2}


def judge(model, tokenizer, prepared: Prepared, should_stop=never,
          which: str = "the model") -> tuple[dict, list[dict]]:
    """The figures and predictions of `model` on the test split, by the table's task."""
    model.eval()
    kind, items = causal_data.test_items(tokenizer, prepared.splits["test"], prepared.table,
                                         prepared.config, instruction_for(prepared))
    total = PASSES[kind] * len(prepared.splits["test"])
    with stop_on_request(model, should_stop), \
            progress.counting(f"judging {which} on the test split", total):
        return JUDGE_OF_TASK[kind](model, tokenizer, **items, batch_size=EVAL_BATCH)


def judge_original(model, tokenizer, prepared: Prepared, dtype: str, should_stop=never):
    if hasattr(model, "disable_adapter"):  # peft: the base is still there, under the adapters
        with model.disable_adapter():
            return judge(model, tokenizer, prepared, should_stop, "the original model")
    from core.causal_models import load_base

    progress.say("loading the original model to judge it")
    base = load_base(prepared.source, prepared.config, dtype, tokenizer)
    return judge(base, tokenizer, prepared, should_stop, "the original model")


def template_label(prepared: Prepared) -> str:
    """The evaluations' `template`: the training prompt and how answers were decided, in the
    prompting evaluations' form ("plain (score)"), so that scored and generated judgements of
    labelled data are told apart wherever evaluations are listed."""
    how = prepared.config.judge if prepared.table.task == "classification" else "generate"
    return f"{prepared.config.method} prompt ({how})"


def fit_and_evaluate_causal(prepared: Prepared, hooks: Hooks, out_dir: Path,
                            resume_from: Path | None) -> Outcome:
    from core.causal_models import load_for_training
    from core.hf_trainer import train_with_trl
    from core.models import count_parameters, save_model

    config = prepared.config
    progress.say("loading the model")
    model, tokenizer, dtype = load_for_training(prepared.source, config,
                                                prepared.table.task == "conversation")
    trainable, total = count_parameters(model)
    progress.say(f"tokenising {len(prepared.splits['train']) + len(prepared.splits['eval']):,} "
                 "examples")
    rows = training_rows(tokenizer, prepared)
    summary = {"trainable_params": trainable, "total_params": total, "precision": dtype,
               **{f"{k}_examples": len(v) for k, v in prepared.splits.items()}}
    progress.say("training")
    finished, extra = train_with_trl(methods.get(config.method), model, tokenizer, rows["train"],
                                     rows["eval"], config, hooks, str(checkpoints.folder(out_dir)),
                                     dtype, resume_from)
    summary.update(extra)
    if rank() != 0:  # a launched helper process: the main one saves and judges
        return Outcome(finished)
    progress.say("saving the model")
    save_model(model, tokenizer, out_dir / "model", prepared.source, config.adapter)
    if not finished:
        return Outcome(False, summary=summary)
    template = template_label(prepared)
    tuned = judge(model, tokenizer, prepared, hooks.should_stop, "the tuned model")
    original = judge_original(model, tokenizer, prepared, dtype, hooks.should_stop)
    return Outcome(True, [
        (evaluation_row(prepared, "fine-tuned", config.model, tuned[0], template), tuned[1]),
        (evaluation_row(prepared, ORIGINAL, config.model, original[0], template), original[1]),
    ], summary=summary)
