"""The method registry: every training method, one module each in this folder.

Each module exports `SPEC`, a `MethodSpec` (see `spec.py`); a new method is a new
module here and nothing else. Config, engine, launch, memory, the causal and
encoder runs, the Train form and the CLI read the specs; none of them names a method.
"""

import importlib
import pkgutil

from core.errors import WorkbenchError
from core.methods.spec import Metric, MethodSpec


def _discover() -> dict[str, MethodSpec]:
    specs = []
    for module in pkgutil.iter_modules(__path__):
        if module.name != "spec":
            specs.append(importlib.import_module(f"{__name__}.{module.name}").SPEC)
    return {spec.name: spec for spec in sorted(specs, key=lambda s: (s.order, s.name))}


REGISTRY: dict[str, MethodSpec] = _discover()


def names(model_kind: str | None = None) -> list[str]:
    """Method names in menu order; only those that train `model_kind` when given."""
    return [n for n, s in REGISTRY.items() if model_kind in (None, s.model_kind)]


def trainer_methods() -> list[str]:
    """Methods that train through the HF Trainer (several processes and report_to need it)."""
    return [n for n, s in REGISTRY.items() if s.hf_trainer]


def get(name: str) -> MethodSpec:
    """The method's spec; an unknown name is an error that lists the known ones."""
    if name not in REGISTRY:
        raise WorkbenchError(f"unknown method '{name}'; choose from {', '.join(REGISTRY)}")
    return REGISTRY[name]


def is_causal(name: str) -> bool:
    """Whether a (stored) run's method trains causal models; False for a name no longer known."""
    return name in REGISTRY and REGISTRY[name].causal


def stored_metrics() -> dict[str, Metric]:
    """Every column some method writes to the `metrics` table, by column name."""
    return {m.column: m for spec in REGISTRY.values() for m in spec.stored_metrics()}


def own_settings() -> list[str]:
    """Settings some method reads and others do not (their specs' `settings`)."""
    return sorted({name for spec in REGISTRY.values() for name in spec.settings})


def reading(setting: str) -> list[str]:
    """The methods that read one of those settings."""
    return [n for n, s in REGISTRY.items() if setting in s.settings]
