"""Charts: the curves a run page draws from its metric rows."""

from ui.charts import curve_figure

LEARNING_RATE = {"learning_rate": "learning rate"}


def test_a_lone_learning_rate_is_drawn_at_its_value_not_at_zero():
    figure = curve_figure([{"step": 10, "learning_rate": 5e-5}], LEARNING_RATE, "Learning rate")
    low, high = figure.layout.yaxis.range
    assert 0 < low < 5e-5 < high < 1e-4


def test_a_curve_with_several_values_keeps_plotlys_own_range():
    rows = [{"step": 10, "learning_rate": 5e-5}, {"step": 20, "learning_rate": 4e-5}]
    assert curve_figure(rows, LEARNING_RATE, "Learning rate").layout.yaxis.range is None


def test_a_curve_with_no_point_yet_is_not_drawn():
    assert curve_figure([{"step": 10, "learning_rate": None}], LEARNING_RATE, "Learning rate") is None
