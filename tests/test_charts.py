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


def test_each_run_keeps_its_own_colour_in_every_overlay_even_where_another_has_no_point():
    from ui.charts import overlay_figure

    curves = {"run-a": [{"step": 1, "loss": 0.9}],
              "run-b": [{"step": 1, "loss": 0.8, "eval_loss": 0.7}]}
    labels = {"run-a": "first", "run-b": "second"}
    loss = overlay_figure(curves, labels, "loss", "Training loss")
    validation = overlay_figure(curves, labels, "eval_loss", "Validation loss")  # run-a has none
    assert [line.name for line in loss.data] == ["first", "second"]
    assert loss.data[0].line.color != loss.data[1].line.color
    assert loss.data[0].line.dash != loss.data[1].line.dash  # equal curves: both still show
    assert [line.name for line in validation.data] == ["second"]
    assert validation.data[0].line.color == loss.data[1].line.color
    assert validation.data[0].mode == "markers"  # a lone point draws no line
    assert list(validation.data[0].customdata) == ["run-b"]  # the id, shown on hover
