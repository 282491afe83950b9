"""A setting's bounds are declared once, in its field (core.settings): the config check, the
CLI and the forms' widgets all take them from there, so the three agree for every numeric
setting of training, prompting and the playground."""

import dataclasses
import re

import pytest
from streamlit.testing.v1 import AppTest

from core.cli import main
from core.config import TrainConfig
from core.errors import WorkbenchError
from core.evaluate import EvalConfig
from core.playground import GenerationSettings
from core.settings import checked, field_type, shown
from test_pages import PAGES

CONFIGS = (TrainConfig, EvalConfig, GenerationSettings)


def bounded(owner) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(owner)
            if {"low", "high", "above"} & set(f.metadata)]


def past_each_bound(f: dataclasses.Field) -> list:
    """A value just outside each of the field's bounds."""
    step = 1 if field_type(f) is int else 1e-3
    low, high, above = (f.metadata.get(k) for k in ("low", "high", "above"))
    return ([low - step] if low is not None else []) + \
        ([high + step] if high is not None else []) + ([above] if above is not None else [])


def on_each_bound(f: dataclasses.Field) -> list:
    low, high, above = (f.metadata.get(k) for k in ("low", "high", "above"))
    return ([low] if low is not None else []) + ([high] if high is not None else []) + \
        ([above + 1e-3] if above is not None else [])


@pytest.mark.parametrize("owner, f", [(o, f) for o in CONFIGS for f in bounded(o)],
                         ids=lambda x: getattr(x, "name", getattr(x, "__name__", "")))
def test_the_check_refuses_past_each_bound_and_takes_the_bound_itself(owner, f):
    base = owner(model="x") if owner is EvalConfig else owner()
    for value in past_each_bound(f):
        with pytest.raises(WorkbenchError, match=re.escape(f"(got {shown(value)})")):
            checked(dataclasses.replace(base, **{f.name: value}))
    for value in on_each_bound(f):
        checked(dataclasses.replace(base, **{f.name: value}))


def test_every_numeric_setting_of_each_config_declares_its_bounds():
    """A new count or rate without bounds would take any value the CLI or a run.yaml gives."""
    unbounded = [f"{owner.__name__}.{f.name}" for owner in CONFIGS
                 for f in dataclasses.fields(owner)
                 if field_type(f) in (int, float) and not f.metadata.get("count_or_fraction")
                 and f not in bounded(owner)]
    assert unbounded == []


@pytest.mark.parametrize("command, owner", [("train", TrainConfig), ("eval", EvalConfig)])
def test_the_cli_refuses_past_each_bound_in_the_checks_own_words(command, owner, home, capsys):
    base = owner(model="x") if owner is EvalConfig else owner()
    source = ["--model", "smollm2-135m"] if command == "eval" else []
    for f in bounded(owner):
        for value in past_each_bound(f):
            with pytest.raises(WorkbenchError) as refused:
                checked(dataclasses.replace(base, **{f.name: value}))
            flag = "--" + f.name.replace("_", "-")
            assert main([command, *source, flag, str(value)]) == 2, (flag, value)
            err = capsys.readouterr().err
            assert err == f"error: {refused.value}\n", (flag, value, err)


def widgets(page: AppTest, owner) -> dict[str, object]:
    """The page's number inputs, by the setting whose help they show."""
    names = {f.metadata["help"]: f.name for f in dataclasses.fields(owner)}
    return {names[w.help]: w for w in page.number_input if w.help in names}


def assert_widgets_match(found: dict, owner) -> None:
    for name, widget in found.items():
        f = next(f for f in dataclasses.fields(owner) if f.name == name)
        low = f.metadata.get("off", f.metadata.get("low", f.metadata.get("above")))
        assert (widget.min, widget.max) == (low, f.metadata.get("high")), name


def train_page(preset: str, ray: bool = False) -> AppTest:
    page = AppTest.from_file(str(PAGES / "train.py"), default_timeout=120).run()
    next(s for s in page.selectbox if s.label == "Preset").set_value(preset).run()
    if ray:
        page.radio(key="backend").set_value("Ray cluster").run()
    assert not page.exception
    return page


@pytest.mark.slow
def test_the_train_forms_widgets_take_the_settings_own_bounds(db):
    found = {}
    for preset, ray in (("quick-cpu", True), ("s3-probe", False), ("s8-orpo", False)):
        shown = widgets(train_page(preset, ray), TrainConfig)
        assert_widgets_match(shown, TrainConfig)
        found.update(shown)
    every = {f.name for f in bounded(TrainConfig)} - {"max_grad_norm", "fold"}  # flags only
    assert set(found) == every


@pytest.mark.slow
def test_the_compare_and_playground_widgets_take_the_settings_own_bounds(db):
    compare = AppTest.from_file(str(PAGES / "compare.py"), default_timeout=120).run()
    shown = widgets(compare, EvalConfig)
    assert_widgets_match(shown, EvalConfig)
    assert {"seeds", "limit"} <= set(shown)
    playground = AppTest.from_file(str(PAGES / "playground.py"), default_timeout=120).run()
    shown = widgets(playground, GenerationSettings)
    assert_widgets_match(shown, GenerationSettings)
    assert set(shown) == {f.name for f in bounded(GenerationSettings)}
