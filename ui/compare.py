"""Shaping evaluations for the comparison page: systems, summed confusion, disagreements."""

import json

import numpy as np
import pandas as pd

from storage import queries


def system_name(evaluation: dict) -> str:
    """What was scored: a fine-tuned run, or a model with a prompting mode and template."""
    if evaluation["mode"] == "fine-tuned":
        return f"{evaluation['model']} · fine-tuned"
    return f"{evaluation['model']} · {evaluation['shots']}-shot · {evaluation['template']}"


def by_system(evaluations: list[dict]) -> dict[str, list[dict]]:
    systems = {}
    for evaluation in evaluations:
        systems.setdefault(system_name(evaluation), []).append(evaluation)
    return systems


def summary_table(evaluations: list[dict]) -> pd.DataFrame:
    """Mean ± std of each figure per system, over its executions (seeds)."""
    rows = []
    for name, runs in by_system(evaluations).items():
        row = {"system": name, "executions": len(runs)}
        for figure in ("accuracy", "precision", "recall", "f1"):
            values = np.array([r[figure] for r in runs])
            row[figure], row[f"{figure}_std"] = values.mean(), values.std()
        row["unparseable"] = sum(r.get("unparseable") or 0 for r in runs)
        rows.append(row)
    return pd.DataFrame(rows)


def summed_confusion(runs: list[dict]) -> tuple[list[list[int]], list[str]]:
    """The confusion matrices of a system's executions, added up."""
    total = sum(np.array(json.loads(r["confusion"])) for r in runs)
    return total.tolist(), json.loads(runs[0]["labels"])


def disagreements(db, first: dict, second: dict) -> pd.DataFrame:
    """Examples on which two evaluations predict differently, with the reference."""
    a = {p["idx"]: p for p in queries.evaluation_predictions(db, first["id"])}
    b = {p["idx"]: p for p in queries.evaluation_predictions(db, second["id"])}
    rows = [{"example": i, "text": a[i]["input"], "reference": a[i]["reference"],
             system_name(first): a[i]["prediction"], system_name(second): b[i]["prediction"]}
            for i in sorted(a.keys() & b.keys()) if a[i]["prediction"] != b[i]["prediction"]]
    return pd.DataFrame(rows)
