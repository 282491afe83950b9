"""loop: a plain PyTorch training loop (the DistilBERT-on-IMDB recipe).

AdamW with weight decay, a linear schedule with warm-up, gradient clipping,
a metrics row every `logging_steps` and a validation pass after each epoch.
A checkpoint every `checkpoint_steps` and at a stop; a run resumed from one
reads the batches it would have read, so it ends where an unbroken run ends.
Returns True when it ran to the end, False when it was asked to stop.
"""

import itertools
from pathlib import Path

from core.hooks import Hooks, Throughput
from core.methods.spec import CLASSIFIER_METRICS, MethodSpec, batch_steps


def decay_groups(model, weight_decay: float) -> list[dict]:
    # Decay only matrices: decaying biases and norm scales pulls them to zero for no gain.
    params = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]


def train_loop(model, tokenizer, train_set, eval_set, label_names, config, hooks: Hooks,
               out_dir: Path, resume_from: Path | None = None) -> bool:
    # Imported here: torch takes seconds, and reading the method registry should not.
    import torch
    from transformers import get_linear_schedule_with_warmup

    from core import checkpoints
    from core.encoder import make_loader, model_device

    torch.manual_seed(config.seed)
    loader = make_loader(train_set, tokenizer, config.batch_size, shuffle=True, seed=config.seed)
    eval_loader = make_loader(eval_set, tokenizer, config.batch_size) if len(eval_set) else None
    steps = batch_steps(config, len(train_set))
    optimizer = torch.optim.AdamW(decay_groups(model, config.weight_decay), lr=config.lr)
    scheduler = get_linear_schedule_with_warmup(optimizer, config.warmup_steps, steps)
    device = model_device(model)
    step = checkpoints.load_loop_state(resume_from, model, optimizer, scheduler) if resume_from else 0
    meter, losses = Throughput(), []
    model.train()
    while step < steps:
        epoch_index, done_in_epoch = divmod(step, len(loader))
        # Each epoch's order depends only on its number, so a resumed run reads what it would have.
        loader.generator.manual_seed(config.seed + epoch_index)
        for batch in itertools.islice(loader, done_in_epoch, None):
            batch = {k: v.to(device) for k, v in batch.items()}
            loss = model(**batch).loss
            loss.backward()
            grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), config.max_grad_norm)
            lr = scheduler.get_last_lr()[0]  # the rate this step was taken with
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            losses.append(loss.item())
            meter.add(len(batch["labels"]))
            epoch = step / len(loader)
            # Step 1 too: the page shows measured progress from the first step on.
            if step % config.logging_steps == 0 or step in (1, steps):
                hooks.log({"step": step, "epoch": epoch, "loss": sum(losses) / len(losses),
                           "learning_rate": lr, "grad_norm": float(grad_norm), **meter.read()})
                losses = []
            end_of_epoch = step % len(loader) == 0 or step == steps
            if end_of_epoch and eval_loader is not None:
                hooks.log({"step": step, "epoch": epoch,
                           **validate(model, eval_loader, eval_set.labels, label_names)})
            stopping = hooks.should_stop()
            if stopping or (config.checkpoint_steps and step % config.checkpoint_steps == 0
                            and step < steps):
                checkpoints.save_loop_state(out_dir, step, model, optimizer, scheduler)
            if stopping:
                return False
            if step == steps:
                break
    return True


def validate(model, loader, labels, label_names) -> dict:
    from core.encoder import predict
    from core.metrics import classification_metrics

    loss, probs = predict(model, loader)
    report = classification_metrics(labels, probs.argmax(axis=1), label_names)
    return {"eval_loss": loss, "eval_accuracy": report["accuracy"], "eval_f1": report["f1"]}


def fit(model, tokenizer, sets, label_names, config, hooks: Hooks, out_dir: Path,
        resume_from: Path | None):
    finished = train_loop(model, tokenizer, sets["train"], sets["eval"], label_names, config,
                          hooks, out_dir, resume_from)
    return finished, None, {}


SPEC = MethodSpec(
    name="loop", order=1, model_kind="encoder", tasks=("classification",),
    title="Custom PyTorch loop",
    summary="Fine-tunes every weight of an encoder classifier with a hand-written loop: AdamW, "
            "linear warm-up and decay, gradient clipping (the DistilBERT recipe).",
    defaults=dict(lr=5e-5, weight_decay=0.01, warmup_steps=500, epochs=3, batch_size=16),
    metrics=CLASSIFIER_METRICS, fit=fit,
)
