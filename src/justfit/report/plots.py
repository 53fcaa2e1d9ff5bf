"""Plots for the report, as SVG text to inline (no files, no network).

Every plot draws a split in that split's colour (``SPLIT_COLOURS``): training is blue and validation
orange in the loss curve, the accuracy curve and every other, and the test split is green wherever it
is plotted. Epoch markers (best, stopped) are black and grey, never a split's colour. Legends sit
outside the axes, to the right, so they never cover a curve.
"""

from __future__ import annotations

import io
import math
from typing import Any

# One colour per split, in every plot (matplotlib's tab10: colour-blind-safe blue and orange first).
SPLIT_COLOURS = {"train": "tab:blue", "validation": "tab:orange", "test": "tab:green"}
BEST_COLOUR, STOPPED_COLOUR = "black", "grey"


def svg_text(fig: Any) -> str:
    import warnings

    import matplotlib.pyplot as plt

    buf = io.StringIO()
    with warnings.catch_warnings():
        # Class names in a script the font lacks (CJK, emoji) draw as boxes; the tables show them in full.
        warnings.filterwarnings("ignore", message="Glyph .* missing from font", category=UserWarning)
        fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and doctype: the SVG goes inside HTML


def _figure(width: float = 6.0, height: float = 3.2) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width, height))
    ax.grid(alpha=0.3)
    return fig, ax


