"""One encoder run: load the classifier, train it with the method's `fit`, judge it on
the test split, and measure how far each layer's weights moved."""

from pathlib import Path

import numpy as np

from core import methods, progress
from core.distributed import rank
from core.hooks import Hooks, stop_on_request
from core.metrics import classification_metrics, layer_changes
from core.results import Outcome, Prepared, evaluation_row


def classifier_evaluation(prepared: Prepared, probs: np.ndarray) -> tuple[dict, list[dict]]:
    test, names = prepared.splits["test"], prepared.table.label_names
    truth = test["label"].map({name: i for i, name in enumerate(names)}).to_numpy()
    predicted = probs.argmax(axis=1)
    report = classification_metrics(truth, predicted, names)
    predictions = [
        {"idx": i, "input": text, "reference": names[truth[i]], "prediction": names[predicted[i]],
         "score": float(probs[i, predicted[i]])}
        for i, text in enumerate(test["text"])
    ]
    return evaluation_row(prepared, "fine-tuned", prepared.config.model, report), predictions


def fit_and_evaluate_encoder(prepared: Prepared, hooks: Hooks, out_dir: Path,
                             resume_from: Path | None) -> Outcome:
    from core import encoder
    from core.adapters import add_lora
    from core.models import count_parameters, load_classifier, load_tokenizer, save_model

    config, names = prepared.config, prepared.table.label_names
    spec = methods.get(config.method)
    progress.say("loading the model")
    tokenizer = load_tokenizer(prepared.source, config.trust_remote_code)
    model = load_classifier(prepared.source, names, config.trust_remote_code)
    before = encoder.snapshot(model) if spec.trains_weights else None
    if config.adapter == "lora":
        model = add_lora(model, config)
    trainable, total = count_parameters(model)
    progress.say(f"tokenising {sum(map(len, prepared.splits.values())):,} examples")
    sets = {name: encoder.encode_split(tokenizer, frame, names, config.max_length)
            for name, frame in prepared.splits.items()}
    summary = {"trainable_params": trainable if spec.trains_weights else 0,
               "total_params": total, **{f"{k}_examples": len(v) for k, v in sets.items()}}
    progress.say("training")
    finished, test_probs, extra = spec.fit(model, tokenizer, sets, names, config, hooks, out_dir,
                                           resume_from)
    if rank() != 0:
        return Outcome(finished)
    if spec.trains_weights:
        save_model(model, tokenizer, out_dir / "model", prepared.source, config.adapter, names)
    summary.update(extra)
    if not finished:
        return Outcome(False, summary=summary)
    if test_probs is None:
        test_loader = encoder.make_loader(sets["test"], tokenizer, config.batch_size)
        with stop_on_request(model, hooks.should_stop), \
                progress.counting("judging the test split", len(sets["test"])):
            test_probs = encoder.predict(model, test_loader)[1]
    changes = layer_changes(before, encoder.effective_weights(model)) if before else []
    return Outcome(True, [classifier_evaluation(prepared, test_probs)], changes, summary)
