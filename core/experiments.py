"""Experiments: one config run several times as one queued whole (k-fold, sweeps, seeds).

An experiment is a base config (settled as one run's is), the values to sweep
({setting: [values]}, crossed into a grid), a number of seeds (replicates: seed,
seed + 1, …) and, from the base config, its folds (one run per fold). `plan`
expands and checks every run before anything is written, so a bad value leaves
nothing behind; `record` stores the experiment and its runs `queued`, and the
job manager (or the CLI) works them through the one queue in order. Each run is
an ordinary run: it can be stopped, resumed or deleted on its own.

`summary` says how the runs ended, per run and per setting (mean ± standard
deviation over seeds and folds, the best setting marked). `core.pooling` makes,
once every fold of a setting has completed, the one evaluation in which every
example is predicted exactly once, by the run that held it out.
"""

import dataclasses
import itertools
import json
from dataclasses import dataclass
from typing import Callable

import pandas as pd

from core import methods
from core.config import (TrainConfig, read_settings_file, settle, with_method_defaults,
                         yaml_value)
from core.data import Table, load_table
from core.errors import WorkbenchError
from core.results import Prepared
from core.settings import MAX_SEED, checked_value, whole_number
from storage import queries
from storage.run_names import MAX_NAME, SEPARATOR

MAX_RUNS = 24  # more needs a confirmation (`--yes`, the form's tick): hours on a CPU
MOST_RUNS = 500  # even confirmed: weeks on a CPU, and planning alone takes minutes
# Not swept: the run's own name, what an experiment already varies in its own way, and
# what decides the test split: values scored on different examples cannot be ranked.
UNLIKE = "it decides the test split, so each value would be scored on other examples and " \
         "they could not be ranked; launch them as separate runs or experiments"
NOT_SWEPT = {"name": "each run is named after the experiment",
             "fold": "the folds make one run per fold", "folds": "give the folds once",
             "seed": "each seed draws its own test split; give seeds N instead (replicates, "
                     "averaged for every setting alike)",
             **{name: UNLIKE for name in (
                 "dataset", "dataset_info", "test_size", "text_only", "clean_text",
                 "text_column", "label_column", "prompt_column", "response_column",
                 "chosen_column", "rejected_column", "completion_column")}}
# Each figure a run's test split gives, and whether higher is better.
FIGURES = {"test_accuracy": True, "test_f1": True, "rougeL": True, "perplexity": False}


@dataclass
class Plan:
    """An experiment checked: its settings and every run, prepared, in queue order."""
    name: str | None
    base: TrainConfig
    sweep: dict[str, list]
    seeds: int
    runs: list[Prepared]
    points: list[dict]  # what each run varies: the swept settings, "seed" and "fold"

    def settings(self) -> dict:
        return {"base": self.base.to_dict(), "sweep": self.sweep, "seeds": self.seeds}


def is_experiment(config: TrainConfig, sweep: dict, seeds: int | None) -> bool:
    """Several runs: a sweep, seeds other than 1 (0 is refused by the plan, not taken as one
    run), or folds without one fold named."""
    given_seeds = seeds is not None and (isinstance(seeds, bool) or seeds != 1)
    return sweep not in (None, {}) or given_seeds or (config.folds is not None and
                                                       config.fold is None)


def parse_sweep(items: list[str]) -> dict[str, list]:
    """`["lr=1e-5,5e-5", "lora_r=8,16"]` (the CLI's --sweep) as {setting: [values]}, each
    value read as YAML reads a run.yaml's (numbers, true / false, text)."""
    sweep = {}
    for item in items:
        name, equals, values = item.partition("=")
        name = name.strip().replace("-", "_")
        if not equals or not name or not values.strip():
            raise WorkbenchError(f"sweep '{item}' is not SETTING=VALUE,VALUE,… "
                                 "(for example lr=1e-5,5e-5)")
        if any(not v.strip() for v in values.split(",")):
            raise WorkbenchError(f"sweep '{item}' has an empty value between its commas (a value "
                                 "holding a comma goes in run.yaml's sweep: as a list)")
        if name in sweep:
            raise WorkbenchError(f"the sweep names {name} twice; give its values once")
        sweep[name] = [yaml_value(v.strip()) for v in values.split(",")]
    return sweep


