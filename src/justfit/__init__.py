"""justfit: fine-tune pretrained models so they fit just right, with the evidence to prove it.

Importing justfit is cheap: heavy modules (torch, transformers) load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_LAZY = {
    "Finetuner": "justfit.estimator",
    "finetune": "justfit.run",
    "tune": "justfit.tuning.tune",
    "RunResult": "justfit.results",
    "JustfitConfig": "justfit.config",
    "History": "justfit.history",
    "list_presets": "justfit.models.factory",
    "load_table": "justfit.data.io",
}

__all__ = [
    "__version__", "load", "Finetuner", "finetune", "tune", "RunResult", "JustfitConfig", "History", "list_presets",
    "load_table",
]

if TYPE_CHECKING:
    from justfit.config import JustfitConfig
    from justfit.data.io import load_table
    from justfit.estimator import Finetuner
    from justfit.history import History
    from justfit.models.factory import list_presets
    from justfit.results import RunResult
    from justfit.run import finetune
    from justfit.tuning.tune import tune


def load(path: str) -> Finetuner:
    """Load a fine-tuned model (a run directory or its ``model/`` folder) as a ``Finetuner``."""
    from justfit.estimator import Finetuner

    return Finetuner.load(path)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'justfit' has no attribute '{name}'")
