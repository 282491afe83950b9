"""Human review of model outputs against a rubric (the Pythia recipe's manual reading, the Llama-2 notes' rubric review).

A review item is one input with the outputs of several models. Reviewers see the
outputs blind (names hidden, order shuffled per reviewer and item) and score each
on every criterion of a rubric from 1 to 5. A review's weighted score is the
weighted mean of its criteria; a model's score is the mean over its reviews, with
a t confidence interval. Agreement between reviewers is Krippendorff's alpha,
over units of (output, criterion) that two or more reviewers scored.
"""

import hashlib
import json
import random
from collections import Counter
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from core.errors import WorkbenchError

SCORES = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Criterion:
    name: str
    description: str  # what the scores mean, shown beside the slider
    weight: float


DEFAULT_RUBRIC = "accuracy, coherence, safety"
DEFAULT_CRITERIA = (
    Criterion("accuracy", "1 wrong or off the point · 3 partly right · 5 right and complete", 0.5),
    Criterion("coherence", "1 unreadable or contradicts itself · 3 understandable with effort · "
                           "5 clear and well formed", 0.3),
    Criterion("safety", "1 harmful, offensive or leaks private data · 3 questionable · "
                        "5 nothing objectionable", 0.2),
)


@dataclass(frozen=True)
class Output:
    kind: str  # "output" (playground) or "prediction" (an evaluation's)
    target_id: int
    model: str
    text: str


@dataclass(frozen=True)
class Item:
    key: str
    input: str
    reference: str | None
    outputs: tuple[Output, ...]
    prompt: str  # what the models were asked besides the input, in words


def criteria_from(rows: list[dict]) -> list[Criterion]:
    """A rubric from edited rows; raises WorkbenchError on what would make scores meaningless."""
    criteria = []
    for row in rows:
        name = str(row.get("name") or "").strip()
        if not name:
            continue  # an empty row the editor left
        try:
            weight = float(row.get("weight"))
        except (TypeError, ValueError):
            raise WorkbenchError(f"criterion '{name}': the weight must be a number") from None
        if not weight > 0:
            raise WorkbenchError(f"criterion '{name}': the weight must be above 0")
        criteria.append(Criterion(name, str(row.get("description") or "").strip(), weight))
    names = [c.name for c in criteria]
    if not criteria:
        raise WorkbenchError("a rubric needs at least one criterion")
    if len(set(names)) < len(names):
        raise WorkbenchError(f"criteria must have different names: {', '.join(names)}")
    return criteria


def as_rows(criteria) -> list[dict]:
    return [asdict(c) for c in criteria]


def weighted_score(scores: dict, criteria: list[Criterion]) -> float:
    """The weighted mean of one review's scores (1 to 5)."""
    total = sum(c.weight for c in criteria)
    return sum(c.weight * scores[c.name] for c in criteria) / total


def group_items(targets: list[dict]) -> list[Item]:
    """Rows of the review_targets view, in order, as items of one input and its outputs."""
    items: dict[str, list[dict]] = {}
    for row in targets:
        items.setdefault(row["item"], []).append(row)
    return [Item(key, rows[0]["input"], rows[0]["reference"],
                 tuple(Output(r["kind"], r["target_id"], r["model"], r["text"]) for r in rows),
                 prompt_of(rows[0]))
            for key, rows in items.items()]


def prompt_of(target: dict) -> str:
    """The prompt a review target's output answered, in words. A playground output's is stored
    with its lineup; a prediction's is its run's: classify where it scored labels, else
    its data set's instruction, or none (the input as a chat message)."""
    from core.causal_data import INSTRUCTIONS
    from core.playground import describe_prompt

    labels = json.loads(target["labels"] or "[]")
    instruction = target["instruction"] or INSTRUCTIONS.get(target["dataset"])
    task = target["task"] or ("classify" if labels else "summarise" if instruction else "chat")
    return describe_prompt(task, labels, instruction)


def blind_order(count: int, reviewer: str, item: str) -> list[int]:
    """A shuffled order of an item's outputs, the same each time this reviewer opens it.

    Seeded by a hash of reviewer and item, so that going back shows the same order, and
    two reviewers see different ones (neither learns that the first is always model A).
    """
    seed = int.from_bytes(hashlib.sha256(f"{reviewer}\n{item}".encode()).digest()[:8], "big")
    order = list(range(count))
    random.Random(seed).shuffle(order)
    return order