def checked_sweep(sweep) -> dict[str, list]:
    """A sweep whose every setting is a TrainConfig field that can vary, each with a list of
    distinct values of the field's type (a run.yaml's `sweep:` passes here too)."""
    if sweep is None or sweep == {}:  # (the form's empty sweep box)
        return {}
    if not isinstance(sweep, dict):
        raise WorkbenchError("sweep must map settings to lists of values (lr: [1e-5, 5e-5])")
    fields = {f.name: f for f in dataclasses.fields(TrainConfig)}
    checked = {}
    for name, values in sweep.items():
        if name not in fields:
            raise WorkbenchError(f"cannot sweep '{name}': no such setting (see python -m core "
                                 "train --help)")
        if name in NOT_SWEPT:
            raise WorkbenchError(f"cannot sweep {name}: {NOT_SWEPT[name]}")
        values = values if isinstance(values, list) else [values]
        if not values:
            raise WorkbenchError(f"sweep of {name} has no values")
        if any(v is None or v == "" for v in values):  # not "the default": say the value
            raise WorkbenchError(f"sweep of {name} lists an empty value")
        try:
            typed = [checked_value(fields[name], v) for v in values]
        except WorkbenchError as error:
            raise WorkbenchError(f"sweep of {name}: {error}") from None
        if len(set(map(repr, typed))) < len(typed):
            raise WorkbenchError(f"sweep of {name} lists a value twice")
        checked[name] = typed
    return checked


MAX_SEEDS = MAX_RUNS * 10


def checked_seeds(seeds) -> int:
    if seeds is None:
        return 1
    number = whole_number("seeds", seeds)
    if not 1 <= number <= MAX_SEEDS:
        raise WorkbenchError(f"seeds must be from 1 to {MAX_SEEDS} (got {seeds!r})")
    return number


def grid(base: TrainConfig, sweep: dict[str, list], seeds: int) -> list[dict]:
    """Every run's own settings: each combination of swept values, × seeds, × folds."""
    if base.seed + seeds - 1 > MAX_SEED:
        raise WorkbenchError(f"seeds {base.seed} to {base.seed + seeds - 1} go past {MAX_SEED}")
    folds = [None] if base.folds is None else \
        [base.fold] if base.fold is not None else list(range(1, base.folds + 1))
    points = []
    for values in itertools.product(*sweep.values()):
        for seed in range(base.seed, base.seed + seeds):
            for fold in folds:
                points.append({"seed": seed, "fold": fold, **dict(zip(sweep, values))})
    return points


def plan(given: dict, preset: str | None = None, file=None, sweep=None, seeds: int | None = None,
         allow_many: bool = False, progress: Callable[[int, int], None] | None = None) -> Plan:
    """Check and prepare every run of an experiment (a WorkbenchError, nothing written, if any
    one cannot run). `sweep` and `seeds` override a run.yaml's `sweep:` and `seeds:`.
    `progress(done, total)` is told as each run is prepared (about 0.1 s each)."""
    from_file = read_settings_file(file)[1] if file is not None else {}
    sweep = checked_sweep(sweep if sweep else from_file.get("sweep"))
    seeds = checked_seeds(seeds if seeds is not None else from_file.get("seeds"))
    base = settle(given, preset, file)
    points = grid(base, sweep, seeds)
    read_table = read_once()
    from core import engine  # (torch: not for the commands that only list experiments)

    def prepared(point: dict) -> Prepared:
        try:
            run = engine.prepare(settle({**own_defaults(given, base, point), **point}, preset,
                                        file), read_table)
        except WorkbenchError as error:
            label = point_label(point, sweep, seeds, base.folds)
            raise WorkbenchError(f"{label or 'the run'}: {error}") from None
        if progress is not None:
            progress(len(runs) + 1, len(points))
        return run

    runs: list[Prepared] = []
    runs.append(prepared(points[0]))  # what is wrong with the data is said before the count
    check_count(len(points), allow_many)
    runs.extend(prepared(point) for point in points[1:])
    return Plan(base.name, base, sweep, seeds, runs, points)


def check_count(runs: int, allow_many: bool) -> None:
    if runs > MOST_RUNS:
        raise WorkbenchError(f"this experiment is {runs:,} runs; an experiment is at most "
                             f"{MOST_RUNS} (fewer values, seeds or folds)")
    if runs > MAX_RUNS and not allow_many:
        raise WorkbenchError(f"this experiment is {runs} runs; more than {MAX_RUNS} need "
                             "a confirmation (--yes)")


