"""Plotly figures built from plain rows of the database; no streamlit here."""

import html
import json
import textwrap

import pandas as pd
import plotly.colors
import plotly.express as px
import plotly.graph_objects as go


# Horizontal, under the axis title "step" (at plotly's default place it covered it).
LEGEND = dict(orientation="h", yanchor="top", y=-0.3)
# Distinct hues for the runs of a comparison: Streamlit's theme draws lines in shades of one blue.
RUN_COLOURS = plotly.colors.qualitative.D3
# And a dash each: two runs with the same settings draw the same curve, which a solid line
# would hide under the other; dashed over solid, both colours show.
RUN_DASHES = ("solid", "dash", "dot", "dashdot")


def shown(text) -> str:
    """User text for a plotly title, tick, legend or hover: plotly reads some HTML there
    (<a href>, <b>, <br>) and decodes &lt; &gt; &amp;, so escaped it shows as typed."""
    return html.escape(str(text), quote=False)


def wrapped(text, width: int) -> str:
    """`shown(text)` in lines of at most `width` characters (plotly cuts a long title or tick
    instead: a plain system and its calibrated twin then read the same)."""
    return "<br>".join(shown(line) for line in textwrap.wrap(str(text), width) or [""])


def curve_figure(metrics: list[dict], columns: dict[str, str], title: str) -> go.Figure | None:
    """Lines of the given metric columns against the step; None when none has a point yet."""
    frame = pd.DataFrame(metrics)
    broken = non_finite_steps(metrics, columns)
    present = [c for c in columns if c in frame and frame[c].notna().any()]
    if not present and not broken:
        return None
    figure = go.Figure()
    for column in present:
        points = frame[frame[column].notna()]
        figure.add_scatter(x=points["step"], y=points[column], mode="lines+markers",
                           name=columns[column])
    for step, text in broken:  # a NaN or infinite value has no point to draw: mark its step
        figure.add_vline(x=step, line_dash="dash", line_color="#d62728",
                         annotation_text=shown(text), annotation_font_color="#d62728")
    present = present or [c for c in columns if c in frame]
    figure.update_layout(title=title, xaxis_title="step", height=300,
                         yaxis_range=lone_value_range(frame[present].stack().dropna()),
                         margin=dict(l=10, r=10, t=40, b=10), legend=LEGEND)
    return figure


def non_finite_steps(metrics: list[dict], columns: dict[str, str]) -> list[tuple[int, str]]:
    """(step, 'loss nan at step 7') for each row whose charted values were NaN or infinite."""
    marks = []
    for row in metrics:
        named = json.loads(row.get("non_finite") or "{}")
        found = [f"{columns[c]} {named[c]}" for c in columns if c in named]
        if found:
            marks.append((row["step"], f"{', '.join(found)} at step {row['step']}"))
    return marks


def lone_value_range(values: pd.Series) -> list[float] | None:
    """A y range around a curve's only value (None: let plotly choose).

    Plotly pads a lone value by ±1, which draws a learning rate of 5e-5 at 0 after the
    first logged step; pad by half the value instead.
    """
    if values.nunique() != 1:
        return None
    value = float(values.iloc[0])
    pad = abs(value) / 2 or 1.0
    return [value - pad, value + pad]


def confusion_figure(matrix: list[list[int]], labels: list[str],
                     title: str = "Confusion matrix (test)") -> go.Figure:
    labels = [shown(label) for label in labels]
    figure = px.imshow(matrix, x=labels, y=labels, text_auto=True, color_continuous_scale="Blues",
                       labels=dict(x="predicted", y="reference", color="examples"))
    title = wrapped(title, 40)
    lines = title.count("<br>") + 1
    figure.update_layout(title=dict(text=title, font_size=14), height=300 + 18 * lines,
                         margin=dict(l=10, r=10, t=22 + 18 * lines, b=10))
    return figure