def _series(history: list[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    xs, ys = [], []
    for i, r in enumerate(history, start=1):
        v = r.get(key)
        if v is not None and isinstance(v, int | float) and math.isfinite(float(v)):
            xs.append(int(r.get("epoch", i)))
            ys.append(float(v))
    return xs, ys


def legend_outside(ax: Any) -> Any:
    """The axes' legend to the right of the axes, outside the data area, so it never covers a curve or
    point (``bbox_inches="tight"`` in :func:`svg_text` widens the picture to hold it)."""
    return ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, fontsize=8, frameon=False)


def _curve_lines(history: list[dict[str, Any]], metric: str) -> list[tuple[str, str, str, str]]:
    """``(history key, split, label, line style)`` of each curve of ``metric``. A loss can have two
    training curves: the running loss in train mode (dashed) and the loss on a fixed training sample in
    eval mode (solid), comparable with validation's."""
    if metric == "loss" and any("train_eval_loss" in r for r in history):
        return [("train_loss", "train", "training (running, train mode)", "--"),
                ("train_eval_loss", "train", "training (eval mode, fixed sample)", "-"),
                ("val_loss", "validation", "validation", "-")]
    return [(f"train_{metric}", "train", "training", "-"), (f"val_{metric}", "validation", "validation", "-")]


def learning_curves_figure(history: list[dict[str, Any]], best_epoch: int | None, metric: str = "loss") -> Any:
    """The matplotlib figure of :func:`learning_curves` (``None`` when the history has no value of
    ``metric``). Each split's line has the split's colour (``SPLIT_COLOURS``) and the SVG id
    ``curve-<split>`` (``curve-train-running`` for the running training loss)."""
    fig, ax = _figure()
    drawn = 0
    for key, split, label, style in _curve_lines(history, metric):
        xs, ys = _series(history, key)
        if xs:
            gid = f"curve-{split}" + ("-running" if style == "--" else "")
            ax.plot(xs, ys, marker="o", ms=3, label=label, linestyle=style, color=SPLIT_COLOURS[split], gid=gid)
            drawn += 1
    if not drawn:
        import matplotlib.pyplot as plt

        plt.close(fig)
        return None
    if best_epoch:
        ax.axvline(best_epoch, color=BEST_COLOUR, alpha=0.6, linestyle=":", label=f"best epoch ({best_epoch})")
    if history:
        last = int(history[-1].get("epoch", len(history)))
        ax.axvline(last, color=STOPPED_COLOUR, alpha=0.5, linestyle="-.", label=f"stopped ({last})")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    legend_outside(ax)
    return fig


def learning_curves(history: list[dict[str, Any]], best_epoch: int | None, metric: str = "loss") -> str | None:
    """Training and validation ``metric`` per epoch as SVG, the best epoch and the last epoch marked;
    ``None`` when the history has no value of ``metric``."""
    fig = learning_curves_figure(history, best_epoch, metric)
    return None if fig is None else svg_text(fig)


def lr_schedule(history: list[dict[str, Any]]) -> str | None:
    xs, ys = _series(history, "lr")
    if not xs:
        return None
    fig, ax = _figure(height=2.4)
    from matplotlib.ticker import MaxNLocator

    ax.plot(xs, ys, marker="o", ms=3)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("learning rate (end of epoch)")
    return svg_text(fig)


def confusion(matrix: list[list[int]], labels: list[str]) -> str | None:
    if not matrix:
        return None
    import numpy as np

    m = np.asarray(matrix, dtype=float)
    labels = [str(label).replace("$", r"\$") for label in labels]  # never mathtext
    n = len(labels)
    fig, ax = _figure(width=min(2 + 0.6 * n, 9), height=min(1.6 + 0.6 * n, 9))
    ax.grid(False)
    ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(n), labels, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(n), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    top = m.max() if m.size else 0
    if n <= 20:
        for i in range(n):
            for j in range(n):
                ax.text(j, i, f"{int(m[i, j])}", ha="center", va="center", fontsize=7,
                        color="white" if top and m[i, j] > top / 2 else "black")
    return svg_text(fig)


def lr_find_plot(result: dict[str, Any]) -> str | None:
    """The learning-rate range test: raw and smoothed loss against the rate (log scale), the suggestion marked,
    or a note on the plot when there is none. ``result`` is ``LRFindResult.to_dict()``."""
    def points(key: str) -> tuple[list[float], list[float]]:
        pairs = [(lr, v) for lr, v in zip(result.get("lrs") or [], result.get(key) or [], strict=False)
                 if isinstance(lr, int | float) and isinstance(v, int | float) and lr > 0
                 and math.isfinite(float(lr)) and math.isfinite(float(v))]
        return [float(a) for a, _ in pairs], [float(b) for _, b in pairs]

    xs, ys = points("losses")
    if not xs:
        return None
    fig, ax = _figure()
    train = SPLIT_COLOURS["train"]  # the range test's loss is the training loss of each step
    ax.plot(xs, ys, color=train, alpha=0.35, lw=1, label="training loss per step")
    sx, sy = points("smoothed")
    if sx:
        ax.plot(sx, sy, color=train, lw=2, label="smoothed")
        # Divergence makes the last losses huge: the y axis shows every loss up to the smoothed minimum.
        lowest = sx[sy.index(min(sy))]
        low = min(min(ys), min(sy))
        high = max([y for x, y in zip(xs, ys, strict=True) if x <= lowest] + sy)
        pad = 0.05 * (high - low or abs(high) or 1.0)
        ax.set_ylim(low - pad, high + pad)
    ax.set_xscale("log")
    suggestion = result.get("suggestion")
    if isinstance(suggestion, int | float) and suggestion > 0:
        ax.axvline(suggestion, color="tab:red", linestyle="--", alpha=0.8, label=f"suggestion {suggestion:.2g}")
    else:
        ax.set_title("no suggestion", loc="right", fontsize=9, color="tab:red")  # above the axes, not on the curve
    legend_outside(ax)
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss")
    return svg_text(fig)


def scatter(y_true: Any, y_pred: Any, *, limit: int = 2000) -> str | None:
    """Predicted against true values (at most ``limit`` points), with the line of perfect predictions."""
    import numpy as np

    y, p = np.asarray(y_true, dtype=float), np.asarray(y_pred, dtype=float)
    keep = np.isfinite(y) & np.isfinite(p)
    y, p = y[keep][:limit], p[keep][:limit]
    if not len(y):
        return None
    fig, ax = _figure(4.2, 4.0)
    ax.scatter(y, p, s=8, alpha=0.5, color=SPLIT_COLOURS["test"], label="test rows")
    lo, hi = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
    ax.plot([lo, hi], [lo, hi], color="grey", linewidth=1, label="perfect")
    ax.set_xlabel("true")
    ax.set_ylabel("predicted")
    legend_outside(ax)
    return svg_text(fig)


def histogram(values: Any, xlabel: str, *, bins: int = 30, split: str = "test") -> str | None:
    """A histogram of the finite ``values`` of ``split`` (a key of ``SPLIT_COLOURS``), in its colour."""
    import numpy as np

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not len(v):
        return None
    fig, ax = _figure(4.2, 3.0)
    ax.hist(v, bins=bins, color=SPLIT_COLOURS[split])
    ax.set_xlabel(xlabel)
    ax.set_ylabel("rows")
    return svg_text(fig)