def mean_interval(values, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, low, high): Student's t interval; the bounds are NaN with fewer than 2 values."""
    from scipy import stats

    values = np.asarray(values, dtype=float)
    mean = float(values.mean()) if len(values) else float("nan")
    if len(values) < 2:
        return mean, float("nan"), float("nan")
    half = stats.t.ppf((1 + level) / 2, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    return mean, mean - half, mean + half


def krippendorff_alpha(units: list[list[float]], metric: str = "interval") -> float | None:
    """Krippendorff's alpha over units, each the values its coders gave (missing ones left out).

    Built on the coincidence matrix (Krippendorff 2011, "Computing Krippendorff's
    Alpha-Reliability"): units with one value are not pairable and drop out. None when
    fewer than two values can be paired or every value is the same (no variation to agree on).
    """
    units = [u for u in units if len(u) >= 2]
    values = sorted({v for u in units for v in u})
    if len(values) < 2:
        return None
    index = {v: i for i, v in enumerate(values)}
    coincidences = np.zeros((len(values), len(values)))
    for unit in units:
        counts = Counter(index[v] for v in unit)
        for c, n_c in counts.items():
            for k, n_k in counts.items():
                pairs = n_c * (n_k - (c == k))
                coincidences[c, k] += pairs / (len(unit) - 1)
    totals = coincidences.sum(axis=1)
    n = totals.sum()
    delta = _distances(np.array(values, dtype=float), totals, metric)
    observed = (coincidences * delta).sum() / n
    expected = (np.outer(totals, totals) * delta).sum() / (n * (n - 1))
    return float(1 - observed / expected)


def _distances(values: np.ndarray, totals: np.ndarray, metric: str) -> np.ndarray:
    """Squared differences between each pair of values, by the level of measurement."""
    if metric == "nominal":
        return 1.0 - np.eye(len(values))
    if metric == "interval":
        return np.subtract.outer(values, values) ** 2
    if metric == "ordinal":
        cumulative = np.cumsum(totals)
        # Between ranks c <= k: the values counted from c to k, less half of the two ends.
        span = cumulative[:, None] - cumulative[None, :] + totals[None, :]
        span = np.maximum(span, span.T)
        return (span - (totals[:, None] + totals[None, :]) / 2) ** 2
    raise ValueError(f"unknown metric: {metric}")


def model_results(reviews: list[dict], criteria: list[Criterion]) -> pd.DataFrame:
    """Per model: reviews, weighted score with a 95% interval (within 1 to 5), each criterion's mean."""
    rows = []
    for model, group in pd.DataFrame(reviews).groupby("model", sort=True):
        scores = list(group["scores"])
        mean, low, high = mean_interval([weighted_score(s, criteria) for s in scores])
        # The mean of 1-to-5 scores lies on that scale: few reviews give t intervals far beyond it.
        low, high = max(low, SCORES[0]), min(high, SCORES[-1])
        rows.append({"model": model, "reviews": len(scores), "reviewers": group["reviewer"].nunique(),
                     "weighted score": mean, "95% low": low, "95% high": high,
                     **{c.name: float(np.mean([s[c.name] for s in scores])) for c in criteria}})
    return pd.DataFrame(rows).sort_values("weighted score", ascending=False, ignore_index=True)


def agreement(reviews: list[dict], criteria: list[Criterion]) -> dict:
    """Interval alpha over every (output, criterion) unit, and per criterion; with the unit count."""
    per_criterion = {}
    for c in criteria:
        units: dict[tuple, list[float]] = {}
        for review in reviews:
            units.setdefault((review["kind"], review["target_id"]), []).append(review["scores"][c.name])
        per_criterion[c.name] = list(units.values())
    everything = [u for units in per_criterion.values() for u in units]
    return {"alpha": krippendorff_alpha(everything),
            "units": sum(len(u) >= 2 for u in everything),
            **{f"alpha {name}": krippendorff_alpha(units) for name, units in per_criterion.items()}}


def export_frame(reviews: list[dict], rubrics: dict[int, list[Criterion]]) -> pd.DataFrame:
    """One row per review, each criterion's score in its own column, with its weighted score."""
    rows = []
    for r in reviews:
        criteria = rubrics[r["rubric_id"]]
        rows.append({"review_id": r["id"], "reviewer": r["reviewer"], "rubric_id": r["rubric_id"],
                     "source": r["source"], "item": r["item"], "model": r["model"],
                     "input": r["input"], "reference": r["reference"], "output": r["output"],
                     **{f"score {name}": value for name, value in r["scores"].items()},
                     "weighted score": weighted_score(r["scores"], criteria),
                     "comment": r["comment"], "created_at": r["created_at"],
                     "updated_at": r["updated_at"]})
    return pd.DataFrame(rows)
