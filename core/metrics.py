"""Classification metrics, and how far each layer's weights moved in training (the BERT layer study)."""

import re
from collections import OrderedDict

import numpy as np


def classification_metrics(y_true, y_pred, label_names: list[str]) -> dict:
    """Accuracy, macro precision / recall / F1, per-class figures and the confusion matrix.

    A class's accuracy is the share of its examples predicted right (its recall).
    Classes never predicted get precision 0 rather than a warning.
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support  # (1 s)

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    labels = list(range(len(label_names)))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    per_class = {
        name: {"accuracy": float(recall[i]), "precision": float(precision[i]),
               "recall": float(recall[i]), "f1": float(f1[i]), "support": int(support[i])}
        for i, name in enumerate(label_names)
    }
    present = support > 0  # macro averages over the classes the split holds
    return {
        "n": int(len(y_true)),
        "accuracy": float((y_true == y_pred).mean()) if len(y_true) else 0.0,
        "precision": float(precision[present].mean()),
        "recall": float(recall[present].mean()),
        "f1": float(f1[present].mean()),
        "per_class": per_class,
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "labels": list(label_names),
    }


_LAYER = re.compile(r"^((?:.*?\.)?(?:layers?|h|blocks?)\.\d+)\.")


def layer_of(param_name: str) -> str:
    """The layer a parameter belongs to: 'encoder.layer.3', 'embeddings', 'classifier'.

    Numbered blocks keep their index; anything else is grouped by its first
    module name below the model's wrapper (e.g. 'bert.').
    """
    match = _LAYER.match(param_name)
    if match:
        return match.group(1)
    parts = param_name.split(".")
    return ".".join(parts[:2]) if len(parts) > 2 else parts[0]


def layer_changes(before: dict, after: dict) -> list[dict]:
    """Relative L2 change ||after - before|| / ||before|| per layer, in model order."""
    sums = OrderedDict()
    for name, old in before.items():
        if name not in after:
            continue
        new = after[name].detach().float().cpu()
        old = old.float()
        entry = sums.setdefault(layer_of(name), [0.0, 0.0, 0])
        entry[0] += float((new - old).pow(2).sum())
        entry[1] += float(old.pow(2).sum())
        entry[2] += old.numel()
    return [
        {"layer": layer, "relative_change": (diff ** 0.5) / (norm ** 0.5 or 1.0), "params": count}
        for layer, (diff, norm, count) in sums.items()
    ]
