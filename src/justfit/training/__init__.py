"""The training loop, its optimisers/schedulers, history and callbacks."""

from justfit.history import History
from justfit.training.callbacks import Callback, EarlyStopping, ProgressBar
from justfit.training.trainer import Trainer

__all__ = ["Callback", "EarlyStopping", "History", "ProgressBar", "Trainer"]
