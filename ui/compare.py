"""Shaping evaluations for the comparison page: systems, summed confusion, disagreements."""

import json

import numpy as np
import pandas as pd

from core.evaluate import FIGURES, system_summary, system_of, with_systems
from storage import queries

# The summary's columns as the page shows them; `system` is the system's label there.
COLUMNS = ["label", "run", "executions",
           *(name for figure in FIGURES for name in (figure, f"{figure}_std")), "unparseable"]


def by_system(evaluations: list[dict]) -> dict[str, list[dict]]:
    """Each system's executions under its key (core.evaluate.system_of), labelled."""
    systems = {}
    for evaluation in with_systems(evaluations):
        systems.setdefault(evaluation["system"], []).append(evaluation)
    return systems


def systems_of(db, ids: list[int]) -> list[str]:
    """The keys of the systems the given evaluations scored, each once, in order."""
    return list(dict.fromkeys(system_of(e)["system"] for e in queries.get_evaluations(db, ids)))


def summary_table(evaluations: list[dict], picked: list[str]) -> pd.DataFrame:
    """Mean ± std of each figure over the executions (seeds) of each picked system, in the
    order picked. Labelled among all the evaluations, as the picker labels them."""
    summary = system_summary(evaluations).set_index("system").loc[picked]
    return summary[COLUMNS].rename(columns={"label": "system"}).reset_index(drop=True)


def summed_confusion(runs: list[dict]) -> tuple[list[list[int]], list[str]]:
    """The confusion matrices of a system's executions, added up."""
    total = sum(np.array(json.loads(r["confusion"])) for r in runs)
    return total.tolist(), json.loads(runs[0]["labels"])


def disagreements(db, first: dict, second: dict) -> pd.DataFrame:
    """Examples on which two evaluations predict differently, with the reference."""
    a = {p["idx"]: p for p in queries.evaluation_predictions(db, first["id"])}
    b = {p["idx"]: p for p in queries.evaluation_predictions(db, second["id"])}
    rows = [{"example": i, "text": a[i]["input"], "reference": a[i]["reference"],
             first["label"]: a[i]["prediction"], second["label"]: b[i]["prediction"]}
            for i in sorted(a.keys() & b.keys()) if a[i]["prediction"] != b[i]["prediction"]]
    return pd.DataFrame(rows)