def layer_change_figure(changes: list[dict]) -> go.Figure:
    frame = pd.DataFrame(changes)
    frame["layer"] = frame["layer"].map(shown)  # names from the model's files
    figure = px.bar(frame, x="layer", y="relative_change",
                    labels={"relative_change": "||W after - W before|| / ||W before||"})
    figure.update_layout(title="How far each layer moved", height=320, margin=dict(l=10, r=10, t=40, b=10))
    return figure


def overlay_figure(curves: dict[str, list[dict]], labels: dict[str, str], column: str,
                   title: str) -> go.Figure | None:
    """One line per run (`curves`: run id -> its metric rows) of one metric column, named by
    `labels`; None when no run has a point.

    A run's colour and dash are those of its place in `curves`, whether or not it has points
    here, so that they are the same in every chart drawn from the same curves.
    """
    figure = go.Figure()
    for place, (run_id, metrics) in enumerate(curves.items()):
        points = [m for m in metrics if m.get(column) is not None]
        if points:
            colour = RUN_COLOURS[place % len(RUN_COLOURS)]
            # A lone point (one validation so far) draws no line: a marker shows it.
            figure.add_scatter(x=[m["step"] for m in points], y=[m[column] for m in points],
                               mode="lines" if len(points) > 1 else "markers",
                               name=shown(labels[run_id]), line_color=colour, marker_color=colour,
                               line_dash=RUN_DASHES[place % len(RUN_DASHES)],
                               customdata=[run_id] * len(points),
                               hovertemplate="step %{x}: %{y:.4g}<br>run %{customdata}")
    if not figure.data:
        return None
    figure.update_layout(title=title, xaxis_title="step", height=320,
                         margin=dict(l=10, r=10, t=40, b=10), legend=LEGEND)
    return figure


def accuracy_figure(summary: pd.DataFrame) -> go.Figure:
    """Mean accuracy per system (`system`: its label) with one standard deviation as error
    bars; hovering names the run of a fine-tuned system and counts the executions. Bars lie
    flat, so that long system names read across, wrapped, and each value sits at the bar's
    foot, clear of its error bar."""
    labels = [wrapped(s, 42) for s in summary["system"]]
    figure = go.Figure(go.Bar(y=labels, x=summary["accuracy"], orientation="h",
                              error_x=dict(type="data", array=summary["accuracy_std"]),
                              hovertext=[system_hover(row) for row in summary.to_dict("records")],
                              hovertemplate="%{hovertext}<br>accuracy %{x:.3f}<extra></extra>",
                              text=[f"{v:.3f}" for v in summary["accuracy"]],
                              textposition="inside", insidetextanchor="start"))
    lines = sum(label.count("<br>") + 1 for label in labels)
    figure.update_layout(title="Test accuracy (mean ± std over executions)", xaxis_range=[0, 1.05],
                         yaxis=dict(autorange="reversed", automargin=True),
                         height=110 + 26 * lines + 14 * len(labels),
                         margin=dict(l=10, r=10, t=40, b=10))
    return figure


def system_hover(row: dict) -> str:
    """A system's label, its run id when it is a run, and its executions (escaped parts)."""
    lines = [shown(row["system"])]
    if isinstance(row.get("run"), str):  # a prompting system's run is None (or NaN in pandas)
        lines.append(f"run {shown(row['run'])}")
    lines.append(f"{row['executions']} execution{'s' if row['executions'] != 1 else ''}")
    return "<br>".join(lines)


def review_figure(results: pd.DataFrame) -> go.Figure:
    """Each model's weighted review score with its 95% interval (none with a single review)."""
    above = (results["95% high"] - results["weighted score"]).fillna(0)
    below = (results["weighted score"] - results["95% low"]).fillna(0)
    figure = go.Figure(go.Bar(x=[shown(m) for m in results["model"]], y=results["weighted score"],
                              error_y=dict(type="data", array=above, arrayminus=below),
                              text=[f"{v:.2f}" for v in results["weighted score"]],
                              textposition="outside"))
    figure.update_layout(title="Weighted score (1 to 5, mean and 95% interval)", yaxis_range=[0, 5.5],
                         height=380, margin=dict(l=10, r=10, t=40, b=10))
    return figure


