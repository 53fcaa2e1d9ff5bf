"""The report's plots: one colour per split in every plot, and legends that never cover the data."""

import json
import re

import pytest
from matplotlib.colors import to_hex

from justfit.report import plots
from justfit.report.plots import SPLIT_COLOURS

TRAIN, VALIDATION, TEST = (to_hex(SPLIT_COLOURS[s]) for s in ("train", "validation", "test"))


def _history(task: str = "classification") -> list[dict]:
    rows = []
    for epoch in range(1, 6):
        row = {"epoch": epoch, "train_loss": 1.0 / epoch, "train_eval_loss": 0.9 / epoch, "val_loss": 1.1 / epoch + 0.02 * epoch,
               "lr": 1e-3 / epoch}
        if task == "classification":
            row |= {"train_accuracy": 0.5 + 0.08 * epoch, "val_accuracy": 0.5 + 0.06 * epoch,
                    "train_f1": 0.4 + 0.1 * epoch, "val_f1": 0.4 + 0.08 * epoch}
        else:
            row |= {"train_rmse": 1.0 / epoch, "val_rmse": 1.2 / epoch, "train_r2": 0.1 * epoch, "val_r2": 0.08 * epoch}
        rows.append(row)
    return rows


def _curve_colours(svg: str) -> dict[str, str]:
    """Each ``curve-<split>`` group's stroke colour in an SVG written by matplotlib."""
    out = {}
    for gid, body in re.findall(r'<g id="(curve-[\w-]+)">(.*?)</g>', svg, re.S):
        strokes = set(re.findall(r"stroke:\s*(#[0-9a-f]{6})", body))
        assert len(strokes) == 1, (gid, strokes)
        out[gid] = strokes.pop()
    return out


@pytest.mark.parametrize("task,metrics", [("classification", ["loss", "accuracy", "f1"]),
                                          ("regression", ["loss", "rmse", "r2"])])
def test_each_split_has_one_colour_in_every_learning_curve(task, metrics):
    colours = [_curve_colours(plots.learning_curves(_history(task), 3, m)) for m in metrics]
    for got in colours:
        assert got["curve-train"] == TRAIN and got["curve-validation"] == VALIDATION, got
    assert colours[0]["curve-train-running"] == TRAIN  # the running training loss is training's too (dashed)
    assert len({TRAIN, VALIDATION, TEST}) == 3


def test_markers_never_take_a_split_colour():
    fig = plots.learning_curves_figure(_history(), 3, "loss")
    ax = fig.axes[0]
    markers = [line for line in ax.get_lines() if not (line.get_gid() or "").startswith("curve-")]
    assert len(markers) == 2  # the best and the stopped epoch
    assert {to_hex(m.get_color()) for m in markers}.isdisjoint({TRAIN, VALIDATION, TEST})


def _figures(monkeypatch) -> list:
    """Every figure a plot function saves, kept instead of written."""
    made = []
    monkeypatch.setattr(plots, "svg_text", lambda fig: made.append(fig) or "<svg/>")
    return made


def _overlaps(fig) -> list[str]:
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    bad = []
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is not None and legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer)):
            bad.append(ax.get_ylabel())
    return bad


def test_no_legend_covers_the_data_area(monkeypatch):
    made = _figures(monkeypatch)
    for metric in ("loss", "accuracy", "f1"):
        plots.learning_curves(_history(), 3, metric)
    lr = {"lrs": [1e-6 * 1.5 ** i for i in range(30)], "losses": [1.0 - 0.01 * i for i in range(30)]}
    plots.lr_find_plot({**lr, "smoothed": lr["losses"], "suggestion": 1e-4})
    plots.lr_find_plot({**lr, "smoothed": lr["losses"], "suggestion": None})
    plots.scatter([1.0, 2.0, 3.0], [1.1, 2.2, 2.9])
    assert len(made) == 6
    assert all(fig.axes[0].get_legend() is not None for fig in made)
    assert [name for fig in made for name in _overlaps(fig)] == []


def test_range_test_and_test_rows_take_their_split_colour(monkeypatch):
    made = _figures(monkeypatch)
    lr = {"lrs": [1e-6 * 1.5 ** i for i in range(30)], "losses": [1.0 - 0.01 * i for i in range(30)]}
    plots.lr_find_plot({**lr, "smoothed": lr["losses"], "suggestion": 1e-4})  # the range test's loss is training's
    plots.scatter([1.0, 2.0, 3.0], [1.1, 2.2, 2.9])  # the report's scatter is of the test split
    plots.histogram([0.1, -0.2, 0.05], "residual")
    range_test, scatter, histogram = (fig.axes[0] for fig in made)
    assert {to_hex(line.get_color()) for line in range_test.get_lines()[:2]} == {TRAIN}
    assert to_hex(scatter.collections[0].get_facecolor()[0]) == TEST
    assert to_hex(histogram.patches[0].get_facecolor()) == TEST


def test_report_draws_every_declared_metric_in_the_split_colours(tmp_path):
    from justfit.report.render import render_report

    history = _history()
    (tmp_path / "history.jsonl").write_text("\n".join(json.dumps(r) for r in history))
    (tmp_path / "result.json").write_text(json.dumps({"data": {"task": "classification", "sizes": {}},
                                                      "labels": ["a", "b"], "best_epoch": 3}))
    page = render_report(tmp_path).read_text()
    svgs = re.findall(r"<svg.*?</svg>", page, re.S)
    curves = [c for c in map(_curve_colours, svgs) if c]
    assert len(curves) == 3  # loss, accuracy and f1: the classification metrics this history holds
    assert all(c["curve-train"] == TRAIN and c["curve-validation"] == VALIDATION for c in curves)