def read_once() -> Callable:
    """`load_table`, reading each data set once: every run of an experiment reads the same
    data (the sweep cannot change it), and reading it was most of the planning's time."""
    tables: dict[str, Table] = {}

    def read(*args) -> Table:
        key = repr(args)
        if key not in tables:
            tables[key] = load_table(*args)
        return tables[key]
    return read


def own_defaults(given: dict, base: TrainConfig, point: dict) -> dict:
    """The given settings for a run whose method or adapter the sweep changes: those at the
    base method's defaults (as the Train form fills them in) left to the run's own method,
    as a flag left out would be. Settings the user changed stay as given."""
    if not {"method", "adapter"} & point.keys():
        return given
    defaults = with_method_defaults(dataclasses.replace(TrainConfig(), method=base.method,
                                                        adapter=base.adapter))
    return {k: v for k, v in given.items()
            if k in point or k not in DEFAULTED or v != getattr(defaults, k)}


# The settings a method's defaults fill (its spec's, and the learning rate).
DEFAULTED = {"lr"} | {k for spec in methods.REGISTRY.values() for k in spec.defaults}


def point_label(point: dict, sweep: dict, seeds: int, folds: int | None) -> str:
    """What sets a run apart in its experiment: 'lr=5e-05 · seed 43 · fold 2/5'."""
    parts = [f"{name}={point[name]}" for name in sweep]  # (a swept seed among them)
    if seeds > 1:
        parts.append(f"seed {point['seed']}")
    if point.get("fold") is not None:
        parts.append(f"fold {point['fold']}" + (f"/{folds}" if folds else ""))
    return SEPARATOR.join(parts)


def record(db, plan: Plan, queue: dict | None = None,
           run_ids: list[str] | None = None) -> tuple[int, list[str]]:
    """Store the experiment and its runs, `queued` (`queue`: their queue rows' options), in
    order, under `run_ids` if given; its id and the runs' ids. Each run is named after the
    experiment and what sets it apart."""
    experiment_id = queries.create_experiment(db, plan.name, plan.settings())
    name = queries.get_experiment(db, experiment_id)["name"]
    given, run_ids = iter(run_ids or []), []
    for point, prepared in zip(plan.points, plan.runs):
        label = point_label(point, plan.sweep, plan.seeds, plan.base.folds)
        room = MAX_NAME - len(SEPARATOR) - len(label)
        run_name = (name if len(name) <= room else name[:room - 1] + "…") + SEPARATOR + label
        prepared.config = dataclasses.replace(prepared.config, name=run_name)
        run_ids.append(queries.create_run(db, prepared.config.to_dict(),
                                          data_hash=prepared.data_hash,
                                          experiment_id=experiment_id, queue=queue,
                                          run_id=next(given, None)))
    return experiment_id, run_ids


# ---- reading an experiment back ------------------------------------------------------


def settings_of(experiment: dict) -> dict:
    return json.loads(experiment["settings"])


def status_of(statuses: dict) -> str:
    """One word for an experiment's runs: running or queued while any is, else completed if
    all are, else the worst ending (failed, then interrupted, then stopped); empty when all
    its runs were deleted."""
    if not statuses:
        return "empty"
    for status in ("running", "queued", "failed", "interrupted", "stopped"):
        if statuses.get(status) and (status in ("running", "queued") or
                                     not statuses.get("running") and not statuses.get("queued")):
            return status
    return "completed"


def run_figures(run: dict) -> dict:
    """A run's test figures: accuracy and F1 from its row, ROUGE-L and perplexity from its
    summary."""
    summary = json.loads(run["summary"]) if run.get("summary") else {}
    return {"test_accuracy": run["test_accuracy"], "test_f1": run["test_f1"],
            "rougeL": summary.get("rougeL"), "perplexity": summary.get("perplexity")}


def runs_frame(runs: list[dict], sweep: dict) -> pd.DataFrame:
    """One row per run: name, status, what it varies (swept settings, seed, fold), figures."""
    rows = []
    for run in runs:
        config = json.loads(run["config"])
        rows.append({"run": run["id"], "name": run["name"], "status": run["status"],
                     **{name: config.get(name) for name in sweep},
                     "seed": config["seed"], "fold": config.get("fold"), **run_figures(run)})
    frame = pd.DataFrame(rows, columns=["run", "name", "status", *sweep, "seed", "fold", *FIGURES])
    return frame.dropna(axis=1, how="all") if not frame.empty else frame


