"""Plots for the report, as SVG text to inline (no files, no network)."""

from __future__ import annotations

import io
import math
from typing import Any


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


def learning_curves(history: list[dict[str, Any]], best_epoch: int | None, metric: str = "loss") -> str | None:
    """Training and validation ``metric`` per epoch, the best epoch and the last epoch marked."""
    train_key = "train_eval_loss" if metric == "loss" and any("train_eval_loss" in r for r in history) else \
        ("train_loss" if metric == "loss" else f"train_{metric}")
    lines = [(train_key, "training" + (" (eval mode, fixed sample)" if train_key == "train_eval_loss" else "")),
             (f"val_{metric}", "validation")]
    if metric == "loss" and train_key == "train_eval_loss":
        lines.insert(0, ("train_loss", "training (running, train mode)"))
    fig, ax = _figure()
    drawn = 0
    for key, label in lines:
        xs, ys = _series(history, key)
        if xs:
            ax.plot(xs, ys, marker="o", ms=3, label=label, linestyle="--" if key == "train_loss" and
                    train_key == "train_eval_loss" else "-")
            drawn += 1
    if not drawn:
        return None
    if best_epoch:
        ax.axvline(best_epoch, color="green", alpha=0.6, linestyle=":", label=f"best epoch ({best_epoch})")
    if history:
        last = int(history[-1].get("epoch", len(history)))
        ax.axvline(last, color="grey", alpha=0.5, linestyle="-.", label=f"stopped ({last})")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel(metric)
    ax.legend(fontsize=8)
    return svg_text(fig)


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
    ax.plot(xs, ys, color="tab:blue", alpha=0.35, lw=1, label="loss per step")
    sx, sy = points("smoothed")
    if sx:
        ax.plot(sx, sy, color="tab:blue", lw=2, label="smoothed")
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
        ax.legend(fontsize=8)
    else:
        ax.legend(fontsize=8, loc="upper left")
        ax.text(0.98, 0.95, "no suggestion", transform=ax.transAxes, ha="right", va="top", fontsize=9,
                color="tab:red", bbox={"facecolor": "white", "edgecolor": "tab:red", "alpha": 0.9})
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
    ax.scatter(y, p, s=8, alpha=0.5)
    lo, hi = float(min(y.min(), p.min())), float(max(y.max(), p.max()))
    ax.plot([lo, hi], [lo, hi], color="grey", linewidth=1, label="perfect")
    ax.set_xlabel("true")
    ax.set_ylabel("predicted")
    ax.legend(loc="upper left")
    return svg_text(fig)


def histogram(values: Any, xlabel: str, *, bins: int = 30) -> str | None:
    """A histogram of the finite ``values``."""
    import numpy as np

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not len(v):
        return None
    fig, ax = _figure(4.2, 3.0)
    ax.hist(v, bins=bins)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("rows")
    return svg_text(fig)
