"""probe: frozen encoder features + scikit-learn logistic regression (the quick baseline).

Features are the first token's hidden state ('cls') or the mean over real
tokens ('mean'), standardised. The solver (lbfgs) is run in chunks of
iterations with warm starts so that its training and validation loss can be
charted like a network's; lbfgs has no learning rate, so that column stays empty.
The probe has no optimiser state to keep: resumed, it starts again (its solver
takes seconds; extracting the features is most of its time).
"""

import warnings
from pathlib import Path

import numpy as np

from core.hooks import Hooks
from core.methods.spec import EVAL_ACCURACY, EVAL_LOSS, LOSS, MethodSpec

ITERATIONS_PER_LOG = 10


def features(model, tokenizer, dataset, batch_size: int, pooling: str,
             hooks: Hooks) -> np.ndarray | None:
    """Pooled last hidden states; None if a stop was requested part-way."""
    import torch

    from core.encoder import make_loader, model_device

    base = getattr(model, "base_model", model)  # the encoder without its classification head
    base.eval()
    device = model_device(base)
    chunks = []
    for batch in make_loader(dataset, tokenizer, batch_size):
        batch.pop("labels")
        batch = {k: v.to(device) for k, v in batch.items()}
        with torch.no_grad():
            hidden = base(**batch).last_hidden_state
        if pooling == "cls":
            pooled = hidden[:, 0]
        else:
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
        chunks.append(pooled.float().cpu().numpy())
        if hooks.should_stop():
            return None
    return np.concatenate(chunks)


class Probe:
    """A fitted scaler + logistic regression over frozen features."""

    def __init__(self, model, tokenizer, config):
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        self.model, self.tokenizer, self.config = model, tokenizer, config
        self.classifier = make_pipeline(
            StandardScaler(),
            LogisticRegression(C=config.probe_c, max_iter=ITERATIONS_PER_LOG, warm_start=True,
                               random_state=config.seed),
        )

    def fit(self, train_set, eval_set, hooks: Hooks) -> bool:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.metrics import log_loss

        x_train = self._features(train_set, hooks)
        x_eval = self._features(eval_set, hooks) if len(eval_set) else None
        if x_train is None or (len(eval_set) and x_eval is None):
            return False
        y_train, y_eval = np.array(train_set.labels), np.array(eval_set.labels)
        classes = np.arange(self.model.config.num_labels)
        scaler, regression = self.classifier.named_steps.values()
        scaled_train = scaler.fit_transform(x_train)
        for step in range(ITERATIONS_PER_LOG, self.config.probe_max_iter + 1, ITERATIONS_PER_LOG):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)  # chunks stop early on purpose
                regression.fit(scaled_train, y_train)
            row = {"step": step,
                   "loss": log_loss(y_train, regression.predict_proba(scaled_train), labels=classes)}
            if x_eval is not None:
                probs = regression.predict_proba(scaler.transform(x_eval))
                row["eval_loss"] = log_loss(y_eval, probs, labels=classes)
                row["eval_accuracy"] = float((probs.argmax(1) == y_eval).mean())
            hooks.log(row)
            if regression.n_iter_[0] < ITERATIONS_PER_LOG or hooks.should_stop():
                break  # converged (or asked to stop)
        return True

    def save(self, path) -> None:
        """Plain arrays (np.load with allow_pickle=False reads them back): no pickle."""
        scaler, regression = self.classifier.named_steps.values()
        np.savez(path, mean=scaler.mean_, scale=scaler.scale_, coef=regression.coef_,
                 intercept=regression.intercept_, pooling=self.config.pooling)

    def predict_proba(self, dataset) -> np.ndarray:
        x = self._features(dataset, Hooks())
        return self.classifier.predict_proba(x)

    def _features(self, dataset, hooks):
        return features(self.model, self.tokenizer, dataset, self.config.batch_size,
                        self.config.pooling, hooks)


def fit(model, tokenizer, sets, label_names, config, hooks: Hooks, out_dir: Path,
        resume_from: Path | None):
    """The probe saves itself and predicts the test split from the features it extracts."""
    probe = Probe(model, tokenizer, config)
    finished = probe.fit(sets["train"], sets["eval"], hooks)
    if not finished:
        return False, None, {}
    probe.save(out_dir / "probe.npz")
    return True, probe.predict_proba(sets["test"]), {}


SPEC = MethodSpec(
    name="probe", order=3, model_kind="encoder", tasks=("classification",),
    title="Frozen features + logistic regression",
    summary="Keeps the encoder frozen and fits a scikit-learn logistic regression on its "
            "features: the fast feature-extraction baseline.",
    defaults=dict(batch_size=32, epochs=1), adapters=("none",), trains_weights=False,
    settings=("pooling", "probe_c", "probe_max_iter"),
    metrics=(LOSS, EVAL_LOSS, EVAL_ACCURACY), fit=fit,
    # Solver iterations, at most: the chunks of `ITERATIONS_PER_LOG` it logs after.
    steps=lambda config, train_examples: config.probe_max_iter,
)
