"""What the encoder methods share: tokenised splits, batched prediction, snapshots."""

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from transformers import DataCollatorWithPadding

from core import progress


class EncodedTexts(Dataset):
    """Texts tokenised once, without padding: batches are padded to their longest item."""

    def __init__(self, tokenizer, texts: list[str], labels, max_length: int):
        texts = list(texts)
        # Tokenizers fail on an empty batch; an empty split (no validation) is allowed.
        self.encodings = tokenizer(texts, truncation=True, max_length=max_length) if texts else {}
        self.labels = [int(x) for x in labels]

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        item = {key: values[i] for key, values in self.encodings.items()}
        item["labels"] = self.labels[i]
        return item


def encode_split(tokenizer, frame, label_names: list[str], max_length: int) -> EncodedTexts:
    index = {name: i for i, name in enumerate(label_names)}
    return EncodedTexts(tokenizer, frame["text"], frame["label"].map(index), max_length)


def make_loader(dataset, tokenizer, batch_size: int, shuffle: bool = False, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, generator=generator,
                      collate_fn=DataCollatorWithPadding(tokenizer))


def model_device(model) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def predict(model, loader) -> tuple[float, np.ndarray]:
    """Mean loss and class probabilities over a loader, in its order."""
    was_training = model.training
    model.eval()
    device = model_device(model)
    losses, weights, probs = [], [], []
    for batch in loader:
        batch = {k: v.to(device) for k, v in batch.items()}
        out = model(**batch)
        losses.append(float(out.loss))
        weights.append(len(batch["labels"]))
        probs.append(torch.softmax(out.logits.float(), dim=-1).cpu().numpy())
        progress.advance(len(batch["labels"]))
    model.train(was_training)
    loss = float(np.average(losses, weights=weights)) if losses else float("nan")
    return loss, np.concatenate(probs) if probs else np.zeros((0, 0))


SNAPSHOT_LIMIT = 2_000_000_000  # parameters; a CPU copy of more would cost too much memory


def snapshot(model) -> dict | None:
    """A CPU copy of every parameter, to measure later how far training moved it."""
    if sum(p.numel() for p in model.parameters()) > SNAPSHOT_LIMIT:
        return None
    return {name: p.detach().cpu().clone() for name, p in model.named_parameters()}


def effective_weights(model) -> dict:
    """Parameters as the trained model uses them: LoRA updates merged in, base names kept."""
    if hasattr(model, "merge_and_unload"):
        model = model.merge_and_unload()
    return dict(model.named_parameters())
