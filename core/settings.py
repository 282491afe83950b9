"""A setting declared once: its default, help, type, bounds and choices live in its field.

`TrainConfig` and `EvalConfig` declare their fields with `setting(...)`; the one type and
bound check (`checked`), the forms' widget limits (`widget_limits`) and the CLI's choices
all read the field's metadata, so the three can never disagree on what a setting allows.
"""

import dataclasses
import math
import typing
from dataclasses import field

from core.errors import WorkbenchError

MAX_INT = 2**53  # beyond this a count is a typo, and floats lose whole numbers
MAX_TEXT = 500  # characters in a name, a column, a model id or a path
MAX_SEED = 2**32 - 1  # numpy's seeds are 32-bit
MANY_STEPS = 10_000_000  # a step count past this is a typo (a year of steps on a fast GPU)


def setting(default, help_text: str, *, label: str | None = None, low=None, high=None,
            above=None, choices: tuple | None = None, off=None, **extra):
    """A config field. `low` / `high`: inclusive bounds; `above`: an exclusive lower bound (a
    learning rate above 0); `choices`: the values a text setting takes; `off`: the number a
    form shows for an unset optional count ("0 = off"); `label`: its name in messages."""
    metadata = {"help": help_text, "label": label, "low": low, "high": high, "above": above,
                "choices": choices, "off": off, **extra}
    return field(default=default, metadata={k: v for k, v in metadata.items() if v is not None})


def like(owner: type, name: str, default=None, help_text: str | None = None):
    """Another config's field `name` (its type check, bounds and choices), with its own
    default and, where the meaning differs, its own help: a shared setting is declared once."""
    metadata = dict(field_of(owner, name).metadata)
    if help_text is not None:
        metadata["help"] = help_text
    return field(default=default, metadata=metadata)


def field_of(owner: type, name: str) -> dataclasses.Field:
    return next(f for f in dataclasses.fields(owner) if f.name == name)


def choices_of(owner: type, name: str) -> list:
    """A text setting's choices, for a form's radio or select box."""
    return list(field_of(owner, name).metadata["choices"])


def label_of(f: dataclasses.Field) -> str:
    return f.metadata.get("label") or f.name.replace("_", " ")


def field_type(f: dataclasses.Field) -> type:
    """The field's type, without the None of an optional one (`float | None` -> float)."""
    kinds = [k for k in typing.get_args(f.type) if k is not type(None)] or [f.type]
    return kinds[0]


def checked(config):
    """Every field of a config dataclass checked against its declared type, bounds and
    choices, whatever the source (form, flags, run.yaml, a stored run): the one door. A YAML
    string is never a boolean, a count is never fractional, and no number is infinite."""
    values = {f.name: checked_value(f, getattr(config, f.name))
              for f in dataclasses.fields(config) if f.init}
    return type(config)(**values)


def checked_value(f: dataclasses.Field, value):
    value = typed_value(f, value)
    if value is not None:
        within_bounds(f, value)
        within_choices(f, value)
    return value


def typed_value(f: dataclasses.Field, value):
    kind, label = field_type(f), label_of(f)
    if value is None:
        if f.default is None:
            return None
        raise WorkbenchError(f"{label} must be given (got nothing)")
    if kind is bool:
        if isinstance(value, bool):
            return value
        raise WorkbenchError(f"{label} must be true or false (got {describe(value)})")
    if kind is str:
        if not isinstance(value, str):
            raise WorkbenchError(f"{label} must be text (got {describe(value)})")
        longest = f.metadata.get("max_chars", MAX_TEXT)
        if len(value) > longest:
            raise WorkbenchError(f"{label} is {len(value)} characters long; at most {longest}")
        return value
    if kind is int:
        return whole_number(label, value)
    if kind is float:
        return finite_number(label, value)
    return value  # a structured setting (shots) checks itself


def within_bounds(f: dataclasses.Field, value) -> None:
    """The bound a value breaks, said as that bound alone ("at least 1", "at most 0.9")."""
    low, high, above = (f.metadata.get(k) for k in ("low", "high", "above"))
    if above is not None and value <= above:
        wanted = f"must be above {shown(above)}"
    elif low is not None and value < low:
        wanted = "cannot be negative" if low == 0 else f"must be at least {shown(low)}"
    elif high is not None and value > high:
        wanted = f"must be at most {shown(high)}"
    else:
        return
    raise WorkbenchError(f"{label_of(f)} {wanted}{f.metadata.get('unit', '')} "
                         f"(got {shown(value)})")


def shown(number) -> str:
    return str(number) if isinstance(number, int) else f"{number:g}"


def within_choices(f: dataclasses.Field, value) -> None:
    choices = f.metadata.get("choices")
    if choices is not None and value not in choices:
        raise WorkbenchError(f"unknown {label_of(f)} '{value}'; choose from {', '.join(choices)}")


def widget_limits(owner: type, name: str) -> dict:
    """A number widget's `min_value` / `max_value` for field `name`: its bounds, with the
    form's "0 = off" value for an unset optional count. An exclusive bound (above 0) is the
    widget's minimum, refused by the check with its reason."""
    f = field_of(owner, name)
    low = f.metadata.get("low", f.metadata.get("above"))
    if "off" in f.metadata:
        low = f.metadata["off"]
    kind = field_type(f)
    limits = {"min_value": low, "max_value": f.metadata.get("high")}
    return {k: kind(v) for k, v in limits.items() if v is not None}


def whole_number(label: str, value) -> int:
    number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    if number is None or not math.isfinite(number) or not float(number).is_integer():
        raise WorkbenchError(f"{label} must be a whole number (got {describe(value)})")
    if abs(number) > MAX_INT:
        raise WorkbenchError(f"{label} {value} is out of range (at most {MAX_INT})")
    return int(number)


def finite_number(label: str, value) -> float | int:
    if isinstance(value, str):  # YAML reads 2e-5 (no dot) as a string: take it as written
        try:
            value = float(value.strip())
        except ValueError:
            raise WorkbenchError(f"{label} must be a number (got {describe(value)})") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise WorkbenchError(f"{label} must be a number (got {describe(value)})")
    if not math.isfinite(value):
        raise WorkbenchError(f"{label} must be a finite number (got {value})")
    return value


def describe(value) -> str:
    """A wrong value as a user would recognise it, cut short (it may be a huge structure)."""
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:40] + "…"
        return f"the text {shown!r}"
    kind = {list: "a list", dict: "a mapping", bool: "a boolean"}.get(type(value))
    return kind or repr(value)[:40]