def figures_of(frame: pd.DataFrame) -> list[str]:
    return [f for f in FIGURES if f in frame]


def settings_frame(frame: pd.DataFrame, sweep: dict) -> pd.DataFrame:
    """Per setting (each combination of swept values; the whole experiment when nothing is
    swept): runs, completed runs, and the mean and standard deviation of each figure over
    the completed ones (seeds and folds). `best` marks the setting with the best mean of the
    first figure (where there are several settings; each of them where they tie)."""
    figures = figures_of(frame)
    done = frame[frame["status"] == "completed"]
    keys = list(sweep) or (lambda _: 0)
    grouped = frame.groupby(keys, sort=False, dropna=False)
    table = pd.DataFrame({"runs": grouped.size()})
    table["completed"] = done.groupby(keys, sort=False, dropna=False).size().reindex(
        table.index).fillna(0).astype(int)
    for figure in figures:
        by_setting = done.groupby(keys, sort=False, dropna=False)[figure]
        table[figure] = by_setting.mean().reindex(table.index)
        table[figure + "_std"] = by_setting.std(ddof=1).reindex(table.index)
    table = table.reset_index(drop=not sweep)
    table["best"] = False
    if len(table) > 1 and figures and table[figures[0]].notna().any():
        first = table[figures[0]]
        table["best"] = first == (first.max() if FIGURES[figures[0]] else first.min())  # ties too
    return table


def best_caveat(by_setting: pd.DataFrame) -> str | None:
    """Why the marked best setting may be chance: it was measured once (one seed gives no
    spread), or it leads the next setting by less than its own spread."""
    best = by_setting[by_setting["best"]] if "best" in by_setting else by_setting.iloc[:0]
    if best.empty:
        return None
    figure = figures_of(by_setting)[0]
    if (best["completed"] < 2).any():
        return ("each best setting completed one run: one seed gives no spread, so its lead "
                "may be chance; run each setting with 3 seeds or more to know")
    others = by_setting.loc[~by_setting["best"], figure].dropna()
    if others.empty:
        return None
    lead = abs(best[figure].iloc[0] - (others.max() if FIGURES[figure] else others.min()))
    spread = best[figure + "_std"].iloc[0]
    if lead >= spread:
        return None
    return (f"the best setting leads the next by {lead:.4f}, less than its spread over "
            f"runs ({spread:.4f}): the settings may not differ")


@dataclass
class Summary:
    experiment: dict
    settings: dict  # as planned: base, sweep, seeds
    status: str
    runs: pd.DataFrame
    by_setting: pd.DataFrame
    pooled: list[dict]  # k-fold: the pooled evaluations


def summary(db, experiment_id: int) -> Summary | None:
    experiment = queries.get_experiment(db, experiment_id)
    if experiment is None:
        return None
    settings = settings_of(experiment)
    runs = queries.experiment_runs(db, experiment_id)
    frame = runs_frame(runs, settings["sweep"])
    statuses = frame["status"].value_counts().to_dict() if not frame.empty else {}
    by_setting = settings_frame(frame, settings["sweep"]) if not frame.empty else pd.DataFrame()
    return Summary(experiment, settings, status_of(statuses), frame, by_setting,
                   queries.experiment_evaluations(db, experiment_id))


def mean_std(value: float, std: float) -> str:
    return "-" if pd.isna(value) else f"{value:.4f}" + ("" if pd.isna(std) else f" ± {std:.4f}")


def settings_table(by_setting: pd.DataFrame, sweep: dict) -> tuple[list[str], list[dict]]:
    """Per setting, as text: its swept values, completed runs of those planned, each figure's
    mean ± std, and a * by the best."""
    records = []
    for row in by_setting.to_dict("records"):
        record = {name: row[name] for name in sweep}
        record["completed"] = f"{row['completed']} of {row['runs']}"
        record.update({f: mean_std(row[f], row[f + "_std"]) for f in FIGURES if f in row})
        record["best"] = "*" if row["best"] else ""
        records.append(record)
    return (list(records[0]) if records else []), records


def cancel_order(runs: list[dict]) -> list[str]:
    """The ids of an experiment's runs that are queued or running, queued first: cancelling
    them before stopping the running one keeps the queue from starting the next."""
    queued = [r["id"] for r in runs if r["status"] == "queued"]
    return queued + [r["id"] for r in runs if r["status"] == "running"]
