"""Small helpers shared by the subcommands: console output and tables."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()


def cli_config(config: Path | None, flags: dict[str, Any], set_: list[str] | None) -> Any:
    """The YAML config (or the defaults), then the command's flags that were given, then ``--set``."""
    from justfit.config import JustfitConfig, parse_overrides

    cfg = JustfitConfig.from_yaml(config) if config else JustfitConfig()
    overrides = {k: v for k, v in flags.items() if v is not None}
    overrides.update(parse_overrides(set_))
    return cfg.updated(overrides)


def metrics_table(metrics: dict[str, Any], title: str = "test metrics") -> Table:
    t = Table(title=title, show_header=True)
    t.add_column("metric")
    t.add_column("value", justify="right")
    for key in ("n", "accuracy", "f1_macro", "f1_weighted", "precision_macro", "recall_macro", "log_loss",
                "majority_baseline_accuracy"):
        if key in metrics:
            v = metrics[key]
            t.add_row(key, f"{v:.4f}" if isinstance(v, float) else str(v))
    return t


def per_class_table(metrics: dict[str, Any]) -> Table:
    t = Table(title="per class", show_header=True)
    for col in ("class", "precision", "recall", "f1", "support"):
        t.add_column(col, justify="left" if col == "class" else "right")
    for name, m in metrics.get("per_class", {}).items():
        t.add_row(name, f"{m['precision']:.3f}", f"{m['recall']:.3f}", f"{m['f1']:.3f}", str(m["support"]))
    return t