FIGURE_TITLES = {"test_accuracy": "test accuracy", "test_f1": "test macro F1",
                 "rougeL": "test ROUGE-L", "perplexity": "test perplexity"}


def sweep_figure(by_setting: pd.DataFrame, runs: pd.DataFrame, setting: str,
                 others: list[str], figure_name: str) -> go.Figure:
    """An experiment's figure against one swept setting: the mean over each setting's seeds and
    folds with one standard deviation as error bars (a line per combination of the `others`
    swept), each completed run as a grey dot, and a star on the best setting."""
    title = FIGURE_TITLES.get(figure_name, figure_name)
    figure = go.Figure()
    done = runs[runs["status"] == "completed"]
    figure.add_scatter(x=done[setting].map(value_text), y=done[figure_name], mode="markers",
                       name="each run", marker=dict(color="#999999", size=6),
                       hovertext=done["name"].map(shown), hovertemplate="%{hovertext}: %{y:.4f}")
    groups = by_setting.groupby(others, sort=False) if others else [((), by_setting)]
    for place, (values, rows) in enumerate(groups):
        values = values if isinstance(values, tuple) else (values,)
        name = ", ".join(f"{k}={value_text(v)}" for k, v in zip(others, values)) or "mean ± std"
        colour = RUN_COLOURS[place % len(RUN_COLOURS)]
        figure.add_scatter(x=rows[setting].map(value_text), y=rows[figure_name], name=shown(name),
                           mode="lines+markers", line_color=colour, marker_color=colour,
                           error_y=dict(type="data", array=rows[figure_name + "_std"].fillna(0)),
                           hovertemplate=f"{shown(setting)}=%{{x}}: %{{y:.4f}}")
    best = by_setting[by_setting["best"]]
    figure.add_scatter(x=best[setting].map(value_text), y=best[figure_name], mode="markers",
                       name="best", marker=dict(symbol="star", size=16, color="#ff7f0e"),
                       hoverinfo="skip")
    figure.update_layout(title=f"{title} by {shown(setting)} (mean ± std)", height=340,
                         yaxis_range=lone_value_range(by_setting[figure_name].dropna()),
                         xaxis=dict(title=shown(setting), type="category"),
                         margin=dict(l=10, r=10, t=40, b=10), legend=LEGEND)
    return figure


def replicates_figure(runs: pd.DataFrame, by: str, figure_name: str) -> go.Figure:
    """A figure of each completed run of an experiment with nothing swept (its folds or seeds,
    `by`), with the mean as a line and one standard deviation as a band."""
    title = FIGURE_TITLES.get(figure_name, figure_name)
    done = runs[runs["status"] == "completed"]
    mean, std = done[figure_name].mean(), done[figure_name].std(ddof=1)
    # Points, not bars from 0: the differences between folds are what the chart is for.
    figure = go.Figure(go.Scatter(x=done[by].map(lambda v: f"{by} {value_text(v)}"),
                                  y=done[figure_name], mode="markers+text",
                                  marker=dict(size=11, color=RUN_COLOURS[0]),
                                  text=[f"{v:.3f}" for v in done[figure_name]],
                                  textposition="middle right", hovertext=done["name"].map(shown),
                                  hovertemplate="%{hovertext}: %{y:.4f}<extra></extra>"))
    if pd.notna(std):
        figure.add_hrect(y0=mean - std, y1=mean + std, fillcolor="#1f77b4", opacity=0.12,
                         line_width=0)
    figure.add_hline(y=mean, line_dash="dash", annotation_position="bottom left",
                     annotation_text=f"mean {mean:.4f}" + (f" ± {std:.4f}" if pd.notna(std) else ""))
    figure.update_layout(title=f"{title} per {by} (the band: mean ± std)", height=340,
                         margin=dict(l=10, r=10, t=40, b=10))
    return figure


def value_text(value) -> str:
    """A swept value as an axis shows it: 5e-05, 16, lora, true."""
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else shown(value)
